"""Can this model run on that chip? Hard limits decide; heuristics only warn.

Requirements are read from the model:

* neurons: the neuron populations per sample (one time step): the sizes of the spiking/readout neuron
  modules when ``inputs`` are given, else the outputs of the synapse layers (``out_features``);
* synapses: non-zero connections, *unrolled* (a convolution kernel counts once per output position,
  as on chips without weight sharing); recurrent weights included;
* fan-in: the largest number of non-zero inputs of one neuron;
* neuron model: asked of every neuron module, whatever its class -- one with the attributes ``features``,
  ``neuron_type`` and ``runs_on`` (:class:`spikeforge.Neuron` answers from its declaration
  :data:`spikeforge.neuron.general.GENERAL`, a declared model from its
  :class:`~spikeforge.neuron.models.NeuronModel`).
  The hardware words among its ``features``: graded spikes, complex (resonate-and-fire) state, adaptive
  threshold and stochastic firing need *programmable* neurons; current-based (``"CuBa"``) synapses need a
  chip listing CuBa (or programmable synapses); the general neuron (``"LIF"``: plain IF/LIF) runs on any
  LIF-type chip (LIF, exp-LIF, AdEx-IF); any other neuron module (ExpIF, AdEx, Izhikevich, a plug-in) runs
  on the catalog neuron types it names (``runs_on``; none: programmable neurons only) or programmable
  neurons;
* on-device training: a ``learning_rule`` (e.g. ``"STDP"``, ``"e-prop"``, ``"BPTT"``) needs a chip that
  lists it or has programmable training.

The checks are of two kinds (:data:`HARD_LIMITS`, :data:`HEURISTICS`):

* **hard limits** decide the verdict: the chip's neuron count, its synapse count, its neuron model and
  its on-chip learning rule. ``"no"`` when one is exceeded or unsupported, ``"unknown"`` when the catalog
  leaves the cell blank (never a silent ``"yes"``), else ``"yes"``;
* **heuristics** warn but never decide: the largest fan-in against the chip's *average* synapses per
  neuron (synapses / neurons; the essay's "many dense layers require mappings between ~1000 neurons").
  Chips share synapse memory between the neurons of a core, so one neuron may have far more inputs
  than the average.

Every verdict says which kind decided it (:attr:`FitVerdict.basis`) and every reason is prefixed with
its kind. ``chips_needed`` is the number of chips the neurons and synapses need; ``None`` where no
number of chips can run the model (neuron model, learning rule) or the catalog gives no synapse count,
so a ``"no"`` never reads "1 chip".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from torch import nn

from spikeforge.hardware.catalog import Platform, platform, platforms
from spikeforge.hardware.counts import SYNAPSE_TYPES, _render, count_ops
from spikeforge.neuron.general import GENERAL, PROGRAMMABLE_ONLY

__all__ = [
    "HARD_LIMITS",
    "HEURISTICS",
    "Check",
    "FitTable",
    "FitVerdict",
    "ModelNeeds",
    "fit",
    "fit_all",
    "model_needs",
]

# the general neuron's declaration (spikeforge.neuron.general.GENERAL): its catalog type, the types that run it,
# and the hardware words a neuron module's ``features`` may name
_LIF, _LIF_TYPES, _PROGRAMMABLE_ONLY = GENERAL.neuron_type, GENERAL.runs_on, PROGRAMMABLE_ONLY
_WORDS = frozenset({_LIF, "CuBa", *_PROGRAMMABLE_ONLY})
#: Checks that decide a verdict.
HARD_LIMITS: tuple[str, ...] = ("neurons", "synapses", "neuron model", "learning rule")
#: Checks that only warn.
HEURISTICS: tuple[str, ...] = ("fan-in",)
HARD = "hard limit"
HEURISTIC = "heuristic"


@dataclass(frozen=True)
class ModelNeeds:
    """What a model asks of a chip (per sample, one time step)."""

    neurons: int
    synapses: int
    max_fan_in: int
    features: tuple[str, ...]  # neuron-model features, e.g. ("LIF", "CuBa") or ("LIF", "graded spikes")
    # (neuron type, the catalog neuron types that run it) of each neuron module outside the LIF family
    runs_on: tuple[tuple[str, frozenset[str]], ...] = ()


@dataclass(frozen=True)
class Check:
    """One check of a model against a chip.

    ``name`` is one of :data:`HARD_LIMITS` or :data:`HEURISTICS`, ``kind`` ``"hard limit"`` or
    ``"heuristic"``, ``state`` ``"ok"``, ``"exceeded"`` (hard: the model does not fit; heuristic: a
    warning) or ``"unknown"`` (the catalog gives no value), ``detail`` the reason in words.
    """

    name: str
    kind: str
    state: str
    detail: str = ""

    def __str__(self) -> str:
        if self.state == "unknown":
            return f"{self.kind} unknown: {self.detail}"
        return f"{self.kind}: {self.detail}"


@dataclass(frozen=True)
class FitVerdict:
    """The verdict of one chip. ``verdict`` follows the hard limits only; ``reasons`` lists every failed
    or unknown check (each prefixed with its kind) and, for multi-chip fits, the chip count."""

    platform: str
    verdict: str  # "yes" | "no" | "unknown"
    neurons_needed: int
    neurons_available: int
    synapses_needed: int
    synapses_available: int | None
    max_fan_in: int
    synapses_per_neuron: float | None
    neuron_model: str  # "yes" | "no" | "unknown"
    training: str  # "yes" | "no" | "n/a"
    chips_needed: int | None
    reasons: tuple[str, ...]
    checks: tuple[Check, ...] = ()

    @property
    def fits(self) -> bool:
        return self.verdict == "yes"

    @property
    def hard_failures(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.kind == HARD and c.state == "exceeded")

    @property
    def unknowns(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.kind == HARD and c.state == "unknown")

    @property
    def warnings(self) -> tuple[Check, ...]:
        """Heuristics the model exceeds (they do not change the verdict)."""
        return tuple(c for c in self.checks if c.kind == HEURISTIC and c.state == "exceeded")

    @property
    def chips_text(self) -> str:
        """``chips_needed`` for a table: the number, ``"-"`` where no number of chips helps (a ``"no"``
        on the neuron model or learning rule), ``"?"`` where the catalog does not say."""
        if self.chips_needed is not None:
            return str(self.chips_needed)
        return "-" if self.verdict == "no" else "?"

    @property
    def hard_text(self) -> str:
        """The hard limits in a few words: ``"met"``, or what is exceeded and what is unknown."""
        parts = [c.detail for c in self.hard_failures]
        parts += [f"unknown: {c.detail}" for c in self.unknowns]
        return "; ".join(parts) or "met"

    @property
    def heuristic_text(self) -> str:
        """The heuristics in a few words: ``"ok"``, ``"unknown"`` or the warning."""
        if self.warnings:
            return "; ".join(c.detail for c in self.warnings)
        heur = [c for c in self.checks if c.kind == HEURISTIC]
        return "unknown" if any(c.state == "unknown" for c in heur) else "ok"

    @property
    def basis(self) -> str:
        """Which kind of check decided the verdict, in words: ``"hard limit: neurons, synapses"``,
        ``"hard limit unknown: synapses"``, ``"hard limits met"`` or ``"hard limits met; heuristic warns:
        fan-in"``."""
        if self.verdict == "no":
            return f"{HARD}: " + ", ".join(c.name for c in self.hard_failures)
        if self.verdict == "unknown":
            return f"{HARD} unknown: " + ", ".join(c.name for c in self.unknowns)
        warn = self.warnings
        return "hard limits met" + (f"; {HEURISTIC} warns: " + ", ".join(c.name for c in warn) if warn else "")


@dataclass(frozen=True)
class FitTable:
    rows: tuple[FitVerdict, ...]
    needs: ModelNeeds
    learning_rule: str | None

    def row(self, name: str) -> FitVerdict:
        chip = platform(name).name
        return next(r for r in self.rows if r.platform == chip)

    def to_rich(self):
        from rich.table import Table

        n = self.needs
        rule = f", on-device rule {self.learning_rule}" if self.learning_rule else ""
        table = Table(
            title=(
                f"Fit: {n.neurons} neurons, {n.synapses} synapses, max fan-in {n.max_fan_in}, "
                f"neuron model {'+'.join(n.features)}{rule}"
            ),
            caption=(
                "fits follows the hard limits only (neurons, synapses, neuron model, on-chip learning rule); "
                "the heuristic compares the fan-in with the chip's average synapses per neuron and never "
                "decides. chips: how many the neurons and synapses need (- no number helps, ? unknown)."
            ),
        )
        for col in ("platform", "fits", "chips", "hard limits", "heuristic"):
            table.add_column(col, justify="right" if col == "chips" else "left")
        for r in self.rows:
            table.add_row(r.platform, r.verdict, r.chips_text, r.hard_text, r.heuristic_text)
        return table

    def best(self, energy_j: dict[str, float]) -> str | None:
        """The chip of lowest energy (``{chip: joules}``) among those the model fits; ``None`` if none."""
        fitting = [r.platform for r in self.rows if r.fits and r.platform in energy_j]
        return min(fitting, key=lambda name: energy_j[name]) if fitting else None

    def __str__(self) -> str:
        return _render(self.to_rich())


def _neuron_modules(model: nn.Module) -> list[tuple[frozenset[str], str, frozenset[str]]]:
    """``(features, neuron_type, runs_on)`` of every neuron module of ``model``: a module that says what it is
    through these three attributes, as :class:`spikeforge.Neuron` and every declared model
    (:class:`spikeforge.neuron.models.ModelNeuron`) do -- fit knows no neuron class by name."""
    found = []
    for m in model.modules():
        if not all(hasattr(type(m), a) for a in ("features", "neuron_type", "runs_on")):
            continue  # not a neuron module (a property that fails inside must raise, not hide the neuron)
        feats, kind, types = m.features, m.neuron_type, m.runs_on
        if isinstance(feats, (set, frozenset)) and isinstance(kind, str) and isinstance(types, (set, frozenset)):
            found.append((frozenset(feats), kind, frozenset(types)))
    return found


def _model_runs_on(model: nn.Module) -> tuple[tuple[str, frozenset[str]], ...]:
    """(neuron type, the catalog types that run it) of each neuron module not of the general neuron's LIF
    family (whose ``features`` name :data:`~spikeforge.neuron.general.NEURON_TYPE`): those run on
    :data:`~spikeforge.neuron.general.LIF_TYPES`."""
    return tuple(sorted({(kind, types) for feats, kind, types in _neuron_modules(model) if _LIF not in feats},
                        key=lambda kv: kv[0]))


def _neuron_features(model: nn.Module) -> tuple[str, ...]:
    """The hardware words the neuron modules declare (:data:`_WORDS`: ``"LIF"``, ``"CuBa"``, the
    programmable-only ones) and the neuron types of those outside the LIF family; ``"LIF"`` first unless every
    neuron module is outside it."""
    mods = _neuron_modules(model)
    words = {w for feats, _, _ in mods for w in feats & _WORDS}
    kinds = {kind for feats, kind, _ in mods if _LIF not in feats}
    if kinds and _LIF not in words:
        return tuple(sorted(kinds | words))  # no general neuron: the declared types
    return (_LIF, *sorted((kinds | words) - {_LIF}))


def model_needs(model: nn.Module, inputs=None, *, features: tuple[str, ...] | None = None) -> ModelNeeds:
    """Neurons, synapses, fan-in and neuron-model features the model requires.

    Without ``inputs`` only linear and recurrent layers can be sized; a convolution needs example inputs.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    feats = features if features is not None else _neuron_features(model)
    runs_on = _model_runs_on(model)
    if inputs is not None:
        counts = count_ops(model, inputs)
        return ModelNeeds(counts.neurons, counts.synapses, counts.max_fan_in, feats, runs_on)
    try:
        from spikeforge.synapse import Recurrent
    except ImportError:  # pragma: no cover
        Recurrent = ()
    neurons = synapses = fan_in = 0
    for name, m in model.named_modules():
        if Recurrent and isinstance(m, Recurrent):
            mask = m.weight.detach() != 0
            synapses += int(mask.sum())
            fan_in = max(fan_in, int(mask.sum(1).max()))
        elif isinstance(m, nn.Linear):
            mask = m.weight.detach() != 0
            neurons += m.out_features
            synapses += int(mask.sum())
            fan_in = max(fan_in, int(mask.sum(1).max()))
        elif isinstance(m, SYNAPSE_TYPES):
            raise ValueError(
                f"inputs: layer {name!r} is a {type(m).__name__}, whose unrolled size depends on the input "
                f"shape; pass example inputs [T, B, ...] to fit/fit_all"
            )
    return ModelNeeds(neurons, synapses, fan_in, feats, runs_on)


def _neuron_support(chip: Platform, features: tuple[str, ...], runs_on=()) -> tuple[str, list[str]]:
    if chip.programmable_neurons:
        return "yes", []
    special = [f for f in features if f in _PROGRAMMABLE_ONLY]
    if special:
        kind = chip.neuron_type or "unspecified"
        return "no", [f"{', '.join(special)} need programmable neurons (chip: {kind})"]
    if chip.neuron_type is None:
        return "unknown", ["neuron type not in the catalog"]
    if (not runs_on or "LIF" in features) and chip.neuron_type not in _LIF_TYPES:
        return "no", [f"neuron type {chip.neuron_type} cannot run LIF"]
    for kind, types in runs_on:  # a declared model runs on the catalog types its declaration names
        if not types:
            return "no", [f"{kind} needs programmable neurons (chip: {chip.neuron_type})"]
        if chip.neuron_type not in types:
            return "no", [f"neuron type {chip.neuron_type} cannot run {kind} (needs {', '.join(sorted(types))})"]
    if "CuBa" in features:
        if "CuBa" in chip.synapse_type or "programmable" in chip.synapse_type:
            return "yes", []
        if not chip.synapse_type:
            return "unknown", ["synapse type (CuBa?) not in the catalog"]
        return "no", [f"CuBa synapses not supported (chip: {', '.join(chip.synapse_type)})"]
    return "yes", []


def fit(
    model: nn.Module,
    chip: str | Platform,
    inputs=None,
    *,
    learning_rule: str | None = None,
    needs: ModelNeeds | None = None,
) -> FitVerdict:
    """Whether ``model`` fits on one ``chip`` (a name or a :class:`Platform`), with the reasons.

    Args:
        model: the network (synapse layers and spikeforge neurons are inspected).
        chip: platform name (``"Loihi-2"``) or record.
        inputs: example inputs ``[T, B, ...]``; needed for convolutions, and to size neuron populations.
        learning_rule: the rule to run on device, or ``None`` for inference only.
        needs: precomputed :func:`model_needs` (used by :func:`fit_all`).
    """
    p = chip if isinstance(chip, Platform) else platform(chip)
    if learning_rule is not None and (not isinstance(learning_rule, str) or not learning_rule.strip()):
        raise ValueError(f"learning_rule: expected a rule name such as 'STDP' or None, got {learning_rule!r}")
    n = needs if needs is not None else model_needs(model, inputs)
    checks: list[Check] = []

    ratios = [n.neurons / p.neurons]
    if n.neurons > p.neurons:
        checks.append(Check("neurons", HARD, "exceeded", f"neurons {n.neurons:,} > {p.neurons:,}"))
    else:
        checks.append(Check("neurons", HARD, "ok"))
    if p.synapses is None:
        checks.append(Check("synapses", HARD, "unknown", "synapse count not in the catalog"))
    else:
        ratios.append(n.synapses / p.synapses)
        if n.synapses > p.synapses:
            checks.append(Check("synapses", HARD, "exceeded", f"synapses {n.synapses:,} > {p.synapses:,}"))
        else:
            checks.append(Check("synapses", HARD, "ok"))
    support, why = _neuron_support(p, n.features, n.runs_on)
    state = {"yes": "ok", "no": "exceeded", "unknown": "unknown"}[support]
    checks.append(Check("neuron model", HARD, state, "; ".join(why)))
    training = "n/a"
    if learning_rule is not None:
        training = "yes" if p.supports_rule(learning_rule) else "no"
        if training == "no":
            rules = ", ".join(p.training_rules) or "none"
            checks.append(Check("learning rule", HARD, "exceeded", f"no on-device {learning_rule} (chip: {rules})"))
        else:
            checks.append(Check("learning rule", HARD, "ok"))
    spn = p.synapses_per_neuron
    if spn is not None and n.max_fan_in > spn:
        checks.append(
            Check(
                "fan-in",
                HEURISTIC,
                "exceeded",
                f"fan-in {n.max_fan_in:,} > {spn:,.0f} average synapses per neuron",
            )
        )
    else:
        checks.append(Check("fan-in", HEURISTIC, "ok" if spn is not None else "unknown"))

    hard = [c for c in checks if c.kind == HARD]
    failed = [c for c in hard if c.state == "exceeded"]
    verdict = "no" if failed else ("unknown" if any(c.state == "unknown" for c in hard) else "yes")
    capacity_only = all(c.name in ("neurons", "synapses") for c in failed)
    known_capacity = p.synapses is not None or n.neurons > p.neurons
    chips = max(1, math.ceil(max(ratios))) if known_capacity and capacity_only else None
    reasons = [str(c) for c in checks if c.state == "exceeded" and c.kind == HARD]
    reasons += [str(c) for c in checks if c.state == "unknown" and c.kind == HARD]
    reasons += [str(c) for c in checks if c.state == "exceeded" and c.kind == HEURISTIC]
    if chips is not None and chips > 1:
        reasons.append(f"needs {chips} chips for its neurons and synapses")
    if failed and not capacity_only:
        reasons.append("more chips do not help")
    return FitVerdict(
        platform=p.name,
        verdict=verdict,
        neurons_needed=n.neurons,
        neurons_available=p.neurons,
        synapses_needed=n.synapses,
        synapses_available=p.synapses,
        max_fan_in=n.max_fan_in,
        synapses_per_neuron=spn,
        neuron_model=support,
        training=training,
        chips_needed=chips,
        reasons=tuple(reasons),
        checks=tuple(checks),
    )


def fit_all(model: nn.Module, inputs=None, *, learning_rule: str | None = None) -> FitTable:
    """:func:`fit` against all 15 chips, in catalog order; every ``no`` carries its reasons."""
    needs = model_needs(model, inputs)
    rows = tuple(fit(model, p, learning_rule=learning_rule, needs=needs) for p in platforms())
    return FitTable(rows=rows, needs=needs, learning_rule=learning_rule)


def mlp(sizes: list[int] | tuple[int, ...], neuron: str = "LIF") -> nn.Module:
    """:func:`spikeforge.nets.mlp` of spiking layers only (``readout="spikes"``), the neuron named: any name
    of :func:`spikeforge.neuron.catalog.neuron_classes` (presets and declared models). Used by
    ``spikeforge hardware fit --sizes``."""
    from spikeforge.nets import mlp as nets_mlp
    from spikeforge.neuron.catalog import neuron_classes

    if len(sizes) < 2 or any(not isinstance(s, int) or s < 1 for s in sizes):
        raise ValueError(f"sizes: expected at least two positive integers such as 700,256,20, got {sizes!r}")
    classes = neuron_classes()
    if neuron not in classes:
        raise ValueError(f"neuron: expected one of {sorted(classes)}, got {neuron!r}")
    return nets_mlp(list(sizes), neuron=classes[neuron], readout="spikes")

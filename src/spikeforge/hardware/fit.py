"""Can this model run on that chip? Neurons, synapses, fan-in, neuron model and on-device training.

Requirements are read from the model:

* neurons: the neuron populations per sample (one time step): the sizes of the spiking/readout neuron
  modules when ``inputs`` are given, else the outputs of the synapse layers (``out_features``);
* synapses: non-zero connections, *unrolled* (a convolution kernel counts once per output position,
  as on chips without weight sharing); recurrent weights included;
* fan-in: the largest number of non-zero inputs of one neuron, against the chip's synapses per neuron
  (the seed: "many dense layers require mappings between ~1000 neurons");
* neuron model: features of spikeforge neurons -- graded spikes (``max_spikes > 1``), complex
  (resonate-and-fire) state, adaptive threshold and stochastic firing need *programmable* neurons;
  current-based (CuBa) synapses need a chip listing CuBa (or programmable synapses); plain IF/LIF runs on
  any LIF-type chip (LIF, exp-LIF, AdEx-IF);
* on-device training: a ``learning_rule`` (e.g. ``"STDP"``, ``"e-prop"``, ``"BPTT"``) needs a chip that
  lists it or has programmable training.

A chip whose table cell is blank gives ``"unknown"`` for that check, never a silent ``"yes"``.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import torch
from torch import nn

from spikeforge.hardware.catalog import Platform, platform, platforms
from spikeforge.hardware.counts import SYNAPSE_TYPES, _render, count_ops

__all__ = ["FitTable", "FitVerdict", "ModelNeeds", "fit", "fit_all", "model_needs"]

_LIF_TYPES = frozenset({"LIF", "exp-LIF", "AdEx-IF"})
_PROGRAMMABLE_ONLY = ("graded spikes", "complex state", "adaptive threshold", "stochastic firing")


@dataclass(frozen=True)
class ModelNeeds:
    """What a model asks of a chip (per sample, one time step)."""

    neurons: int
    synapses: int
    max_fan_in: int
    features: tuple[str, ...]  # neuron-model features, e.g. ("LIF", "CuBa") or ("LIF", "graded spikes")


@dataclass(frozen=True)
class FitVerdict:
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

    @property
    def fits(self) -> bool:
        return self.verdict == "yes"


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
            )
        )
        for col in ("platform", "fits", "chips", "reasons"):
            table.add_column(col, justify="right" if col == "chips" else "left")
        for r in self.rows:
            table.add_row(
                r.platform,
                r.verdict,
                "?" if r.chips_needed is None else str(r.chips_needed),
                "; ".join(r.reasons) or "",
            )
        return table

    def __str__(self) -> str:
        return _render(self.to_rich())


def _neuron_features(model: nn.Module) -> tuple[str, ...]:
    try:
        from spikeforge.neuron import Neuron
    except ImportError:  # pragma: no cover
        return ("LIF",)
    feats: list[str] = []
    for m in model.modules():
        if not isinstance(m, Neuron):
            continue
        spec = m.spec
        if spec.max_spikes > 1:
            feats.append("graded spikes")
        if m.is_complex:
            feats.append("complex state")
        if spec.adaptive:
            feats.append("adaptive threshold")
        if spec.stochastic:
            feats.append("stochastic firing")
        if spec.cuba:
            feats.append("CuBa")
    return ("LIF", *sorted(set(feats)))


def model_needs(model: nn.Module, inputs=None, *, features: tuple[str, ...] | None = None) -> ModelNeeds:
    """Neurons, synapses, fan-in and neuron-model features the model requires.

    Without ``inputs`` only linear and recurrent layers can be sized; a convolution needs example inputs.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    feats = features if features is not None else _neuron_features(model)
    if inputs is not None:
        counts = count_ops(model, inputs)
        return ModelNeeds(counts.neurons, counts.synapses, counts.max_fan_in, feats)
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
    return ModelNeeds(neurons, synapses, fan_in, feats)


def _neuron_support(chip: Platform, features: tuple[str, ...]) -> tuple[str, list[str]]:
    if chip.programmable_neurons:
        return "yes", []
    special = [f for f in features if f in _PROGRAMMABLE_ONLY]
    if special:
        kind = chip.neuron_type or "unspecified"
        return "no", [f"{', '.join(special)} need programmable neurons (chip: {kind})"]
    if chip.neuron_type is None:
        return "unknown", ["neuron type not given in the catalog"]
    if chip.neuron_type not in _LIF_TYPES:
        return "no", [f"neuron type {chip.neuron_type} cannot run LIF"]
    if "CuBa" in features:
        if "CuBa" in chip.synapse_type or "programmable" in chip.synapse_type:
            return "yes", []
        if not chip.synapse_type:
            return "unknown", ["synapse type (CuBa?) not given in the catalog"]
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
    reasons: list[str] = []
    states: list[str] = []

    ratios = [n.neurons / p.neurons]
    if n.neurons > p.neurons:
        reasons.append(f"neurons {n.neurons:,} > {p.neurons:,}")
        states.append("no")
    if p.synapses is None:
        reasons.append("synapse count not given in the catalog")
        states.append("unknown")
    else:
        ratios.append(n.synapses / p.synapses)
        if n.synapses > p.synapses:
            reasons.append(f"synapses {n.synapses:,} > {p.synapses:,}")
            states.append("no")
    spn = p.synapses_per_neuron
    if spn is not None and n.max_fan_in > spn:
        reasons.append(f"fan-in {n.max_fan_in:,} > {spn:,.0f} synapses per neuron")
        states.append("no")
    support, why = _neuron_support(p, n.features)
    reasons += why
    states.append(support)
    training = "n/a"
    if learning_rule is not None:
        training = "yes" if p.supports_rule(learning_rule) else "no"
        if training == "no":
            rules = ", ".join(p.training_rules) or "none"
            reasons.append(f"no on-device {learning_rule} (chip: {rules})")
            states.append("no")
    verdict = "no" if "no" in states else ("unknown" if "unknown" in states else "yes")
    chips = max(1, math.ceil(max(ratios))) if p.synapses is not None or n.neurons > p.neurons else None
    if chips is not None and chips > 1:
        reasons.append(f"needs {chips} chips")
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
    )


def fit_all(model: nn.Module, inputs=None, *, learning_rule: str | None = None) -> FitTable:
    """:func:`fit` against all 15 chips, in catalog order; every ``no`` carries its reasons."""
    needs = model_needs(model, inputs)
    rows = tuple(fit(model, p, learning_rule=learning_rule, needs=needs) for p in platforms())
    return FitTable(rows=rows, needs=needs, learning_rule=learning_rule)


def mlp(sizes: list[int] | tuple[int, ...], neuron: str = "LIF") -> nn.Module:
    """An MLP ``sizes[0] -> ... -> sizes[-1]`` of spikeforge Linear layers, each followed by a neuron.

    ``neuron`` names a spikeforge neuron class (``LIF``, ``IF``, ``CuBaLIF``, ``AdaptiveLIF``,
    ``GradedLIF``, ``ResonateAndFire``). Used by ``spikeforge hardware fit --sizes``.
    """
    from spikeforge import neuron as neuron_mod
    from spikeforge.synapse import Linear

    if len(sizes) < 2 or any(not isinstance(s, int) or s < 1 for s in sizes):
        raise ValueError(f"sizes: expected at least two positive integers such as 700,256,20, got {sizes!r}")
    cls = getattr(neuron_mod, neuron, None)
    if not (isinstance(cls, type) and issubclass(cls, neuron_mod.Neuron)):
        names = sorted(
            k for k, v in vars(neuron_mod).items() if isinstance(v, type) and issubclass(v, neuron_mod.Neuron)
        )
        raise ValueError(f"neuron: expected one of {names}, got {neuron!r}")
    layers: list[nn.Module] = []
    with torch.no_grad():
        for a, b in itertools.pairwise(sizes):
            layers += [Linear(a, b), cls()]
    return nn.Sequential(*layers)

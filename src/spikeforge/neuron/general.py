r"""The declaration of the general neuron (:class:`spikeforge.Neuron`, equations in :mod:`spikeforge.neuron.dynamics`).

The general neuron of the seed -- decay, fire with a firing model, reset, in any order, real or complex,
binary or graded, CuBa, adaptive -- is the first declared model: :data:`GENERAL` is a
:class:`~spikeforge.neuron.models.NeuronModel` like ``EXPIF``, ``ADEX`` or ``IZHIKEVICH``, and
``Neuron.model`` (any preset's too) is it. It declares

* ``state``: :class:`~spikeforge.neuron.dynamics.NeuronState` (``v, s, h`` and, where the configuration has
  them, ``i``, ``a``, ``ref``; the others are ``None``);
* ``params``: :data:`PARAMS`, the module's parameters; the step takes the quantities derived from them,
  :class:`~spikeforge.neuron.dynamics.NeuronParams` (``params_type``; ``Neuron.params`` builds them);
* ``features``: every feature the general neuron has (:data:`spikeforge.neuron.features.KNOWN_FEATURES` and
  their hardware words); a configured module's ``features`` are the subset its calls require
  (:func:`spikeforge.neuron.features.spec_features`, computed once when its spec is made);
* ``step``: :func:`spikeforge.neuron.dynamics.neuron_step` (``config`` is the module's
  :class:`~spikeforge.neuron.dynamics.NeuronSpec`), ``rest``: :func:`rest` (it takes the spec too:
  ``rest_takes_config``), and ``record_fields``: the derived quantities of
  :class:`~spikeforge.neuron.dynamics.StepTrace`;
* ``scan``: :func:`scan`, the registered scan backends (:mod:`spikeforge.neuron.backends`, the fused scans of
  :mod:`spikeforge.kernels`) -- the general neuron's hand-written backward is theirs;
* ``neuron_type`` ``"LIF"`` and ``runs_on`` :data:`LIF_TYPES` (a configured module narrows it to none when it
  needs programmable neurons), and ``to_nir``: the exporter of :mod:`spikeforge.interop.nir_export`.

:data:`PARAMS` gives each parameter's name, default, constraint, whether it may be learned, its unit and
meaning. ``Neuron.__init__`` checks its arguments against it (which names may be learned, which must be
positive or non-negative); ``Neuron.features``/``Neuron.neuron_type``/``Neuron.runs_on`` answer from the
declaration as a declared model's module does (:mod:`spikeforge.hardware.fit` asks any neuron module the
same three questions, :func:`spikeforge.interop.to_nir` asks its declaration how it exports).

A parameter whose default is ``None`` switches its process off unless given (no ``tau``: ``λ = 1``, IF; no
``tau_syn``: no synaptic current; no ``tau_adapt``: no adaptation).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

import torch

from spikeforge.neuron import backends as _backends
from spikeforge.neuron.dynamics import (
    NeuronParams,
    NeuronSpec,
    NeuronState,
    StepTrace,
    draw_orders,
    fresh_state,
    neuron_step,
)
from spikeforge.neuron.features import KNOWN_FEATURES, required_features
from spikeforge.neuron.models.base import NeuronModel, Param

__all__ = ["GENERAL", "HARDWARE_WORDS", "LEARNABLE", "LIF_TYPES", "NEURON_TYPE", "PARAMS", "PROGRAMMABLE_ONLY",
           "OptionalParam", "hardware_features", "param", "rest", "scan"]


@dataclass(frozen=True)
class OptionalParam(Param):
    """A :class:`Param` whose ``default`` may be ``None``: the process it drives is off unless it is given."""

    default: float | None = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.default is None:
            Param(self.name, 1.0, self.constraint)  # the name's and the constraint's checks
        else:
            super().__post_init__()


#: The general neuron's parameters, in the order of ``Neuron``'s arguments.
PARAMS: tuple[Param, ...] = (
    OptionalParam("tau", None, "positive", True, "time unit of dt",
                  "membrane time constant τ: λ = exp(−dt/τ); None (and no decay): λ = 1 (IF)"),
    OptionalParam("decay", None, "real", True, "",
                  "λ given directly, real or complex (|λ| ≤ 1, checked by the module); excludes tau and omega"),
    OptionalParam("omega", None, "real", True, "rad per time unit of dt",
                  "angular frequency ω: λ = exp(−dt/τ + i·ω·dt) is complex (resonate-and-fire)"),
    Param("threshold", 1.0, "positive", True, "potential", "firing threshold θ"),
    OptionalParam("tau_syn", None, "positive", True, "time unit of dt",
                  "synaptic current time constant: λ_syn = exp(−dt/τ_syn) (current-based, CuBa)"),
    OptionalParam("tau_adapt", None, "positive", True, "time unit of dt",
                  "adaptation time constant: ρ = exp(−dt/τ_adapt), a ← ρ·a + n"),
    Param("adapt_scale", 0.0, "nonnegative", False, "potential per spike",
          "adaptation strength β: the threshold is θ + β·a"),
)
#: Names of the parameters that may be trained (``Neuron(learnable=...)``).
LEARNABLE: tuple[str, ...] = tuple(p.name for p in PARAMS if p.learnable)


def param(name: str) -> Param:
    """The declared parameter ``name``."""
    for p in PARAMS:
        if p.name == name:
            return p
    raise KeyError(name)


#: The chip catalog's neuron type of the general neuron
#: (``src/spikeforge/hardware/data/neuromorphic_platforms.csv``).
NEURON_TYPE = "LIF"
#: The catalog neuron types whose neurons run a (plain IF/LIF, optionally CuBa) general neuron.
LIF_TYPES: frozenset[str] = frozenset({"LIF", "exp-LIF", "AdEx-IF"})
#: Hardware words of the general neuron's features (:mod:`spikeforge.neuron.features` names -> the words of
#: :mod:`spikeforge.hardware.fit`).
HARDWARE_WORDS = MappingProxyType({
    "graded": "graded spikes", "complex": "complex state", "adaptive": "adaptive threshold",
    "stochastic": "stochastic firing", "cuba": "CuBa",
})
#: Hardware words only programmable neurons provide (a neuron that has one runs on no fixed neuron type).
PROGRAMMABLE_ONLY: tuple[str, ...] = ("graded spikes", "complex state", "adaptive threshold", "stochastic firing")


def hardware_features(features: frozenset[str]) -> frozenset[str]:
    """The hardware words of a general neuron with these :mod:`~spikeforge.neuron.features`: always
    :data:`NEURON_TYPE` (``"LIF"``), plus ``"CuBa"``, ``"graded spikes"``, ``"complex state"``, ``"adaptive
    threshold"``, ``"stochastic firing"`` for the features that ask for them."""
    return frozenset({NEURON_TYPE} | {HARDWARE_WORDS[f] for f in features if f in HARDWARE_WORDS})


def rest(params: NeuronParams, zeros: torch.Tensor, spec: NeuronSpec) -> NeuronState:
    """The resting state (all zeros) for input steps like ``zeros: [B, *features]``; the potential is complex
    when the decay or the input is; ``i``, ``a`` and ``ref`` exist as ``spec`` asks (CuBa, adaptive,
    refractory). The same as ``Neuron.initial_state``."""
    real = zeros.real.dtype if zeros.is_complex() else zeros.dtype
    return fresh_state(tuple(zeros.shape), spec, dtype=real, device=zeros.device,
                       complex_=params.decay.is_complex() or zeros.is_complex())


def scan(
    x: torch.Tensor,
    state: NeuronState,
    params: NeuronParams,
    spec: NeuronSpec,
    *,
    backend: str = "auto",
    noise: torch.Tensor | None = None,
    orders: list | None = None,
    recurrent_weight: torch.Tensor | None = None,
) -> tuple[torch.Tensor, NeuronState]:
    """The general neuron over ``x: [T, B, ...]`` on the scan backend ``backend``
    (:mod:`spikeforge.neuron.backends`; the fused scans of :mod:`spikeforge.kernels`, whose hand-written
    backward is the neuron's): a call that requires a feature the backend did not declare runs on the generic
    fused scan (``"torch"``), which implements every feature. ``orders`` default: :func:`draw_orders`
    without a generator."""
    if orders is None:
        orders = draw_orders(spec, x.shape[0], None)
    fn = _backends.get_backend(backend)
    declared = _backends.backend_features(backend)
    if declared is not None and not required_features(x, state, params, spec, noise, orders,
                                                      recurrent_weight) <= declared:
        fn = _backends.get_backend("torch")
    return fn(x, state, params, spec, noise=noise, orders=orders, recurrent_weight=recurrent_weight)


#: The general neuron as a declared model (see the module docstring).
GENERAL = NeuronModel(
    name="general",
    state=NeuronState,
    params=PARAMS,
    features=KNOWN_FEATURES | hardware_features(KNOWN_FEATURES),
    neuron_type=NEURON_TYPE,
    step=neuron_step,
    rest=rest,
    runs_on=LIF_TYPES,
    input_unit="potential (added to v at each step)",
    params_type=NeuronParams,
    rest_takes_config=True,
    scan=scan,
    to_nir="spikeforge.interop.nir_export:neuron_to_nir",
    record_fields=StepTrace._fields,
)

r"""The declaration of the general neuron (:class:`spikeforge.Neuron`, equations in :mod:`spikeforge.neuron.dynamics`).

As a declared model (:mod:`spikeforge.neuron.models.base`) names its parameters once, so does the general
neuron: :data:`PARAMS` gives each parameter's name, default, constraint, whether it may be learned, its unit
and meaning. ``Neuron.__init__`` checks its arguments against it (which names may be learned, which must be
positive or non-negative); the hardware words below say what the neuron asks of a chip, and
``Neuron.features``/``Neuron.neuron_type``/``Neuron.runs_on`` answer from them as a declared model's module
answers from its :class:`~spikeforge.neuron.models.NeuronModel` (:mod:`spikeforge.hardware.fit` asks any
neuron module the same three questions).

A parameter whose default is ``None`` switches its process off unless given (no ``tau``: ``λ = 1``, IF; no
``tau_syn``: no synaptic current; no ``tau_adapt``: no adaptation).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

from spikeforge.neuron.models.base import Param

__all__ = ["HARDWARE_WORDS", "LEARNABLE", "LIF_TYPES", "NEURON_TYPE", "PARAMS", "PROGRAMMABLE_ONLY", "OptionalParam",
           "hardware_features", "param"]


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

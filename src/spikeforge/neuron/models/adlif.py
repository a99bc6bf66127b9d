r"""The adaptive LIF neuron discretised by symplectic Euler, SE-adLIF (Baronig, Ferrand, Sabathiel & Legenstein
2025, "Advancing spatio-temporal processing through adaptation in spiking neural networks", Nat. Commun.).

A membrane potential ``u`` and an adaptation current ``w`` that feeds back on it; one step of ``dt``:

* integrate: ``u* = α·u_{t−1} + (1 − α)·(I_t − w_{t−1})``, ``α = exp(−dt/τ_u)``;
* fire: ``s_t = H(u* − θ)`` (surrogate: the firing model's density at ``u* − θ``);
* reset (to zero): ``u_t = u*·(1 − s_t)``;
* adapt, from the **new** ``u_t`` (the symplectic Euler step that makes the pair stable where forward Euler
  is not): ``w_t = β·w_{t−1} + (1 − β)·q·(a·u_t + b·s_t)``, ``β = exp(−dt/τ_w)``.

``a`` couples the potential into the adaptation (``a > 0`` makes the neuron a damped oscillator, resonant
to its inputs' frequencies) and ``b`` is the spike-triggered adaptation; ``q`` is the paper's scale factor
(``q = 120`` for its SHD runs) so that ``a`` and ``b`` are trained in ``[0, 1]`` and ``[0, 2]``.

The trainable values are kept to the paper's ranges (:data:`RANGES`: ``τ_u`` in [5, 25] ms, ``τ_w`` in
[60, 300] ms, ``a`` in [0, 1], ``b`` in [0, 2]): each step uses the value clamped to its range, with the
gradient passed straight through the clamp (so a value an optimiser pushed past a bound can come back; the
paper clamps the parameters after each optimiser step instead). Units: ``u``, ``w``, ``θ`` and the input in
the same (arbitrary) unit, times in ms; ``dt = 1`` ms by default, as in the paper.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import NamedTuple

import torch

from spikeforge.neuron.models.base import ModelNeuron, NeuronModel, Param, StepConfig, fire

__all__ = ["ADLIF", "RANGES", "AdLIF", "AdLIFParams", "AdLIFState", "limited"]

#: The paper's ranges of the trained values, ``name -> (low, high)`` (its SHD configuration).
RANGES = MappingProxyType({"tau_u": (5.0, 25.0), "tau_w": (60.0, 300.0), "a": (0.0, 1.0), "b": (0.0, 2.0)})


class AdLIFState(NamedTuple):
    """State of an AdLIF population, ``[B, *features]``: the potential ``u`` (after the reset) and the
    adaptation ``w``."""

    u: torch.Tensor
    w: torch.Tensor


def limited(value: torch.Tensor, low: float, high: float) -> torch.Tensor:
    """``value`` clamped to ``[low, high]`` forward, with the identity's gradient (straight through)."""
    return value + (value.clamp(low, high) - value).detach()


def step(I_t: torch.Tensor, state: AdLIFState, p, config: StepConfig) -> tuple[torch.Tensor, AdLIFState]:
    """One SE-adLIF step (the equations in the module docstring): ``(I_t, state, params) -> (s_t, state)``."""
    alpha = torch.exp(-config.dt / limited(p.tau_u, *RANGES["tau_u"]))
    beta = torch.exp(-config.dt / limited(p.tau_w, *RANGES["tau_w"]))
    a, b = limited(p.a, *RANGES["a"]), limited(p.b, *RANGES["b"])
    u_star = alpha * state.u + (1 - alpha) * (I_t - state.w)
    s = fire(u_star, p.theta, config.firing)
    r = s.detach() if config.detach_reset else s
    u = u_star * (1 - r)
    w = beta * state.w + (1 - beta) * p.q * (a * u + b * s)
    return s, AdLIFState(u=u, w=w)


def rest(p, zeros: torch.Tensor) -> AdLIFState:
    """At rest: ``u = 0``, ``w = 0``."""
    return AdLIFState(u=zeros.clone(), w=zeros.clone())


ADLIF = NeuronModel(
    name="AdLIF",
    state=AdLIFState,
    params=(
        Param("tau_u", 15.0, "positive", unit="ms", doc="membrane time constant τ_u (used within [5, 25])"),
        Param("tau_w", 180.0, "positive", unit="ms", doc="adaptation time constant τ_w (used within [60, 300])"),
        Param("a", 0.5, doc="subthreshold coupling of u into w (used within [0, 1])"),
        Param("b", 1.0, doc="spike-triggered adaptation (used within [0, 2])"),
        Param("q", 120.0, "nonnegative", learnable=False, doc="scale of the adaptation's drive (the paper's q)"),
        Param("theta", 1.0, "positive", learnable=False, doc="firing threshold θ"),
    ),
    features=frozenset({"real", "binary", "deterministic", "reset:hard", "adaptive"}),
    # no chip in the catalog lists it: it runs on programmable neurons (SpiNNaker, Loihi-2, ...)
    neuron_type="AdLIF",
    step=step,
    rest=rest,
)
AdLIFParams = ADLIF.params_type


class AdLIF(ModelNeuron):
    """SE-adLIF neuron (equations, ranges and units: :mod:`spikeforge.neuron.models.adlif`).

    Parameters (keyword only): ``tau_u``, ``tau_w`` (ms), ``a``, ``b``, ``q``, ``theta``, and ``dt`` (ms,
    default 1 as in the paper), ``firing``, ``detach_reset``, ``learnable``, ``shape``, ``dtype`` as every
    :class:`~spikeforge.neuron.models.base.ModelNeuron`. Input: current ``[T, B, ...]``.
    """

    model = ADLIF

    def __init__(self, *, dt: float = 1.0, **kwargs) -> None:
        super().__init__(dt=dt, **kwargs)


# the declared signature, with this model's dt default
AdLIF.__signature__ = AdLIF.__signature__.replace(parameters=[  # type: ignore[attr-defined]
    p.replace(default=1.0) if p.name == "dt" else p for p in AdLIF.__signature__.parameters.values()
])

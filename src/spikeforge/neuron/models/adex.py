r"""The adaptive exponential integrate-and-fire neuron (Brette & Gerstner 2005): BrainScaleS-2's ``AdEx-IF``.

.. math::
    C\,\frac{dv}{dt} &= -g_L\,(v - E_L) + g_L\,Δ_T\,\exp\!\Big(\frac{v - V_T}{Δ_T}\Big) - w + I \\
    τ_w\,\frac{dw}{dt} &= a\,(v - E_L) - w

and at a spike ``v → V_reset``, ``w → w + b``. One step of ``dt`` in the seed's three processes
(:mod:`spikeforge.neuron.models.base`):

* integrate (forward Euler, both variables from the values at the start of the step):
  ``v* = v + dt/C·(−g_L·(v − E_L) + g_L·Δ_T·exp((v − V_T)/Δ_T) − w + I_t)``,
  ``w* = w + dt/τ_w·(a·(v − E_L) − w)``;
* fire: ``s = H(v* − V_peak)`` (surrogate: the firing model's density at ``v* − V_peak``);
* reset (hard, with the spike-triggered adaptation): ``v = (1 − s)·v* + s·V_reset``, ``w = w* + b·s``.

Units: ``v``, ``E_L``, ``V_T``, ``Δ_T``, ``V_reset``, ``V_peak`` in mV, ``C`` in pF, ``g_L`` and ``a`` in nS,
``w``, ``b`` and the input ``I`` in pA, ``τ_w`` and ``dt`` in ms. Defaults: Brette & Gerstner (2005), the
regular-spiking cell (``C = 281 pF``, ``g_L = 30 nS``, ``E_L = V_reset = −70.6 mV``, ``V_T = −50.4 mV``,
``Δ_T = 2 mV``, ``τ_w = 144 ms``, ``a = 4 nS``, ``b = 80.5 pA``) with the cut-off
``V_peak = V_T + 5·Δ_T = −40.4 mV`` of Brian2's AdEx example.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from spikeforge.neuron.dynamics import hard_reset
from spikeforge.neuron.models.base import ModelNeuron, NeuronModel, Param, StepConfig, fire
from spikeforge.neuron.models.expif import MEMBRANE_PARAMS, SPIKE_PARAMS, membrane_current

__all__ = ["ADEX", "AdEx", "AdExParams", "AdExState"]


class AdExState(NamedTuple):
    """State of an AdEx population, ``[B, *features]``: membrane potential ``v`` (mV), adaptation current
    ``w`` (pA)."""

    v: torch.Tensor
    w: torch.Tensor


def step(I_t: torch.Tensor, state: AdExState, p, config: StepConfig) -> tuple[torch.Tensor, AdExState]:
    """One forward-Euler step of the equations in the module docstring: ``(I_t, state, params) -> (s_t, state)``."""
    v, w = state
    dt = config.dt
    dv = membrane_current(v, p) - w + I_t
    v_star = v + (dt / p.C) * dv
    w_star = w + (dt / p.tau_w) * (p.a * (v - p.E_L) - w)
    s = fire(v_star, p.V_peak, config.firing)
    r = s.detach() if config.detach_reset else s
    return s, AdExState(v=hard_reset(v_star, r, p.V_reset), w=w_star + p.b * r)


def rest(p, zeros: torch.Tensor) -> AdExState:
    """At rest: ``v = E_L``, ``w = 0``."""
    return AdExState(v=zeros + p.E_L, w=zeros.clone())


ADEX = NeuronModel(
    name="AdEx",
    state=AdExState,
    params=(
        *MEMBRANE_PARAMS,
        Param("tau_w", 144.0, "positive", unit="ms", doc="adaptation time constant τ_w"),
        Param("a", 4.0, unit="nS", doc="subthreshold adaptation"),
        Param("b", 80.5, unit="pA", doc="spike-triggered adaptation"),
        *SPIKE_PARAMS,
    ),
    features=frozenset({"real", "binary", "deterministic", "reset:hard", "exponential", "adaptive"}),
    neuron_type="AdEx-IF",
    step=step,
    rest=rest,
    input_unit="pA",
)
AdExParams = ADEX.params_type


class AdEx(ModelNeuron):
    """Adaptive exponential integrate-and-fire neuron (equations and units:
    :mod:`spikeforge.neuron.models.adex`).

    Parameters (keyword only): ``C`` (pF), ``g_L``, ``a`` (nS), ``E_L``, ``V_T``, ``Delta_T``, ``V_reset``,
    ``V_peak`` (mV), ``tau_w`` (ms), ``b`` (pA), and ``dt`` (ms), ``firing``, ``detach_reset``, ``learnable``,
    ``shape``, ``dtype`` as every :class:`~spikeforge.neuron.models.base.ModelNeuron`. Input: current in pA,
    ``[T, B, ...]``.
    """

    model = ADEX

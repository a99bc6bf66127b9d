r"""The exponential integrate-and-fire neuron (Fourcaud-Trocmé et al. 2003): TrueNorth's ``exp-LIF``.

.. math:: C\,\frac{dv}{dt} = -g_L\,(v - E_L) + g_L\,Δ_T\,\exp\!\Big(\frac{v - V_T}{Δ_T}\Big) + I

One step of ``dt`` in the seed's three processes (:mod:`spikeforge.neuron.models.base`):

* integrate (forward Euler): ``v* = v + dt/C·(−g_L·(v − E_L) + g_L·Δ_T·exp((v − V_T)/Δ_T) + I_t)``;
* fire: ``s = H(v* − V_peak)`` (surrogate: the firing model's density at ``v* − V_peak``);
* reset (hard): ``v = (1 − s)·v* + s·V_reset``.

Units: ``v``, ``E_L``, ``V_T``, ``Δ_T``, ``V_reset``, ``V_peak`` in mV, ``C`` in pF, ``g_L`` in nS, the input
``I`` in pA, ``dt`` in ms (pA·ms/pF = mV, nS·mV = pA). Defaults: the cell of Brette & Gerstner (2005)
without adaptation (``C = 281 pF``, ``g_L = 30 nS``, ``E_L = V_reset = −70.6 mV``, ``V_T = −50.4 mV``,
``Δ_T = 2 mV``) and the cut-off ``V_peak = V_T + 5·Δ_T = −40.4 mV`` of Brian2's AdEx example. At rest
(``v = E_L``) and before any spike the potential stays below ``V_peak``, so the exponential stays below
``exp(5)``: ``v*`` is finite in float32 unless the input current is.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from spikeforge.neuron.dynamics import hard_reset
from spikeforge.neuron.models.base import ModelNeuron, NeuronModel, Param, StepConfig, fire

__all__ = ["EXPIF", "MEMBRANE_PARAMS", "SPIKE_PARAMS", "ExpIF", "ExpIFParams", "ExpIFState", "membrane_current"]


class ExpIFState(NamedTuple):
    """State of an ExpIF population, ``[B, *features]``: the membrane potential ``v`` (mV)."""

    v: torch.Tensor


def membrane_current(v: torch.Tensor, p) -> torch.Tensor:
    """The leak and the exponential spike-onset current, ``−g_L·(v − E_L) + g_L·Δ_T·exp((v − V_T)/Δ_T)`` (pA)
    (shared with :mod:`spikeforge.neuron.models.adex`)."""
    return -p.g_L * (v - p.E_L) + p.g_L * p.Delta_T * torch.exp((v - p.V_T) / p.Delta_T)


def step(I_t: torch.Tensor, state: ExpIFState, p, config: StepConfig) -> tuple[torch.Tensor, ExpIFState]:
    """One forward-Euler step of the equation in the module docstring: ``(I_t, state, params) -> (s_t, state)``."""
    v = state.v
    dv = membrane_current(state.v, p) + I_t
    v_star = v + (config.dt / p.C) * dv
    s = fire(v_star, p.V_peak, config.firing)
    r = s.detach() if config.detach_reset else s
    return s, ExpIFState(v=hard_reset(v_star, r, p.V_reset))


def rest(p, zeros: torch.Tensor) -> ExpIFState:
    """At rest: ``v = E_L``."""
    return ExpIFState(v=zeros + p.E_L)


#: The membrane's parameters (Brette & Gerstner 2005), also AdEx's.
MEMBRANE_PARAMS = (
    Param("C", 281.0, "positive", unit="pF", doc="membrane capacitance"),
    Param("g_L", 30.0, "positive", unit="nS", doc="leak conductance"),
    Param("E_L", -70.6, unit="mV", doc="leak reversal (resting) potential"),
    Param("V_T", -50.4, unit="mV", doc="threshold of the exponential term"),
    Param("Delta_T", 2.0, "positive", unit="mV", doc="slope factor Δ_T (sharpness of the spike onset)"),
)
#: The reset target and the spike cut-off, also AdEx's.
SPIKE_PARAMS = (
    Param("V_reset", -70.6, unit="mV", doc="potential after a spike"),
    Param("V_peak", -40.4, learnable=False, unit="mV", doc="spike cut-off θ: a spike when v* >= V_peak"),
)

EXPIF = NeuronModel(
    name="ExpIF",
    state=ExpIFState,
    params=(
        *MEMBRANE_PARAMS,
        *SPIKE_PARAMS,
    ),
    features=frozenset({"real", "binary", "deterministic", "reset:hard", "exponential"}),
    neuron_type="exp-LIF",
    # BrainScaleS-2's AdEx circuit runs it with the adaptation switched off (a = b = 0)
    runs_on=frozenset({"exp-LIF", "AdEx-IF"}),
    step=step,
    rest=rest,
    input_unit="pA",
)
ExpIFParams = EXPIF.params_type


class ExpIF(ModelNeuron):
    """Exponential integrate-and-fire neuron (equations and units: :mod:`spikeforge.neuron.models.expif`).

    Parameters (keyword only): ``C`` (pF), ``g_L`` (nS), ``E_L``, ``V_T``, ``Delta_T``, ``V_reset``,
    ``V_peak`` (mV), and ``dt`` (ms), ``firing``, ``detach_reset``, ``learnable``, ``shape``, ``dtype`` as every
    :class:`~spikeforge.neuron.models.base.ModelNeuron`. Input: current in pA, ``[T, B, ...]``.
    """

    model = EXPIF

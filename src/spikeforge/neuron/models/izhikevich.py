r"""The Izhikevich neuron (Izhikevich 2003, "Simple model of spiking neurons", IEEE TNN 14:1569).

.. math::
    \frac{dv}{dt} &= 0.04\,v^2 + 5\,v + 140 - u + I \\
    \frac{du}{dt} &= a\,(b\,v - u)

and at a spike (``v ≥ 30 mV``) ``v → c``, ``u → u + d``. One step of ``dt`` in the seed's three processes
(:mod:`spikeforge.neuron.models.base`):

* integrate (forward Euler, both variables from the values at the start of the step):
  ``v* = v + dt·(0.04·v² + 5·v + 140 − u + I_t)``, ``u* = u + dt·a·(b·v − u)``;
* fire: ``s = H(v* − v_peak)`` (surrogate: the firing model's density at ``v* − v_peak``);
* reset (hard, with the recovery jump): ``v = (1 − s)·v* + s·c``, ``u = u* + d·s``.

Units as in the paper: ``v``, ``c``, ``v_peak`` in mV, time and ``dt`` in ms, ``a`` in 1/ms, ``b``
dimensionless, ``u``, ``d`` and the input ``I`` in mV/ms (the paper's dimensionless current, e.g.
``I = 10``). At rest ``v = c``, ``u = b·c`` (the paper's initial condition in its code).

Presets (the paper's Fig. 2 parameters, as classmethods of :class:`Izhikevich` and in :data:`PRESETS`):
regular spiking (``a=0.02, b=0.2, c=−65, d=8``, the default), intrinsically bursting
(``a=0.02, b=0.2, c=−55, d=4``), chattering (``a=0.02, b=0.2, c=−50, d=2``) and fast spiking
(``a=0.1, b=0.2, c=−65, d=2``).
"""

from __future__ import annotations

from types import MappingProxyType
from typing import NamedTuple

import torch

from spikeforge.neuron.dynamics import hard_reset
from spikeforge.neuron.models.base import ModelNeuron, NeuronModel, Param, StepConfig, fire

__all__ = ["IZHIKEVICH", "PRESETS", "Izhikevich", "IzhikevichParams", "IzhikevichState"]


class IzhikevichState(NamedTuple):
    """State of an Izhikevich population, ``[B, *features]``: membrane potential ``v`` (mV), recovery
    variable ``u`` (mV/ms)."""

    v: torch.Tensor
    u: torch.Tensor


def step(I_t: torch.Tensor, state: IzhikevichState, p, config: StepConfig) -> tuple[torch.Tensor, IzhikevichState]:
    """One forward-Euler step of the equations in the module docstring: ``(I_t, state, params) -> (s_t, state)``."""
    v, u = state
    dt = config.dt
    v_star = v + dt * (0.04 * v * v + 5.0 * v + 140.0 - u + I_t)
    u_star = u + dt * (p.a * (p.b * v - u))
    s = fire(v_star, p.v_peak, config.firing)
    r = s.detach() if config.detach_reset else s
    return s, IzhikevichState(v=hard_reset(v_star, r, p.c), u=u_star + p.d * r)


def rest(p, zeros: torch.Tensor) -> IzhikevichState:
    """At rest: ``v = c``, ``u = b·c``."""
    v = zeros + p.c
    return IzhikevichState(v=v, u=p.b * v)


IZHIKEVICH = NeuronModel(
    name="Izhikevich",
    state=IzhikevichState,
    params=(
        Param("a", 0.02, "positive", unit="1/ms", doc="time scale of the recovery variable u"),
        Param("b", 0.2, unit="1", doc="sensitivity of u to the subthreshold v"),
        Param("c", -65.0, unit="mV", doc="potential after a spike"),
        Param("d", 8.0, unit="mV/ms", doc="jump of u after a spike"),
        Param("v_peak", 30.0, learnable=False, unit="mV", doc="spike cut-off θ: a spike when v* >= v_peak"),
    ),
    features=frozenset({"real", "binary", "deterministic", "reset:hard", "quadratic", "adaptive"}),
    # no chip in the catalog lists it: it runs on programmable neurons (SpiNNaker, Loihi-2, ...)
    neuron_type="Izhikevich",
    step=step,
    rest=rest,
    input_unit="mV/ms",
)
IzhikevichParams = IZHIKEVICH.params_type

#: The four firing patterns of Izhikevich (2003), Fig. 2: ``{preset name: {a, b, c, d}}``.
PRESETS = MappingProxyType({
    "regular_spiking": MappingProxyType({"a": 0.02, "b": 0.2, "c": -65.0, "d": 8.0}),
    "intrinsically_bursting": MappingProxyType({"a": 0.02, "b": 0.2, "c": -55.0, "d": 4.0}),
    "chattering": MappingProxyType({"a": 0.02, "b": 0.2, "c": -50.0, "d": 2.0}),
    "fast_spiking": MappingProxyType({"a": 0.1, "b": 0.2, "c": -65.0, "d": 2.0}),
})


class Izhikevich(ModelNeuron):
    """Izhikevich (2003) neuron (equations and units: :mod:`spikeforge.neuron.models.izhikevich`).

    Parameters (keyword only): ``a`` (1/ms), ``b``, ``c`` (mV), ``d`` (mV/ms), ``v_peak`` (mV), and ``dt``
    (ms), ``firing``, ``detach_reset``, ``learnable``, ``shape``, ``dtype`` as every
    :class:`~spikeforge.neuron.models.base.ModelNeuron`. The defaults are the regular-spiking cell; the
    classmethods :meth:`regular_spiking`, :meth:`intrinsically_bursting` (alias :meth:`bursting`),
    :meth:`chattering` and :meth:`fast_spiking` give the paper's four cells (other keywords pass through).
    Input: current in mV/ms, ``[T, B, ...]``.
    """

    model = IZHIKEVICH

    @classmethod
    def preset(cls, name: str, **kwargs) -> Izhikevich:
        """The preset ``name`` of :data:`PRESETS`; ``kwargs`` override or add to its parameters."""
        if name not in PRESETS:
            raise ValueError(f"name: expected one of {sorted(PRESETS)}, got {name!r}")
        return cls(**{**PRESETS[name], **kwargs})

    @classmethod
    def regular_spiking(cls, **kwargs) -> Izhikevich:
        """Regular spiking (RS): tonic spikes whose frequency adapts."""
        return cls.preset("regular_spiking", **kwargs)

    @classmethod
    def intrinsically_bursting(cls, **kwargs) -> Izhikevich:
        """Intrinsically bursting (IB): a burst at the onset of the input, then tonic spikes."""
        return cls.preset("intrinsically_bursting", **kwargs)

    bursting = intrinsically_bursting

    @classmethod
    def chattering(cls, **kwargs) -> Izhikevich:
        """Chattering (CH): repeated bursts of closely spaced spikes."""
        return cls.preset("chattering", **kwargs)

    @classmethod
    def fast_spiking(cls, **kwargs) -> Izhikevich:
        """Fast spiking (FS): high-frequency tonic spikes without adaptation."""
        return cls.preset("fast_spiking", **kwargs)

"""Non-spiking integrators with the decay given directly, and the stateless threshold (NIR ``I``, ``LI``,
``CubaLI``, ``Threshold``). ``Integrator``/``CubaIntegrator`` are stateful: like ``Neuron`` and ``LI`` they
take ``(x, state=None, return_state=False)``; their class attribute ``stateful = True`` tells
:class:`spikeforge.nets.Sequential` to thread their state. ``Integrator``'s state is an
:class:`~spikeforge.neuron.LIState` ``(v)``, ``CubaIntegrator``'s a :class:`CubaLIState` ``(i, v)``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import nn

from spikeforge import _counting
from spikeforge._checks import check_features, per_neuron
from spikeforge.neuron.modules import LIState, _LIScan, check_named_state, check_sequence

__all__ = ["CubaIntegrator", "CubaLIState", "Integrator", "Threshold"]


class CubaLIState(NamedTuple):
    """State of a :class:`CubaIntegrator`: synaptic current ``i`` and potential ``v``, each ``[B, *features]``."""

    i: torch.Tensor
    v: torch.Tensor


class Threshold(nn.Module):
    """Heaviside ``s = [x ≥ θ]`` per feature (NIR ``Threshold``; the core's convention ``H(0) = 1``)."""

    def __init__(self, threshold, shape: Sequence[int] | None = None) -> None:
        super().__init__()
        self.register_buffer("threshold", per_neuron("threshold", threshold, shape))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_sequence(x, allow_complex=False)
        return (x >= self.threshold.to(x.dtype)).to(x.dtype)

    def extra_repr(self) -> str:
        return f"shape={tuple(self.threshold.shape)}"


class Integrator(nn.Module):
    """Non-spiking integrator with the decay given directly: ``v_t = λ·v_{t-1} + x_t``; outputs ``v``.

    ``λ = 1`` is NIR's ``I``, ``0 < λ < 1`` NIR's ``LI`` (the core's ``LI`` with ``λ = exp(-dt/τ)``).
    """

    stateful = True

    def __init__(self, decay=1.0, shape: Sequence[int] | None = None) -> None:
        super().__init__()
        lam = per_neuron("decay", decay, shape)
        if bool(torch.any(lam <= 0)) or bool(torch.any(lam > 1)):
            raise ValueError(f"decay: expected values in (0, 1], got {decay!r}")
        self.register_buffer("decay", lam)

    def lam(self) -> torch.Tensor:
        return self.decay

    def initial_state(self, x: torch.Tensor) -> LIState:
        """The resting state for input ``x: [T, B, ...]``."""
        return LIState(v=torch.zeros_like(x[0]))

    def forward(self, x: torch.Tensor, state: LIState | None = None, return_state: bool = False):
        check_sequence(x, allow_complex=False)
        check_features(x, tuple(self.decay.shape), "Integrator")
        if state is None:
            state = self.initial_state(x)
        else:
            state = check_named_state(state, LIState, tuple(x.shape[1:]))
        y = _LIScan.apply(x, state.v, self.decay.to(x.dtype))
        _counting.report(self, "neuron", y, spiking=False)
        return (y, LIState(v=y[-1])) if return_state else y

    def extra_repr(self) -> str:
        return f"shape={tuple(self.decay.shape)}"


class CubaIntegrator(nn.Module):
    """Current-based non-spiking integrator (NIR ``CubaLI``): ``i ← λ_syn·i + x``, ``v ← λ·v + i``;
    outputs ``v``. The state is a :class:`CubaLIState` ``(i, v)``."""

    stateful = True

    def __init__(self, decay, syn_decay, shape: Sequence[int] | None = None) -> None:
        super().__init__()
        if shape is None:  # one value broadcast to the other's per-neuron shape
            shape = torch.broadcast_shapes(torch.as_tensor(decay).shape, torch.as_tensor(syn_decay).shape)
        for name, value in (("decay", decay), ("syn_decay", syn_decay)):
            lam = per_neuron(name, value, shape)
            if bool(torch.any(lam <= 0)) or bool(torch.any(lam > 1)):
                raise ValueError(f"{name}: expected values in (0, 1], got {value!r}")
            self.register_buffer(name, lam)

    def lam(self) -> torch.Tensor:
        return self.decay

    def initial_state(self, x: torch.Tensor) -> CubaLIState:
        """The resting state for input ``x: [T, B, ...]``."""
        return CubaLIState(i=torch.zeros_like(x[0]), v=torch.zeros_like(x[0]))

    def forward(self, x: torch.Tensor, state: CubaLIState | None = None, return_state: bool = False):
        check_sequence(x, allow_complex=False)
        check_features(x, tuple(self.decay.shape), "CubaIntegrator")
        if state is None:
            state = self.initial_state(x)
        else:
            state = check_named_state(state, CubaLIState, tuple(x.shape[1:]))
        currents = _LIScan.apply(x, state.i, self.syn_decay.to(x.dtype))
        y = _LIScan.apply(currents, state.v, self.decay.to(x.dtype))
        _counting.report(self, "neuron", y, spiking=False)
        return (y, CubaLIState(i=currents[-1], v=y[-1])) if return_state else y

    def extra_repr(self) -> str:
        return f"shape={tuple(self.decay.shape)}"

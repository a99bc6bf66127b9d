"""Non-spiking integrators with the decay given directly, and the stateless threshold (NIR ``I``, ``LI``,
``CubaLI``, ``Threshold``). ``Integrator``/``CubaIntegrator`` are stateful: like ``Neuron`` and ``LI`` they
take ``(x, state=None, return_state=False)``; their class attribute ``stateful = True`` tells
:class:`spikeforge.nets.Sequential` to thread their state."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from spikeforge._checks import check_features, check_state_tensor, per_neuron
from spikeforge.neuron.modules import _LIScan, check_sequence

__all__ = ["CubaIntegrator", "Integrator", "Threshold"]


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

    def forward(self, x: torch.Tensor, state: torch.Tensor | None = None, return_state: bool = False):
        check_sequence(x, allow_complex=False)
        check_features(x, tuple(self.decay.shape), "Integrator")
        v = torch.zeros_like(x[0]) if state is None else check_state_tensor(state, x)
        y = _LIScan.apply(x, v, self.decay.to(x.dtype))
        return (y, y[-1]) if return_state else y

    def extra_repr(self) -> str:
        return f"shape={tuple(self.decay.shape)}"


class CubaIntegrator(nn.Module):
    """Current-based non-spiking integrator (NIR ``CubaLI``): ``i ← λ_syn·i + x``, ``v ← λ·v + i``;
    outputs ``v``. The state is ``(i, v)``."""

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

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None,
                return_state: bool = False):
        check_sequence(x, allow_complex=False)
        check_features(x, tuple(self.decay.shape), "CubaIntegrator")
        if state is None:
            i = v = torch.zeros_like(x[0])
        else:
            if not isinstance(state, tuple) or len(state) != 2:
                raise TypeError(f"state: expected a tuple (i, v), got {type(state).__name__}")
            i, v = (check_state_tensor(s, x) for s in state)
        currents = _LIScan.apply(x, i, self.syn_decay.to(x.dtype))
        y = _LIScan.apply(currents, v, self.decay.to(x.dtype))
        return (y, (currents[-1], y[-1])) if return_state else y

    def extra_repr(self) -> str:
        return f"shape={tuple(self.decay.shape)}"

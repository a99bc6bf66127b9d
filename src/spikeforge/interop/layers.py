"""Time-major layers for the NIR primitives the core does not have yet.

Each one acts on ``[T, B, ...]`` like the layers of :mod:`spikeforge.synapse`. They live here so that
:func:`spikeforge.interop.from_nir` can build every NIR primitive; they are meant to move to the core
(``Scale``, ``Threshold``, ``Delay``, ``SumPool2d``, ``AvgPool2d`` to :mod:`spikeforge.synapse`;
``Integrator`` and ``CubaIntegrator`` next to ``LI`` in :mod:`spikeforge.neuron.modules`).

``Integrator``, ``CubaIntegrator`` and ``Delay`` are stateful: like ``Neuron`` and ``LI`` they take
``(x, state=None, return_state=False)`` and start from rest when ``state`` is ``None``; their class
attribute ``stateful = True`` tells :class:`spikeforge.nets.Sequential` to thread their state.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from spikeforge.neuron.modules import check_sequence

__all__ = ["AvgPool2d", "CubaIntegrator", "Delay", "Integrator", "Scale", "SumPool2d", "Threshold"]


def _per_neuron(name: str, value, shape: Sequence[int] | None, dtype=None) -> torch.Tensor:
    t = torch.as_tensor(value, dtype=dtype or torch.get_default_dtype()).clone()
    if shape is not None:
        shape = tuple(int(s) for s in shape)
        if t.dim() == 0:
            t = t.expand(shape).clone()
        elif tuple(t.shape) != shape:
            raise ValueError(f"{name}: expected a scalar or shape {shape}, got shape {tuple(t.shape)}")
    if not bool(torch.all(torch.isfinite(t))):
        raise ValueError(f"{name}: expected finite values, got {value!r}")
    return t


def _check_features(x: torch.Tensor, shape: tuple[int, ...], who: str) -> None:
    if shape and tuple(x.shape[2:]) != shape:
        raise ValueError(f"x: {who} has per-neuron parameters of shape {shape}; expected input "
                         f"[T, B, {', '.join(map(str, shape))}], got {tuple(x.shape)}")


class Scale(nn.Module):
    """``y = x ⊙ scale`` (NIR ``Scale``); ``scale`` is a scalar or one value per feature."""

    def __init__(self, scale, shape: Sequence[int] | None = None) -> None:
        super().__init__()
        self.register_buffer("scale", _per_neuron("scale", scale, shape))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_sequence(x, allow_complex=False)
        return x * self.scale.to(x.dtype)

    def extra_repr(self) -> str:
        return f"shape={tuple(self.scale.shape)}"


class Threshold(nn.Module):
    """Heaviside ``s = [x ≥ θ]`` per feature (NIR ``Threshold``; the core's convention ``H(0) = 1``)."""

    def __init__(self, threshold, shape: Sequence[int] | None = None) -> None:
        super().__init__()
        self.register_buffer("threshold", _per_neuron("threshold", threshold, shape))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_sequence(x, allow_complex=False)
        return (x >= self.threshold.to(x.dtype)).to(x.dtype)

    def extra_repr(self) -> str:
        return f"shape={tuple(self.threshold.shape)}"


class Delay(nn.Module):
    """``y_t = x_{t-d}`` with an integer delay ``d ≥ 0`` in steps, per feature (NIR ``Delay``).

    The state is the last ``max(d)`` inputs (zeros at rest), so a long sequence may be streamed in chunks.
    """

    stateful = True

    def __init__(self, steps, shape: Sequence[int] | None = None) -> None:
        super().__init__()
        t = torch.as_tensor(steps)
        if t.is_floating_point():
            if not bool(torch.all(t == torch.round(t))):
                raise ValueError(f"steps: expected whole numbers of steps, got {steps!r}")
            t = t.round()
        t = _per_neuron("steps", t.to(torch.int64), shape, dtype=torch.int64)
        if bool(torch.any(t < 0)):
            raise ValueError(f"steps: expected delays >= 0, got min {int(t.min())}")
        self.register_buffer("steps", t)

    @property
    def max_steps(self) -> int:
        return int(self.steps.max()) if self.steps.numel() else 0

    def forward(self, x: torch.Tensor, state: torch.Tensor | None = None, return_state: bool = False):
        check_sequence(x)
        _check_features(x, tuple(self.steps.shape), "Delay")
        d = self.max_steps
        if state is None:
            state = x.new_zeros((d, *x.shape[1:]))
        elif tuple(state.shape) != (d, *x.shape[1:]):
            raise ValueError(f"state: expected the last {d} inputs, shape {(d, *x.shape[1:])}, got "
                             f"{tuple(state.shape)}")
        full = torch.cat([state, x], 0)
        steps = x.shape[0]
        out = torch.zeros_like(x)
        for k in torch.unique(self.steps).tolist():
            mask = self.steps == k
            out = torch.where(mask, full[d - k:d - k + steps], out)
        new_state = full[full.shape[0] - d:] if d else full[:0]
        return (out, new_state) if return_state else out

    def extra_repr(self) -> str:
        return f"shape={tuple(self.steps.shape)}, max_steps={self.max_steps}"


class _Pool2d(nn.Module):
    def __init__(self, kernel_size, stride=None, padding=0) -> None:
        super().__init__()
        self.kernel_size = _pair("kernel_size", kernel_size, 1)
        self.stride = self.kernel_size if stride is None else _pair("stride", stride, 1)
        self.padding = _pair("padding", padding, 0)
        for k, p in zip(self.kernel_size, self.padding):
            if p > k // 2:
                raise ValueError(f"padding: expected at most half the kernel size {self.kernel_size}, got "
                                 f"{self.padding}")

    def _fold(self, x: torch.Tensor, call) -> torch.Tensor:
        check_sequence(x, allow_complex=False)
        if x.dim() != 5:
            raise ValueError(f"x: expected [T, B, C, H, W] (5 dims), got {tuple(x.shape)}")
        t, b = x.shape[:2]
        y = call(x.reshape(t * b, *x.shape[2:]))
        return y.reshape(t, b, *y.shape[1:])

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


def _pair(name: str, value, minimum: int) -> tuple[int, int]:
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value, value)
    try:
        pair = tuple(int(v) for v in value)
    except TypeError:
        raise TypeError(f"{name}: expected an int or a pair of ints, got {value!r}") from None
    if len(pair) != 2 or any(v < minimum for v in pair):
        raise ValueError(f"{name}: expected an int or a pair of ints >= {minimum}, got {value!r}")
    return pair  # type: ignore[return-value]


class SumPool2d(_Pool2d):
    """Sum over each window of ``[T, B, C, H, W]``, zero padding (NIR ``SumPool2d``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._fold(x, lambda z: F.avg_pool2d(z, self.kernel_size, self.stride, self.padding,
                                                    divisor_override=1))


class AvgPool2d(_Pool2d):
    """Mean over each window of ``[T, B, C, H, W]``, padding counted as zeros (NIR ``AvgPool2d``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._fold(x, lambda z: F.avg_pool2d(z, self.kernel_size, self.stride, self.padding,
                                                    count_include_pad=True))


class Integrator(nn.Module):
    """Non-spiking integrator with the decay given directly: ``v_t = λ·v_{t-1} + x_t``; outputs ``v``.

    ``λ = 1`` is NIR's ``I``, ``0 < λ < 1`` NIR's ``LI`` (the core's ``LI`` with ``λ = exp(-dt/τ)``).
    """

    stateful = True

    def __init__(self, decay=1.0, shape: Sequence[int] | None = None) -> None:
        super().__init__()
        lam = _per_neuron("decay", decay, shape)
        if bool(torch.any(lam <= 0)) or bool(torch.any(lam > 1)):
            raise ValueError(f"decay: expected values in (0, 1], got {decay!r}")
        self.register_buffer("decay", lam)

    def lam(self) -> torch.Tensor:
        return self.decay

    def forward(self, x: torch.Tensor, state: torch.Tensor | None = None, return_state: bool = False):
        check_sequence(x, allow_complex=False)
        _check_features(x, tuple(self.decay.shape), "Integrator")
        v = torch.zeros_like(x[0]) if state is None else _check_state(state, x)
        lam = self.decay.to(x.dtype)
        out = []
        for t in range(x.shape[0]):
            v = lam * v + x[t]
            out.append(v)
        y = torch.stack(out)
        return (y, v) if return_state else y

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
            lam = _per_neuron(name, value, shape)
            if bool(torch.any(lam <= 0)) or bool(torch.any(lam > 1)):
                raise ValueError(f"{name}: expected values in (0, 1], got {value!r}")
            self.register_buffer(name, lam)

    def lam(self) -> torch.Tensor:
        return self.decay

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None,
                return_state: bool = False):
        check_sequence(x, allow_complex=False)
        _check_features(x, tuple(self.decay.shape), "CubaIntegrator")
        if state is None:
            i = v = torch.zeros_like(x[0])
        else:
            if not isinstance(state, tuple) or len(state) != 2:
                raise TypeError(f"state: expected a tuple (i, v), got {type(state).__name__}")
            i, v = (_check_state(s, x) for s in state)
        lam, lam_syn = self.decay.to(x.dtype), self.syn_decay.to(x.dtype)
        out = []
        for t in range(x.shape[0]):
            i = lam_syn * i + x[t]
            v = lam * v + i
            out.append(v)
        y = torch.stack(out)
        return (y, (i, v)) if return_state else y

    def extra_repr(self) -> str:
        return f"shape={tuple(self.decay.shape)}"


def _check_state(state: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    if not isinstance(state, torch.Tensor) or tuple(state.shape) != tuple(x.shape[1:]):
        got = tuple(state.shape) if isinstance(state, torch.Tensor) else type(state).__name__
        raise ValueError(f"state: expected shape {tuple(x.shape[1:])}, got {got}")
    return state

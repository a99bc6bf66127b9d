"""Element-wise and pooling synapses on ``[T, B, ...]`` (NIR ``Scale``, ``SumPool2d``, ``AvgPool2d``)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from spikeforge._checks import per_neuron
from spikeforge.neuron.modules import check_sequence

__all__ = ["AvgPool2d", "Scale", "SumPool2d"]


class Scale(nn.Module):
    """``y = x ⊙ scale`` (NIR ``Scale``); ``scale`` is a scalar or one value per feature."""

    def __init__(self, scale, shape: Sequence[int] | None = None) -> None:
        super().__init__()
        self.register_buffer("scale", per_neuron("scale", scale, shape))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_sequence(x, allow_complex=False)
        return x * self.scale.to(x.dtype)

    def extra_repr(self) -> str:
        return f"shape={tuple(self.scale.shape)}"


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

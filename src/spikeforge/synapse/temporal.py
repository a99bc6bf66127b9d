r"""Causal convolution over time: ``y_t = b + Σ_{k<K} W_k·x_{t-k·dilation}`` on ``[T, B, C_in] -> [T, B, C_out]``.

Step ``t`` sees only inputs at steps ``<= t`` (the missing past is zeros at rest, or the carried state), so the
layer streams: its state is the last ``(K − 1)·dilation`` inputs, as :class:`~spikeforge.synapse.Delay`'s.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from spikeforge import _counting
from spikeforge.neuron.modules import check_sequence

__all__ = ["TemporalConv"]


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name}: expected a positive integer, got {value!r}")
    return value


def _past(state: torch.Tensor | None, x: torch.Tensor, steps: int) -> torch.Tensor:
    """The last ``steps`` inputs before ``x`` (zeros at rest), checked against ``x: [T, B, C]``."""
    want = (steps, *x.shape[1:])
    if state is None:
        return x.new_zeros(want)
    if not isinstance(state, torch.Tensor) or tuple(state.shape) != want:
        got = tuple(state.shape) if isinstance(state, torch.Tensor) else type(state).__name__
        raise ValueError(f"state: expected the last {steps} inputs, a tensor of shape {want}, got {got}")
    return state.to(x.dtype)


class TemporalConv(nn.Module):
    r"""Causal 1-d convolution along the time axis of ``[T, B, C_in]`` (the equation in the module docstring).

    The weights live in a :class:`torch.nn.Linear` ``self.linear`` of ``C_in·K`` inputs (entry ``c·K + k`` is
    channel ``c`` at lag ``k·dilation``), initialised as :class:`torch.nn.Conv1d` is (the same fan-in), and the
    product runs as one ``conv1d`` over ``B`` sequences. It counts (:func:`spikeforge.hardware.count_ops`) as
    that linear layer applied to each step's window of ``K`` past inputs: a synaptic operation per non-zero
    input, lag and target channel -- a temporal convolution on a chip is ``K`` synapses with delays
    ``0, dilation, …``.

    Args:
        in_channels, out_channels: ``C_in``, ``C_out``.
        kernel_size: ``K``, the number of taps (``K = 1``: a per-step :class:`~spikeforge.synapse.Linear`).
        dilation: steps between taps.
        bias: a learned bias ``b``.
    """

    stateful = True  # spikeforge.nets.Sequential threads the past inputs

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, *, dilation: int = 1,
                 bias: bool = True) -> None:
        super().__init__()
        self.in_channels = _positive_int("in_channels", in_channels)
        self.out_channels = _positive_int("out_channels", out_channels)
        self.kernel_size = _positive_int("kernel_size", kernel_size)
        self.dilation = _positive_int("dilation", dilation)
        self.linear = nn.Linear(self.in_channels * self.kernel_size, self.out_channels, bias=bias)

    @property
    def receptive_field(self) -> int:
        """Steps of input one output depends on: ``(K − 1)·dilation + 1``."""
        return (self.kernel_size - 1) * self.dilation + 1

    @property
    def weight(self) -> torch.Tensor:
        """The kernel ``[C_out, C_in, K]``: ``weight[o, c, k]`` multiplies ``x_{t − k·dilation}[c]``."""
        return self.linear.weight.view(self.out_channels, self.in_channels, self.kernel_size)

    def initial_state(self, x: torch.Tensor) -> torch.Tensor:
        """At rest: zeros for the ``(K − 1)·dilation`` steps before ``x: [T, B, C_in]``."""
        return x.new_zeros((self.receptive_field - 1, *x.shape[1:]))

    def forward(self, x: torch.Tensor, state: torch.Tensor | None = None, return_state: bool = False):
        check_sequence(x, allow_complex=False)
        if x.dim() != 3 or x.shape[-1] != self.in_channels:
            raise ValueError(f"x: expected [T, B, {self.in_channels}] (time, batch, channels), got {tuple(x.shape)}")
        pad = self.receptive_field - 1
        full = torch.cat([_past(state, x, pad), x], 0)  # [pad + T, B, C]
        if _counting.active():
            _counting.report(self.linear, "synapse", self._windows(full, x.shape[0]))
        # conv1d correlates forward in time; the kernel's taps are flipped so that tap k meets lag k·dilation
        w = self.weight.flip(-1).to(x.dtype)
        bias = None if self.linear.bias is None else self.linear.bias.to(x.dtype)
        y = F.conv1d(full.permute(1, 2, 0), w, bias, dilation=self.dilation)  # [B, C_out, T]
        out = y.permute(2, 0, 1)
        if not return_state:
            return out
        return out, full[full.shape[0] - pad:] if pad else full[:0]

    def _windows(self, full: torch.Tensor, steps: int) -> torch.Tensor:
        """``[T, B, C_in·K]``: each step's inputs at lags ``0, dilation, …`` (the order of ``self.linear``)."""
        lags = [full[self.receptive_field - 1 - k * self.dilation:][:steps] for k in range(self.kernel_size)]
        return torch.stack(lags, -1).reshape(steps, full.shape[1], -1)

    def extra_repr(self) -> str:
        extra = f", dilation={self.dilation}" if self.dilation != 1 else ""
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}{extra}, "
                f"bias={self.linear.bias is not None}")

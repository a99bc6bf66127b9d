r"""Memory-lean training layers: keep spikes as bits, recompute currents and potentials in the backward pass.

Backpropagation through time normally keeps, for every spiking layer, its input spikes (for the weight
gradient) and the membrane potentials ``v*`` of every step (for the surrogate), in float32: 4 + 4 bytes
per neuron and step, plus the input. :class:`LinearLIF` fuses a linear synapse with a fast-path LIF
neuron (:mod:`spikeforge.kernels.fast_lif`) and saves only its *input spikes, packed 8 to a byte*. The
backward pass recomputes the input current (one GEMM), re-runs the forward scan to get ``v*`` and then
runs the reverse-time recurrence -- exact, the same gradients as the unfused layers. Only one layer's
currents and potentials are alive at a time. :class:`PackedLinear` is the plain synapse (e.g. the readout)
that saves its binary input as bits.

Cost: one more GEMM and one more forward scan per layer in the backward pass. Inputs that are not binary
(graded spikes, analogue data) are saved as they are.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from spikeforge import _counting
from spikeforge._checks import sum_to
from spikeforge.kernels.fast_lif import _flat_param, resolve_impl, scan_backward, scan_forward, supports
from spikeforge.neuron.dynamics import draw_orders
from spikeforge.neuron.modules import Neuron

__all__ = ["LinearLIF", "PackedLinear", "pack_spikes", "unpack_spikes"]


def pack_spikes(x: torch.Tensor, mode: str = "bits") -> tuple[torch.Tensor, str]:
    """Compress a tensor for saving: ``("bits", uint8 [..., ceil(K/8)])`` if binary and ``mode="bits"``,
    ``("bytes", uint8)`` if binary and ``mode="bytes"``, else ``("raw", x)``."""
    if mode == "float":
        return x, "raw"
    xd = x.detach()
    if xd.device.type == "cpu":
        a = xd.numpy()
        nz = a != 0
        if not np.all(a[nz] == 1):
            return x, "raw"
        if mode == "bytes":
            return torch.from_numpy(nz.view(np.uint8)), "bytes"
        return torch.from_numpy(np.packbits(nz, axis=-1)), "bits"
    nz = xd != 0
    if not bool(torch.all(xd[nz] == 1)):
        return x, "raw"
    if mode == "bytes":
        return nz.to(torch.uint8), "bytes"
    k = x.shape[-1]
    pad = (-k) % 8
    b = F.pad(nz.to(torch.uint8), (0, pad)).reshape(*x.shape[:-1], -1, 8)
    shifts = torch.arange(7, -1, -1, device=x.device, dtype=torch.uint8)
    return (b << shifts).sum(-1, dtype=torch.uint8), "bits"


def unpack_spikes(packed: torch.Tensor, kind: str, k: int, dtype: torch.dtype) -> torch.Tensor:
    """Inverse of :func:`pack_spikes` (``k``: length of the last axis)."""
    if kind == "raw":
        return packed
    if kind == "bytes":
        return packed.to(dtype)
    if packed.device.type == "cpu":
        return torch.from_numpy(np.unpackbits(packed.numpy(), axis=-1, count=k)).to(dtype)
    shifts = torch.arange(7, -1, -1, device=packed.device, dtype=torch.uint8)
    bits = (packed.unsqueeze(-1) >> shifts) & 1
    return bits.reshape(*packed.shape[:-1], -1)[..., :k].to(dtype)


class _PackedLinear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, mode):  # type: ignore[override]
        packed, kind = pack_spikes(x, mode)
        ctx.kind, ctx.k, ctx.dtype, ctx.has_bias = kind, x.shape[-1], x.dtype, bias is not None
        ctx.save_for_backward(packed, weight)
        return F.linear(x, weight, bias)

    @staticmethod
    def backward(ctx, g):  # type: ignore[override]
        packed, weight = ctx.saved_tensors
        need = ctx.needs_input_grad
        g2 = g.reshape(-1, g.shape[-1])
        gx = (g @ weight) if need[0] else None
        gw = None
        if need[1]:
            x = unpack_spikes(packed, ctx.kind, ctx.k, ctx.dtype)
            gw = g2.t() @ x.reshape(-1, ctx.k)
        gb = g2.sum(0) if (ctx.has_bias and need[2]) else None
        return gx, gw, gb, None


class _LinearLIF(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, decay, threshold, spec, impl, mode):  # type: ignore[override]
        steps, batch = x.shape[0], x.shape[1]
        n = weight.shape[0]
        shape = torch.Size([batch, n])
        cur = F.linear(x.detach(), weight.detach(), None if bias is None else bias.detach())
        lam = _flat_param(decay, shape, cur.dtype)
        th = _flat_param(threshold, shape, cur.dtype)
        v0 = torch.zeros(batch * n, dtype=cur.dtype, device=cur.device)
        out, _, _ = scan_forward(cur.reshape(steps, -1), v0, lam, th, spec, impl, False)
        del cur
        packed, kind = pack_spikes(x, mode)
        ctx.kind, ctx.k, ctx.dtype, ctx.spec, ctx.impl = kind, x.shape[-1], x.dtype, spec, impl
        ctx.has_bias = bias is not None
        ctx.save_for_backward(packed, weight, bias, decay, threshold)
        return out.view(steps, batch, n)

    @staticmethod
    def backward(ctx, g_out):  # type: ignore[override]
        packed, weight, bias, decay, threshold = ctx.saved_tensors
        need = ctx.needs_input_grad
        x = unpack_spikes(packed, ctx.kind, ctx.k, ctx.dtype)
        steps, batch = x.shape[0], x.shape[1]
        n = weight.shape[0]
        shape = torch.Size([batch, n])
        cur = F.linear(x, weight, bias).reshape(steps, -1)  # recomputed current
        lam = _flat_param(decay, shape, cur.dtype)
        th = _flat_param(threshold, shape, cur.dtype)
        zeros = torch.zeros(batch * n, dtype=cur.dtype, device=cur.device)
        out, _, vstar = scan_forward(cur, zeros.clone(), lam, th, ctx.spec, ctx.impl, True)  # recomputed v*
        del cur
        go = g_out.reshape(steps, -1).to(out.dtype).contiguous()
        gcur, _, acc_decay, acc_theta = scan_backward(go, zeros.clone(), vstar, out, zeros, lam, th, ctx.spec,
                                                      ctx.impl, bool(need[3]), bool(need[4]))
        del vstar, out
        g2 = gcur.reshape(-1, n)
        gx = (g2 @ weight).reshape(x.shape) if need[0] else None
        gw = g2.t() @ x.reshape(-1, ctx.k) if need[1] else None
        gb = g2.sum(0) if (ctx.has_bias and need[2]) else None
        return (gx, gw, gb,
                sum_to(acc_decay.view(shape), decay) if need[3] else None,
                sum_to(acc_theta.view(shape), threshold) if need[4] else None,
                None, None, None)


def _check_mode(save: str) -> str:
    if save not in ("bits", "bytes", "float"):
        raise ValueError(f"save: expected 'bits', 'bytes' or 'float', got {save!r}")
    return save


class PackedLinear(nn.Linear):
    """``y = x·Wᵀ + b`` on ``[T, B, K]`` that saves its input as bits (``save="bits"``) when binary."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *, save: str = "bits") -> None:
        super().__init__(in_features, out_features, bias=bias)
        self.save = _check_mode(save)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _counting.report(self, "synapse", x)
        if torch.is_grad_enabled() and (self.weight.requires_grad or x.requires_grad):
            return _PackedLinear.apply(x, self.weight, self.bias, self.save)
        return F.linear(x, self.weight, self.bias)


class LinearLIF(nn.Module):
    """A linear synapse followed by a spiking neuron, ``[T, B, K] -> [T, B, N]`` spikes, from rest.

    Saves only the input spikes (as bits with ``save="bits"``, one byte each with ``"bytes"``, as given
    with ``"float"``) and recomputes currents and potentials in the backward pass. ``neuron`` must be a
    configuration of the fast path (real, binary, deterministic, ``integrate-fire-reset``, soft/hard/no
    reset, no synaptic current, adaptation, refractoriness); its parameters (``tau``, ``threshold``, ...)
    may be learnable.
    """

    def __init__(self, in_features: int, out_features: int, neuron: Neuron, bias: bool = True, *,
                 save: str = "bits") -> None:
        super().__init__()
        if not isinstance(neuron, Neuron):
            raise TypeError(f"neuron: expected a spikeforge.Neuron, got {type(neuron).__name__}")
        self.linear = nn.Linear(in_features, out_features, bias=bias)
        self.neuron = neuron
        self.save = _check_mode(save)
        probe = torch.zeros(1, 1, out_features)
        if not supports(probe, neuron.initial_state(probe), neuron.params(torch.float32, probe.device), neuron.spec,
                        None, draw_orders(neuron.spec, 1, None), None):
            raise ValueError("neuron: LinearLIF needs a real, binary, deterministic neuron with order "
                             "'integrate-fire-reset' and a soft, hard or no reset (the fast path)")
        self.in_features, self.out_features = in_features, out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 3 or x.shape[-1] != self.in_features:
            raise ValueError(f"x: expected [T, B, {self.in_features}], got {tuple(x.shape)}")
        p = self.neuron.params(x.dtype, x.device)
        impl = resolve_impl(x, None)
        out = _LinearLIF.apply(x, self.linear.weight, self.linear.bias, p.decay, p.threshold, self.neuron.spec,
                               impl, self.save)
        _counting.report(self.linear, "synapse", x)  # the fused parts report as the layers they stand for
        _counting.report(self.neuron, "neuron", out)
        return out

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, save={self.save!r}"


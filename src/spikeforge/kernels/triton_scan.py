r"""Triton implementation of the neuron scan (GPU), forward and hand-written backward.

Same signature and results as :func:`spikeforge.neuron.dynamics.reference_scan`. Covered: real and
complex (resonate-and-fire) neurons with real or complex input, binary and graded spikes, deterministic or
stochastic firing (the pre-drawn noise), the firing models ``Heaviside``, ``Gaussian``, ``Cauchy`` and
``Logistic``, soft/hard/no reset with or without ``detach_reset``, order ``integrate-fire-reset``, scalar
or per-neuron ``decay``/``threshold`` (with their gradients). Anything else (synaptic current, adaptation,
refractoriness, recurrence, other orders, custom firing models) is handed to the fused torch scan.

One Triton program owns a block of neurons and walks through time; the forward keeps only ``v*`` per step
(real and imaginary planes); the backward re-derives spikes, phases and post-reset potentials from it and
runs the reverse-time recurrence of :mod:`spikeforge.kernels.torch_scan` (same vector-Jacobian products).

The backend runs on CUDA tensors. On the CPU it runs only under Triton's interpreter
(``TRITON_INTERPRET=1``), which is how the tests check it against the torch path without a GPU.
"""

from __future__ import annotations

import math
import os

import torch

from spikeforge._checks import sum_to
from spikeforge.kernels._codes import FIRING_CODE, RESET_CODE, TRITON_FEATURES
from spikeforge.neuron.dynamics import NeuronParams, NeuronSpec, NeuronState
from spikeforge.neuron.features import required_features

__all__ = ["available", "supports", "triton_scan"]

_BLOCK = 128
_K: object = None


def _kernels():
    global _K
    if _K is None:
        try:
            from spikeforge.kernels import _triton_kernels

            _K = _triton_kernels
        except Exception:  # triton missing or unusable
            _K = False
    return _K


def available(device: torch.device | str | None = None) -> bool:
    """Whether the Triton scan can run on ``device`` (CUDA; or any device under ``TRITON_INTERPRET=1``)."""
    if not _kernels():
        return False
    if os.environ.get("TRITON_INTERPRET", "") == "1":
        return True
    return device is not None and torch.device(device).type == "cuda"


def supports(x: torch.Tensor, state: NeuronState, params: NeuronParams, spec: NeuronSpec, noise, orders,
             recurrent_weight) -> bool:
    """Whether the Triton kernels compute this scan (else the fused torch scan does): the features the call
    requires (:func:`spikeforge.neuron.features.required_features`) are among :data:`TRITON_FEATURES`."""
    return (x.dim() >= 2 and x.dtype in (torch.float32, torch.float64, torch.complex64, torch.complex128)
            and required_features(x, state, params, spec, noise, orders, recurrent_weight) <= TRITON_FEATURES)


def _planes(z: torch.Tensor, shape, real_dtype) -> tuple[torch.Tensor, torch.Tensor | None]:
    z = z.detach()
    if z.is_complex():
        z = z.expand(shape) if z.shape != shape else z
        return z.real.to(real_dtype).contiguous().reshape(-1), z.imag.to(real_dtype).contiguous().reshape(-1)
    return z.to(real_dtype).expand(shape).contiguous().reshape(-1), None


def _prm(spec: NeuronSpec, dtype, device) -> torch.Tensor:
    sigma = getattr(spec.firing, "sigma", 1.0)
    return torch.tensor([sigma, spec.v_reset, math.pi, math.sqrt(2 * math.pi)], dtype=dtype, device=device)


class _TritonScan(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, v0, decay, threshold, noise, spec: NeuronSpec, complex_: bool):  # type: ignore[override]
        k = _kernels()
        steps = x.shape[0]
        shape = x.shape[1:]
        rdt = x.real.dtype if x.is_complex() else x.dtype
        m = shape.numel()
        dev = x.device
        xr, xi = _planes(x.reshape(steps, -1), torch.Size([steps, m]), rdt)
        lr, li = _planes(decay, shape, rdt)
        th, _ = _planes(threshold, shape, rdt)
        v0r, v0i = _planes(v0, shape, rdt)
        if complex_ and li is None:
            li = torch.zeros_like(lr)
        if complex_ and v0i is None:
            v0i = torch.zeros_like(v0r)
        nz = noise.detach().to(rdt).contiguous().reshape(-1) if noise is not None else xr
        prm = _prm(spec, rdt, dev)
        s_r = torch.empty(steps * m, dtype=rdt, device=dev)
        s_i = torch.empty_like(s_r) if complex_ else s_r
        vs_r = torch.empty_like(s_r)
        vs_i = torch.empty_like(s_r) if complex_ else vs_r
        v_r = torch.empty(m, dtype=rdt, device=dev)
        v_i = torch.empty_like(v_r) if complex_ else v_r
        grid = (triton_cdiv(m, _BLOCK),)
        k.scan_fwd[grid](xr, xi if xi is not None else xr, nz, lr, li if li is not None else lr, th, v0r,
                         v0i if v0i is not None else v0r, prm, s_r, s_i, vs_r, vs_i, v_r, v_i, steps, m,
                         COMPLEX=complex_, X_COMPLEX=xi is not None, STOCH=noise is not None,
                         NMAX=spec.max_spikes, RESET=RESET_CODE[spec.reset], SAVE=True, BLOCK=_BLOCK)
        if complex_:
            out = torch.complex(s_r, s_i).view(steps, *shape)
            v = torch.complex(v_r, v_i).view(shape)
            n_last = out[-1].abs().round()
        else:
            out = s_r.view(steps, *shape)
            v = v_r.view(shape)
            n_last = out[-1]
        h = (n_last >= 1).to(rdt)
        ctx.spec, ctx.complex_, ctx.shape, ctx.x_complex = spec, complex_, shape, x.is_complex()
        ctx.has_noise = noise is not None
        ctx.save_for_backward(vs_r, vs_i if complex_ else None, noise, v0, decay, threshold)
        return out, v, h

    @staticmethod
    def backward(ctx, g_out, g_v, g_h):  # type: ignore[override]
        k = _kernels()
        vs_r, vs_i, noise, v0, decay, threshold = ctx.saved_tensors
        spec: NeuronSpec = ctx.spec
        complex_ = ctx.complex_
        shape = ctx.shape
        m = shape.numel()
        steps = vs_r.numel() // max(1, m)
        rdt, dev = vs_r.dtype, vs_r.device
        gr, gi = _planes(g_out.reshape(steps, -1), torch.Size([steps, m]), rdt)
        if complex_ and gi is None:
            gi = torch.zeros_like(gr)
        gvr, gvi = _planes(g_v, shape, rdt)
        if complex_ and gvi is None:
            gvi = torch.zeros_like(gvr)
        ghT, _ = _planes(g_h, shape, rdt)
        lr, li = _planes(decay, shape, rdt)
        if complex_ and li is None:
            li = torch.zeros_like(lr)
        th, _ = _planes(threshold, shape, rdt)
        v0r, v0i = _planes(v0, shape, rdt)
        if complex_ and v0i is None:
            v0i = torch.zeros_like(v0r)
        nz = noise.detach().to(rdt).contiguous().reshape(-1) if noise is not None else vs_r
        x_cplx = ctx.x_complex
        gx_r = torch.empty(steps * m, dtype=rdt, device=dev)
        gx_i = torch.empty_like(gx_r) if x_cplx else gx_r
        gv0_r = torch.empty(m, dtype=rdt, device=dev)
        gv0_i = torch.empty_like(gv0_r) if complex_ else gv0_r
        acc_dr = torch.empty_like(gv0_r)
        acc_di = torch.empty_like(gv0_r)
        acc_th = torch.empty_like(gv0_r)
        decay_cplx = decay.is_complex()
        grid = (triton_cdiv(m, _BLOCK),)
        k.scan_bwd[grid](gr, gi if gi is not None else gr, ghT, gvr, gvi if gvi is not None else gvr, vs_r,
                         vs_i if vs_i is not None else vs_r, nz, lr, li if li is not None else lr, th, v0r,
                         v0i if v0i is not None else v0r, _prm(spec, rdt, dev), gx_r, gx_i, gv0_r, gv0_i,
                         acc_dr, acc_di, acc_th, steps, m,
                         COMPLEX=complex_, X_COMPLEX=x_cplx, STOCH=ctx.has_noise, NMAX=spec.max_spikes,
                         RESET=RESET_CODE[spec.reset], DETACH=spec.detach_reset, KIND=FIRING_CODE[type(spec.firing)],
                         DECAY_COMPLEX=decay_cplx, BLOCK=_BLOCK)
        need = ctx.needs_input_grad
        gx = (torch.complex(gx_r, gx_i) if x_cplx else gx_r).view(steps, *shape)
        gv0 = (torch.complex(gv0_r, gv0_i) if complex_ else gv0_r).view(shape)
        if v0.is_complex() and not gv0.is_complex():
            gv0 = gv0.to(v0.dtype)
        gd = (torch.complex(acc_dr, acc_di) if decay_cplx else acc_dr).view(shape)
        return (
            gx if need[0] else None,
            gv0 if need[1] else None,
            sum_to(gd, decay) if need[2] else None,
            sum_to(acc_th.view(shape), threshold) if need[3] else None,
            None,
            None,
            None,
        )


def triton_cdiv(a: int, b: int) -> int:
    return (a + b - 1) // b


def triton_scan(
    x: torch.Tensor,
    state: NeuronState,
    params: NeuronParams,
    spec: NeuronSpec,
    *,
    noise: torch.Tensor | None = None,
    orders: list[tuple[str, str, str]],
    recurrent_weight: torch.Tensor | None = None,
) -> tuple[torch.Tensor, NeuronState]:
    """Same signature and result as :func:`spikeforge.neuron.dynamics.reference_scan`."""
    if not supports(x, state, params, spec, noise, orders, recurrent_weight) or x.shape[0] == 0:
        from spikeforge.kernels.torch_scan import fused_scan

        return fused_scan(x, state, params, spec, noise=noise, orders=orders, recurrent_weight=recurrent_weight)
    if not available(x.device):
        raise RuntimeError("triton_scan: needs triton and a CUDA tensor (or TRITON_INTERPRET=1 for the CPU "
                           f"interpreter); got a {x.device.type} tensor"
                           + ("" if _kernels() else " and triton is not importable"))
    complex_ = state.v.is_complex()
    out, v, h = _TritonScan.apply(x, state.v, params.decay, params.threshold, noise, spec, complex_)
    return out, NeuronState(v=v, s=out[-1], h=h, i=None, a=None, ref=None)

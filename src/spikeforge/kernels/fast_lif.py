r"""Specialised fast path of the neuron scan for the common case: real, binary, deterministic LIF/IF.

Eligible: real potential and input, ``max_spikes = 1``, no noise (``stochastic=False``), order
``integrate-fire-reset``, reset ``"soft"``, ``"hard"`` or ``"none"``, no synaptic current, adaptation,
refractoriness or recurrence; any firing model (its density is the surrogate), scalar or per-neuron
``decay``/``threshold`` (learnable or not), ``detach_reset`` either way. Everything else goes to the
generic fused scan (:mod:`spikeforge.kernels.torch_scan`), which :func:`fast_scan` calls itself.

Per step (see :mod:`spikeforge.neuron.dynamics`): ``v* = λ·v + x_t``, ``s = [v* ≥ θ]``, ``v = r(v*, s)``.
The forward keeps only ``v*`` per step (spikes are the output). The backward is one linear recurrence
in reverse time,

.. math:: g^*_t = g^v_t\,a_t + g^{out}_t f_t, \qquad g^v_{t-1} = λ\, g^*_t,

with ``f_t = pdf(v*_t − θ)``, ``a_t = 1 − θ f_t`` (soft), ``(1 − s_t) + (v_{reset} − v*_t) f_t`` (hard),
``1`` (none; and with ``detach_reset`` the reset-to-spike term drops out). ``g*_t`` is the gradient of the
input current, and the parameter gradients are ``dL/dλ = Σ_t v_{t−1} g*_t`` and
``dL/dθ = −Σ_t (s_t g^v_t + g^s_t f_t)`` (soft) etc.

Three implementations of the same algorithm:

* ``c`` (preferred on CPU; ``_ckernels.c``, built at install time) and ``numba`` (when the C library was
  not built): one compiled loop each for forward and backward, specialised per reset, firing model and
  ``detach_reset``, with the Heaviside and Cauchy densities inlined -- no per-step dispatch at all.
* ``torch`` (always available; any device): the forward costs 3 tensor ops per step, the backward one
  (``addcmul``) per step after a few whole-sequence vectorised ops.

:func:`fast_scan` picks the best available for CPU tensors (:mod:`spikeforge.kernels._cpu`: the environment
variable ``SPIKEFORGE_KERNELS``, read once at first use, restricts it, and ``spikeforge.kernels.using_kernels(...)``
chooses for a block of code); see ``docs/performance.md`` for the measurements behind this choice.
"""

from __future__ import annotations

import torch

from spikeforge._checks import sum_to
from spikeforge.kernels import _cpu
from spikeforge.kernels._codes import FAST_FEATURES, RESET_CODE, firing_code
from spikeforge.neuron.dynamics import NeuronParams, NeuronSpec, NeuronState
from spikeforge.neuron.features import required_features

__all__ = ["c_available", "fast_scan", "numba_available", "resolve_impl", "scan_backward", "scan_forward", "supports"]



def supports(x: torch.Tensor, state: NeuronState, params: NeuronParams, spec: NeuronSpec, noise, orders,
             recurrent_weight) -> bool:
    """Whether the fast path computes this scan (else use the generic fused scan): the features the call
    requires (:func:`spikeforge.neuron.features.required_features`) are among :data:`FAST_FEATURES`."""
    return x.dim() >= 2 and x.shape[0] >= 1 and required_features(
        x, state, params, spec, noise, orders, recurrent_weight) <= FAST_FEATURES


# --- compiled kernels (C built at install time, or numba) ------------------------------------------------

COMPILED = ("c", "numba")


def numba_available() -> bool:
    """Whether the numba CPU kernels can be used."""
    return _cpu.available("numba")


def c_available() -> bool:
    """Whether the C CPU kernels (built at install time) can be used."""
    return _cpu.available("c")


# --- helpers -------------------------------------------------------------------------------------------

def _graph_kept() -> bool:
    """Whether the running backward pass keeps the graph (``retain_graph``/``create_graph``): then saved
    tensors must survive it. torch has no public query for this; its private one is used where it exists,
    and anything else (a torch without it, a query that fails) counts as kept: the safe answer, which only
    costs fresh memory for the input gradient instead of reusing ``v*``'s."""
    query = getattr(getattr(torch._C, "_autograd", None), "_get_current_graph_task_keep_graph", None)
    if query is None:
        return True
    try:
        return bool(query())
    except RuntimeError:  # (e.g. called outside a backward pass)
        return True


def _flat_param(p: torch.Tensor, shape: torch.Size, dtype: torch.dtype) -> torch.Tensor:
    return p.detach().to(dtype).expand(shape).reshape(-1).contiguous()


def _post_reset(vstar: torch.Tensor, s: torch.Tensor, th: torch.Tensor, code: int, v_reset: float):
    if code == 1:
        return vstar - th * s
    if code == 2:
        return (1 - s) * vstar + s * v_reset
    return vstar


def scan_forward(xf: torch.Tensor, v: torch.Tensor, lam: torch.Tensor, th: torch.Tensor, spec: NeuronSpec,
                 impl: str, save: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Forward over flat ``xf: [T, M]`` from ``v: [M]`` (consumed); returns ``(spikes, v_T, v* or None)``."""
    code = RESET_CODE[spec.reset]
    out = torch.empty_like(xf)
    vstar = torch.empty_like(xf) if save else None
    if impl in COMPILED:
        _cpu.kernels("lif", impl)[1].forward(xf.numpy(), v.numpy(), lam.numpy(), th.numpy(), code, spec.v_reset,
                                             out.numpy(), (vstar if save else out).numpy(), save)
    else:
        v = _torch_forward(xf, v, lam, th, code, spec.v_reset, out, vstar)
    return out, v, vstar


def scan_backward(go: torch.Tensor, gv: torch.Tensor, vstar: torch.Tensor, out: torch.Tensor | None,
                  v0f: torch.Tensor, lam: torch.Tensor, th: torch.Tensor, spec: NeuronSpec, impl: str,
                  need_decay: bool, need_theta: bool, gx: torch.Tensor | None = None,
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """BPTT over flat ``[T, M]`` tensors; ``gv`` (dL/dv_T) is consumed. Returns ``(g_x, g_v0, dλ, dθ)``
    per neuron (``[M]``, not yet summed to the parameters' shapes). ``out`` (the spikes) is needed by the
    torch implementation only; ``gx`` is where to write ``g_x`` (compiled kernels: may be ``vstar`` itself)."""
    code = RESET_CODE[spec.reset]
    kind, sigma = firing_code(spec.firing)
    if gx is None:
        gx = torch.empty_like(go)
    if impl in COMPILED:
        if kind in (1, 3):  # exp does not vectorise in the compiled loops: torch's vectorised pdf is faster
            kind = -1
        f_ext = (spec.firing.pdf(vstar - th) if kind < 0 else torch.empty((1, 1), dtype=go.dtype)).contiguous()
        acc_decay = torch.zeros_like(lam)
        acc_theta = torch.zeros_like(th)
        _cpu.kernels("lif", impl)[1].backward(go.numpy(), gv.numpy(), vstar.numpy(), v0f.numpy(), lam.numpy(),
                        th.numpy(), code, spec.v_reset, spec.detach_reset, kind, sigma, f_ext.numpy(),
                        gx.numpy(), acc_decay.numpy(), acc_theta.numpy(), need_decay, need_theta)
        return gx, gv, acc_decay, acc_theta
    if out is None:
        out = (vstar >= th).to(vstar.dtype)
    gv0, acc_decay, acc_theta = _torch_backward(go, gv, vstar, out, v0f, lam, th, code, spec, gx, need_decay,
                                                need_theta)
    return gx, gv0, acc_decay, acc_theta


class _FastLIF(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, v0, decay, threshold, spec: NeuronSpec, impl: str):  # type: ignore[override]
        steps = x.shape[0]
        shape = x.shape[1:]
        dtype = x.dtype
        xf = x.detach().reshape(steps, -1).contiguous()
        lam = _flat_param(decay, shape, dtype)
        th = _flat_param(threshold, shape, dtype)
        v = v0.detach().to(dtype).reshape(-1).clone()
        out, v, vstar = scan_forward(xf, v, lam, th, spec, impl, True)
        ctx.spec, ctx.impl, ctx.shape = spec, impl, shape
        # only v* is kept: the spikes are [v* ≥ θ] again (so the caller's spikes can be freed early)
        ctx.save_for_backward(vstar, v0, decay, threshold)
        return out.view(steps, *shape), v.view(shape)

    @staticmethod
    def backward(ctx, g_out, g_v):  # type: ignore[override]
        vstar, v0, decay, threshold = ctx.saved_tensors
        shape = ctx.shape
        steps = vstar.shape[0]
        dtype = vstar.dtype
        lam = _flat_param(decay, shape, dtype)
        th = _flat_param(threshold, shape, dtype)
        go = g_out.reshape(steps, -1).to(dtype).contiguous()
        gv = g_v.reshape(-1).to(dtype).contiguous().clone()
        v0f = v0.detach().to(dtype).reshape(-1).contiguous()
        need = ctx.needs_input_grad
        # The compiled loop reads v*_t (and v*_{t-1}) before it writes g*_t, so the input gradient can take
        # v*'s memory -- unless the graph is kept for another backward pass (fresh memory costs page faults).
        reuse = ctx.impl in COMPILED and not _graph_kept()
        gx, gv, acc_decay, acc_theta = scan_backward(go, gv, vstar, None, v0f, lam, th, ctx.spec, ctx.impl,
                                                     bool(need[2]), bool(need[3]), gx=vstar if reuse else None)
        return (
            gx.view(steps, *shape) if need[0] else None,
            gv.view(shape).to(v0.dtype) if need[1] else None,
            sum_to(acc_decay.view(shape), decay) if need[2] else None,
            sum_to(acc_theta.view(shape), threshold) if need[3] else None,
            None,
            None,
        )


def _torch_forward(xf, v, lam, th, code, v_reset, out, vstar):
    steps = xf.shape[0]
    spk = torch.empty(xf.shape, dtype=torch.bool, device=xf.device)
    neg_th = -th
    for t in range(steps):
        vs = torch.addcmul(xf[t], lam, v, out=vstar[t]) if vstar is not None else xf[t] + lam * v
        torch.ge(vs, th, out=spk[t])
        if code == 1:
            v = torch.where(spk[t], vs + neg_th, vs)
        elif code == 2:
            v = vs.masked_fill(spk[t], v_reset)
        else:
            v = vs.clone() if vstar is not None else vs
    out.copy_(spk)
    return v


def _torch_backward(go, gv, vstar, out, v0f, lam, th, code, spec: NeuronSpec, gx, need_decay, need_theta):
    steps = go.shape[0]
    f = spec.firing.pdf(vstar - th)
    det = spec.detach_reset
    if code == 1:
        a = torch.ones_like(f) if det else 1 - th * f
    elif code == 2:
        a = (1 - out) if det else (1 - out) + (spec.v_reset - vstar) * f
    else:
        a = torch.ones_like(f)
    b = go * f
    la = lam * a  # g*_t = (λ a_t) g*_{t+1} + b_t for t < T-1
    torch.addcmul(b[-1], a[-1], gv, out=gx[-1])
    for t in range(steps - 2, -1, -1):
        torch.addcmul(b[t], la[t], gx[t + 1], out=gx[t])
    gv0 = lam * gx[0]
    acc_decay = acc_theta = None
    if need_decay:
        vpost = _post_reset(vstar, out, th, code, spec.v_reset)
        vprev = torch.cat([v0f.unsqueeze(0), vpost[:-1]], 0)
        acc_decay = (vprev * gx).sum(0)
    if need_theta:
        g_vpost = torch.cat([lam * gx[1:], gv.unsqueeze(0)], 0)  # dL/dv_t (post-reset) for each t
        if code == 1:
            gs = go if det else go - th * g_vpost
            acc_theta = -(g_vpost * out).sum(0) - (gs * f).sum(0)
        elif code == 2:
            gs = go if det else go + g_vpost * (spec.v_reset - vstar)
            acc_theta = -(gs * f).sum(0)
        else:
            acc_theta = -(go * f).sum(0)
    if acc_decay is None:
        acc_decay = torch.zeros_like(lam)
    if acc_theta is None:
        acc_theta = torch.zeros_like(th)
    return gv0, acc_decay, acc_theta


def _inference(x, v0, params: NeuronParams, spec: NeuronSpec, impl: str):
    steps = x.shape[0]
    shape = x.shape[1:]
    dtype = x.dtype
    xf = x.reshape(steps, -1).contiguous()
    lam = _flat_param(params.decay, shape, dtype)
    th = _flat_param(params.threshold, shape, dtype)
    out, v, _ = scan_forward(xf, v0.to(dtype).reshape(-1).clone(), lam, th, spec, impl, False)
    return out.view(steps, *shape), v.view(shape)


def resolve_impl(x: torch.Tensor, impl: str | None) -> str:
    """The implementation for ``x``: by default the best compiled one for CPU float tensors (``"c"``, then
    ``"numba"``; see :mod:`spikeforge.kernels._cpu`), else ``"torch"``; or check the requested ``impl``."""
    cpu_float = x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64)
    if impl is None:
        return (_cpu.kernels("lif")[0] or "torch") if cpu_float else "torch"
    if impl not in (*COMPILED, "torch"):
        raise ValueError(f"impl: expected 'c', 'numba' or 'torch', got {impl!r}")
    if impl in COMPILED and not _cpu.available(impl):
        raise RuntimeError(f"fast_scan: impl={impl!r} requested but it is not available"
                           + (" (the C kernels are built at install time)" if impl == "c" else ""))
    return "torch" if impl in COMPILED and not cpu_float else impl


def fast_scan(
    x: torch.Tensor,
    state: NeuronState,
    params: NeuronParams,
    spec: NeuronSpec,
    *,
    noise: torch.Tensor | None = None,
    orders: list[tuple[str, str, str]],
    recurrent_weight: torch.Tensor | None = None,
    impl: str | None = None,
) -> tuple[torch.Tensor, NeuronState]:
    """Same signature and result as :func:`spikeforge.neuron.dynamics.reference_scan`.

    Runs the specialised kernel when :func:`supports` says so, else the generic fused scan. ``impl``
    forces ``"c"``, ``"numba"`` or ``"torch"`` (default: :func:`resolve_impl`).
    """
    if not supports(x, state, params, spec, noise, orders, recurrent_weight):
        from spikeforge.kernels.torch_scan import fused_scan

        return fused_scan(x, state, params, spec, noise=noise, orders=orders, recurrent_weight=recurrent_weight)
    impl = resolve_impl(x, impl)
    decay, threshold = params.decay, params.threshold
    if threshold.dtype != x.dtype or decay.dtype != x.dtype:
        decay, threshold = decay.to(x.dtype), threshold.to(x.dtype)
    needs_grad = torch.is_grad_enabled() and (
        x.requires_grad or state.v.requires_grad or decay.requires_grad or threshold.requires_grad)
    if needs_grad:
        out, v = _FastLIF.apply(x, state.v, decay, threshold, spec, impl)
    else:
        out, v = _inference(x.detach(), state.v.detach(), NeuronParams(decay.detach(), threshold.detach()),
                            spec, impl)
    s = out[-1]
    return out, NeuronState(v=v, s=s, h=s, i=None, a=None, ref=None)


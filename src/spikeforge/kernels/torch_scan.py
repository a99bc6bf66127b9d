"""Fused multi-step neuron scan in pure torch: a custom autograd Function with a hand-written BPTT.

The forward runs the step of :mod:`spikeforge.neuron.dynamics` without building an autograd graph and keeps
only the per-step tensors the backward needs: the potential entering each process (and the synaptic
current / adaptation / refractory mask where those exist). Spikes and gates of every step are read back
from the output. The backward walks the steps in reverse and, inside each step, the processes in reverse,
applying each one's vector-Jacobian product by hand (complex values follow torch's convention: the
gradient of a real loss ``L`` w.r.t. ``z`` is ``dL/dRe z + i dL/dIm z``).
"""

from __future__ import annotations

import torch

from spikeforge._checks import sum_to
from spikeforge.neuron.dynamics import NeuronParams, NeuronSpec, NeuronState, phase
from spikeforge.neuron.firing import spike_count, surrogate_terms

__all__ = ["fused_scan"]


def _conj(z: torch.Tensor) -> torch.Tensor:
    return z.conj() if z.is_complex() else z


def _re(z: torch.Tensor) -> torch.Tensor:
    return z.real if z.is_complex() else z


class _FusedScan(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, v0, s0, h0, i0, a0, ref0, decay, threshold, syn_decay, adapt_decay, adapt_scale,
                w_rec, noise, spec: NeuronSpec, orders):  # type: ignore[override]
        steps = x.shape[0]
        complex_ = v0.is_complex()
        v, s, h, i, a, ref = v0, s0, h0, i0, a0, ref0
        w_c = None
        if w_rec is not None:
            w_c = w_rec.t().to(s0.dtype)
        spikes = []
        sv_int, si_int, smask, sv_fire, sa_fire, sv_reset = [], [], [], [], [], []
        theta = threshold
        for t in range(steps):
            s_prev = s
            for proc in orders[t]:
                if proc == "integrate":
                    cur = x[t]
                    if w_c is not None:
                        cur = cur + s_prev @ w_c
                    if spec.cuba:
                        si_int.append(i)
                        i = cur + syn_decay * i
                        cur = i
                    if ref is not None:
                        m = (ref == 0).to(threshold.dtype)
                        smask.append(m)
                        cur = cur * m
                        ref = torch.clamp(ref - 1, min=0)
                    sv_int.append(v)
                    v = cur + decay * v  # input first, as in dynamics._integrate
                elif proc == "fire":
                    sv_fire.append(v)
                    u = v.real if complex_ else v
                    th = theta
                    if spec.adaptive:
                        sa_fire.append(a)
                        th = theta + adapt_scale * a
                    n = spike_count(u, th, None if noise is None else noise[t], spec.max_spikes)
                    h = n if spec.max_spikes == 1 else (n >= 1).to(n.dtype)
                    s = n * phase(v)[0] if complex_ else n
                    if spec.adaptive:
                        a = adapt_decay * a + n
                else:
                    if spec.reset == "hard" or spec.reset == "refractory":
                        sv_reset.append(v)
                        target = spec.v_reset if spec.reset == "hard" else spec.v_refractory
                        v = torch.where(h > 0, target, v)  # h is 0 or 1: exact, also for v* = inf
                        if ref is not None:
                            ref = torch.where(h > 0, torch.full_like(ref, spec.refractory_steps), ref)
                    elif spec.reset == "soft":
                        v = v - theta * s
            spikes.append(s)
        out = torch.stack(spikes)
        h_out = h.clone() if h is s else h

        def stk(lst):
            return torch.stack(lst) if lst else None

        ctx.spec, ctx.orders = spec, orders
        ctx.x_complex, ctx.x_shape = x.is_complex(), x.shape
        ctx.has_w = w_rec is not None
        ctx.save_for_backward(out, s0, h0, decay, threshold, syn_decay, adapt_decay, adapt_scale, w_rec,
                              stk(sv_int), stk(si_int), stk(smask), stk(sv_fire), stk(sa_fire), stk(sv_reset))
        ctx.mark_non_differentiable(*([ref] if ref is not None else []))
        return out, v, s, h_out, i, a, ref

    @staticmethod
    def backward(ctx, g_out, g_v, g_s, g_h, g_i, g_a, g_ref):  # type: ignore[override]
        (out, s0, h0, decay, threshold, syn_decay, adapt_decay, adapt_scale, w_rec,
         sv_int, si_int, smask, sv_fire, sa_fire, sv_reset) = ctx.saved_tensors
        spec: NeuronSpec = ctx.spec
        orders = ctx.orders
        steps = out.shape[0]
        complex_ = out.is_complex()
        shape = out.shape[1:]
        zeros_v = torch.zeros(shape, dtype=out.dtype, device=out.device)
        zeros_r = torch.zeros(shape, dtype=threshold.dtype, device=out.device)
        g_v = zeros_v.clone() if g_v is None else g_v.clone()
        g_s = zeros_v.clone() if g_s is None else g_s.clone()
        g_h = zeros_r.clone() if g_h is None else g_h.clone()
        if spec.cuba:
            g_i = zeros_v.clone() if g_i is None else g_i.clone()
        if spec.adaptive:
            g_a = zeros_r.clone() if g_a is None else g_a.clone()
        if g_out is None:
            g_out = torch.zeros_like(out)

        need = ctx.needs_input_grad
        acc_decay = torch.zeros_like(zeros_v if decay.is_complex() else zeros_r) if need[7] else None
        acc_theta = zeros_r.clone() if need[8] else None
        acc_syn = torch.zeros_like(zeros_v if syn_decay is not None and syn_decay.is_complex() else zeros_r) \
            if (spec.cuba and need[9]) else None
        acc_rho = zeros_r.clone() if (spec.adaptive and need[10]) else None
        acc_beta = zeros_r.clone() if (spec.adaptive and need[11]) else None
        g_x = torch.empty_like(out)
        g_j_all = torch.empty_like(out) if ctx.has_w else None
        w_mat = w_rec.to(out.dtype) if w_rec is not None else None
        theta = threshold
        target = spec.v_reset if spec.reset == "hard" else spec.v_refractory

        def spike_at(t):
            return s0 if t < 0 else out[t]

        def gate_of(s, t):
            if t < 0:
                return h0
            n = s.abs().round() if complex_ else s
            return n if spec.max_spikes == 1 else (n >= 1).to(n.dtype)

        for t in range(steps - 1, -1, -1):
            g_s = g_s + g_out[t]
            g_rec = None
            order = orders[t]
            fired_at = order.index("fire")
            for pos in range(2, -1, -1):
                proc = order[pos]
                if proc == "integrate":
                    v_in = sv_int[t]
                    g_c = g_v
                    if acc_decay is not None:
                        acc_decay = acc_decay + _conj(v_in) * g_c if decay.is_complex() else \
                            acc_decay + _re(_conj(v_in) * g_c)
                    g_v = _conj(decay) * g_v
                    if smask is not None:
                        g_c = g_c * smask[t]
                    if spec.cuba:
                        g_it = g_i + g_c
                        if acc_syn is not None:
                            term = _conj(si_int[t]) * g_it
                            acc_syn = acc_syn + (term if syn_decay.is_complex() else _re(term))
                        g_i = _conj(syn_decay) * g_it
                        g_j = g_it
                    else:
                        g_j = g_c
                    g_x[t] = g_j
                    if w_mat is not None:
                        g_j_all[t] = g_j
                        g_rec = g_j @ w_mat
                elif proc == "fire":
                    v_in = sv_fire[t]
                    s_t = out[t]
                    u = v_in.real if complex_ else v_in
                    th = theta
                    a_in = None
                    if spec.adaptive:
                        a_in = sa_fire[t]
                        th = theta + adapt_scale * a_in
                    if complex_:
                        p, r = phase(v_in)
                        n = s_t.abs().round()
                        g_n = (g_s.conj() * p).real
                        g_p = n * g_s
                        g_v = g_v + (g_p - (g_p.conj() * p).real * p) / r * (v_in.abs() > 0)
                    else:
                        g_n = g_s
                    if spec.adaptive:
                        g_n = g_n + g_a
                    dn_du, k_dn, dh_du = surrogate_terms(spec.firing, u, th.expand_as(u), spec.max_spikes)
                    g_u = g_n * dn_du + g_h * dh_du
                    g_v = g_v + g_u
                    g_th = -(g_n * k_dn + g_h * dh_du)
                    if acc_theta is not None:
                        acc_theta = acc_theta + g_th
                    if spec.adaptive:
                        if acc_beta is not None:
                            acc_beta = acc_beta + g_th * a_in
                        if acc_rho is not None:
                            acc_rho = acc_rho + g_a * a_in
                        g_a = adapt_scale * g_th + adapt_decay * g_a
                    g_s = torch.zeros_like(g_s)
                    g_h = torch.zeros_like(g_h)
                else:
                    if spec.reset == "none":
                        continue
                    # the spike this reset uses: this step's if fire came first, else the previous step's
                    ts = t if fired_at < pos else t - 1
                    s_used = spike_at(ts)
                    if spec.reset == "soft":
                        if acc_theta is not None:
                            acc_theta = acc_theta - _re(g_v.conj() * s_used) if complex_ else \
                                acc_theta - g_v * s_used
                        if not spec.detach_reset:
                            g_s = g_s - theta * g_v
                    else:
                        h_used = gate_of(s_used, ts)
                        v_in = sv_reset[t]
                        if not spec.detach_reset:
                            g_h = g_h + _re(_conj(g_v) * (target - v_in))
                        g_v = (1 - h_used) * g_v
            if g_rec is not None:
                g_s = g_s + g_rec

        g_x_out = g_x.real if (complex_ and not ctx.x_complex) else g_x
        g_w = None
        if ctx.has_w and need[12]:
            s_prev = torch.cat([s0.unsqueeze(0), out[:-1]], 0)
            gj = g_j_all.reshape(-1, g_j_all.shape[-1])
            sp = s_prev.reshape(-1, s_prev.shape[-1])
            g_w = _re(gj.conj().t() @ sp)
        return (
            g_x_out if need[0] else None,
            g_v if need[1] else None,
            g_s if need[2] else None,
            g_h if need[3] else None,
            g_i if (spec.cuba and need[4]) else None,
            g_a if (spec.adaptive and need[5]) else None,
            None,
            sum_to(acc_decay, decay),
            sum_to(acc_theta, threshold),
            sum_to(acc_syn, syn_decay),
            sum_to(acc_rho, adapt_decay),
            sum_to(acc_beta, adapt_scale),
            g_w,
            None,
            None,
            None,
        )


def fused_scan(
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
    out, v, s, h, i, a, ref = _FusedScan.apply(
        x, state.v, state.s, state.h, state.i, state.a, state.ref,
        params.decay, params.threshold, params.syn_decay, params.adapt_decay, params.adapt_scale,
        recurrent_weight, noise, spec, orders,
    )
    return out, NeuronState(v=v, s=s, h=h, i=i, a=a, ref=ref)

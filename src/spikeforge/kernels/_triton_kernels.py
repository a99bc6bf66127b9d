"""Triton kernels of the neuron scan (see :mod:`spikeforge.kernels.triton_scan`). Imports triton.

One program handles a block of neurons and loops over time. Complex values are split into real and
imaginary planes. ``prm`` holds ``[sigma, v_reset, pi, sqrt(2*pi)]`` in the compute dtype, so float64 runs
stay float64 throughout (triton passes Python float arguments as float32).
"""

from __future__ import annotations

import triton
import triton.language as tl


@triton.jit
def _pdf(z, sigma, pi, sqrt2pi, KIND: tl.constexpr):
    if KIND == 0:
        f = tl.zeros_like(z)
    elif KIND == 1:
        y = z / sigma
        f = tl.exp(-0.5 * y * y) / (sigma * sqrt2pi)
    elif KIND == 2:
        f = sigma / (pi * (z * z + sigma * sigma))
    else:
        e = tl.exp(-tl.abs(z) / sigma)  # symmetric form, as firing.Logistic.pdf
        f = e / ((1.0 + e) * (1.0 + e) * sigma)
    return f


@triton.jit
def _isinf(z):
    return (z == z) & ((z - z) != (z - z))  # inf - inf is NaN; NaN itself fails z == z


@triton.jit
def _fire(vr, vi, xi_noise, thv, COMPLEX: tl.constexpr, STOCH: tl.constexpr, NMAX: tl.constexpr):
    """Spike count ``n``, gate ``h``, phase ``(pr, pi)``, modulus ``safe`` and mask ``pos = |v*| > 0``, as
    :func:`spikeforge.neuron.firing.spike_count` and :func:`spikeforge.neuron.dynamics.phase` define them
    (also for non-finite potentials)."""
    u = vr
    if STOCH:
        u = u - xi_noise
    fires = u >= thv
    if NMAX == 1:
        n = tl.where(fires, 1.0, 0.0).to(vr.dtype)
    else:  # the staircase Σ_k H(u − k·θ), exactly: floor(u/θ) corrected by one step at a boundary
        q = tl.minimum(tl.maximum(tl.floor(u / thv), 0.0), NMAX * 1.0).to(vr.dtype)
        up = tl.where((q < NMAX) & (u >= (q + 1.0) * thv), 1.0, 0.0).to(vr.dtype)
        down = tl.where((q > 0.0) & (u < q * thv), 1.0, 0.0).to(vr.dtype)
        q = q + up - down
        n = tl.where(fires, q, 0.0).to(vr.dtype)
    h = tl.where(n >= 1.0, 1.0, 0.0).to(vr.dtype)
    if COMPLEX:
        inf_r = _isinf(vr)
        inf_i = _isinf(vi)
        big = inf_r | inf_i
        dr = tl.where(big, tl.where(inf_r, tl.where(vr > 0.0, 1.0, -1.0), 0.0), vr)
        di = tl.where(big, tl.where(inf_i, tl.where(vi > 0.0, 1.0, -1.0), 0.0), vi)
        m = tl.maximum(tl.abs(dr), tl.abs(di))
        ms = tl.where(m > 0.0, m, 1.0)
        sr = dr / ms
        si = di / ms
        r = ms * tl.sqrt(sr * sr + si * si)  # scaled by the larger component: no overflow
        pos = (r > 0.0) & (dr == dr) & (di == di)
        safe = tl.where(pos, r, 1.0)
        pr = tl.where(pos, dr / safe, 1.0)
        pim = tl.where(pos, di / safe, 0.0)
    else:
        pos = vr == vr
        safe = tl.zeros_like(vr) + 1.0
        pr = safe
        pim = tl.zeros_like(vr)
    return n, h, pr, pim, safe, pos


@triton.jit
def _reset(vr, vi, n, h, pr, pim, thv, vreset, RESET: tl.constexpr, COMPLEX: tl.constexpr):
    if RESET == 1:  # soft: v* - θ·s
        outr = vr - thv * (n * pr)
        outi = vi - thv * (n * pim) if COMPLEX else vi
    elif RESET == 2:  # hard: (1-h)·v* + h·v_reset, h ∈ {0, 1}; v_reset also after an infinite v*
        outr = tl.where(h > 0.0, vreset, vr)
        outi = tl.where(h > 0.0, 0.0, vi) if COMPLEX else vi
    else:
        outr = vr
        outi = vi
    return outr, outi


@triton.jit
def scan_fwd(x_r, x_i, noise, lam_r, lam_i, th, v0_r, v0_i, prm, s_r, s_i, vs_r, vs_i, v_r, v_i, T, M,
             COMPLEX: tl.constexpr, X_COMPLEX: tl.constexpr, STOCH: tl.constexpr, NMAX: tl.constexpr,
             RESET: tl.constexpr, SAVE: tl.constexpr, BLOCK: tl.constexpr):
    pid = tl.program_id(0)
    offs = pid * BLOCK + tl.arange(0, BLOCK)
    mask = offs < M
    vreset = tl.load(prm + 1)
    lr = tl.load(lam_r + offs, mask=mask, other=0.0)
    thv = tl.load(th + offs, mask=mask, other=1.0)
    vr = tl.load(v0_r + offs, mask=mask, other=0.0)
    li = tl.zeros_like(lr)
    vi = tl.zeros_like(vr)
    if COMPLEX:
        li = tl.load(lam_i + offs, mask=mask, other=0.0)
        vi = tl.load(v0_i + offs, mask=mask, other=0.0)
    for t in range(0, T):
        base = t * M + offs  # (int32 offsets: T·B·N < 2^31)
        xr = tl.load(x_r + base, mask=mask, other=0.0)
        if COMPLEX:
            xi = tl.zeros_like(xr)
            if X_COMPLEX:
                xi = tl.load(x_i + base, mask=mask, other=0.0)
            nr = (lr * vr - li * vi) + xr
            ni = (lr * vi + li * vr) + xi
        else:
            nr = lr * vr + xr
            ni = vi
        xin = tl.zeros_like(nr)
        if STOCH:
            xin = tl.load(noise + base, mask=mask, other=0.0)
        n, h, pr, pim, _safe, _pos = _fire(nr, ni, xin, thv, COMPLEX, STOCH, NMAX)
        tl.store(s_r + base, n * pr, mask=mask)
        if COMPLEX:
            tl.store(s_i + base, n * pim, mask=mask)
        if SAVE:
            tl.store(vs_r + base, nr, mask=mask)
            if COMPLEX:
                tl.store(vs_i + base, ni, mask=mask)
        vr, vi = _reset(nr, ni, n, h, pr, pim, thv, vreset, RESET, COMPLEX)
    tl.store(v_r + offs, vr, mask=mask)
    if COMPLEX:
        tl.store(v_i + offs, vi, mask=mask)


@triton.jit
def scan_bwd(go_r, go_i, gh_T, gv_r, gv_i, vs_r, vs_i, noise, lam_r, lam_i, th, v0_r, v0_i, prm,
             gx_r, gx_i, gv0_r, gv0_i, acc_dr, acc_di, acc_th, T, M,
             COMPLEX: tl.constexpr, X_COMPLEX: tl.constexpr, STOCH: tl.constexpr, NMAX: tl.constexpr,
             RESET: tl.constexpr, DETACH: tl.constexpr, KIND: tl.constexpr, DECAY_COMPLEX: tl.constexpr,
             BLOCK: tl.constexpr):
    pid = tl.program_id(0)
    offs = pid * BLOCK + tl.arange(0, BLOCK)
    mask = offs < M
    sigma = tl.load(prm + 0)
    vreset = tl.load(prm + 1)
    pi = tl.load(prm + 2)
    sqrt2pi = tl.load(prm + 3)
    lr = tl.load(lam_r + offs, mask=mask, other=0.0)
    thv = tl.load(th + offs, mask=mask, other=1.0)
    g_vr = tl.load(gv_r + offs, mask=mask, other=0.0)
    li = tl.zeros_like(lr)
    g_vi = tl.zeros_like(g_vr)
    if COMPLEX:
        li = tl.load(lam_i + offs, mask=mask, other=0.0)
        g_vi = tl.load(gv_i + offs, mask=mask, other=0.0)
    gh_last = tl.load(gh_T + offs, mask=mask, other=0.0)
    a_dr = tl.zeros_like(g_vr)
    a_di = tl.zeros_like(g_vr)
    a_th = tl.zeros_like(g_vr)
    for tt in range(0, T):
        t = T - 1 - tt
        base = t * M + offs  # (int32 offsets: T·B·N < 2^31)
        vsr = tl.load(vs_r + base, mask=mask, other=0.0)
        vsi = tl.zeros_like(vsr)
        if COMPLEX:
            vsi = tl.load(vs_i + base, mask=mask, other=0.0)
        xin = tl.zeros_like(vsr)
        if STOCH:
            xin = tl.load(noise + base, mask=mask, other=0.0)
        n, h, pr, pim, safe, pos = _fire(vsr, vsi, xin, thv, COMPLEX, STOCH, NMAX)
        g_sr = tl.load(go_r + base, mask=mask, other=0.0)
        g_si = tl.zeros_like(g_sr)
        if COMPLEX:
            g_si = tl.load(go_i + base, mask=mask, other=0.0)
        g_h = tl.where(t == T - 1, gh_last, 0.0)
        # reset (uses this step's spike)
        if RESET == 1:
            a_th = a_th - (g_vr * (n * pr) + g_vi * (n * pim))
            if not DETACH:
                g_sr = g_sr - thv * g_vr
                g_si = g_si - thv * g_vi
            gvs_r = g_vr
            gvs_i = g_vi
        elif RESET == 2:
            if not DETACH:
                g_h = g_h + (g_vr * (vreset - vsr) - g_vi * vsi)
            gvs_r = (1.0 - h) * g_vr
            gvs_i = (1.0 - h) * g_vi
        else:
            gvs_r = g_vr
            gvs_i = g_vi
        # fire
        if COMPLEX:
            g_n = g_sr * pr + g_si * pim
            g_pr = n * g_sr
            g_pi = n * g_si
            dot = g_pr * pr + g_pi * pim
            gvs_r = gvs_r + tl.where(pos, (g_pr - dot * pr) / safe, 0.0)
            gvs_i = gvs_i + tl.where(pos, (g_pi - dot * pim) / safe, 0.0)
        else:
            g_n = g_sr
        f1 = _pdf(vsr - thv, sigma, pi, sqrt2pi, KIND)
        dn = f1
        kdn = f1
        for k in tl.static_range(2, NMAX + 1):
            fk = _pdf(vsr - k * thv, sigma, pi, sqrt2pi, KIND)
            dn = dn + fk
            kdn = kdn + k * fk
        gvs_r = gvs_r + (g_n * dn + g_h * f1)
        a_th = a_th - (g_n * kdn + g_h * f1)
        # integrate
        tl.store(gx_r + base, gvs_r, mask=mask)
        if X_COMPLEX:
            tl.store(gx_i + base, gvs_i, mask=mask)
        if t == 0:
            vpr = tl.load(v0_r + offs, mask=mask, other=0.0)
            vpi = tl.zeros_like(vpr)
            if COMPLEX:
                vpi = tl.load(v0_i + offs, mask=mask, other=0.0)
        else:
            pbase = base - M
            ppr = tl.load(vs_r + pbase, mask=mask, other=0.0)
            ppi = tl.zeros_like(ppr)
            if COMPLEX:
                ppi = tl.load(vs_i + pbase, mask=mask, other=0.0)
            pxin = tl.zeros_like(ppr)
            if STOCH:
                pxin = tl.load(noise + pbase, mask=mask, other=0.0)
            pn, ph, ppr_, ppi_, _psafe, _ppos = _fire(ppr, ppi, pxin, thv, COMPLEX, STOCH, NMAX)
            vpr, vpi = _reset(ppr, ppi, pn, ph, ppr_, ppi_, thv, vreset, RESET, COMPLEX)
        if DECAY_COMPLEX:
            a_dr = a_dr + (vpr * gvs_r + vpi * gvs_i)
            a_di = a_di + (vpr * gvs_i - vpi * gvs_r)
        else:
            a_dr = a_dr + (vpr * gvs_r + vpi * gvs_i)
        g_vr = lr * gvs_r + li * gvs_i
        g_vi = lr * gvs_i - li * gvs_r
    tl.store(gv0_r + offs, g_vr, mask=mask)
    if COMPLEX:
        tl.store(gv0_i + offs, g_vi, mask=mask)
    tl.store(acc_dr + offs, a_dr, mask=mask)
    if DECAY_COMPLEX:
        tl.store(acc_di + offs, a_di, mask=mask)
    tl.store(acc_th + offs, a_th, mask=mask)


_ = triton

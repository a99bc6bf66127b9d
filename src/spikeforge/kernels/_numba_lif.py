"""Compiled (numba) loops of the fast LIF scan; see :mod:`spikeforge.kernels.fast_lif` for the algorithm.

Importing this module imports numba (an optional dependency); it raises if numba is unavailable. Each
kernel is specialised (compiled) once per configuration -- reset kind, ``detach_reset``, firing model --
so that the inner loop over neurons is branch-free and vectorises; the configuration values are closure
constants, and each specialisation is cached on disk (numba's ``cache=True``) after its first
compilation. Large scans are split over disjoint neuron ranges run on a few threads (the kernels release the GIL).
"""

from __future__ import annotations

import math

import numba
import numpy as np

from spikeforge.kernels._clib import split as _split

__all__ = ["backward", "forward"]

_SQRT2PI = math.sqrt(2.0 * math.pi)
_CACHE: dict = {}


def _make_forward(code: int, save: bool):
    @numba.njit(nogil=True, cache=True)
    def kernel(x, v, lam, th, v_reset, out, vstar, m0, m1):  # pragma: no cover - compiled
        steps = x.shape[0]
        one = out.dtype.type(1.0)
        zero = out.dtype.type(0.0)
        vr = out.dtype.type(v_reset)
        u0, u1, inc = np.uint64(m0), np.uint64(m1), np.uint64(1)
        for t in range(steps):
            m = u0  # unsigned index: no negative-index wraparound test, so the loop vectorises
            while m < u1:
                vs = lam[m] * v[m] + x[t, m]
                if save:
                    vstar[t, m] = vs
                fire = vs >= th[m]
                out[t, m] = one if fire else zero
                if code == 1:
                    v[m] = vs - th[m] if fire else vs
                elif code == 2:
                    v[m] = vr if fire else vs
                else:
                    v[m] = vs
                m += inc

    return kernel


def _make_backward(code: int, detach: bool, kind: int, need_decay: bool, need_theta: bool):
    @numba.njit(nogil=True, cache=True)
    def kernel(go, gv, vstar, v0, lam, th, v_reset, sigma_, f_ext, gx, acc_decay, acc_theta, m0,
               m1):  # pragma: no cover
        steps = go.shape[0]
        ty = gx.dtype.type
        one = ty(1.0)
        zero = ty(0.0)
        half = ty(0.5)
        vr = ty(v_reset)
        sigma = ty(sigma_)
        inv_sigma = one / sigma
        c_gauss = one / (sigma * ty(_SQRT2PI))
        c_cauchy_num = sigma / ty(math.pi)
        sig2 = sigma * sigma
        u0, u1, inc = np.uint64(m0), np.uint64(m1), np.uint64(1)
        for t in range(steps - 1, -1, -1):
            m = u0  # unsigned index: no negative-index wraparound test, so the loop vectorises
            while m < u1:
                vs = vstar[t, m]
                s = one if vs >= th[m] else zero  # the spike, recomputed: one stream less to read
                g = gv[m]
                z = vs - th[m]
                if kind == 0:
                    f = ty(0.0)
                elif kind == 1:
                    y = z * inv_sigma
                    f = math.exp(-half * y * y) * c_gauss
                elif kind == 2:
                    f = c_cauchy_num / (z * z + sig2)
                elif kind == 3:
                    e = math.exp(-abs(z) * inv_sigma)  # symmetric form, as firing.Logistic.pdf
                    f = e / ((one + e) * (one + e)) * inv_sigma
                else:
                    f = f_ext[t, m]
                o = go[t, m]
                if code == 1:
                    gvs = g
                    gs = o if detach else o - th[m] * g
                    if need_theta:
                        acc_theta[m] -= g * s + gs * f
                elif code == 2:
                    gvs = (one - s) * g
                    gs = o if detach else o + g * (vr - vs)
                    if need_theta:
                        acc_theta[m] -= gs * f
                else:
                    gvs = g
                    gs = o
                    if need_theta:
                        acc_theta[m] -= gs * f
                gvs = gvs + gs * f
                gx[t, m] = gvs
                if need_decay:
                    if t == 0:
                        vprev = v0[m]
                    else:
                        vp = vstar[t - 1, m]
                        sp = one if vp >= th[m] else zero
                        if code == 1:
                            vprev = vp - th[m] * sp
                        elif code == 2:
                            vprev = (one - sp) * vp + sp * vr
                        else:
                            vprev = vp
                    acc_decay[m] += vprev * gvs
                gv[m] = lam[m] * gvs
                m += inc

    return kernel


def forward(x, v, lam, th, code, v_reset, out, vstar, save) -> None:
    """``x, out, vstar: [T, M]``, ``v, lam, th: [M]`` (``v`` updated in place to the final potential)."""
    key = ("f", int(code), bool(save))
    k = _CACHE.get(key)
    if k is None:
        k = _CACHE[key] = _make_forward(int(code), bool(save))
    m_all = x.shape[1]
    _split(lambda lo, hi: k(x, v, lam, th, v_reset, out, vstar, lo, hi), m_all, x.size)


def backward(go, gv, vstar, v0, lam, th, code, v_reset, detach, kind, sigma, f_ext, gx, acc_decay,
             acc_theta, need_decay, need_theta) -> None:
    """Reverse-time recurrence; ``gv: [M]`` enters as dL/dv_T and leaves as dL/dv_0. ``gx`` may be
    ``vstar`` itself: step ``t`` reads ``v*_t`` and ``v*_{t-1}`` before it writes ``g*_t``."""
    key = ("b", int(code), bool(detach), int(kind), bool(need_decay), bool(need_theta))
    k = _CACHE.get(key)
    if k is None:
        k = _CACHE[key] = _make_backward(*key[1:])
    vr, sg = float(v_reset), float(sigma)
    _split(lambda lo, hi: k(go, gv, vstar, v0, lam, th, vr, sg, f_ext, gx, acc_decay, acc_theta, lo, hi),
           go.shape[1], 3 * go.size)

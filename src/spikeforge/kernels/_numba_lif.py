"""Compiled (numba) loops of the fast LIF scan; see :mod:`spikeforge.kernels.fast_lif` for the algorithm.

Importing this module imports numba (an optional dependency); it raises if numba is unavailable. Each
kernel is specialised (compiled) once per configuration -- reset kind, ``detach_reset``, firing model --
so that the inner loop over neurons is branch-free and vectorises; the configuration values are closure
constants, and each specialisation is cached on disk (numba's ``cache=True``) after its first
compilation. The loops run serially: a step over ``B·N`` neurons is a few microseconds of work, and the
GEMMs around the scan already use every core.
"""

from __future__ import annotations

import math

import numba

__all__ = ["backward", "forward"]

_SQRT2PI = math.sqrt(2.0 * math.pi)
_CACHE: dict = {}


def _make_forward(code: int, save: bool):
    @numba.njit(nogil=True, cache=True)
    def kernel(x, v, lam, th, v_reset, out, vstar):  # pragma: no cover - compiled
        steps, m_all = x.shape
        one = out.dtype.type(1.0)
        zero = out.dtype.type(0.0)
        vr = out.dtype.type(v_reset)
        for t in range(steps):
            for m in range(m_all):
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

    return kernel


def _make_backward(code: int, detach: bool, kind: int, need_decay: bool, need_theta: bool):
    @numba.njit(nogil=True, cache=True)
    def kernel(go, gv, vstar, out, v0, lam, th, v_reset, sigma_, f_ext, gx, acc_decay, acc_theta):  # pragma: no cover
        steps, m_all = go.shape
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
        for t in range(steps - 1, -1, -1):
            for m in range(m_all):
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
                    p = one / (one + math.exp(-z * inv_sigma))
                    f = p * (one - p) * inv_sigma
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

    return kernel


def forward(x, v, lam, th, code, v_reset, out, vstar, save) -> None:
    """``x, out, vstar: [T, M]``, ``v, lam, th: [M]`` (``v`` updated in place to the final potential)."""
    key = ("f", int(code), bool(save))
    k = _CACHE.get(key)
    if k is None:
        k = _CACHE[key] = _make_forward(int(code), bool(save))
    k(x, v, lam, th, v_reset, out, vstar)


def backward(go, gv, vstar, out, v0, lam, th, code, v_reset, detach, kind, sigma, f_ext, gx, acc_decay,
             acc_theta, need_decay, need_theta) -> None:
    """Reverse-time recurrence; ``gv: [M]`` enters as dL/dv_T and leaves as dL/dv_0."""
    key = ("b", int(code), bool(detach), int(kind), bool(need_decay), bool(need_theta))
    k = _CACHE.get(key)
    if k is None:
        k = _CACHE[key] = _make_backward(*key[1:])
    k(go, gv, vstar, out, v0, lam, th, float(v_reset), float(sigma), f_ext, gx, acc_decay, acc_theta)

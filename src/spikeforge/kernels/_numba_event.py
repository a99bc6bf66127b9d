"""Compiled (numba) event-driven synapse kernels; see :mod:`spikeforge.kernels.event`.

The input ``x: [R, K]`` (rows = time steps × batch) is compressed by *column* (CSC: for every input unit
``k`` the rows in which it spiked), so that each weight row ``Wᵀ[k]`` is read from memory once and added
into the output rows where ``k`` was active; the output block stays in cache. Work is split over disjoint
column ranges (of ``x`` for compression and weight gradient, of the output for the forward), so threads
never write the same memory. Importing this module imports numba (optional) and raises without it; all
kernels release the GIL.
"""

from __future__ import annotations

import numba

__all__ = ["count_cols", "fill_cols", "gather_cols", "wgrad_cols"]


@numba.njit(nogil=True, cache=True)
def count_cols(x, k0, k1, counts):  # pragma: no cover - compiled
    rows = x.shape[0]
    for r in range(rows):
        for k in range(k0, k1):
            counts[k] += x[r, k] != 0  # branch-free: vectorises


@numba.njit(nogil=True, cache=True)
def fill_cols(x, k0, k1, colptr, rowidx, values):  # pragma: no cover - compiled
    rows = x.shape[0]
    nxt = colptr[k0:k1].copy()
    for r in range(rows):
        for k in range(k0, k1):
            v = x[r, k]
            if v != 0:
                p = nxt[k - k0]
                rowidx[p] = r
                values[p] = v
                nxt[k - k0] = p + 1


@numba.njit(nogil=True, cache=True)
def gather_cols(colptr, rowidx, values, binary, wt, bias, has_bias, out, n0, n1, tile):  # pragma: no cover
    """``out[r, n0:n1] = b + Σ_{k: x[r,k] ≠ 0} x[r,k]·wt[k, n0:n1]`` (``wt = Wᵀ: [K, N]``), in column tiles
    of ``tile`` outputs (larger tiles amortise the per-event overhead)."""
    k_all = wt.shape[0]
    rows = out.shape[0]
    for r in range(rows):
        for n in range(n0, n1):
            out[r, n] = bias[n] if has_bias else 0
    for a in range(n0, n1, tile):
        b = min(a + tile, n1)
        for k in range(k_all):
            w = wt[k, a:b]
            for p in range(colptr[k], colptr[k + 1]):
                o = out[rowidx[p], a:b]  # (1-d contiguous views: the loop below vectorises)
                if binary:
                    for n in range(b - a):
                        o[n] += w[n]
                else:
                    v = values[p]
                    for n in range(b - a):
                        o[n] += v * w[n]


@numba.njit(nogil=True, cache=True)
def wgrad_cols(colptr, rowidx, values, binary, delta, gwt, k0, k1):  # pragma: no cover - compiled
    """``gwt[k] = Σ_r x[r,k]·delta[r]`` for input units ``k0 <= k < k1`` (``gwt = dWᵀ: [K, N]``)."""
    n_all = delta.shape[1]
    for k in range(k0, k1):
        g = gwt[k]
        for p in range(colptr[k], colptr[k + 1]):
            d = delta[rowidx[p]]
            if binary:
                for n in range(n_all):
                    g[n] += d[n]
            else:
                v = values[p]
                for n in range(n_all):
                    g[n] += v * d[n]

"""Compiled (numba) event-driven synapse kernels; see :mod:`spikeforge.kernels.event`.

The input ``x: [R, K]`` (rows = time steps × batch) is compressed by *row* (CSR: for every row the input
units that spiked, ``int32``), in two passes over ``x`` (count, then fill). The forward product keeps one
output row in L1 cache and adds the weight rows ``Wᵀ[k]`` of its active inputs into it; the weight gradient
adds each row of ``δ`` into the rows ``dWᵀ[k]`` of that row's active inputs. Work is split over disjoint row
ranges, so threads never write the same memory (the weight gradient gives every thread its own
accumulator). Importing this module imports numba (optional) and raises without it; all kernels release
the GIL. Inner loops index with unsigned integers so that LLVM vectorises them (see ``_numba_lif``).
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["count_rows", "fill_rows", "gather_rows", "wgrad_rows"]


@numba.njit(nogil=True, cache=True)
def count_rows(x, r0, r1, counts, flags):  # pragma: no cover - compiled
    """``counts[r + 1] = nnz(x[r])``; ``flags[r] = 1`` when row ``r`` holds a value other than 0 and 1."""
    k_all = x.shape[1]
    for r in range(r0, r1):
        c = 0
        other = 0
        for k in range(k_all):
            v = x[r, k]
            c += v != 0  # branch-free: vectorises
            other += v * v != v  # neither 0 nor 1
        counts[r + 1] = c
        flags[r] = other != 0


@numba.njit(nogil=True, cache=True)
def fill_rows(x, r0, r1, rowptr, colidx, values, binary):  # pragma: no cover - compiled
    k_all = x.shape[1]
    buf = np.empty(k_all + 1, dtype=np.int32)
    for r in range(r0, r1):
        c = 0
        for k in range(k_all):  # branch-free compaction: always write, advance on a spike
            buf[c] = k
            c += x[r, k] != 0
        p = rowptr[r]
        for j in range(c):
            colidx[p + j] = buf[j]
            if not binary:
                values[p + j] = x[r, buf[j]]


@numba.njit(nogil=True, cache=True)
def gather_rows(rowptr, colidx, values, binary, wt, bias, has_bias, out, r0, r1):  # pragma: no cover
    """``out[r] = b + Σ_{k: x[r,k] ≠ 0} x[r,k]·wt[k]`` for rows ``r0 <= r < r1`` (``wt = Wᵀ: [K, N]``)."""
    n_all = np.uint64(wt.shape[1])
    one = np.uint64(1)
    for r in range(r0, r1):
        o = out[r]
        n = np.uint64(0)
        while n < n_all:
            o[n] = bias[n] if has_bias else 0
            n += one
        for p in range(rowptr[r], rowptr[r + 1]):
            w = wt[colidx[p]]
            n = np.uint64(0)
            if binary:
                while n < n_all:
                    o[n] += w[n]
                    n += one
            else:
                v = values[p]
                while n < n_all:
                    o[n] += v * w[n]
                    n += one


@numba.njit(nogil=True, cache=True)
def wgrad_rows(rowptr, colidx, values, binary, delta, gwt, r0, r1):  # pragma: no cover - compiled
    """``gwt[k] += Σ_r x[r,k]·delta[r]`` over rows ``r0 <= r < r1`` (``gwt = dWᵀ: [K, N]``)."""
    n_all = np.uint64(delta.shape[1])
    one = np.uint64(1)
    for r in range(r0, r1):
        d = delta[r]
        for p in range(rowptr[r], rowptr[r + 1]):
            g = gwt[colidx[p]]
            n = np.uint64(0)
            if binary:
                while n < n_all:
                    g[n] += d[n]
                    n += one
            else:
                v = values[p]
                while n < n_all:
                    g[n] += v * d[n]
                    n += one

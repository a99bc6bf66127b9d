"""Compiled (numba) event-driven synapse kernels; see :mod:`spikeforge.kernels.event`.

The input ``x: [R, K]`` (rows = time steps × batch) is compressed by *row* (CSR: for every row the input
units that spiked, ``int32``), in one pass over ``x``. The forward product keeps one
output row in L1 cache and adds the weight rows ``Wᵀ[k]`` of its active inputs into it; the weight gradient
sums, for each input unit, the rows of ``δ`` in which it spiked into ``dWᵀ[k]``. Work is split over disjoint
row ranges for the forward and, for the weight gradient, over disjoint ranges of input units of the same
events sorted by column (CSC, one counting sort), so threads never write the same memory. Importing this
module imports numba (optional) and raises without it; all kernels release the GIL. Inner loops index with
unsigned integers so that LLVM vectorises them (see ``_numba_lif``).
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["compress_rows", "gather_rows", "to_columns", "wgrad_cols"]


@numba.njit(nogil=True, cache=True)
def compress_rows(x, r0, r1, counts, scratch, max_events):  # pragma: no cover - compiled
    """One pass over rows ``r0 <= r < r1``: ``counts[r + 1] = nnz(x[r])``, the events' column indices appended
    to ``scratch`` (capacity ``min(max_events, (r1 - r0)·K) + K + 1``). Returns ``(events, other)``: events
    ``-1`` as soon as they exceed ``max_events``; ``other`` true when some value is neither 0 nor 1."""
    k_all = x.shape[1]
    total = 0
    odd = 0
    for r in range(r0, r1):
        c = 0
        for k in range(k_all):  # branch-free compaction: always write, advance on an event
            v = x[r, k]
            scratch[total + c] = k
            c += v != 0
            odd += (v != 0) & (v != 1)  # graded (or non-finite): the values are kept
        counts[r + 1] = c
        total += c
        if total > max_events:
            return -1, False
    return total, odd != 0


@numba.njit(nogil=True, cache=True)
def _sum_rows(dst, src, idx, vals, binary, p, end):  # pragma: no cover - compiled (inlined by LLVM)
    """``dst += Σ_{p ≤ q < end} a_q·src[idx[q]]`` (``a_q = 1`` when binary), four source rows per pass over
    ``dst``: one load and store of ``dst`` per four rows read (the sums are bound by reading the rows). The
    forward (rows of ``Wᵀ`` into an output row) and the weight gradient (rows of ``δ`` into a row of
    ``dWᵀ``) are both this sum."""
    n_all = np.uint64(dst.shape[0])
    one = np.uint64(1)
    while p + 4 <= end:
        s0, s1, s2, s3 = src[idx[p]], src[idx[p + 1]], src[idx[p + 2]], src[idx[p + 3]]
        n = np.uint64(0)
        if binary:
            while n < n_all:
                dst[n] += (s0[n] + s1[n]) + (s2[n] + s3[n])
                n += one
        else:
            a0, a1, a2, a3 = vals[p], vals[p + 1], vals[p + 2], vals[p + 3]
            while n < n_all:
                dst[n] += (a0 * s0[n] + a1 * s1[n]) + (a2 * s2[n] + a3 * s3[n])
                n += one
        p += 4
    while p < end:
        s0 = src[idx[p]]
        a0 = 1 if binary else vals[p]
        n = np.uint64(0)
        while n < n_all:
            dst[n] += a0 * s0[n]
            n += one
        p += 1


@numba.njit(nogil=True, cache=True)
def gather_rows(rowptr, colidx, values, binary, wt, bias, has_bias, out, r0, r1):  # pragma: no cover
    """``out[r] = b + Σ_{k: x[r,k] ≠ 0} x[r,k]·wt[k]`` for rows ``r0 <= r < r1`` (``wt = Wᵀ: [K, N]``)."""
    for r in range(r0, r1):
        o = out[r]
        if has_bias:
            o[:] = bias
        else:
            o[:] = 0
        _sum_rows(o, wt, colidx, values, binary, rowptr[r], rowptr[r + 1])


@numba.njit(nogil=True, cache=True)
def to_columns(rowptr, colidx, values, binary, colptr, rowidx, cvalues):  # pragma: no cover - compiled
    """The same events by column (CSC, a counting sort): ``colptr: [K+1]`` zeros on entry."""
    rows = rowptr.shape[0] - 1
    k_all = colptr.shape[0] - 1
    for p in range(colidx.shape[0]):
        colptr[colidx[p] + 1] += 1
    for k in range(k_all):
        colptr[k + 1] += colptr[k]
    nxt = colptr[:k_all].copy()
    for r in range(rows):
        for p in range(rowptr[r], rowptr[r + 1]):
            k = colidx[p]
            q = nxt[k]
            rowidx[q] = r
            if not binary:
                cvalues[q] = values[p]
            nxt[k] = q + 1


@numba.njit(nogil=True, cache=True)
def wgrad_cols(colptr, rowidx, values, binary, delta, gwt, k0, k1):  # pragma: no cover - compiled
    """``gwt[k] = Σ_r x[r,k]·delta[r]`` for input units ``k0 <= k < k1`` (``gwt = dWᵀ: [K, N]``, written,
    not accumulated)."""
    for k in range(k0, k1):
        g = gwt[k]
        g[:] = 0
        _sum_rows(g, delta, rowidx, values, binary, colptr[k], colptr[k + 1])

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
            odd += v * v != v
        counts[r + 1] = c
        total += c
        if total > max_events:
            return -1, False
    return total, odd != 0


@numba.njit(nogil=True, cache=True)
def gather_rows(rowptr, colidx, values, binary, wt, bias, has_bias, out, r0, r1):  # pragma: no cover
    """``out[r] = b + Σ_{k: x[r,k] ≠ 0} x[r,k]·wt[k]`` for rows ``r0 <= r < r1`` (``wt = Wᵀ: [K, N]``).

    Four events per pass over the output row: one load and store of ``out[r]`` per four weight rows
    (the product is bound by reading weight rows; the output row's traffic was a third of it)."""
    n_all = np.uint64(wt.shape[1])
    one = np.uint64(1)
    for r in range(r0, r1):
        o = out[r]
        n = np.uint64(0)
        while n < n_all:
            o[n] = bias[n] if has_bias else 0
            n += one
        p = rowptr[r]
        end = rowptr[r + 1]
        while p + 4 <= end:
            w0, w1, w2, w3 = wt[colidx[p]], wt[colidx[p + 1]], wt[colidx[p + 2]], wt[colidx[p + 3]]
            n = np.uint64(0)
            if binary:
                while n < n_all:
                    o[n] += (w0[n] + w1[n]) + (w2[n] + w3[n])
                    n += one
            else:
                v0, v1, v2, v3 = values[p], values[p + 1], values[p + 2], values[p + 3]
                while n < n_all:
                    o[n] += (v0 * w0[n] + v1 * w1[n]) + (v2 * w2[n] + v3 * w3[n])
                    n += one
            p += 4
        while p < end:
            w0 = wt[colidx[p]]
            n = np.uint64(0)
            v0 = 1 if binary else values[p]
            while n < n_all:
                o[n] += v0 * w0[n]
                n += one
            p += 1


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
    not accumulated), four rows of ``delta`` per pass over ``gwt[k]``."""
    n_all = np.uint64(delta.shape[1])
    one = np.uint64(1)
    for k in range(k0, k1):
        g = gwt[k]
        n = np.uint64(0)
        while n < n_all:
            g[n] = 0
            n += one
        p = colptr[k]
        end = colptr[k + 1]
        while p + 4 <= end:
            d0, d1, d2, d3 = delta[rowidx[p]], delta[rowidx[p + 1]], delta[rowidx[p + 2]], delta[rowidx[p + 3]]
            n = np.uint64(0)
            if binary:
                while n < n_all:
                    g[n] += (d0[n] + d1[n]) + (d2[n] + d3[n])
                    n += one
            else:
                v0, v1, v2, v3 = values[p], values[p + 1], values[p + 2], values[p + 3]
                while n < n_all:
                    g[n] += (v0 * d0[n] + v1 * d1[n]) + (v2 * d2[n] + v3 * d3[n])
                    n += one
            p += 4
        while p < end:
            d0 = delta[rowidx[p]]
            v0 = 1 if binary else values[p]
            n = np.uint64(0)
            while n < n_all:
                g[n] += v0 * d0[n]
                n += one
            p += 1

r"""Event-driven synapses: touch only the weights of inputs that spiked.

For a layer ``y = W·s + b`` with sparse input ``s`` (binary or graded spikes), the dense GEMM costs
``R·K·N`` multiply-adds for ``R`` rows (time steps × batch), ``K`` inputs and ``N`` outputs. The event path
compresses the input by column (for every input ``k`` the rows in which it spiked), then adds each weight
row ``Wᵀ[k]`` (times the spike value, if graded) into the output rows where ``k`` was active: ``nnz·N``
additions, each weight row read from memory once. The same index lists
give the weight gradient over active rows only, ``dWᵀ[k] = Σ_r s[r,k]·δ[r]`` -- also ``nnz·N``.

Synaptic operations are counted exactly as a by-product: every active input of a row drives its ``N``
synapses once, so ``synops = nnz(s)·N`` (``nnz`` is the length of the compressed index list).

Which path is faster depends on the activity ``p = nnz/(R·K)``: the event path wins below a crossover
that ``benchmarks/event_vs_dense.py`` measures (``docs/performance.md``); ``mode="auto"`` uses
:data:`EVENT_CROSSOVER` (:data:`EVENT_CROSSOVER_TRAIN` when gradients are needed), which can be
changed. CPU kernels are compiled with numba when it is available, else the path uses ``index_add``
(forward) and a gather-and-``index_add`` weight gradient.
"""

from __future__ import annotations

import os
import weakref
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["EVENT_CROSSOVER", "EVENT_CROSSOVER_TRAIN", "EventLinear", "EventResult", "activity", "event_linear",
           "use_event_path"]

#: Input activity below which ``mode="auto"`` takes the event path without gradients (measured on a 2-core
#: AMD EPYC, float32, 4096→4096: the event path wins up to 10-20 % activity; see docs/performance.md).
EVENT_CROSSOVER = 0.1
#: The same when gradients are needed (forward + weight gradient; measured crossover 2-5 % on the 700→256
#: layer of the SHD benchmark, where the dense GEMMs are small and fast).
EVENT_CROSSOVER_TRAIN = 0.03

_POOL: ThreadPoolExecutor | None = None
_NUMBA: object = None


def _numba():
    global _NUMBA
    if _NUMBA is None:
        if os.environ.get("SPIKEFORGE_NO_NUMBA", "") not in ("", "0"):
            _NUMBA = False
        else:
            try:
                from spikeforge.kernels import _numba_event

                _NUMBA = _numba_event
            except Exception:
                _NUMBA = False
    return _NUMBA


def _pool(n: int) -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None or _POOL._max_workers < n:
        _POOL = ThreadPoolExecutor(max_workers=n, thread_name_prefix="spikeforge-event")
    return _POOL


#: Work (elements touched) below which a kernel runs on the calling thread: handing a block to a pool
#: thread costs tens of microseconds, and much more when other processes load the cores.
PARALLEL_MIN_WORK = 1 << 18


def _parallel(fn, n_items: int, work: int):
    """Run ``fn(lo, hi)`` over ``[0, n_items)``, split into ``torch.get_num_threads()`` blocks when the
    ``work`` is large enough to pay for the threads."""
    n = max(1, min(torch.get_num_threads(), n_items))
    if n == 1 or work < PARALLEL_MIN_WORK:
        return [fn(0, n_items)]
    bounds = np.linspace(0, n_items, n + 1).astype(np.int64)
    # the calling thread takes the last block itself: one hand-off fewer, and no core left idle waiting
    futs = [_pool(n - 1).submit(fn, int(bounds[i]), int(bounds[i + 1])) for i in range(n - 1)]
    last = fn(int(bounds[n - 1]), int(bounds[n]))
    return [*(f.result() for f in futs), last]


class _CSC(NamedTuple):
    """Input ``[R, K]`` compressed by column: rows ``rowidx[colptr[k]:colptr[k+1]]`` of unit ``k`` spiked."""

    colptr: torch.Tensor  # [K+1] int64
    rowidx: torch.Tensor  # [nnz] int64
    values: torch.Tensor  # [nnz] x.dtype
    binary: bool
    rows: int


def _count(x2: torch.Tensor) -> np.ndarray | None:
    """Active rows per input unit (numba path only; ``None`` otherwise)."""
    nb = _numba()
    if not (nb and x2.device.type == "cpu"):
        return None
    xn = x2.numpy()
    counts = np.zeros(x2.shape[1], dtype=np.int64)
    _parallel(lambda lo, hi: nb.count_cols(xn, lo, hi, counts), x2.shape[1], 4 * xn.size)
    return counts


def _compress(x2: torch.Tensor, counts: np.ndarray | None = None) -> _CSC:
    nb = _numba()
    rows, k_all = x2.shape
    if nb and x2.device.type == "cpu":
        xn = x2.numpy()
        if counts is None:
            counts = _count(x2)
        colptr = np.zeros(k_all + 1, dtype=np.int64)
        np.cumsum(counts, out=colptr[1:])
        nnz = int(colptr[-1])
        rowidx = np.empty(nnz, dtype=np.int64)
        values = np.empty(nnz, dtype=xn.dtype)
        _parallel(lambda lo, hi: nb.fill_cols(xn, lo, hi, colptr, rowidx, values), k_all, 4 * xn.size)
        vals = torch.from_numpy(values)
        binary = bool(nnz == 0 or np.all(values == 1))
        return _CSC(torch.from_numpy(colptr), torch.from_numpy(rowidx), vals, binary, rows)
    k, r = x2.t().nonzero(as_tuple=True)
    vals = x2[r, k]
    colptr = torch.zeros(k_all + 1, dtype=torch.int64, device=x2.device)
    colptr[1:] = torch.cumsum(torch.bincount(k, minlength=k_all), 0)
    binary = bool(vals.numel() == 0 or torch.all(vals == 1))
    return _CSC(colptr, r, vals, binary, rows)


_WT_CACHE: dict = {}


def _transposed(w: torch.Tensor) -> torch.Tensor:
    """``Wᵀ`` contiguous, cached while the weight tensor is alive and unchanged (same object, same version
    counter): transposing a large weight costs more than the event-driven product itself."""
    hit = _WT_CACHE.get(id(w))
    if hit is not None and hit[0]() is w and hit[1] == w._version:
        return hit[2]
    wt = w.detach().t().contiguous()
    for k in [k for k, v in _WT_CACHE.items() if v[0]() is None]:
        del _WT_CACHE[k]
    _WT_CACHE[id(w)] = (weakref.ref(w), w._version, wt)
    return wt


def _gather_sum(csc: _CSC, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    nb = _numba()
    n_out = weight.shape[0]
    w = weight.detach()
    if nb and w.device.type == "cpu":
        # (output initialised inside the kernel: a parallel torch fill costs more than the product)
        out = torch.empty(csc.rows, n_out, dtype=w.dtype)
        wt = _transposed(weight)
        on, wn = out.numpy(), wt.numpy()
        bn = bias.detach().to(w.dtype).contiguous().numpy() if bias is not None else wn[0]
        cp, ri, vv = csc.colptr.numpy(), csc.rowidx.numpy(), csc.values.numpy()
        tile = 1024  # output columns per pass (measured: larger tiles amortise the per-event overhead)
        _parallel(lambda lo, hi: nb.gather_cols(cp, ri, vv, csc.binary, wn, bn, bias is not None, on, lo, hi, tile),
                  n_out, ri.size * n_out)
        return out
    if bias is not None:
        out = bias.detach().to(w.dtype).expand(csc.rows, n_out).contiguous()
    else:
        out = torch.zeros(csc.rows, n_out, dtype=w.dtype, device=w.device)
    k = torch.repeat_interleave(torch.arange(w.shape[1], device=w.device), csc.colptr.diff())
    vals = None if csc.binary else csc.values.to(w.dtype)
    contrib = w.t()[k] if vals is None else w.t()[k] * vals[:, None]
    return out.index_add_(0, csc.rowidx, contrib)


def _wgrad(csc: _CSC, delta: torch.Tensor, in_features: int) -> torch.Tensor:
    """``dW = δᵀ·x`` over active inputs only; returns ``[N, K]``."""
    nb = _numba()
    n_out = delta.shape[1]
    delta = delta.contiguous()
    if nb and delta.device.type == "cpu":
        gwt = torch.from_numpy(np.zeros((in_features, n_out), dtype=delta.numpy().dtype))
        gn, dn = gwt.numpy(), delta.numpy()
        cp, ri, vv = csc.colptr.numpy(), csc.rowidx.numpy(), csc.values.numpy()
        _parallel(lambda lo, hi: nb.wgrad_cols(cp, ri, vv, csc.binary, dn, gn, lo, hi), in_features,
                  ri.size * n_out)
        return gwt.t()
    k = torch.repeat_interleave(torch.arange(in_features, device=delta.device), csc.colptr.diff())
    contrib = delta[csc.rowidx] * csc.values.to(delta.dtype)[:, None]
    return torch.zeros(in_features, n_out, dtype=delta.dtype, device=delta.device).index_add_(0, k, contrib).t()


class _EventLinear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x2, weight, bias, csc):  # type: ignore[override]
        out = _gather_sum(csc, weight, bias)
        ctx.csc = csc
        ctx.save_for_backward(weight)
        ctx.has_bias = bias is not None
        ctx.in_features = x2.shape[1]
        return out

    @staticmethod
    def backward(ctx, g):  # type: ignore[override]
        (weight,) = ctx.saved_tensors
        need = ctx.needs_input_grad
        g = g.contiguous()
        gx = g @ weight if need[0] else None
        gw = _wgrad(ctx.csc, g, ctx.in_features) if need[1] else None
        gb = None
        if ctx.has_bias and need[2]:  # (numpy's serial sum: a parallel torch reduction of this size is slower)
            gb = torch.from_numpy(g.numpy().sum(0)) if g.device.type == "cpu" else g.sum(0)
        return gx, gw, gb, None


class EventResult(NamedTuple):
    """Output of :func:`event_linear`: ``out`` and the exact synaptic operation count ``synops``."""

    out: torch.Tensor
    synops: int
    path: str


def activity(x: torch.Tensor) -> float:
    """Fraction of nonzero entries of ``x``."""
    return float(torch.count_nonzero(x)) / max(1, x.numel())


def use_event_path(x: torch.Tensor, threshold: float | None = None) -> bool:
    """Whether ``mode="auto"`` takes the event path for input ``x`` (activity below the crossover)."""
    return activity(x) < (EVENT_CROSSOVER if threshold is None else threshold)


def event_linear(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    *,
    mode: str = "auto",
    threshold: float | None = None,
) -> EventResult:
    """``y = x·Wᵀ + b`` over the last axis of ``x: [..., K]``, event-driven or dense.

    Args:
        mode: ``"event"`` (gather the weight rows of active inputs), ``"dense"`` (one GEMM) or ``"auto"``
            (event when the measured activity of ``x`` is below ``threshold``, default
            :data:`EVENT_CROSSOVER`, or :data:`EVENT_CROSSOVER_TRAIN` when gradients are needed).

    Returns:
        :class:`EventResult` ``(out, synops, path)``; ``synops = nnz(x)·N`` on either path (a by-product
        of the compression on the event path). Differentiable on both paths: the event path's weight
        gradient also touches only the active inputs.
    """
    if mode not in ("auto", "event", "dense"):
        raise ValueError(f"mode: expected 'auto', 'event' or 'dense', got {mode!r}")
    if x.shape[-1] != weight.shape[1]:
        raise ValueError(f"x: expected [..., {weight.shape[1]}] for weight {tuple(weight.shape)}, got {tuple(x.shape)}")
    if x.is_complex() or weight.is_complex():
        raise TypeError("event_linear: real tensors only")
    lead = x.shape[:-1]
    n_out = weight.shape[0]
    x2 = x.reshape(-1, x.shape[-1])
    counts = None
    if mode != "dense":
        x2 = x2.detach().contiguous()
        if x2.dtype != weight.dtype:
            x2 = x2.to(weight.dtype)
        counts = _count(x2)
    grads = torch.is_grad_enabled() and (
        x.requires_grad or weight.requires_grad or (bias is not None and bias.requires_grad))
    if mode == "auto":
        nnz = int(counts.sum()) if counts is not None else int(torch.count_nonzero(x2))
        limit = threshold if threshold is not None else (EVENT_CROSSOVER_TRAIN if grads else EVENT_CROSSOVER)
        if nnz >= limit * max(1, x2.numel()):
            return EventResult(F.linear(x, weight, bias), nnz * n_out, "dense")
    elif mode == "dense":
        return EventResult(F.linear(x, weight, bias), int(torch.count_nonzero(x2)) * n_out, "dense")
    csc = _compress(x2, counts)
    if grads:
        xin = x.reshape(-1, x.shape[-1])
        out = _EventLinear.apply(xin if xin.dtype == weight.dtype else xin.to(weight.dtype), weight, bias, csc)
    else:
        out = _gather_sum(csc, weight, bias)
    return EventResult(out.reshape(*lead, n_out), int(csc.rowidx.numel()) * n_out, "event")


class EventLinear(nn.Linear):
    """A linear synapse ``[T, B, K] -> [T, B, N]`` with the event-driven path.

    ``mode="auto"`` picks the event path from the measured activity of each input; ``"event"`` and
    ``"dense"`` force one. After each call ``self.synops`` holds the exact synaptic operation count and
    ``self.last_path`` the path taken.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *, mode: str = "auto",
                 threshold: float | None = None, device=None, dtype=None) -> None:
        super().__init__(in_features, out_features, bias=bias, device=device, dtype=dtype)
        if mode not in ("auto", "event", "dense"):
            raise ValueError(f"mode: expected 'auto', 'event' or 'dense', got {mode!r}")
        self.mode = mode
        self.threshold = threshold
        self.synops = 0
        self.last_path = ""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        res = event_linear(x, self.weight, self.bias, mode=self.mode, threshold=self.threshold)
        self.synops, self.last_path = res.synops, res.path
        return res.out

    def extra_repr(self) -> str:
        return super().extra_repr() + f", mode={self.mode!r}"

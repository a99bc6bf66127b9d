r"""Event-driven synapses: touch only the weights of inputs that spiked.

For a layer ``y = W·s + b`` with sparse input ``s`` (binary or graded spikes), the dense GEMM costs
``R·K·N`` multiply-adds for ``R`` rows (time steps × batch), ``K`` inputs and ``N`` outputs. The event path
compresses the input by row (for every row the inputs ``k`` that spiked, ``int32``), then sums the weight
rows ``Wᵀ[k]`` (times the spike value, if graded) of each row's active inputs: ``nnz·N`` additions. The same
index lists give the weight gradient over active inputs only, ``dWᵀ[k] = Σ_r s[r,k]·δ[r]`` -- also
``nnz·N`` -- from the compressed input saved for the backward pass (``nnz`` indices instead of ``R·K``
values; the input itself is kept too only when it requires grad, for an exact double backward). The input
gradient ``δ·W`` of a hidden layer stays a dense GEMM (``δ`` is dense).

Synaptic operations are counted exactly as a by-product: every active input of a row drives its ``N``
synapses once, so ``synops = nnz(s)·N`` (``nnz`` is the length of the compressed index list).

Which path is faster depends on the activity ``p = nnz/(R·K)``: the event path wins below a crossover
that ``benchmarks/event_vs_dense.py`` measures (``docs/performance.md``); ``mode="auto"`` uses
:data:`EVENT_CROSSOVER` (:data:`EVENT_CROSSOVER_TRAIN` when gradients are needed) for layers of at least
:data:`EVENT_MIN_OUT` outputs. These module constants are the documented defaults, to be read, not
changed: a layer's own crossover is its configuration (``threshold``, ``train_threshold`` and ``min_out`` of
:func:`event_linear` and :class:`spikeforge.synapse.Linear`). The CPU kernels are the C library built at
install time, else numba (:mod:`spikeforge.kernels._cpu`), on the threads of
:mod:`spikeforge.kernels._threads`; without either the path uses ``index_add`` (forward) and a
gather-and-``index_add`` weight gradient, and ``mode="auto"`` stays dense.
"""

from __future__ import annotations

import numbers
from typing import Final, NamedTuple

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from spikeforge.kernels import _cpu, _threads

__all__ = ["EVENT_CROSSOVER", "EVENT_CROSSOVER_TRAIN", "EVENT_MIN_OUT", "EventResult", "activity", "event_linear",
           "linear_product", "transposed_weight", "use_event_path"]

#: Input activity below which ``mode="auto"`` takes the event path without gradients (measured on a 2-core
#: AMD EPYC, float32, 4096→4096: the event path wins up to 10-20 % activity; see docs/performance.md).
EVENT_CROSSOVER: Final = 0.1
#: The same when gradients are needed (forward + weight gradient; measured crossover 10-20 % on the 700→256
#: layer of the SHD benchmark, 8-15 % on its 256→256 hidden layer with the dense input gradient).
EVENT_CROSSOVER_TRAIN: Final = 0.1
#: Fewest outputs for which ``mode="auto"`` considers the event path: the per-event cost (an index, a row
#: address) is amortised over ``N`` additions, and for narrow layers (a 20-class readout) the dense GEMM
#: wins at every activity measured (docs/performance.md).
EVENT_MIN_OUT: Final = 64

#: Rows (time steps × batch) from which the compiled kernels are not used: their row indices are int32.
MAX_ROWS = 2**31 - 1


def _kernels(t: torch.Tensor | None = None, chosen=None):
    """The compiled event kernels (C, else numba; :mod:`spikeforge.kernels._cpu`) for tensors like ``t``
    (CPU, float32/float64, not wrapped by a ``torch.func`` transform), or ``None``; ``chosen``: those a
    forward pass chose (its backward uses the same), else the current choice."""
    if t is not None and not (_cpu_float(t) and not _wrapped(t)):
        return None
    return _cpu.kernels("event")[1] if chosen is None else chosen


def _cpu_float(t: torch.Tensor) -> bool:
    """Whether ``t`` is a CPU float32/float64 tensor: what the compiled kernels and NumPy views take."""
    return t.device.type == "cpu" and t.dtype in (torch.float32, torch.float64)


def _wrapped(t: torch.Tensor) -> bool:
    """Whether ``t`` is a ``torch.func`` (vmap/grad) wrapper: it has no storage for a kernel to read."""
    try:
        return bool(torch._C._functorch.is_functorch_wrapped_tensor(t))
    except (AttributeError, RuntimeError):  # (private API) no functorch: nothing is wrapped
        return False


def _autocast(t: torch.Tensor) -> bool:
    try:
        return bool(torch.is_autocast_enabled(t.device.type))
    except TypeError:  # torch < 2.4
        return bool(torch.is_autocast_cpu_enabled() if t.device.type == "cpu" else torch.is_autocast_enabled())


def _autocast_dtype(t: torch.Tensor) -> torch.dtype:
    try:
        return torch.get_autocast_dtype(t.device.type)
    except AttributeError:  # torch < 2.4
        return torch.get_autocast_cpu_dtype() if t.device.type == "cpu" else torch.get_autocast_gpu_dtype()


def _parallel(fn, n_items: int, work: int, cumulative: np.ndarray | None = None):
    """:meth:`spikeforge.kernels._threads.Workers.split` on the current workers."""
    return _threads.current().split(fn, n_items, work, cumulative)


class _CSR(NamedTuple):
    """Input ``[R, K]`` compressed by row: units ``colidx[rowptr[r]:rowptr[r+1]]`` spiked in row ``r``."""

    rowptr: torch.Tensor  # [R+1] int64
    colidx: torch.Tensor  # [nnz] int32
    values: torch.Tensor  # [nnz] x.dtype (empty when binary: every value is 1)
    binary: bool
    cols: int

    @property
    def nnz(self) -> int:
        return int(self.colidx.numel())


def _compress(x2: torch.Tensor, max_activity: float | None = None) -> _CSR | None:
    """``x2: [R, K]`` by row: one pass of the compiled kernels (row blocks on threads, each appending its
    events to its own scratch, then joined), or ``nonzero`` without them. With ``max_activity`` the pass
    stops, and returns ``None``, as soon as the events of one block exceed that fraction of the whole input
    (compiled kernels only): dense input costs a fraction of a pass, not a full compression."""
    rows, k_all = x2.shape
    nb = _kernels(x2) if rows <= MAX_ROWS else None
    if nb:
        xn = x2.numpy()
        counts = np.zeros(rows + 1, dtype=np.int64)

        def run(lo, hi):  # scratch is virtual memory: only the pages its events fill are touched
            # (a block alone exceeding the whole input's budget proves the input is above the limit)
            cap = (hi - lo) * k_all
            if max_activity is not None and max_activity < 1:
                cap = min(cap, int(max(max_activity, 0.0) * xn.size))
            scratch = np.empty(cap + k_all + 1, dtype=np.int32)
            total, other = nb.compress_rows(xn, lo, hi, counts, scratch, cap)
            return (None if total < 0 else scratch[:total].copy()), other  # (copy: the scratch is freed)

        parts = _parallel(run, rows, xn.size)
        if any(p[0] is None for p in parts):
            return None
        rowptr = np.cumsum(counts, out=counts)
        colidx = parts[0][0] if len(parts) == 1 else np.concatenate([p[0] for p in parts])
        binary = not any(p[1] for p in parts)
        csr = _CSR(torch.from_numpy(rowptr), torch.from_numpy(colidx), x2.new_empty(0), binary, k_all)
        # (an empty tensor, not a view: saving it must not keep x alive); graded spikes: their values
        return csr if binary else csr._replace(values=x2[_rows_of(csr), csr.colidx.long()])
    r, k = x2.nonzero(as_tuple=True)  # row-major order: already CSR
    vals = x2[r, k]
    rowptr = torch.zeros(rows + 1, dtype=torch.int64, device=x2.device)
    rowptr[1:] = torch.cumsum(torch.bincount(r, minlength=rows), 0)
    binary = bool(vals.numel() == 0 or torch.all(vals == 1))
    return _CSR(rowptr, k.to(torch.int32), vals.new_empty(0) if binary else vals, binary, k_all)


def _weight_t(weight: torch.Tensor) -> torch.Tensor:
    """``Wᵀ: [K, N]`` contiguous: free for weights stored transposed (:func:`transposed_weight`), one copy
    otherwise."""
    wt = weight.detach().t()
    return wt if wt.is_contiguous() else wt.contiguous()


def transposed_weight(out_features: int, in_features: int, *, device=None, dtype=None) -> nn.Parameter:
    """An ``[out_features, in_features]`` weight parameter whose memory holds ``Wᵀ`` contiguously.

    The dense product ``x·Wᵀ`` is one GEMM either way (BLAS reads either layout), while the event path
    gathers rows of ``Wᵀ`` and its weight gradient ``dWᵀ`` comes out in the same layout, so neither copies.
    """
    return nn.Parameter(torch.empty(in_features, out_features, device=device, dtype=dtype).t())


def _rows_of(csr: _CSR) -> torch.Tensor:
    return torch.repeat_interleave(torch.arange(csr.rowptr.numel() - 1, device=csr.rowptr.device),
                                   csr.rowptr.diff())


def _gather_sum(csr: _CSR, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    rows = csr.rowptr.numel() - 1
    n_out = weight.shape[0]
    wt = _weight_t(weight)
    nb = _kernels(wt) if wt.shape[0] > 0 else None
    if nb:
        # (output initialised inside the kernel: a parallel torch fill costs more than the product)
        out = torch.empty(rows, n_out, dtype=wt.dtype)
        on, wn = out.numpy(), wt.numpy()
        bn = bias.detach().to(wt.dtype).contiguous().numpy() if bias is not None else wn[0]
        rp, ci, vv = csr.rowptr.numpy(), csr.colidx.numpy(), csr.values.numpy()
        _parallel(lambda lo, hi: nb.gather_rows(rp, ci, vv, csr.binary, wn, bn, bias is not None, on, lo, hi),
                  rows, csr.nnz * n_out + rows * n_out, rp)
        return out
    if bias is not None:
        out = bias.detach().to(wt.dtype).repeat(rows, 1)  # (new memory: index_add_ below writes into it)
    else:
        out = torch.zeros(rows, n_out, dtype=wt.dtype, device=wt.device)
    contrib = wt[csr.colidx.long()]
    if not csr.binary:
        contrib = contrib * csr.values.to(wt.dtype)[:, None]
    return out.index_add_(0, _rows_of(csr), contrib)


def _dense(csr: _CSR, dtype: torch.dtype) -> torch.Tensor:
    """The compressed input back as a dense ``[R, K]`` tensor."""
    rows = csr.rowptr.numel() - 1
    x = torch.zeros(rows, csr.cols, dtype=dtype, device=csr.rowptr.device)
    vals = torch.ones(csr.nnz, dtype=dtype, device=x.device) if csr.binary else csr.values.to(dtype)
    x[_rows_of(csr), csr.colidx.long()] = vals
    return x


def _wgrad(csr: _CSR, delta: torch.Tensor, chosen) -> torch.Tensor:
    """``dW = δᵀ·x`` over active inputs only; returns ``[N, K]`` (stored as ``dWᵀ``, like the weight);
    ``chosen``: the compiled kernels of the forward pass (``None``: torch)."""
    n_out = delta.shape[1]
    delta = delta.contiguous()
    nb = _kernels(delta, chosen) if chosen is not None else None
    if nb:
        dn = delta.numpy()
        rp, ci, vv = csr.rowptr.numpy(), csr.colidx.numpy(), csr.values.numpy()
        colptr = np.zeros(csr.cols + 1, dtype=np.int64)
        rowidx = np.empty(csr.nnz, dtype=np.int32)
        cvals = np.empty(0 if csr.binary else csr.nnz, dtype=vv.dtype)
        nb.to_columns(rp, ci, vv, csr.binary, colptr, rowidx, cvals)
        gwt = np.empty((csr.cols, n_out), dtype=dn.dtype)
        _parallel(lambda lo, hi: nb.wgrad_cols(colptr, rowidx, cvals, csr.binary, dn, gwt, lo, hi), csr.cols,
                  csr.nnz * n_out, colptr)
        return torch.from_numpy(gwt).t()
    contrib = delta[_rows_of(csr)]
    if not csr.binary:
        contrib = contrib * csr.values.to(delta.dtype)[:, None]
    gwt = torch.zeros(csr.cols, n_out, dtype=delta.dtype, device=delta.device)
    return gwt.index_add_(0, csr.colidx.long(), contrib).t()


class _EventLinear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x2, weight, bias, csr):  # type: ignore[override]
        out = _gather_sum(csr, weight, bias)
        # The compressed input serves the weight gradient; x itself is kept only when it requires grad, for
        # a double backward (create_graph) in which dW = δᵀ·x must stay differentiable in x.
        ctx.save_for_backward(weight, csr.rowptr, csr.colidx, csr.values, x2 if x2.requires_grad else None)
        ctx.binary, ctx.cols = csr.binary, csr.cols
        ctx.has_bias = bias is not None
        ctx.kernels = _cpu.kernels("event")[1]  # the backward uses the same kernels (or none)
        return out

    @staticmethod
    def backward(ctx, g):  # type: ignore[override]
        weight, rowptr, colidx, values, x = ctx.saved_tensors
        need = ctx.needs_input_grad
        csr = _CSR(rowptr, colidx, values, ctx.binary, ctx.cols)
        if torch.is_grad_enabled():  # create_graph: differentiable torch ops (on x, or the re-densified input)
            x = _dense(csr, g.dtype) if x is None else x
            return (g @ weight if need[0] else None, g.t() @ x if need[1] else None,
                    g.sum(0) if ctx.has_bias and need[2] else None, None)
        g = g.contiguous()
        gx = g @ weight if need[0] else None
        gw = _wgrad(csr, g, ctx.kernels) if need[1] else None
        gb = None
        if ctx.has_bias and need[2]:  # (numpy's serial sum: a parallel torch reduction of this size is slower)
            gb = torch.from_numpy(g.numpy().sum(0)) if _cpu_float(g) else g.sum(0)
        return gx, gw, gb, None


class EventResult(NamedTuple):
    """Output of :func:`event_linear`: ``out`` and the exact synaptic operation count ``synops``."""

    out: torch.Tensor
    synops: int
    path: str


def activity(x: torch.Tensor) -> float:
    """Fraction of nonzero entries of ``x``."""
    return float(torch.count_nonzero(x)) / max(1, x.numel())


def _check_threshold(name: str, value) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):  # (<= 0: never the event path)
        raise TypeError(f"{name}: expected a number (an activity in [0, 1]) or None for the default, got "
                        f"{type(value).__name__} {value!r}")
    return float(value)


def _check_min_out(value) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"min_out: expected an integer >= 0 (a number of outputs) or None for the default, "
                         f"got {value!r}")
    return int(value)


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
    train_threshold: float | None = None,
    min_out: int | None = None,
) -> EventResult:
    """``y = x·Wᵀ + b`` over the last axis of ``x: [..., K]``, event-driven or dense.

    Args:
        mode: ``"event"`` (gather the weight rows of active inputs), ``"dense"`` (one GEMM) or ``"auto"``
            (event when the measured activity of ``x`` is below the crossover; only for real CPU tensors
            with the compiled kernels and at least ``min_out`` outputs -- elsewhere ``"auto"`` is dense).
        threshold: the crossover activity of ``mode="auto"`` (default :data:`EVENT_CROSSOVER`); also used
            when gradients are needed unless ``train_threshold`` is given. ``<= 0``: never the event path.
        train_threshold: the crossover when gradients are needed (default: ``threshold`` if given, else
            :data:`EVENT_CROSSOVER_TRAIN`).
        min_out: fewest outputs for which ``mode="auto"`` considers the event path (default
            :data:`EVENT_MIN_OUT`).

    Returns:
        :class:`EventResult` ``(out, synops, path)``; ``synops = nnz(x)·N`` on either path (a by-product
        of the compression on the event path). Differentiable on both paths: the event path's weight
        gradient also touches only the active inputs.
    """
    out, nnz, path = linear_product(x, weight, bias, mode=mode, threshold=threshold,
                                    train_threshold=train_threshold, min_out=min_out)
    if nnz is None:
        nnz = int(torch.count_nonzero(x))
    return EventResult(out, nnz * weight.shape[0], path)


def linear_product(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, *, mode: str = "auto",
                   threshold: float | None = None, train_threshold: float | None = None,
                   min_out: int | None = None) -> tuple[torch.Tensor, int | None, str]:
    """The product of :func:`event_linear` as ``(out, nnz or None, path)``: ``nnz(x)`` when it was counted
    anyway (event path, or ``"auto"`` measuring the activity), ``None`` when the dense GEMM ran unmeasured."""
    if mode not in ("auto", "event", "dense"):
        raise ValueError(f"mode: expected 'auto', 'event' or 'dense', got {mode!r}")
    threshold = _check_threshold("threshold", threshold)
    train_threshold = _check_threshold("train_threshold", train_threshold)
    min_out = EVENT_MIN_OUT if min_out is None else _check_min_out(min_out)
    if x.shape[-1] != weight.shape[1]:
        raise ValueError(f"x: expected [..., {weight.shape[1]}] for weight {tuple(weight.shape)}, got {tuple(x.shape)}")
    if mode == "event" and (x.is_complex() or weight.is_complex()):
        raise TypeError("event_linear: real tensors only")
    if not x.is_complex() and x.dtype != weight.dtype and not _autocast(x):  # one rule for both paths, torch's
        raise TypeError(f"x: expected the weight's dtype {weight.dtype}, got {x.dtype}; convert the input "
                        f"(x.to({weight.dtype})) or the layer (.to({x.dtype}))")
    lead = x.shape[:-1]
    n_out = weight.shape[0]
    if mode == "dense" or x.numel() == 0 or (mode == "auto" and not _event_capable(x, weight, min_out)):
        return F.linear(x, weight, bias), None, "dense"
    if _wrapped(x) or _wrapped(weight) or (bias is not None and _wrapped(bias)):
        raise TypeError("event_linear: mode='event' cannot run under torch.func transforms (vmap, grad); "
                        "use mode='dense' or 'auto' there")
    x2 = x.reshape(-1, x.shape[-1]).detach().contiguous()
    if x2.dtype != weight.dtype:
        x2 = x2.to(weight.dtype)
    grads = torch.is_grad_enabled() and (
        x.requires_grad or weight.requires_grad or (bias is not None and bias.requires_grad))
    if mode == "auto":  # one pass measures the activity and compresses; it stops early on dense input
        if grads:
            limit = next(t for t in (train_threshold, threshold, EVENT_CROSSOVER_TRAIN) if t is not None)
        else:
            limit = EVENT_CROSSOVER if threshold is None else threshold
        if not limit > 0:
            return F.linear(x, weight, bias), None, "dense"
        csr = _compress(x2, limit)
        if csr is None or csr.nnz >= limit * max(1, x2.numel()):
            return F.linear(x, weight, bias), None if csr is None else csr.nnz, "dense"
    else:
        csr = _compress(x2)
    if grads:
        xin = x.reshape(-1, x.shape[-1])
        out = _EventLinear.apply(xin if xin.dtype == weight.dtype else xin.to(weight.dtype), weight, bias, csr)
    else:
        out = _gather_sum(csr, weight, bias)
    if _autocast(x):  # the dtype autocast gives the dense product (a forced event path computes in full precision)
        out = out.to(_autocast_dtype(x))
    return out.reshape(*lead, n_out), csr.nnz, "event"


def _event_capable(x: torch.Tensor, weight: torch.Tensor, min_out: int) -> bool:
    """Whether ``mode="auto"`` measures the activity at all: compiled kernels for this device and dtype, and
    a layer wide enough for the event path to pay (``min_out`` outputs); not under autocast (whose dense
    product changes the output dtype) or ``torch.func`` transforms."""
    return (x.dtype == weight.dtype and _kernels(x) is not None and _kernels(weight) is not None
            and weight.shape[0] >= min_out and not _autocast(x)
            and x.numel() // max(1, x.shape[-1]) <= MAX_ROWS)

"""ctypes bindings of the compiled C kernels (``_ckernels.c``, built at install time by ``setup.py``).

The C library is the preferred CPU implementation of the fast LIF scan and of the event-driven synapses
(measured against numba, pure torch and ``torch.compile`` by ``benchmarks/kernel_tech.py``; see
``docs/performance.md``): it is the fastest, loads in a fraction of a millisecond and costs no resident
memory, where importing numba and loading its kernels costs ≈ 130 MB. It is optional: when it was not built
(no C compiler at install time) :func:`available` is false and numba or pure torch serve.

:data:`LIF` and :data:`EVENT` offer the same functions, with the same arguments (NumPy arrays, C-contiguous,
one dtype), as :mod:`spikeforge.kernels._numba_lif` and :mod:`spikeforge.kernels._numba_event`, so that the
callers use either implementation through one interface. ctypes releases the GIL during each call, so the
ranges that :meth:`spikeforge.kernels._threads.Workers.split` hands to threads run side by side.
"""

from __future__ import annotations

import ctypes
import importlib.util

import numpy as np

from spikeforge.kernels import _threads

__all__ = ["EVENT", "LIF", "available", "library_path"]

ABI_VERSION = 2
_LIB: object = None  # None: not tried; False: unavailable; else the CDLL

_P, _I64, _I, _D = ctypes.c_void_p, ctypes.c_int64, ctypes.c_int, ctypes.c_double
_SIGNATURES = {
    "sf_lif_fwd": [_P, _P, _P, _P, _I, _D, _P, _P, _I, _I64, _I64, _I64, _I64],
    "sf_lif_bwd": [_P, _P, _P, _P, _P, _P, _I, _D, _I, _I, _D, _P, _P, _P, _P, _I, _I, _I64, _I64, _I64, _I64],
    "sf_ev_compress": [_P, _I64, _I64, _I64, _P, _P, _P, _I64],
    "sf_ev_gather": [_P, _P, _P, _I, _P, _I64, _P, _P, _I64, _I64],
    "sf_ev_to_columns": [_P, _P, _P, _I, _I64, _I64, _P, _P, _P, _P],
    "sf_ev_wgrad": [_P, _P, _P, _I, _P, _I64, _P, _I64, _I64],
}


def library_path() -> str | None:
    """Path of the built library (``spikeforge/kernels/_ckernels*.so``), or ``None`` when it was not built."""
    try:
        spec = importlib.util.find_spec("spikeforge.kernels._ckernels")
    except (ImportError, ValueError):
        return None
    return spec.origin if spec is not None and spec.origin and spec.has_location else None


def _open():
    path = library_path()
    if path is None:
        return False
    try:
        lib = ctypes.CDLL(path)
        lib.sf_abi_version.restype = ctypes.c_int
        if lib.sf_abi_version() != ABI_VERSION:  # a stale build from an older source: rebuild to use it
            return False
        for name, args in _SIGNATURES.items():
            for suffix in ("f32", "f64"):
                fn = getattr(lib, f"{name}_{suffix}")
                fn.argtypes = args
                fn.restype = ctypes.c_int64 if name == "sf_ev_compress" else None
    except (OSError, AttributeError):
        return False
    return lib


def available() -> bool:
    """Whether the C kernels were built and load."""
    global _LIB
    if _LIB is None:
        _LIB = _open()
    return bool(_LIB)


def _fn(name: str, dtype: np.dtype):
    if dtype == np.float32:
        return getattr(_LIB, name + "_f32")
    if dtype == np.float64:
        return getattr(_LIB, name + "_f64")
    raise TypeError(f"C kernels: float32 or float64 arrays expected, got {dtype}")


def _ptr(a: np.ndarray | None) -> int | None:
    return None if a is None else a.ctypes.data


def split(fn, m_all: int, work: int) -> None:
    """Run ``fn(m0, m1)`` over disjoint neuron ranges on ``torch.get_num_threads()`` threads of the current
    :class:`~spikeforge.kernels._threads.Workers` (serially below its ``min_work``), in 16-neuron aligned
    blocks so that each thread's slice of a row stays on its own cache lines."""
    blocks = (m_all + 15) // 16
    _threads.current().split(lambda lo, hi: fn(lo * 16, min(hi * 16, m_all)), blocks, work)


class _Lif:
    """The fast LIF scan (same interface as :mod:`spikeforge.kernels._numba_lif`)."""

    @staticmethod
    def forward(x, v, lam, th, code, v_reset, out, vstar, save) -> None:
        fn = _fn("sf_lif_fwd", x.dtype)
        steps, m_all = x.shape
        px, pv, pl, pt, po = x.ctypes.data, v.ctypes.data, lam.ctypes.data, th.ctypes.data, out.ctypes.data
        ps = vstar.ctypes.data if save else None
        split(lambda lo, hi: fn(px, pv, pl, pt, int(code), float(v_reset), po, ps, int(save), steps, m_all, lo, hi),
              m_all, x.size)

    @staticmethod
    def backward(go, gv, vstar, v0, lam, th, code, v_reset, detach, kind, sigma, f_ext, gx, acc_decay, acc_theta,
                 need_decay, need_theta) -> None:
        fn = _fn("sf_lif_bwd", go.dtype)
        steps, m_all = go.shape
        if kind in (1, 3):  # Gaussian / logistic densities come precomputed in f_ext (vectorised exp)
            kind = -1
        args = [_ptr(a) for a in (go, gv, vstar, v0, lam, th)]
        tail = [_ptr(a) for a in (f_ext, gx, acc_decay, acc_theta)]
        split(lambda lo, hi: fn(*args, int(code), float(v_reset), int(detach), int(kind), float(sigma), *tail,
                                int(need_decay), int(need_theta), steps, m_all, lo, hi), m_all, 3 * go.size)


class _Event:
    """Event-driven synapse kernels (same interface as :mod:`spikeforge.kernels._numba_event`)."""

    @staticmethod
    def compress_rows(x, r0, r1, counts, scratch, max_events) -> tuple[int, bool]:
        other = np.zeros(1, dtype=np.uint8)
        total = _fn("sf_ev_compress", x.dtype)(x.ctypes.data, x.shape[1], r0, r1, counts.ctypes.data,
                                               scratch.ctypes.data, other.ctypes.data, max_events)
        return int(total), bool(other[0])

    @staticmethod
    def gather_rows(rowptr, colidx, values, binary, wt, bias, has_bias, out, r0, r1) -> None:
        _fn("sf_ev_gather", wt.dtype)(rowptr.ctypes.data, colidx.ctypes.data, values.ctypes.data, int(binary),
                                      wt.ctypes.data, wt.shape[1], bias.ctypes.data if has_bias else None,
                                      out.ctypes.data, r0, r1)

    @staticmethod
    def to_columns(rowptr, colidx, values, binary, colptr, rowidx, cvalues) -> None:
        nxt = np.empty(colptr.shape[0], dtype=np.int64)
        _fn("sf_ev_to_columns", values.dtype)(rowptr.ctypes.data, colidx.ctypes.data, values.ctypes.data,
                                              int(binary), rowptr.shape[0] - 1, colptr.shape[0] - 1,
                                              colptr.ctypes.data, rowidx.ctypes.data, cvalues.ctypes.data,
                                              nxt.ctypes.data)

    @staticmethod
    def wgrad_cols(colptr, rowidx, values, binary, delta, gwt, k0, k1) -> None:
        _fn("sf_ev_wgrad", delta.dtype)(colptr.ctypes.data, rowidx.ctypes.data, values.ctypes.data, int(binary),
                                        delta.ctypes.data, delta.shape[1], gwt.ctypes.data, k0, k1)


LIF = _Lif()
EVENT = _Event()

"""Backends of the multi-step neuron scan. All share one signature::

    scan(x, state, params, spec, *, noise, orders, recurrent_weight) -> (spikes, final_state)

``reference`` is plain per-step autograd (:func:`spikeforge.neuron.dynamics.reference_scan`); ``torch`` is
the fused Function with a hand-written BPTT (:mod:`spikeforge.kernels.torch_scan`); ``fast`` is the
specialised path for real, binary, deterministic LIF/IF neurons (:mod:`spikeforge.kernels.fast_lif`: C
kernels built at install time on CPU, else numba, else pure torch; :mod:`spikeforge.kernels._cpu`), which
hands every other configuration to ``torch``.
``triton`` is the GPU kernel (:mod:`spikeforge.kernels.triton_scan`). ``"auto"`` picks ``triton`` for CUDA
tensors when Triton is available and ``fast`` otherwise (the fastest correct ones measured;
``docs/performance.md``). Each backend is tested against the reference.
"""

from __future__ import annotations

from spikeforge.kernels.fast_lif import fast_scan
from spikeforge.kernels.torch_scan import fused_scan
from spikeforge.kernels.triton_scan import available as _triton_available
from spikeforge.kernels.triton_scan import triton_scan
from spikeforge.neuron.dynamics import reference_scan

__all__ = ["BACKENDS", "auto_scan", "fast_scan", "fused_scan", "get_backend", "reference_scan", "triton_scan"]


def auto_scan(x, state, params, spec, *, noise=None, orders, recurrent_weight=None):
    """The ``"auto"`` backend: Triton on CUDA tensors when available, else the fast path (which itself hands
    configurations it does not cover to the generic fused scan)."""
    if x.device.type == "cuda" and _triton_available(x.device):
        return triton_scan(x, state, params, spec, noise=noise, orders=orders, recurrent_weight=recurrent_weight)
    return fast_scan(x, state, params, spec, noise=noise, orders=orders, recurrent_weight=recurrent_weight)


BACKENDS = {"reference": reference_scan, "torch": fused_scan, "fast": fast_scan, "triton": triton_scan,
            "auto": auto_scan}


def get_backend(name: str):
    """Return the scan function of backend ``name`` (``"auto"`` picks the fastest available)."""
    try:
        return BACKENDS[name]
    except KeyError:
        raise ValueError(f"backend: expected one of {list(BACKENDS)}, got {name!r}") from None

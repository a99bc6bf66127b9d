"""Backends of the multi-step neuron scan. All share one signature::

    scan(x, state, params, spec, *, noise, orders, recurrent_weight) -> (spikes, final_state)

``reference`` is plain per-step autograd (:func:`spikeforge.neuron.dynamics.reference_scan`); ``torch`` is
the fused Function with a hand-written BPTT (:mod:`spikeforge.kernels.torch_scan`); ``fast`` is the
specialised path for real, binary, deterministic LIF/IF neurons (:mod:`spikeforge.kernels.fast_lif`: C
kernels built at install time on CPU, else numba, else pure torch; :mod:`spikeforge.kernels._cpu`), which
hands every other configuration to ``torch``.
``triton`` is the GPU kernel (:mod:`spikeforge.kernels.triton_scan`). ``"auto"`` picks ``triton`` for CUDA
tensors when Triton is available and ``fast`` otherwise (the fastest correct ones measured;
``docs/performance.md``). Each backend is tested against the reference. Importing this package registers
them by name in :mod:`spikeforge.neuron.backends`, where the neuron modules look them up.
"""

from __future__ import annotations

from spikeforge.kernels._cpu import using as using_kernels
from spikeforge.kernels.fast_lif import fast_scan
from spikeforge.kernels.torch_scan import fused_scan
from spikeforge.kernels.triton_scan import available as _triton_available
from spikeforge.kernels.triton_scan import triton_scan
from spikeforge.neuron.backends import get_backend as _get_backend
from spikeforge.neuron.backends import register_backend, registered_backends
from spikeforge.neuron.dynamics import reference_scan

__all__ = ["BACKENDS", "auto_scan", "fast_scan", "fused_scan", "get_backend", "reference_scan", "triton_scan",
           "using_kernels"]


def auto_scan(x, state, params, spec, *, noise=None, orders, recurrent_weight=None):
    """The ``"auto"`` backend: Triton on CUDA tensors when available, else the fast path (which itself hands
    configurations it does not cover to the generic fused scan)."""
    if x.device.type == "cuda" and _triton_available(x.device):
        return triton_scan(x, state, params, spec, noise=noise, orders=orders, recurrent_weight=recurrent_weight)
    return fast_scan(x, state, params, spec, noise=noise, orders=orders, recurrent_weight=recurrent_weight)


for _name, _fn in {"reference": reference_scan, "torch": fused_scan, "fast": fast_scan, "triton": triton_scan,
                  "auto": auto_scan}.items():
    register_backend(_name, _fn)  # the registry lives in the neuron layer, which does not import kernels

#: The registered backends by name (a read-only live view of :mod:`spikeforge.neuron.backends`; add one with
#: :func:`spikeforge.neuron.backends.register_backend`).
BACKENDS = registered_backends()


def get_backend(name: str):
    """Return the scan function of backend ``name`` (``"auto"`` picks the fastest available)."""
    return _get_backend(name)

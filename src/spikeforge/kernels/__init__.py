"""Backends of the multi-step neuron scan. All share one signature::

    scan(x, state, params, spec, *, noise, orders, recurrent_weight) -> (spikes, final_state)

``reference`` is plain per-step autograd (:func:`spikeforge.neuron.dynamics.reference_scan`); ``torch`` is
the fused Function with a hand-written BPTT (:mod:`spikeforge.kernels.torch_scan`); ``fast`` is the
specialised path for real, binary, deterministic LIF/IF neurons (:mod:`spikeforge.kernels.fast_lif`: compiled
with numba on CPU when available, else pure torch), which hands every other configuration to ``torch``.
``"auto"`` means ``fast`` (the fastest correct one measured; ``docs/performance.md``). Each backend is tested
against the reference.
"""

from __future__ import annotations

from spikeforge.kernels.fast_lif import fast_scan
from spikeforge.kernels.torch_scan import fused_scan
from spikeforge.neuron.dynamics import reference_scan

__all__ = ["BACKENDS", "fast_scan", "fused_scan", "get_backend", "reference_scan"]

BACKENDS = {"reference": reference_scan, "torch": fused_scan, "fast": fast_scan}


def get_backend(name: str):
    """Return the scan function of backend ``name`` (``"auto"`` picks the fastest available)."""
    if name == "auto":
        name = "fast"
    try:
        return BACKENDS[name]
    except KeyError:
        raise ValueError(f"backend: expected one of {['auto', *BACKENDS]}, got {name!r}") from None

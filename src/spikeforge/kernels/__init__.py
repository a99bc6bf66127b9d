"""Backends of the multi-step neuron scan. All share one signature::

    scan(x, state, params, spec, *, noise, orders, recurrent_weight) -> (spikes, final_state)

``reference`` is plain per-step autograd (:func:`spikeforge.neuron.dynamics.reference_scan`); ``torch`` is
the fused Function with a hand-written BPTT (:mod:`spikeforge.kernels.torch_scan`). Each backend is tested
against the reference.
"""

from __future__ import annotations

from spikeforge.kernels.torch_scan import fused_scan
from spikeforge.neuron.dynamics import reference_scan

__all__ = ["BACKENDS", "fused_scan", "get_backend", "reference_scan"]

BACKENDS = {"reference": reference_scan, "torch": fused_scan}


def get_backend(name: str):
    """Return the scan function of backend ``name`` (``"auto"`` picks the fastest available)."""
    if name == "auto":
        name = "torch"
    try:
        return BACKENDS[name]
    except KeyError:
        raise ValueError(f"backend: expected one of {['auto', *BACKENDS]}, got {name!r}") from None

"""The counting context: layers report what they compute to whoever asks, and keep nothing themselves.

A layer calls :func:`report` with its role and the tensor that decides its cost; it costs one context-variable
read when nobody counts. :func:`counting` installs a counter for the extent of a ``with`` block (in this
thread or task only: a :class:`contextvars.ContextVar`, restored on exit). :func:`spikeforge.hardware.count_ops`
is the counter of the package; its definitions of the counts are in :mod:`spikeforge.hardware.counts`.

Roles and their tensor:

* ``"synapse"`` -- the input of the layer's linear operation (``module.weight`` applied as a
  ``Linear``/``ConvNd`` without bias), ``[T, B, ...]``;
* ``"recurrent"`` -- the spikes that reach the population through ``module.weight`` (``W_rec``), one row
  per step ``[T, B, N]``: step ``t``'s row is ``s_{t-1}`` (the carried state's spike at the first step);
* ``"neuron"`` -- the outputs of a neuron layer, ``[T, B, ...]``, with ``spiking=True`` for spikes and
  ``False`` for a non-spiking readout (a potential);
* ``"neuron_counts"`` -- a spiking layer's spike counts over each sample's valid steps, ``[B, ...]``, from a
  path that never forms the per-step spikes (:meth:`spikeforge.nets.rocket.SpikingRocket.sequence_logits`):
  what :class:`spikeforge.learn.loop.SpikeMeter` needs; operation counts take the per-step ``"neuron"``
  report of the layer's forward.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Protocol

import torch
from torch import nn

__all__ = ["Counter", "active", "counting", "report"]

ROLES = ("synapse", "recurrent", "neuron", "neuron_counts")


class Counter(Protocol):
    def record(self, module: nn.Module, role: str, tensor: torch.Tensor, spiking: bool) -> None: ...


_COUNTERS: ContextVar[tuple[Counter, ...]] = ContextVar("spikeforge_counters", default=())


@contextmanager
def counting(counter: Counter) -> Iterator[Counter]:
    """Send every :func:`report` made inside the block to ``counter`` (as well as to any outer counter)."""
    token = _COUNTERS.set((*_COUNTERS.get(), counter))
    try:
        yield counter
    finally:
        _COUNTERS.reset(token)


def active() -> bool:
    """Whether anybody counts (so a layer can skip building the tensor it would report)."""
    return bool(_COUNTERS.get())


def report(module: nn.Module, role: str, tensor: torch.Tensor, *, spiking: bool = True) -> None:
    """Tell the active counters that ``module`` did the work of ``role`` on ``tensor`` (see the module doc)."""
    counters = _COUNTERS.get()
    if not counters:
        return
    if role not in ROLES:
        raise ValueError(f"role: expected one of {ROLES}, got {role!r}")
    t = tensor.detach()
    for c in counters:
        c.record(module, role, t, spiking)

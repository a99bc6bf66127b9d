r"""Stepping a model window by window, its state carried from one window to the next and detached: what
truncated BPTT (:mod:`~spikeforge.learn.methods.tbptt`) and FPTT (:mod:`~spikeforge.learn.methods.fptt`)
share. Not a method itself (the name starts with ``_``: discovery skips it).

A model can be cut into windows when it is a :class:`spikeforge.nets.Sequential` (whose
``forward(x, state, return_state=True)`` continues from a state) and each of its layers either carries its own
state (neurons, readouts, recurrent synapses, delays, temporal convolutions: ``Sequential`` threads it) or
acts on each step alone (:class:`torch.nn.Linear` and so :class:`spikeforge.synapse.Linear`, dropout,
identity). Then the windows' outputs, concatenated, are the uninterrupted forward's, and the state after a
window is the one the uninterrupted forward has at that step (tested).

The per-window loss :func:`window_loss` splits the batch-mean objective over the windows so that their sum
is the whole-sequence loss whenever the reduction allows it:

* ``"last"`` (cross-entropy) and ``"mse"``: sample ``b`` counts only in the window that holds its last valid
  step :math:`L_b - 1`; the window's loss is :math:`\frac1B \sum_{b \in w} \ell(o_{L_b-1,b}, y_b)`. The
  windows' losses then sum to the whole-sequence loss exactly.
* ``"mean"``, ``"sum"``, ``"max"``: each window reduces the readout over *its own* valid steps of sample
  ``b`` (:math:`n_{w,b}` of them) and weights that sample's cross-entropy by :math:`n_{w,b} / L_b`:
  :math:`\frac1B \sum_b \frac{n_{w,b}}{L_b}\, \mathrm{CE}(\mathrm{reduce}_{t \in w}\, o_{t,b}, y_b)`. With a
  single window (``K >= T``) this is the whole-sequence loss; with several it is a per-window surrogate
  (cross-entropy is not additive over a sum of logits).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from spikeforge.learn.losses import REGRESSION_LOSSES, valid_mask

__all__ = ["WINDOW_LOSSES", "carried_model", "check_window_loss", "detach_state", "run_windows", "window_bounds",
           "window_loss"]

_STEP_LOCAL = (nn.Linear, nn.Dropout, nn.Identity)


def _carries_state(layer: nn.Module) -> bool:
    from spikeforge.neuron.modules import LI, Neuron
    from spikeforge.synapse.layers import Recurrent

    return isinstance(layer, (Neuron, LI, Recurrent)) or bool(getattr(layer, "stateful", False))


def carried_model(model: nn.Module, method: str) -> nn.Module:
    """``model`` (a DistributedDataParallel wrapper is looked through) if it can be run window by window,
    else a ``ValueError`` naming the first layer that cannot (see the module docstring)."""
    from spikeforge.nets import Sequential

    inner = getattr(model, "module", model) if type(model).__name__ == "DistributedDataParallel" else model
    if not isinstance(inner, Sequential):
        raise ValueError(f"model: {method} carries the network state from one window to the next, so it needs a "
                         f"spikeforge.nets.Sequential (forward(x, state, return_state=True)); got "
                         f"{type(inner).__name__}")
    for k, layer in enumerate(inner):
        if not (_carries_state(layer) or isinstance(layer, _STEP_LOCAL)):
            raise ValueError(f"model: layer {k} ({type(layer).__name__}) mixes time steps without a state that can "
                             f"be carried between windows; {method} needs every layer to carry its state (neurons, "
                             f"readouts, Recurrent, delays) or act on each step alone (Linear, Dropout)")
    return inner


def detach_state(state: Any) -> Any:
    """``state`` (tensors, named tuples, tuples or lists of them, ``None``) with every tensor detached."""
    if isinstance(state, torch.Tensor):
        return state.detach()
    if isinstance(state, tuple) and hasattr(state, "_fields"):
        return type(state)(*(detach_state(s) for s in state))
    if isinstance(state, (tuple, list)):
        return type(state)(detach_state(s) for s in state)
    return state


def window_bounds(steps: int, k: int) -> list[tuple[int, int]]:
    """``[(t0, t1), ...]``: the windows ``t0 <= t < t1`` of ``k`` steps covering ``0 <= t < steps`` (the last
    one shorter when ``k`` does not divide ``steps``)."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k: expected an integer >= 1 (steps per window), got {k!r}")
    return [(t0, min(steps, t0 + k)) for t0 in range(0, steps, k)]


def run_windows(model: nn.Module, x: torch.Tensor, k: int, state: Any = None
                ) -> Iterator[tuple[int, int, torch.Tensor, Any]]:
    """Forward ``x [T, B, C]`` window by window: yields ``(t0, t1, out [t1 - t0, B, ...], state)``, ``state``
    the model's state after step ``t1 - 1`` (with its graph: the caller backpropagates through the window,
    then passes on). Each window starts from the previous window's state detached, so no gradient flows
    across a window boundary."""
    for t0, t1 in window_bounds(int(x.shape[0]), k):
        out, state = model(x[t0:t1], detach_state(state), return_state=True)
        yield t0, t1, out, state


WINDOW_LOSSES = ("last", "mean", "max", "sum", *REGRESSION_LOSSES)


def check_window_loss(loss: str, who: str) -> None:
    """``ValueError`` unless ``loss`` is one of :data:`WINDOW_LOSSES` (the losses that split over windows)."""
    if loss not in WINDOW_LOSSES:
        raise ValueError(f"loss: {who} is defined for {WINDOW_LOSSES}, got {loss!r}")


def window_loss(out: torch.Tensor, t0: int, y: torch.Tensor, lengths: torch.Tensor, reduce: str,
                label_smoothing: float = 0.0) -> torch.Tensor | None:
    """The window ``[t0, t0 + len(out))``'s share of the batch-mean loss (module docstring); ``None`` when no
    step of the window counts (it has then no gradient)."""
    check_window_loss(reduce, "the window's loss")
    steps, batch = int(out.shape[0]), int(out.shape[1])
    lengths = lengths.to(out.device).long()
    if reduce in ("last", *REGRESSION_LOSSES):
        last = lengths - 1
        rows = torch.nonzero((last >= t0) & (last < t0 + steps)).flatten()
        if rows.numel() == 0:
            return None
        pred = out[last[rows] - t0, rows]
        if reduce in REGRESSION_LOSSES:
            if pred.shape[1] != 1:
                raise ValueError(f"mse: expected a readout [T, B, 1], got {tuple(out.shape)}")
            return ((pred[:, 0] - y[rows].to(pred.dtype)) ** 2).sum() / batch
        return F.cross_entropy(pred, y[rows], label_smoothing=label_smoothing, reduction="sum") / batch
    # reductions over time: the window's own reduction, weighted by its share of each sample's valid steps
    mask = valid_mask(torch.clamp(lengths - t0, 0, steps).clamp(min=1), steps, batch, out.device)
    count = torch.clamp(lengths - t0, 0, steps)
    rows = torch.nonzero(count > 0).flatten()
    if rows.numel() == 0:
        return None
    m = mask[:, rows].to(out.dtype).unsqueeze(-1)
    o = out[:, rows]
    if reduce == "max":
        logits = o.masked_fill(m == 0, float("-inf")).amax(0)
    else:
        logits = (o * m).sum(0)
        if reduce == "mean":
            logits = logits / m.sum(0)
    ce = F.cross_entropy(logits, y[rows], label_smoothing=label_smoothing, reduction="none")
    share = count[rows].to(out.dtype) / lengths[rows].to(out.dtype)
    return (share * ce).sum() / batch

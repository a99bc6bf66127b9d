"""Training methods: one optimisation step on one batch.

A method is a function ``(model, batch, optimizer, objective) -> StepResult`` (``objective``: a
:class:`~spikeforge.learn.loop.Objective`); :data:`METHODS` maps the names ``spikeforge train --method`` and
:func:`spikeforge.learn.fit` accept to them. ``"bptt"``: backpropagation through time over the whole
sequence, with the neurons' surrogate gradients (the fused neuron scan's hand-written backward).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

import torch
from torch import nn

from spikeforge.learn.losses import classification_loss

if TYPE_CHECKING:
    from spikeforge.learn.loop import Objective

__all__ = ["METHODS", "StepResult", "bptt_step"]


class StepResult(NamedTuple):
    """``loss`` (the batch's mean loss, unweighted, a float) and ``logits`` ``[B, classes]`` (detached)."""

    loss: float
    logits: torch.Tensor


def bptt_step(model: nn.Module, batch, optimizer: torch.optim.Optimizer, objective: Objective) -> StepResult:
    """Forward the whole batch ``[T, B, C]``, cross-entropy on the reduced readout, backward of the loss times
    ``objective.loss_weight``, clip (``objective.grad_clip``), step."""
    out = model(batch.x)
    loss, logits = classification_loss(out, batch.y, batch.lengths, objective.loss, objective.label_smoothing)
    if not torch.isfinite(loss):
        lr = optimizer.param_groups[0].get("lr") if optimizer.param_groups else None
        raise FloatingPointError(
            f"loss: got {loss.item()} (not finite); lower the learning rate (lr={lr}) or set grad_clip"
        )
    optimizer.zero_grad(set_to_none=True)
    weight = getattr(objective, "loss_weight", 1.0)
    (loss if weight == 1.0 else loss * weight).backward()
    if objective.grad_clip is not None:
        nn.utils.clip_grad_norm_(model.parameters(), objective.grad_clip)
    optimizer.step()
    return StepResult(float(loss.detach()), logits.detach())


METHODS: dict[str, Callable[..., StepResult]] = {"bptt": bptt_step}

"""Training methods: one optimisation step on one batch.

A method is a function ``(model, batch, optimizer, config) -> StepResult``; :data:`METHODS` maps the names
``spikeforge train --method`` accepts to them. ``"bptt"``: backpropagation through time over the whole
sequence, with the neurons' surrogate gradients (the fused neuron scan's hand-written backward).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

import torch
from torch import nn

from spikeforge.learn.losses import classification_loss

if TYPE_CHECKING:
    from spikeforge.learn.config import TrainConfig

__all__ = ["METHODS", "StepResult", "bptt_step"]


class StepResult(NamedTuple):
    """``loss`` (the batch's mean loss, a float) and ``logits`` ``[B, classes]`` (detached)."""

    loss: float
    logits: torch.Tensor


def bptt_step(model: nn.Module, batch, optimizer: torch.optim.Optimizer, config: TrainConfig) -> StepResult:
    """Forward the whole batch ``[T, B, C]``, cross-entropy on the reduced readout, backward, step."""
    out = model(batch.x)
    loss, logits = classification_loss(out, batch.y, batch.lengths, config.loss, config.label_smoothing)
    if not torch.isfinite(loss):
        raise FloatingPointError(
            f"loss: got {loss.item()} (not finite); lower the learning rate (lr={config.lr:g}) or set grad_clip"
        )
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if config.grad_clip is not None:
        nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
    optimizer.step()
    return StepResult(float(loss.detach()), logits.detach())


METHODS: dict[str, Callable[..., StepResult]] = {"bptt": bptt_step}

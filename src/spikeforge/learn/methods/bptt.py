"""``bptt``: backpropagation through time over the whole sequence, with the neurons' surrogate gradients
(the fused neuron scan's hand-written backward). The method contract is in :mod:`spikeforge.learn.methods`.

The objective is the loss on the readout (``objective.loss``, :mod:`spikeforge.learn.losses`) plus, when
``objective.rate_reg > 0``, the firing-rate penalty ``P`` of :mod:`spikeforge.learn.losses`
(:func:`~spikeforge.learn.losses.rate_penalty` on the spikes of every spiking population of this forward
pass): ``J = loss + rate_reg · P``. The step reports ``loss`` (without the penalty).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from spikeforge.learn.losses import classification_loss, model_loss, rate_penalty, recording_spikes
from spikeforge.learn.methods import Method, StepResult

if TYPE_CHECKING:
    from spikeforge.learn.loop import Objective

__all__ = ["METHOD", "bptt_step"]

def bptt_step(model: nn.Module, batch, optimizer: torch.optim.Optimizer, objective: Objective) -> StepResult:
    """Forward the whole batch ``[T, B, C]``, the loss on the readout (plus the rate penalty when
    ``objective.rate_reg > 0``), backward of it times ``objective.loss_weight``, clip (``objective.grad_clip``),
    step."""
    reg = float(getattr(objective, "rate_reg", 0.0))
    if reg > 0:
        with recording_spikes(model) as rec:
            out = model(batch.x)
        loss, logits = classification_loss(out, batch.y, batch.lengths, objective.loss, objective.label_smoothing)
        total = loss + reg * rate_penalty(rec.spikes, batch.lengths, float(objective.rate_target))
    else:  # (a model's own sequence logits where it has them: losses.model_loss)
        loss, logits = model_loss(model, batch.x, batch.y, batch.lengths, objective.loss, objective.label_smoothing)
        total = loss
    if not torch.isfinite(loss):
        lr = optimizer.param_groups[0].get("lr") if optimizer.param_groups else None
        raise FloatingPointError(
            f"loss: got {loss.item()} (not finite); lower the learning rate (lr={lr}) or set grad_clip"
        )
    optimizer.zero_grad(set_to_none=True)
    weight = getattr(objective, "loss_weight", 1.0)
    (total if weight == 1.0 else total * weight).backward()
    if objective.grad_clip is not None:
        nn.utils.clip_grad_norm_(model.parameters(), objective.grad_clip)
    optimizer.step()
    return StepResult(float(loss.detach()), logits.detach())


METHOD = Method("bptt", bptt_step, "backpropagation through time over the whole sequence (surrogate gradients)",
                reference="Werbos 1990; surrogate gradients: Neftci, Mostafa & Zenke 2019")

r"""``tbptt``: truncated backpropagation through time (Williams & Peng 1990, in their notation
BPTT(k, k): backpropagate k steps, every k steps).

The batch ``x [T, B, C]`` is cut into windows of ``k`` steps, :math:`w = [t_0, t_0 + k)`. For each window in
turn: forward from the state the previous window ended in, *detached* (no gradient crosses a window
boundary), the window's loss :math:`\mathcal L_w` (:func:`~spikeforge.learn.methods._windows.window_loss`:
the objective's loss on the readout at the window's valid steps that count, shares that sum to the
whole-sequence loss for ``"last"`` and ``"mse"``), backward, and **one optimizer step per window**:

.. math:: g_w = \nabla_W \mathcal L_w\big(W;\ \mathrm{sg}(h_{t_0})\big), \qquad W \leftarrow \mathrm{opt}(W, g_w)

(:math:`\mathrm{sg}`: stop-gradient, :math:`h_{t_0}` the network's state entering the window). The next window
runs with the updated weights, from the carried state. A window none of whose steps count (for ``"last"``
with fixed lengths, every window but the last) only advances the state: no gradient, no optimizer step (an
Adam step on a zero gradient would still move the weights). With ``k >= T`` this is exactly BPTT.

Memory: the graph of one window, :math:`O(k)`, instead of :math:`O(T)`. Models: a
:class:`spikeforge.nets.Sequential` whose layers carry their state or act per step (the ``mlp``,
``recurrent``, ``adlif`` and ``delays`` families; ``tcn`` with ``norm="none"``); another model is refused
naming the layer. ``spikeforge train --tbptt K`` is ``--method tbptt --method-param k=K``.

The loss reported per batch is the sum of the windows' losses (for ``"last"`` / ``"mse"`` the
whole-sequence loss, at the weights each window saw); the logits, those of the concatenated (detached)
readout reduced as the objective says.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from spikeforge.learn.losses import classification_loss
from spikeforge.learn.methods import Method, StepResult
from spikeforge.learn.methods._windows import carried_model, check_window_loss, run_windows, window_loss

if TYPE_CHECKING:
    from spikeforge.learn.loop import Objective

__all__ = ["DEFAULT_K", "METHOD", "tbptt_step"]

DEFAULT_K = 50


def _check(params: dict[str, Any]) -> None:
    k = params["k"]
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k: expected an integer >= 1 (steps per window), got {k!r}")


def _finite(loss: torch.Tensor, optimizer: torch.optim.Optimizer) -> None:
    if not torch.isfinite(loss):
        lr = optimizer.param_groups[0].get("lr") if optimizer.param_groups else None
        raise FloatingPointError(
            f"loss: got {loss.item()} (not finite); lower the learning rate (lr={lr}) or set grad_clip")


def tbptt_step(model: nn.Module, batch, optimizer: torch.optim.Optimizer, objective: Objective) -> StepResult:
    """One batch of truncated BPTT (module docstring): an optimizer step per window that has a loss."""
    params = METHOD.params(objective.method_params)
    carried_model(model, "tbptt")
    check_window_loss(objective.loss, "tbptt")
    weight = getattr(objective, "loss_weight", 1.0)
    total, readout = 0.0, None
    for t0, t1, out, _state in run_windows(model, batch.x, params["k"]):
        if readout is None:  # one buffer for the whole batch: many small kept tensors fragment the heap
            readout = out.new_empty((batch.x.shape[0], *out.shape[1:]))
        readout[t0:t1] = out.detach()
        loss = window_loss(out, t0, batch.y, batch.lengths, objective.loss, objective.label_smoothing)
        if loss is None:
            continue
        _finite(loss, optimizer)
        optimizer.zero_grad(set_to_none=True)
        (loss if weight == 1.0 else loss * weight).backward()
        if objective.grad_clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), objective.grad_clip)
        optimizer.step()
        total += float(loss.detach())
    _, logits = classification_loss(readout, batch.y, batch.lengths, objective.loss,
                                    objective.label_smoothing)
    return StepResult(total, logits.detach())


METHOD = Method("tbptt", tbptt_step, "truncated BPTT: windows of k steps, the state carried (detached), an "
                "optimizer step per window", reference="Williams & Peng 1990",
                options=(("k", DEFAULT_K),), check=_check)

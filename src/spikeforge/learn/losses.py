"""Losses on a network's readout: reduce the readout potentials ``[T, B, classes]`` over time, then
cross-entropy.

Padded steps (``t >= lengths[b]``) never enter a reduction, so a sample's logits do not depend on the
length of the longest sample in its batch.

Reductions (``reduce=``):

* ``"last"`` -- the readout at the sample's last valid step (the leaky integrator has then seen the
  whole sample; default, the best on JapaneseVowels, see ``docs/training.md``);
* ``"mean"`` -- the mean over the valid steps;
* ``"max"`` -- the maximum over the valid steps;
* ``"sum"`` -- the sum over the valid steps.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

__all__ = ["LOSSES", "REDUCTIONS", "REGRESSION_LOSSES", "classification_loss", "readout_logits", "valid_mask"]

REDUCTIONS = ("last", "mean", "max", "sum")
#: Regression losses (targets ``y`` real, one readout unit): ``"mse"``, the squared error of the readout at
#: the sample's last valid step.
REGRESSION_LOSSES = ("mse",)
#: The names ``TrainConfig.loss`` / ``--loss`` accept.
LOSSES = REDUCTIONS + REGRESSION_LOSSES


def valid_mask(lengths: torch.Tensor | None, steps: int, batch: int, device: torch.device) -> torch.Tensor:
    """Float ``[T, B]``: 1 where ``t < lengths[b]`` (all ones when ``lengths`` is ``None``)."""
    if lengths is None:
        return torch.ones(steps, batch, device=device)
    lengths = torch.as_tensor(lengths, device=device)
    if lengths.shape != (batch,):
        raise ValueError(f"lengths: expected shape [B] = ({batch},), got {tuple(lengths.shape)}")
    if bool((lengths < 1).any()) or bool((lengths > steps).any()):
        raise ValueError(f"lengths: expected values in [1, T={steps}], got min {int(lengths.min())}, "
                         f"max {int(lengths.max())}")
    return (torch.arange(steps, device=device)[:, None] < lengths[None, :]).to(torch.float32)


def readout_logits(out: torch.Tensor, lengths: torch.Tensor | None = None, reduce: str = "last") -> torch.Tensor:
    """Reduce the readout ``out: [T, B, K]`` over its valid steps to logits ``[B, K]``."""
    if not isinstance(out, torch.Tensor) or out.dim() != 3:
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(f"out: expected the readout [T, B, classes], got {shape}")
    if reduce not in REDUCTIONS:
        raise ValueError(f"reduce: expected one of {REDUCTIONS}, got {reduce!r}")
    steps, batch, _ = out.shape
    if reduce == "last":
        if lengths is None:
            return out[-1]
        valid_mask(lengths, steps, batch, out.device)  # validates
        idx = torch.as_tensor(lengths, device=out.device).long() - 1
        return out[idx, torch.arange(batch, device=out.device)]
    mask = valid_mask(lengths, steps, batch, out.device).to(out.dtype).unsqueeze(-1)
    if reduce == "max":
        return out.masked_fill(mask == 0, float("-inf")).amax(0)
    total = (out * mask).sum(0)
    if reduce == "sum":
        return total
    return total / mask.sum(0)


def classification_loss(
    out: torch.Tensor,
    y: torch.Tensor,
    lengths: torch.Tensor | None = None,
    reduce: str = "last",
    label_smoothing: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-entropy of the reduced readout against labels ``y [B]``. Returns ``(loss, logits)``.

    ``reduce="mse"``: regression, ``y [B]`` real, the readout ``[T, B, 1]``; the loss is the mean of
    ``(out[last valid step] - y)²`` and ``logits`` the predictions ``[B, 1]``."""
    if reduce in REGRESSION_LOSSES:
        pred = readout_logits(out, lengths, "last")
        if pred.shape[1] != 1 or y.shape != (pred.shape[0],):
            raise ValueError(f"mse: expected a readout [T, B, 1] and targets [B], got readout {tuple(out.shape)} "
                             f"and targets {tuple(y.shape)}")
        return F.mse_loss(pred[:, 0], y.to(pred.dtype)), pred
    logits = readout_logits(out, lengths, reduce)
    if y.shape != (logits.shape[0],):
        raise ValueError(f"y: expected labels of shape [B] = ({logits.shape[0]},), got {tuple(y.shape)}")
    return F.cross_entropy(logits, y, label_smoothing=label_smoothing), logits

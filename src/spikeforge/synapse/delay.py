"""Axonal delay: ``y_t = x_{t-d}`` per feature (NIR ``Delay``)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from spikeforge._checks import check_features, per_neuron
from spikeforge.neuron.modules import check_sequence

__all__ = ["Delay"]


class Delay(nn.Module):
    """``y_t = x_{t-d}`` with an integer delay ``d ≥ 0`` in steps, per feature (NIR ``Delay``).

    The state is the last ``max(d)`` inputs (zeros at rest), so a long sequence may be streamed in chunks.
    """

    stateful = True

    def __init__(self, steps, shape: Sequence[int] | None = None) -> None:
        super().__init__()
        t = torch.as_tensor(steps)
        if t.is_floating_point():
            if not bool(torch.all(t == torch.round(t))):
                raise ValueError(f"steps: expected whole numbers of steps, got {steps!r}")
            t = t.round()
        t = per_neuron("steps", t.to(torch.int64), shape, dtype=torch.int64)
        if bool(torch.any(t < 0)):
            raise ValueError(f"steps: expected delays >= 0, got min {int(t.min())}")
        self.register_buffer("steps", t)

    @property
    def max_steps(self) -> int:
        return int(self.steps.max()) if self.steps.numel() else 0

    def forward(self, x: torch.Tensor, state: torch.Tensor | None = None, return_state: bool = False):
        check_sequence(x)
        check_features(x, tuple(self.steps.shape), "Delay")
        d = self.max_steps
        if state is None:
            state = x.new_zeros((d, *x.shape[1:]))
        elif tuple(state.shape) != (d, *x.shape[1:]):
            raise ValueError(f"state: expected the last {d} inputs, shape {(d, *x.shape[1:])}, got "
                             f"{tuple(state.shape)}")
        full = torch.cat([state, x], 0)
        steps = x.shape[0]
        out = torch.zeros_like(x)
        for k in torch.unique(self.steps).tolist():
            mask = self.steps == k
            out = torch.where(mask, full[d - k:d - k + steps], out)
        new_state = full[full.shape[0] - d:] if d else full[:0]
        return (out, new_state) if return_state else out

    def extra_repr(self) -> str:
        return f"shape={tuple(self.steps.shape)}, max_steps={self.max_steps}"

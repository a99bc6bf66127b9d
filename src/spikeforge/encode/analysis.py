"""Simple measures of a spike code: counts, rates, sparsity and spikes per bit of label information."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from spikeforge.encode._checks import as_float, check_ndim

__all__ = ["code_stats", "firing_rate", "spikes_per_bit", "spikes_per_sample"]

_EXPECTED = "time-major [T, B, ...] spikes"


def _spikes(spikes: Tensor, owner: str) -> Tensor:
    spikes = as_float(spikes, owner, _EXPECTED, name="spikes")
    check_ndim(spikes, owner, _EXPECTED, at_least=2)
    return spikes


def spikes_per_sample(spikes: Tensor) -> float:
    """Mean number of spikes per sample (summed over time and channels, averaged over the batch)."""
    spikes = _spikes(spikes, "spikes_per_sample")
    if spikes.shape[1] == 0:
        return 0.0
    return float(spikes.sum() / spikes.shape[1])


def firing_rate(spikes: Tensor) -> float:
    """Mean spikes per channel per step (the fraction of active slots for binary spikes)."""
    spikes = _spikes(spikes, "firing_rate")
    return float(spikes.mean()) if spikes.numel() else 0.0


def spikes_per_bit(spikes: Tensor, num_classes: int) -> float:
    """Mean spikes per sample divided by ``log2(num_classes)``, the bits a perfect label carries.

    A coarse cost of a code: how many spikes the input layer spends per bit that the task asks for.
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"spikes_per_bit: num_classes must be an int >= 2; got {num_classes!r}")
    return spikes_per_sample(spikes) / math.log2(num_classes)


def code_stats(spikes: Tensor) -> dict[str, float]:
    """A summary of ``[T, B, ...]`` spikes: steps, channels, spikes per sample, firing rate, silent share."""
    spikes = _spikes(spikes, "code_stats")
    flat = spikes.reshape(spikes.shape[0], spikes.shape[1], -1)
    silent = (flat.sum(dim=0) == 0).to(torch.float32)
    return {
        "steps": float(spikes.shape[0]),
        "channels": float(flat.shape[-1]),
        "spikes_per_sample": spikes_per_sample(spikes),
        "firing_rate": firing_rate(spikes),
        "silent_channel_fraction": float(silent.mean()) if silent.numel() else 0.0,
        "max_per_slot": float(spikes.max()) if spikes.numel() else 0.0,
    }

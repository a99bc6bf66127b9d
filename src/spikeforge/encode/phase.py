r"""Phase code with weighted spikes (Kim et al., 2018, "Deep neural networks with weighted spikes").

A value ``x`` in [0, 1] is quantised to ``K`` bits, ``q = min(floor(x·2^K), 2^K − 1)``, and sent most
significant bit first, one bit per step and repeating every ``K`` steps: step ``t`` has phase
``k = t mod K`` and carries a spike where bit ``k`` of ``q`` is 1 (``b_1 b_2 … b_K``, ``q/2^K = Σ_k b_k 2^{−k}``).
A spike at phase ``k`` weighs

.. math:: w(k) = 2^{−(k+1)}, \qquad x̂ = \frac{1}{P} \sum_{t < P·K} s_t\, w(t \bmod K)

over the ``P = ⌊T/K⌋`` complete periods. So ``x̂ = q/2^K`` and ``0 ≤ x − x̂ ≤ 2^{−K}``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from spikeforge.encode._base import StaticCode
from spikeforge.encode._checks import as_spikes, check_int, check_steps, unit_static

__all__ = ["Phase", "phase_decode", "phase_weights"]


def phase_weights(steps: int, bits: int, *, dtype: torch.dtype | None = None) -> Tensor:
    """The weight ``w(t mod K) = 2^{−(t mod K + 1)}`` of a spike at each step, ``[T]`` (multiply the
    spikes by it, broadcast over ``[T, B, ...]``, for the weighted spikes a network of Kim et al. sees)."""
    check_steps(steps, "phase_weights", minimum=1)
    check_int(bits, "phase_weights", "bits", minimum=1)
    phase = torch.arange(steps) % bits
    return torch.pow(2.0, -(phase + 1).to(torch.float64)).to(dtype or torch.get_default_dtype())


@dataclass(frozen=True)
class Phase(StaticCode):
    """Weighted-spike phase code (the equations in :mod:`spikeforge.encode.phase`).

    Input static ``[B, ...]`` in [0, 1] (clamped), output binary ``[T, B, ...]``, ``T = steps``.
    ``bits``: ``K``, the phases per period (``1 ≤ K ≤ steps``; steps after the last complete period repeat
    its first phases and are ignored by the decoder). :meth:`decode` gives ``x̂`` with
    ``0 ≤ x − x̂ ≤ 2^{−K}`` (:meth:`error_bound`).
    """

    steps: int = 24
    bits: int = 8

    def __post_init__(self) -> None:
        check_steps(self.steps, "Phase", minimum=1)
        check_int(self.bits, "Phase", "bits", minimum=1)
        if self.bits > self.steps:
            raise ValueError(f"Phase: bits must be at most steps={self.steps} (one complete period); got {self.bits}")
        if self.bits > 52:
            raise ValueError(f"Phase: bits must be at most 52 (float64 holds the quantised value); got {self.bits}")

    def error_bound(self, x: Tensor) -> Tensor:
        """``2^{−K}`` for each value: ``0 ≤ x − decode(encode(x)) ≤ 2^{−K}``."""
        return torch.full_like(unit_static(x, "Phase.error_bound"), 2.0 ** -self.bits)

    def __call__(self, x: Tensor, *, lengths: Tensor | None = None, generator: torch.Generator | None = None) -> Tensor:
        x = unit_static(x, "Phase")
        levels = 2 ** self.bits
        q = torch.floor(x.to(torch.float64) * levels).clamp(max=levels - 1).long()
        phase = torch.arange(self.steps, device=x.device) % self.bits
        shift = (self.bits - 1 - phase).reshape(-1, *([1] * x.dim()))
        return ((q.unsqueeze(0) >> shift) & 1).to(x.dtype)

    def decode(self, spikes: Tensor) -> Tensor:
        """``x̂``, the phase-weighted sum over the complete periods (:func:`phase_decode`)."""
        return phase_decode(spikes, bits=self.bits)


def phase_decode(spikes: Tensor, *, bits: int = 8) -> Tensor:
    """Invert :class:`Phase`: ``x̂ = (1/P) Σ_{t < P·K} s_t·2^{−(t mod K + 1)}``, ``P = ⌊T/K⌋`` complete periods.

    ``spikes [T, B, ...]`` (any non-negative values: a graded spike adds its value times the weight;
    missing spikes simply lower ``x̂``, extra ones raise it) -> ``[B, ...]``, clamped to [0, 1]; 0 without
    spikes. Fewer than ``K`` steps (a truncated read) decode the phases there are: the first ``T`` bits.
    """
    check_int(bits, "phase_decode", "bits", minimum=1)
    spikes = as_spikes(spikes, "phase_decode")
    periods = spikes.shape[0] // bits
    # Shorter than a period (a truncated read): the phases there are, a K' = T bit expansion (error 2^{-T}).
    used = spikes[: periods * bits] if periods else spikes
    periods = max(periods, 1)
    w = phase_weights(max(used.shape[0], 1), bits, dtype=torch.float64)[: used.shape[0]].to(spikes.device)
    total = torch.tensordot(w, used.to(torch.float64), dims=([0], [0]))
    return (total / periods).clamp(max=1.0).to(spikes.dtype)

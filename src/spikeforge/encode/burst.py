r"""Burst code: the value as the number of spikes in a burst and the interval between them.

After Park et al. (2019, "Fast and efficient information transmission with burst spikes in deep spiking
neural networks"), in the input form of Guo et al. (2021, "Neural coding in spiking neural networks: a
comparative study for robust neuromorphic systems"). A value ``x`` in [0, 1] sends

.. math:: n(x) = \lceil N·x \rceil \text{ spikes}, \qquad
          d(x) = \begin{cases} \lceil (d_{max} − d_{min})(1 − x) + d_{min} \rceil & n > 1 \\ d_{max} & n ≤ 1 \end{cases}

at steps ``0, d, 2d, …, (n − 1)·d`` of the window (one burst per window; ``x = 0`` sends none): more and
denser spikes for stronger inputs. Both carry information: ``n`` puts ``x`` in ``((n − 1)/N, n/N]`` and,
for ``n > 1``, ``d`` puts it in ``[1 − (d − d_{min})/A, 1 − (d − 1 − d_{min})/A)`` with ``A = d_{max} − d_{min}``.
The decoder returns the midpoint of the intersection of the two, so its error is at most half its width:
at most ``1/(2N)``, and at most ``1/(2A)`` where ``n > 1`` and ``A > 0``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from spikeforge.encode._base import StaticCode
from spikeforge.encode._checks import as_spikes, check_int, check_steps, nth_spike_times, unit_static

__all__ = ["Burst", "burst_decode"]


def _burst_check(steps: int, max_spikes: int, min_interval: int, max_interval: int | None, owner: str) -> int:
    check_steps(steps, owner, minimum=1)
    n = check_int(max_spikes, owner, "max_spikes", minimum=1)
    d_min = check_int(min_interval, owner, "min_interval", minimum=1)
    if max_interval is None:
        d_max = max((steps - 1) // max(n - 1, 1), 1)
    else:
        d_max = check_int(max_interval, owner, "max_interval", minimum=1)
    if d_max < d_min:
        raise ValueError(f"{owner}: max_interval must be at least min_interval={d_min}; got {d_max}")
    if (n - 1) * d_max > steps - 1:
        raise ValueError(
            f"{owner}: the longest burst, (max_spikes - 1) * max_interval = {(n - 1) * d_max} steps, must fit in "
            f"steps - 1 = {steps - 1}; lower max_spikes or max_interval, or raise steps"
        )
    return d_max


@dataclass(frozen=True)
class Burst(StaticCode):
    """Burst code (the equations in :mod:`spikeforge.encode.burst`).

    ``max_spikes``: ``N`` (default 5). ``min_interval``: ``d_min`` (default 1, the densest burst).
    ``max_interval``: ``d_max`` (default ``⌊(T − 1)/(N − 1)⌋``, the longest burst that fits the window).
    Input static ``[B, ...]`` in [0, 1] (clamped), output binary ``[T, B, ...]``, ``T = steps``.
    :meth:`decode`'s error is at most :meth:`error_bound`.
    """

    steps: int = 25
    max_spikes: int = 5
    min_interval: int = 1
    max_interval: int | None = None

    def __post_init__(self) -> None:
        _burst_check(self.steps, self.max_spikes, self.min_interval, self.max_interval, "Burst")

    @property
    def d_max(self) -> int:
        return _burst_check(self.steps, self.max_spikes, self.min_interval, self.max_interval, "Burst")

    def counts_intervals(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(n(x), d(x))`` of each input (floats, x's shape)."""
        x = unit_static(x, "Burst")
        n = torch.ceil(self.max_spikes * x)
        span = self.d_max - self.min_interval
        d = torch.ceil(span * (1.0 - x) + self.min_interval)
        return n, torch.where(n > 1, d, torch.full_like(d, float(self.d_max)))

    def __call__(self, x: Tensor, *, lengths: Tensor | None = None, generator: torch.Generator | None = None) -> Tensor:
        n, d = self.counts_intervals(x)
        steps = torch.arange(self.steps, dtype=n.dtype, device=n.device).reshape(-1, *([1] * n.dim()))
        k = steps / d.unsqueeze(0)
        on = (torch.remainder(steps, d.unsqueeze(0)) == 0) & (k < n.unsqueeze(0))
        return on.to(n.dtype)

    def decode(self, spikes: Tensor) -> Tensor:
        """``x̂`` from the count and the first interval (:func:`burst_decode`)."""
        return burst_decode(spikes, max_spikes=self.max_spikes, min_interval=self.min_interval,
                            max_interval=self.d_max)

    def error_bound(self, x: Tensor) -> Tensor:
        """The promised bound on ``|decode(encode(x)) − x|`` for each value: half the width of its cell."""
        lo, hi = _cell(*self.counts_intervals(x), self.max_spikes, self.min_interval, self.d_max)
        return (hi - lo) / 2


def _cell(n: Tensor, d: Tensor, max_spikes: int, d_min: int, d_max: int) -> tuple[Tensor, Tensor]:
    """The interval ``[lo, hi]`` of values that send ``n`` spikes ``d`` apart (the count cell alone where the
    two disagree, e.g. after dropped spikes)."""
    n = n.clamp(0, max_spikes)
    lo, hi = ((n - 1) / max_spikes).clamp(min=0.0), n / max_spikes
    span = d_max - d_min
    if span > 0:
        d_lo = 1.0 - (d - d_min) / span
        d_hi = 1.0 - (d - 1 - d_min) / span
        use = n > 1
        lo2, hi2 = torch.maximum(lo, d_lo), torch.minimum(hi, d_hi)
        use = use & (lo2 <= hi2)
        lo, hi = torch.where(use, lo2, lo), torch.where(use, hi2, hi)
    return lo, hi


def burst_decode(
    spikes: Tensor, *, max_spikes: int = 5, min_interval: int = 1, max_interval: int | None = None
) -> Tensor:
    """Invert :class:`Burst`: the midpoint of the values that send the same count ``n`` (the number of steps
    with a spike, capped at ``N``) and first interval ``d``.

    ``max_interval`` default as :class:`Burst` for ``T`` = the spikes' steps (given, any window length is
    read: a truncated burst decodes from the spikes it has). No spike decodes as 0; where
    count and interval disagree (dropped or moved spikes) the count cell ``((n − 1)/N, n/N]`` alone is used.
    ``[T, B, ...]`` -> ``[B, ...]``.
    """
    spikes = as_spikes(spikes, "burst_decode")
    if max_interval is None:
        d_max = _burst_check(max(spikes.shape[0], 1), max_spikes, min_interval, max_interval, "burst_decode")
    else:  # given: the window may be shorter than a burst (a truncated read), so no fit check
        check_int(max_spikes, "burst_decode", "max_spikes", minimum=1)
        d_min = check_int(min_interval, "burst_decode", "min_interval", minimum=1)
        d_max = check_int(max_interval, "burst_decode", "max_interval", minimum=d_min)
    n = (spikes > 0).to(spikes.dtype).sum(dim=0)
    first, second = nth_spike_times(spikes, 1), nth_spike_times(spikes, 2)
    d = torch.where(torch.isfinite(second), second - first, torch.full_like(second, math.nan))
    lo, hi = _cell(n, d, max_spikes, min_interval, d_max)
    return torch.where(n > 0, (lo + hi) / 2, torch.zeros_like(lo))

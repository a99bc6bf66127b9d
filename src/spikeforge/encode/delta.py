"""Delta (level-crossing) code for time series: up and down spikes when the signal moves by a threshold."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from spikeforge.encode._checks import as_float, check_lengths, check_ndim, thresholds_tuple, time_mask

__all__ = ["Delta", "MultiDelta", "delta_decode"]

_EXPECTED = "time-major [T, B, C] (time, batch, channels)"
# Crossings are counted with this tolerance (in units of the threshold) so that a change of exactly
# k thresholds, computed in floating point, gives k spikes.
_EPS = 1e-6


def _threshold_tensor(threshold: float | tuple[float, ...], channels: int, owner: str, like: Tensor) -> Tensor:
    if isinstance(threshold, tuple):
        if len(threshold) != channels:
            raise ValueError(
                f"{owner}: threshold has {len(threshold)} per-channel values but x has C={channels} channels"
            )
        return torch.tensor(threshold, dtype=like.dtype, device=like.device)
    return torch.full((channels,), float(threshold), dtype=like.dtype, device=like.device)


@dataclass(frozen=True)
class Delta:
    """Level-crossing (delta modulation) encoder with up and down channels.

    Input: a real time series, **time-major** ``[T, B, C]``; optional ``lengths`` ``[B]`` (valid steps
    per sample; later steps are padding and give no spikes). Output: float spikes ``[T, B, 2C]``, the
    C "up" channels first, then the C "down" channels (``out[..., c]`` is up for channel ``c``,
    ``out[..., C + c]`` is down).

    Each channel keeps a reference level ``r``: 0 with ``initial="zero"`` (default: the first steps then
    also code the absolute level, which matters for classification; suited to standardised inputs) or
    the input's first value with ``initial="first"`` (a pure change code). At each step,
    ``n = ±floor(|x_t - r| / threshold)`` crossings are due, ``k = clamp(n, -max_per_step, max_per_step)``
    of them are emitted (``|k|`` spikes on the up or down channel) and ``r`` moves by ``k * threshold``.

    With ``max_per_step=1`` (default) outputs are binary and fast changes are spread over the following
    steps (slope-limited delta modulation); with ``max_per_step=None`` every crossing is emitted at once
    as a graded count. Either way :func:`delta_decode` rebuilds ``r``, which stays within one threshold
    of the input whenever the input moves by at most ``max_per_step`` thresholds per step (for
    ``initial="zero"``, once the reference has caught up with the first value).

    ``threshold``: one positive number, or one per input channel (default 0.3, in the units of the
    input: 0.3 standard deviations for the standardised series the loaders give).
    """

    threshold: float | tuple[float, ...] = 0.3
    max_per_step: int | None = 1
    initial: Literal["first", "zero"] = "zero"

    @property
    def deterministic(self) -> bool:
        """True: the same input always gives the same output (loaders may cache it)."""
        return True

    @property
    def input_kind(self) -> str:
        """``"series"``: the input is a time-major series ``[T, B, C]``."""
        return "series"

    def __post_init__(self) -> None:
        object.__setattr__(self, "threshold", thresholds_tuple(self.threshold, "Delta"))
        m = self.max_per_step
        if m is not None and (isinstance(m, bool) or not isinstance(m, int) or m < 1):
            raise ValueError(f"Delta: max_per_step must be an int >= 1 or None; got {m!r}")
        if self.initial not in ("first", "zero"):
            raise ValueError(f"Delta: initial must be 'first' or 'zero'; got {self.initial!r}")

    def out_channels(self, channels: int) -> int:
        """Number of output channels for ``channels`` inputs (up and down: ``2 * channels``)."""
        return 2 * channels

    def __call__(self, x: Tensor, *, lengths: Tensor | None = None, generator: torch.Generator | None = None) -> Tensor:
        x = as_float(x, "Delta", _EXPECTED)
        check_ndim(x, "Delta", _EXPECTED, exact=3)
        steps, batch, channels = x.shape
        lengths = check_lengths(lengths, "Delta", steps, batch)
        thr = _threshold_tensor(self.threshold, channels, "Delta", x)
        out = x.new_zeros(steps, batch, 2 * channels)
        if steps == 0:
            return out
        mask = None if lengths is None else time_mask(lengths, steps, x.device).unsqueeze(-1)
        ref = x[0].clone() if self.initial == "first" else x.new_zeros(batch, channels)
        limit = float("inf") if self.max_per_step is None else float(self.max_per_step)
        for t in range(steps):
            d = (x[t] - ref) / thr
            n = torch.sign(d) * torch.floor(d.abs() + _EPS)
            k = n.clamp(-limit, limit)
            if mask is not None:
                k = k * mask[t]
            ref = ref + k * thr
            out[t, :, :channels] = k.clamp(min=0)
            out[t, :, channels:] = (-k).clamp(min=0)
        return out

    def decode(self, spikes: Tensor, initial: Tensor | None = None) -> Tensor:
        """Rebuild the tracked level ``[T, B, C]`` from this encoder's spikes (see :func:`delta_decode`)."""
        return delta_decode(spikes, self.threshold, initial=initial)


def delta_decode(
    spikes: Tensor, threshold: float | tuple[float, ...] | Tensor, initial: Tensor | None = None
) -> Tensor:
    """Invert :class:`Delta`: ``initial + threshold * cumsum(up - down)`` over time.

    ``spikes``: ``[T, B, 2C]`` (up channels, then down channels). ``initial``: the reference level at
    the start, ``[B, C]`` (the input's first value for ``Delta(initial="first")``; zeros, the default,
    for ``initial="zero"``). Returns ``[T, B, C]``.
    """
    expected = "time-major [T, B, 2C] (up channels, then down channels)"
    spikes = as_float(spikes, "delta_decode", expected, name="spikes")
    if spikes.dim() != 3 or spikes.shape[-1] % 2:
        raise ValueError(f"delta_decode: spikes must be {expected}; got shape {tuple(spikes.shape)}")
    channels = spikes.shape[-1] // 2
    thr = _threshold_tensor(thresholds_tuple(threshold, "delta_decode"), channels, "delta_decode", spikes)
    level = torch.cumsum(spikes[..., :channels] - spikes[..., channels:], dim=0) * thr
    if initial is not None:
        initial = as_float(initial, "delta_decode", "[B, C]", name="initial")
        if initial.shape != (spikes.shape[1], channels):
            raise ValueError(
                f"delta_decode: initial must have shape [B, C] = ({spikes.shape[1]}, {channels}); "
                f"got {tuple(initial.shape)}"
            )
        level = level + initial.to(level.dtype)
    return level


@dataclass(frozen=True)
class MultiDelta:
    """Level crossing at several thresholds at once: one :class:`Delta` per threshold, side by side.

    Input: a time-major series ``[T, B, C]`` (optional ``lengths``). Output ``[T, B, 2·K·C]`` for ``K``
    thresholds: the ``2C`` channels of ``Delta(thresholds[k])`` (up channels, then down) for ``k = 0, 1, …`` in
    turn, so ``out[..., 2Ck : 2C(k+1)]`` is the code at threshold ``k``. Small thresholds code fine detail
    (and noise), large ones the big moves; the network weighs them. ``max_per_step`` and ``initial`` as
    :class:`Delta`, for every threshold. Default ``(0.1, 0.3, 1.0)`` standard deviations of the
    standardised series the loaders give.
    """

    thresholds: tuple[float, ...] = (0.1, 0.3, 1.0)
    max_per_step: int | None = 1
    initial: Literal["first", "zero"] = "zero"

    def __post_init__(self) -> None:
        thr = thresholds_tuple(self.thresholds, "MultiDelta")
        object.__setattr__(self, "thresholds", thr if isinstance(thr, tuple) else (thr,))
        self.deltas()  # checks max_per_step and initial

    def deltas(self) -> tuple[Delta, ...]:
        """The :class:`Delta` of each threshold, in output order."""
        return tuple(Delta(t, max_per_step=self.max_per_step, initial=self.initial) for t in self.thresholds)

    @property
    def deterministic(self) -> bool:
        return True

    @property
    def input_kind(self) -> str:
        return "series"

    def out_channels(self, channels: int) -> int:
        """``2 · K · channels``."""
        return 2 * len(self.thresholds) * channels

    def __call__(self, x: Tensor, *, lengths: Tensor | None = None, generator: torch.Generator | None = None) -> Tensor:
        x = as_float(x, "MultiDelta", _EXPECTED)
        check_ndim(x, "MultiDelta", _EXPECTED, exact=3)
        return torch.cat([d(x, lengths=lengths) for d in self.deltas()], -1)

    def decode(self, spikes: Tensor, initial: Tensor | None = None, *, which: int | None = None) -> Tensor:
        """Rebuild the tracked level ``[T, B, C]`` from the spikes of one threshold (:func:`delta_decode`):
        ``which`` indexes :attr:`thresholds`; by default the smallest, the finest level (within that
        threshold of the input once it has caught up, as :class:`Delta` states)."""
        expected = f"time-major [T, B, 2·K·C] with K={len(self.thresholds)} thresholds"
        spikes = as_float(spikes, "MultiDelta.decode", expected, name="spikes")
        k = len(self.thresholds)
        if spikes.dim() != 3 or spikes.shape[-1] % (2 * k):
            raise ValueError(f"MultiDelta.decode: spikes must be {expected}; got shape {tuple(spikes.shape)}")
        if which is None:
            which = min(range(k), key=lambda i: self.thresholds[i])
        if isinstance(which, bool) or not isinstance(which, int) or not 0 <= which < k:
            raise ValueError(f"MultiDelta.decode: which must be an int in [0, {k}); got {which!r}")
        width = spikes.shape[-1] // k
        return delta_decode(spikes[..., which * width : (which + 1) * width], self.thresholds[which], initial=initial)

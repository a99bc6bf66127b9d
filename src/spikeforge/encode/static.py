"""Rate (Bernoulli), latency (time-to-first-spike) and direct-current encoders, and their decoders."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from spikeforge.encode._base import RandomCode, StaticCode, check_seed
from spikeforge.encode._checks import (
    as_float,
    check_finite,
    check_lengths,
    check_ndim,
    check_positive,
    check_steps,
    time_mask,
)

__all__ = ["Current", "Latency", "Rate", "first_spike_decode", "first_spike_times", "rate_decode"]

_STATIC = "[B, ...] (batch first, any feature shape)"
_SERIES = "time-major [T, B, ...]"


def _static_or_series(x: Tensor, steps: int | None, owner: str) -> Tensor:
    """Check ``x`` for an encoder that takes a static ``[B, ...]`` input (``steps`` set) or a time-major
    series ``[T, B, ...]`` (``steps=None``); returns it as a float tensor."""
    expected = _SERIES if steps is None else _STATIC
    x = as_float(x, owner, expected)
    check_ndim(x, owner, expected, at_least=2 if steps is None else 1)
    return x


def _mask_series(out: Tensor, lengths: Tensor | None, owner: str) -> Tensor:
    lengths = check_lengths(lengths, owner, out.shape[0], out.shape[1])
    if lengths is None:
        return out
    mask = time_mask(lengths, out.shape[0], out.device)
    return out * mask.reshape(mask.shape + (1,) * (out.dim() - 2)).to(out.dtype)


@dataclass(frozen=True)
class Rate(RandomCode):
    """Rate (Bernoulli / Poisson-like) code: at each step, spike with probability ``clamp(gain * x, 0, 1)``.

    With ``steps=T`` (default 25) the input is static ``[B, ...]`` (e.g. images scaled to [0, 1]) and
    the output is ``[T, B, ...]``. With ``steps=None`` the input is already a time-major series
    ``[T, B, ...]`` and each element is the spike probability at its step (``lengths`` masks padding).

    Randomness: the ``generator`` passed to the call if any, else a fresh ``torch.Generator`` seeded with
    ``seed`` (the same input then always gives the same spikes), else torch's global generator.
    """

    steps: int | None = 25
    gain: float = 1.0
    seed: int | None = None

    def __post_init__(self) -> None:
        check_steps(self.steps, "Rate", allow_none=True)
        object.__setattr__(self, "gain", check_positive(self.gain, "Rate", "gain"))
        check_seed(self.seed, "Rate")

    def __call__(self, x: Tensor, *, lengths: Tensor | None = None, generator: torch.Generator | None = None) -> Tensor:
        x = _static_or_series(x, self.steps, "Rate")
        p = (x * self.gain).clamp(0.0, 1.0)
        if self.steps is not None:
            p = p.unsqueeze(0).expand(self.steps, *p.shape)
        if generator is None and self.seed is not None:
            generator = torch.Generator(device=p.device).manual_seed(self.seed)
        out = torch.bernoulli(p.contiguous(), generator=generator)
        return _mask_series(out, lengths, "Rate") if self.steps is None else out

    def decode(self, spikes: Tensor) -> Tensor:
        """Estimate ``x`` as the firing rate divided by ``gain``."""
        return rate_decode(spikes) / self.gain

    def error_std(self, x: Tensor) -> Tensor:
        """The standard deviation of :meth:`decode` around ``x`` for a static code (``T = steps``): binomial,
        ``sqrt(p(1 − p)/T) / gain`` with ``p = clamp(gain·x, 0, 1)`` (unbiased where ``gain·x ≤ 1``)."""
        if self.steps is None:
            raise ValueError("Rate.error_std: needs steps (a static code); got steps=None")
        p = (as_float(x, "Rate.error_std", _STATIC) * self.gain).clamp(0.0, 1.0)
        return torch.sqrt(p * (1 - p) / self.steps) / self.gain


@dataclass(frozen=True)
class Latency(StaticCode):
    """Latency / time-to-first-spike code: each input spikes once, earlier for a stronger input.

    Input: static ``[B, ...]`` with values in [0, 1] (clamped); output ``[T, B, ...]`` with ``T = steps``.
    An input ``x >= threshold`` fires once at step ``t(x)``; weaker inputs never fire.

    * ``method="linear"``: ``t = round((1 - x) * (T - 1))`` — ``x = 1`` at step 0, ``x = 0`` at the end.
    * ``method="log"``: ``t = round((T - 1) * ln(x) / ln(threshold))`` — ``x = 1`` at step 0,
      ``x = threshold`` at the last step; resolution is finer for strong inputs (like an RC neuron's
      charging time).

    :func:`first_spike_decode` (or :meth:`decode`) inverts the mapping up to rounding.
    """

    steps: int = 25
    method: Literal["linear", "log"] = "linear"
    threshold: float = 0.01

    def __post_init__(self) -> None:
        check_steps(self.steps, "Latency", minimum=2)
        if self.method not in ("linear", "log"):
            raise ValueError(f"Latency: method must be 'linear' or 'log'; got {self.method!r}")
        thr = check_finite(self.threshold, "Latency", "threshold")
        if not 0.0 < thr < 1.0:
            raise ValueError(f"Latency: threshold must lie in (0, 1); got {self.threshold!r}")
        object.__setattr__(self, "threshold", thr)

    def times(self, x: Tensor) -> Tensor:
        """Spike step of each input (float tensor of x's shape); ``inf`` where the input never fires."""
        x = as_float(x, "Latency", _STATIC).clamp(0.0, 1.0)
        span = self.steps - 1
        if self.method == "linear":
            t = torch.round((1.0 - x) * span)
        else:
            t = torch.round(span * torch.log(x.clamp(min=self.threshold)) / math.log(self.threshold))
        return torch.where(x >= self.threshold, t, torch.full_like(t, math.inf))

    def __call__(self, x: Tensor, *, lengths: Tensor | None = None, generator: torch.Generator | None = None) -> Tensor:
        x = as_float(x, "Latency", _STATIC)
        check_ndim(x, "Latency", _STATIC, at_least=1)
        t = self.times(x)
        steps = torch.arange(self.steps, dtype=t.dtype, device=t.device).reshape(-1, *([1] * x.dim()))
        return (steps == t.unsqueeze(0)).to(x.dtype)

    def decode(self, spikes: Tensor) -> Tensor:
        """Estimate ``x`` from the first spike of each input (0 where there is none)."""
        return first_spike_decode(spikes, method=self.method, threshold=self.threshold)

    def error_bound(self, x: Tensor) -> Tensor:
        """The bound on ``|decode(encode(x)) − x|`` for each value (x in [0, 1], clamped): half a step of the
        rounding, ``1 / (2(T − 1))`` (linear) or ``x·(θ^{−1/(2(T − 1))} − 1)`` (log: half a step in
        ``ln x``, on the side where it is wider); ``x`` itself below ``threshold`` (no spike, decoded as 0)."""
        x = as_float(x, "Latency.error_bound", _STATIC).clamp(0.0, 1.0)
        span = self.steps - 1
        if self.method == "linear":
            bound = torch.full_like(x, 0.5 / span)
        else:
            bound = x * (self.threshold ** (-0.5 / span) - 1.0)
        return torch.where(x >= self.threshold, bound, x)


def first_spike_times(spikes: Tensor) -> Tensor:
    """Step of the first spike along time (dim 0) of ``[T, B, ...]``; ``inf`` where there is none."""
    spikes = as_float(spikes, "first_spike_times", _SERIES, name="spikes")
    check_ndim(spikes, "first_spike_times", _SERIES, at_least=1)
    fired = spikes > 0
    steps = torch.arange(spikes.shape[0], dtype=spikes.dtype, device=spikes.device)
    steps = steps.reshape(-1, *([1] * (spikes.dim() - 1))).expand_as(spikes)
    inf = torch.full_like(spikes, math.inf)
    if spikes.shape[0] == 0:
        return inf.new_full(spikes.shape[1:], math.inf)
    return torch.where(fired, steps, inf).amin(dim=0)


def first_spike_decode(
    spikes: Tensor, *, method: Literal["linear", "log"] = "linear", threshold: float = 0.01
) -> Tensor:
    """Invert :class:`Latency`: ``x = 1 - t / (T - 1)`` (linear) or ``threshold ** (t / (T - 1))`` (log).

    ``spikes``: ``[T, B, ...]``; returns ``[B, ...]``, 0 for inputs without a spike.
    """
    if method not in ("linear", "log"):
        raise ValueError(f"first_spike_decode: method must be 'linear' or 'log'; got {method!r}")
    t = first_spike_times(spikes)
    span = max(spikes.shape[0] - 1, 1)
    frac = t / span
    x = 1.0 - frac if method == "linear" else torch.pow(torch.as_tensor(threshold, dtype=t.dtype), frac)
    return torch.where(torch.isfinite(t), x, torch.zeros_like(t))


def rate_decode(spikes: Tensor, lengths: Tensor | None = None) -> Tensor:
    """Mean over time (dim 0) of ``[T, B, ...]`` spikes: the firing rate per step, ``[B, ...]``.

    With ``lengths`` ``[B]``, the mean is taken over each sample's valid steps only.
    """
    spikes = as_float(spikes, "rate_decode", _SERIES, name="spikes")
    check_ndim(spikes, "rate_decode", _SERIES, at_least=2)
    if lengths is None:
        return spikes.mean(dim=0)
    masked = _mask_series(spikes, lengths, "rate_decode")
    denom = torch.as_tensor(lengths, device=spikes.device).clamp(min=1).to(spikes.dtype)
    return masked.sum(dim=0) / denom.reshape(-1, *([1] * (spikes.dim() - 2)))


@dataclass(frozen=True)
class Current:
    """Direct current injection: the analogue value itself drives the first layer (non-spiking input).

    ``out = gain * x + bias``. With ``steps=None`` (default) the input is a time-major series
    ``[T, B, ...]`` passed through step by step (``lengths`` zeroes padding); with ``steps=T`` a static
    input ``[B, ...]`` is repeated at every step, ``[T, B, ...]``. The common non-spiking baseline.
    """

    steps: int | None = None
    gain: float = 1.0
    bias: float = 0.0

    def __post_init__(self) -> None:
        check_steps(self.steps, "Current", allow_none=True)
        object.__setattr__(self, "gain", check_finite(self.gain, "Current", "gain"))
        object.__setattr__(self, "bias", check_finite(self.bias, "Current", "bias"))

    @property
    def deterministic(self) -> bool:
        """True: the same input always gives the same output (loaders may cache it)."""
        return True

    @property
    def input_kind(self) -> str:
        return "series" if self.steps is None else "static"

    def out_channels(self, channels: int) -> int:
        return channels

    def __call__(self, x: Tensor, *, lengths: Tensor | None = None, generator: torch.Generator | None = None) -> Tensor:
        x = _static_or_series(x, self.steps, "Current")
        out = x * self.gain + self.bias
        if self.steps is not None:
            return out.unsqueeze(0).expand(self.steps, *out.shape).clone()
        return _mask_series(out, lengths, "Current")

    def decode(self, values: Tensor) -> Tensor:
        """Recover ``x`` from the injected current (the first step for a repeated static input)."""
        values = as_float(values, "Current.decode", _SERIES, name="values")
        if self.gain == 0:
            raise ValueError("Current.decode: gain is 0, the input cannot be recovered")
        x = (values - self.bias) / self.gain
        return x[0] if self.steps is not None else x

r"""Poisson rate code, RC time-to-first-spike and inter-spike-interval codes, and their decoders.

Each encoder takes values in [0, 1] (static ``[B, ...]``, clamped; :class:`Poisson` also a series) and
returns spikes ``[T, B, ...]`` with ``T = steps``; each decoder takes any non-negative spikes of that
shape (dropped or moved spikes included) and returns ``[B, ...]``. The error each round trip promises is
stated in its class docstring and checked in ``tests/encode/test_encode_temporal.py``.

* :class:`Poisson`: spike counts ``n_t ~ Poisson(g·x)`` per step (``binary=False``), or one spike where at
  least one event of that Poisson process falls in the step, ``P(s_t = 1) = 1 − e^{−g·x}`` (``binary=True``).
* :class:`TTFS`: the first threshold crossing of a leaky integrator charged by ``x`` (RC latency, Thorpe's
  intensity-to-latency and snnTorch's ``latency(linear=False)``): with ``λ = e^{−1/τ}``,
  ``v_t = λ·v_{t−1} + (1 − λ)·x`` from ``v_{−1} = 0``, so ``v_t = x·(1 − λ^{t+1})``; the spike is at the
  first step with ``v_t ≥ θ``,

  .. math:: t(x) = \big\lceil τ \ln\tfrac{x}{x − θ} \big\rceil − 1 \qquad (x > θ; \text{ never for } x ≤ θ).

* :class:`ISI`: the value as the interval between spikes, ``d(x) = round(d_max − x·(d_max − d_min))``
  (strong inputs fire closer together): two spikes at steps 0 and ``d`` (``periodic=False``) or a regular
  train at ``0, d, 2d, …`` (``periodic=True``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from spikeforge.encode._base import RandomCode, StaticCode, check_seed
from spikeforge.encode._checks import (
    as_float,
    as_spikes,
    check_int,
    check_lengths,
    check_ndim,
    check_positive,
    check_steps,
    nth_spike_times,
    time_mask,
    unit_static,
)

__all__ = ["ISI", "TTFS", "Poisson", "isi_decode", "poisson_decode", "ttfs_cells", "ttfs_decode"]


# ----------------------------------------------------------------------------------------------------
# Poisson
# ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Poisson(RandomCode):
    """Poisson rate code (the equations in :mod:`spikeforge.encode.temporal`).

    ``steps=T`` (default 25): static input ``[B, ...]`` in [0, 1] (clamped), output ``[T, B, ...]``;
    ``steps=None``: a time-major series ``[T, B, ...]`` of non-negative rates (clamped at 0; ``lengths``
    masks padding). ``gain``: events per step at ``x = 1``.

    * ``binary=False``: graded counts ``n_t ~ Poisson(g·x)``; :meth:`decode` ``x̂ = mean_t n_t / g`` is
      unbiased with standard deviation ``sqrt(x / (g·T))``.
    * ``binary=True``: binary spikes, ``P(s_t = 1) = p = 1 − e^{−g·x}``; :meth:`decode` inverts the rate,
      ``x̂ = −ln(1 − r̂) / g`` (``r̂`` the firing rate, capped at ``1 − 1/(2T)`` so that it stays finite),
      standard deviation ``sqrt((e^{g·x} − 1) / T) / g`` to first order in ``1/T`` (delta method).

    No spike decodes as 0. Randomness as :class:`~spikeforge.encode.Rate`: the call's ``generator``, else
    one seeded with ``seed``, else torch's global generator.
    """

    steps: int | None = 25
    gain: float = 1.0
    binary: bool = False
    seed: int | None = None

    def __post_init__(self) -> None:
        check_steps(self.steps, "Poisson", allow_none=True)
        object.__setattr__(self, "gain", check_positive(self.gain, "Poisson", "gain"))
        if not isinstance(self.binary, bool):
            raise ValueError(f"Poisson: binary must be True or False; got {self.binary!r}")
        check_seed(self.seed, "Poisson")

    def __call__(self, x: Tensor, *, lengths: Tensor | None = None, generator: torch.Generator | None = None) -> Tensor:
        if self.steps is None:
            x = as_float(x, "Poisson", "time-major [T, B, ...] of rates")
            check_ndim(x, "Poisson", "time-major [T, B, ...] of rates", at_least=2)
            x = x.clamp(min=0.0)
        else:
            x = unit_static(x, "Poisson")
        lam = x * self.gain
        if self.steps is not None:
            lam = lam.unsqueeze(0).expand(self.steps, *lam.shape)
        if generator is None and self.seed is not None:
            generator = torch.Generator(device=lam.device).manual_seed(self.seed)
        lam = lam.contiguous()
        if self.binary:
            out = torch.bernoulli(-torch.expm1(-lam), generator=generator)
        else:
            out = torch.poisson(lam, generator=generator)
        if self.steps is None and lengths is not None:
            lengths = check_lengths(lengths, "Poisson", out.shape[0], out.shape[1])
            mask = time_mask(lengths, out.shape[0], out.device)
            out = out * mask.reshape(mask.shape + (1,) * (out.dim() - 2)).to(out.dtype)
        return out

    def decode(self, spikes: Tensor) -> Tensor:
        """``x̂`` from the spikes (:func:`poisson_decode`)."""
        return poisson_decode(spikes, gain=self.gain, binary=self.binary)

    def error_std(self, x: Tensor) -> Tensor:
        """The promised standard deviation of :meth:`decode` around ``x`` (static codes, ``T = steps``)."""
        if self.steps is None:
            raise ValueError("Poisson.error_std: needs steps (a static code); got steps=None")
        x = unit_static(x, "Poisson.error_std")
        if self.binary:
            return torch.sqrt(torch.expm1(self.gain * x) / self.steps) / self.gain
        return torch.sqrt(x / (self.gain * self.steps))


def poisson_decode(spikes: Tensor, *, gain: float = 1.0, binary: bool = False) -> Tensor:
    """Invert :class:`Poisson`: ``mean_t s_t / gain`` (counts) or ``−ln(1 − r̂) / gain`` (``binary``, with
    ``r̂ = mean_t 1[s_t > 0]`` capped at ``1 − 1/(2T)``). ``spikes [T, B, ...]`` -> ``[B, ...]``; 0 without spikes."""
    gain = check_positive(gain, "poisson_decode", "gain")
    spikes = as_spikes(spikes, "poisson_decode")
    steps = spikes.shape[0]
    if steps == 0:
        return spikes.new_zeros(spikes.shape[1:])
    if not binary:
        return spikes.mean(dim=0) / gain
    rate = (spikes > 0).to(spikes.dtype).mean(dim=0).clamp(max=1.0 - 0.5 / steps)
    return -torch.log1p(-rate) / gain


# ----------------------------------------------------------------------------------------------------
# RC time to first spike
# ----------------------------------------------------------------------------------------------------


def _ttfs_check(steps: int, tau: float, threshold: float, owner: str) -> tuple[int, float, float]:
    check_steps(steps, owner, minimum=1)
    tau = check_positive(tau, owner, "tau")
    thr = check_positive(threshold, owner, "threshold")
    if not thr < 1.0:
        raise ValueError(f"{owner}: threshold must lie in (0, 1) (the input range is [0, 1]); got {threshold!r}")
    return steps, tau, thr


def ttfs_cells(steps: int, tau: float, threshold: float, *, cap: bool = True) -> Tensor:
    """The ``T + 1`` edges ``e_0 = 1 ≥ e_1 ≥ … ≥ e_T`` (float64) of the :class:`TTFS` code: a value fires at
    step ``t`` exactly when ``e_{t+1} ≤ x < e_t`` (``x ≤ 1`` for ``t = 0``), ``e_t = θ / (1 − λ^t)``
    (``λ = e^{−1/τ}``, capped at 1 unless ``cap=False``); values below ``e_T`` never fire."""
    steps, tau, thr = _ttfs_check(steps, tau, threshold, "ttfs_cells")
    t = torch.arange(1, steps + 1, dtype=torch.float64)
    edges = thr / -torch.expm1(-t / tau)
    if cap:
        edges = edges.clamp(max=1.0)
    return torch.cat([edges.new_ones(1), edges])


@dataclass(frozen=True)
class TTFS(StaticCode):
    """RC time-to-first-spike code (the equation in :mod:`spikeforge.encode.temporal`): one spike per input,
    at the step a leaky integrator with time constant ``tau`` (in steps) charged by ``x`` first reaches
    ``threshold``; ``x ≤ threshold`` (or too weak to get there within ``steps``) never fires.

    The code is compressive: strong inputs share the early steps (all ``x ≥ θ / (1 − e^{−1/τ})`` fire at
    step 0), weak ones near ``θ`` are resolved finely. Input static ``[B, ...]`` in [0, 1] (clamped), output
    ``[T, B, ...]``. It equals :class:`spikeforge.Neuron` ``(decay=e^{−1/τ}, threshold=θ)`` driven by the
    constant current ``(1 − e^{−1/τ})·x`` (checked in the tests).

    :meth:`decode` returns the midpoint of the step's cell ``[e_{t+1}, e_t)`` (:func:`ttfs_cells`), so the
    error is at most half the cell's width, ``(e_t − e_{t+1}) / 2``; no spike decodes as 0 (error at most
    ``e_T``, the weakest value that fires).
    """

    steps: int = 25
    tau: float = 5.0
    threshold: float = 0.1

    def __post_init__(self) -> None:
        _, tau, thr = _ttfs_check(self.steps, self.tau, self.threshold, "TTFS")
        object.__setattr__(self, "tau", tau)
        object.__setattr__(self, "threshold", thr)

    def times(self, x: Tensor) -> Tensor:
        """Spike step of each input (float, x's shape); ``inf`` where it never fires."""
        x = unit_static(x, "TTFS")
        edges = ttfs_cells(self.steps, self.tau, self.threshold, cap=False).to(device=x.device)
        # v_t >= θ  <=>  x >= e_{t+1}; the edges decrease, so the first such step is #{k >= 1 : x < e_k}.
        below = x.to(torch.float64).unsqueeze(-1) < edges[1:]
        t = below.sum(dim=-1).to(x.dtype)
        return torch.where(t >= self.steps, torch.full_like(t, math.inf), t)

    def __call__(self, x: Tensor, *, lengths: Tensor | None = None, generator: torch.Generator | None = None) -> Tensor:
        t = self.times(x)
        steps = torch.arange(self.steps, dtype=t.dtype, device=t.device).reshape(-1, *([1] * t.dim()))
        return (steps == t.unsqueeze(0)).to(t.dtype)

    def decode(self, spikes: Tensor) -> Tensor:
        """``x̂`` from the first spike (:func:`ttfs_decode`)."""
        return ttfs_decode(spikes, tau=self.tau, threshold=self.threshold)

    def error_bound(self, x: Tensor) -> Tensor:
        """The promised bound on ``|decode(encode(x)) − x|`` for each value."""
        x = unit_static(x, "TTFS.error_bound")
        edges = ttfs_cells(self.steps, self.tau, self.threshold).to(device=x.device)
        t = self.times(x)
        fired = torch.isfinite(t)
        k = torch.where(fired, t, torch.zeros_like(t)).long()
        half = ((edges[k] - edges[k + 1]) / 2).to(x.dtype)
        return torch.where(fired, half, torch.full_like(x, float(edges[-1])))


def ttfs_decode(spikes: Tensor, *, tau: float = 5.0, threshold: float = 0.1) -> Tensor:
    """Invert :class:`TTFS`: the midpoint of the cell ``[e_{t+1}, e_t)`` of the first spike's step ``t``
    (``T`` = the spikes' steps); 0 where there is no spike. ``[T, B, ...]`` -> ``[B, ...]``."""
    spikes = as_spikes(spikes, "ttfs_decode")
    steps = spikes.shape[0]
    if steps == 0:
        return spikes.new_zeros(spikes.shape[1:])
    edges = ttfs_cells(steps, tau, threshold).to(device=spikes.device)
    mids = ((edges[:-1] + edges[1:]) / 2).to(spikes.dtype)
    t = nth_spike_times(spikes, 1)
    fired = torch.isfinite(t)
    k = torch.where(fired, t, torch.zeros_like(t)).long()
    return torch.where(fired, mids[k], torch.zeros_like(t))


# ----------------------------------------------------------------------------------------------------
# Inter-spike interval
# ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ISI(StaticCode):
    """Inter-spike-interval code (the equation in :mod:`spikeforge.encode.temporal`).

    ``d(x) = round(d_max − x·(d_max − d_min))`` steps between spikes, ``d_min = min_interval`` (default 1),
    ``d_max = max_interval`` (default ``steps − 1``). ``periodic=False``: spikes at steps 0 and ``d`` only;
    ``periodic=True``: at ``0, d, 2d, … < T`` (a regular train of period ``d``). Input static ``[B, ...]`` in
    [0, 1] (clamped), output ``[T, B, ...]``.

    :meth:`decode` reads the interval between the first two spikes, ``x̂ = (d_max − d)/(d_max − d_min)``
    clamped to [0, 1]: error at most ``1 / (2·(d_max − d_min))``. Fewer than two spikes decode as 0.
    """

    steps: int = 25
    min_interval: int = 1
    max_interval: int | None = None
    periodic: bool = False

    def __post_init__(self) -> None:
        check_steps(self.steps, "ISI", minimum=3)
        d_min = check_int(self.min_interval, "ISI", "min_interval", minimum=1)
        if self.max_interval is not None:
            d_max = check_int(self.max_interval, "ISI", "max_interval", minimum=1)
            if not d_min < d_max <= self.steps - 1:
                raise ValueError(
                    f"ISI: need min_interval < max_interval <= steps - 1 = {self.steps - 1}; got "
                    f"min_interval={d_min}, max_interval={d_max}"
                )
        elif not d_min < self.steps - 1:
            raise ValueError(f"ISI: min_interval must be below steps - 1 = {self.steps - 1}; got {d_min}")
        if not isinstance(self.periodic, bool):
            raise ValueError(f"ISI: periodic must be True or False; got {self.periodic!r}")

    @property
    def d_max(self) -> int:
        return self.steps - 1 if self.max_interval is None else self.max_interval

    def intervals(self, x: Tensor) -> Tensor:
        """``d(x)`` of each input (float, x's shape)."""
        x = unit_static(x, "ISI")
        return torch.round(self.d_max - x * (self.d_max - self.min_interval))

    def __call__(self, x: Tensor, *, lengths: Tensor | None = None, generator: torch.Generator | None = None) -> Tensor:
        d = self.intervals(x)
        steps = torch.arange(self.steps, dtype=d.dtype, device=d.device).reshape(-1, *([1] * d.dim()))
        if self.periodic:
            return (torch.remainder(steps, d.unsqueeze(0)) == 0).to(d.dtype)
        return ((steps == 0) | (steps == d.unsqueeze(0))).to(d.dtype)

    def decode(self, spikes: Tensor) -> Tensor:
        """``x̂`` from the first interval (:func:`isi_decode`)."""
        return isi_decode(spikes, min_interval=self.min_interval, max_interval=self.d_max)

    def error_bound(self, x: Tensor) -> Tensor:
        """The promised bound on ``|decode(encode(x)) − x|`` for each value: ``1 / (2·(d_max − d_min))``."""
        x = unit_static(x, "ISI.error_bound")
        return torch.full_like(x, 0.5 / (self.d_max - self.min_interval))


def isi_decode(spikes: Tensor, *, min_interval: int = 1, max_interval: int | None = None) -> Tensor:
    """Invert :class:`ISI`: ``d`` = steps between the first two steps with a spike, ``x̂ = (d_max − d) /
    (d_max − d_min)`` clamped to [0, 1] (``d_max`` default ``T − 1``); 0 with fewer than two spikes."""
    spikes = as_spikes(spikes, "isi_decode")
    d_max = spikes.shape[0] - 1 if max_interval is None else max_interval
    check_int(min_interval, "isi_decode", "min_interval", minimum=1)
    if isinstance(d_max, bool) or not isinstance(d_max, int) or d_max <= min_interval:
        raise ValueError(f"isi_decode: max_interval must be an int above min_interval={min_interval}; got {d_max!r}")
    first, second = nth_spike_times(spikes, 1), nth_spike_times(spikes, 2)
    both = torch.isfinite(second)
    d = torch.where(both, second - first, torch.zeros_like(second))
    x = ((d_max - d) / (d_max - min_interval)).clamp(0.0, 1.0)
    return torch.where(both, x, torch.zeros_like(x))

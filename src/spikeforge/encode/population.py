r"""Population coding of a series by Gaussian receptive fields.

Each input channel is seen by ``K`` neurons whose tuning curves are Gaussians with centres
``μ_k = low + k·(high − low)/(K − 1)``, ``k = 0 … K−1``, spread evenly over the value range ``[low, high]``,
and a common width ``σ = width·(high − low)/(K − 1)`` (``width = 1``: neighbouring curves cross at
``exp(−1/8)`` of their peak, halfway between centres). Neuron ``k`` of channel ``c`` responds

.. math:: r_{c,k}(t) = \exp\!\Big(-\frac{(x_c(t) − μ_k)^2}{2σ^2}\Big) \in (0, 1]

as a current (``output="current"``), or spikes ``s = H(r − ½)`` -- the neurons whose centre lies within
``σ·\sqrt{2\ln 2}`` of the value (``output="spikes"``, deterministic). A value beyond the range excites the edge
neurons most (it is not clipped).

Decoding (:func:`population_decode`, :meth:`Population.decode`). Currents: the two strongest neighbouring
neurons ``k, k+1`` give the value exactly, since ``ln r_k − ln r_{k+1}`` is linear in ``x``,

.. math:: x̂ = \frac{μ_k + μ_{k+1}}{2} − \frac{σ^2\,(\ln r_k − \ln r_{k+1})}{Δ}, \qquad Δ = μ_{k+1} − μ_k

(error: float rounding). Spikes: the population vector, i.e. the centre of the active neurons, taken as
the midpoint of the values consistent with the first active centre ``μ_a`` and the last ``μ_b``:
``[max(μ_b − ρ, μ_a − Δ + ρ), min(μ_a + ρ, μ_b + Δ − ρ)]`` (``ρ = σ\sqrt{2\ln 2}``; the terms with
``μ_a − Δ``, ``μ_b + Δ`` are dropped at the edge neurons). Inside the range this equals
``(μ_a + μ_b)/2``, the mean of the active centres, and the error is at most half that interval's width,
never more than ``Δ/2`` unless every neuron is active.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from spikeforge.encode._checks import (
    as_float,
    as_spikes,
    check_finite,
    check_lengths,
    check_ndim,
    check_positive,
    check_steps,
    time_mask,
)

__all__ = ["Population", "population_decode"]

_EXPECTED = "time-major [T, B, C] (time, batch, channels)"
_STATIC = "[B, ..., C] (batch first, channels last)"
OUTPUTS = ("current", "spikes")


@dataclass(frozen=True)
class Population:
    """Gaussian receptive fields over the value range (the equations in :mod:`spikeforge.encode.population`).

    Input: a time-major series ``[T, B, C]``, optional ``lengths`` ``[B]`` (later steps give zeros). Output
    ``[T, B, K·C]``, channel-major: ``out[..., c·K + k]`` is neuron ``k`` of channel ``c``. With ``steps=T``
    the input is static, ``[B, ..., C]`` (``[B]``: one channel), and the responses ``[B, ..., K·C]`` are
    repeated at each of the ``T`` steps, ``[T, B, ..., K·C]`` (for values in [0, 1] set ``low=0, high=1``).

    ``neurons``: ``K >= 2``. ``low``, ``high``: the range of the centres, in the input's units (default
    ``±2``: two standard deviations of the standardised series the loaders give). ``width``: ``σ`` in units
    of the spacing of the centres. ``output``: ``"current"`` or ``"spikes"``.
    """

    neurons: int = 8
    low: float = -2.0
    high: float = 2.0
    width: float = 1.0
    output: Literal["current", "spikes"] = "current"
    steps: int | None = None

    def __post_init__(self) -> None:
        check_steps(self.steps, "Population", allow_none=True)
        k = self.neurons
        if isinstance(k, bool) or not isinstance(k, int) or k < 2:
            raise ValueError(f"Population: neurons must be an int >= 2; got {k!r}")
        low, high = check_finite(self.low, "Population", "low"), check_finite(self.high, "Population", "high")
        if not low < high:
            raise ValueError(f"Population: low must be below high; got low={low!r}, high={high!r}")
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)
        object.__setattr__(self, "width", check_positive(self.width, "Population", "width"))
        if self.output not in OUTPUTS:
            raise ValueError(f"Population: output must be one of {OUTPUTS}; got {self.output!r}")

    @property
    def deterministic(self) -> bool:
        return True

    @property
    def input_kind(self) -> str:
        """``"series"`` (``steps=None``) or ``"static"``."""
        return "series" if self.steps is None else "static"

    def out_channels(self, channels: int) -> int:
        """``neurons · channels``."""
        return self.neurons * channels

    @property
    def sigma(self) -> float:
        """The tuning curves' width ``σ`` in the input's units."""
        return self.width * (self.high - self.low) / (self.neurons - 1)

    def centres(self, like: Tensor | None = None) -> Tensor:
        """``μ_k``, ``[K]``."""
        kw = {} if like is None else {"dtype": like.dtype, "device": like.device}
        return torch.linspace(self.low, self.high, self.neurons, **kw)

    def responses(self, x: Tensor) -> Tensor:
        """``r`` (or the spikes ``H(r − ½)``) of each value, ``x``'s shape plus ``[K]``."""
        r = torch.exp(-((x.unsqueeze(-1) - self.centres(x)) ** 2) / (2 * self.sigma ** 2))
        return (r >= 0.5).to(x.dtype) if self.output == "spikes" else r

    def __call__(self, x: Tensor, *, lengths: Tensor | None = None, generator: torch.Generator | None = None) -> Tensor:
        if self.steps is not None:
            x = as_float(x, "Population", _STATIC)
            check_ndim(x, "Population", _STATIC, at_least=1)
            r = self.responses(x if x.dim() > 1 else x.unsqueeze(-1))
            r = r.reshape(*r.shape[:-2], r.shape[-2] * self.neurons)
            return r.unsqueeze(0).expand(self.steps, *r.shape).clone()
        x = as_float(x, "Population", _EXPECTED)
        check_ndim(x, "Population", _EXPECTED, exact=3)
        steps, batch, channels = x.shape
        lengths = check_lengths(lengths, "Population", steps, batch)
        out = self.responses(x).reshape(steps, batch, channels * self.neurons)
        if lengths is not None:
            out = out * time_mask(lengths, steps, x.device).unsqueeze(-1).to(out.dtype)
        return out

    def half_max_radius(self) -> float:
        """``σ·sqrt(2 ln 2)``: a neuron spikes (``output="spikes"``) when the value is this close to its centre."""
        return self.sigma * math.sqrt(2 * math.log(2))

    def error_bound(self, x: Tensor) -> Tensor:
        """The promised bound on ``|decode(encode(x)) − x|`` for each value of ``x`` (``[B, ..., C]``, any
        shape): ``1e-5·max(1, |x|)`` for currents (float32 rounding of the log-ratio, inside the range); for
        spikes half the width of the interval of values with the same active neurons (at most ``Δ/2``)."""
        x = as_float(x, "Population.error_bound", "a tensor of values")
        if self.output == "current":
            return 1e-5 * x.abs().clamp(min=1.0)
        lo, hi, _, _ = _spike_interval(self.responses(x), self)
        return ((hi - lo) / 2).clamp(min=0.0)

    def decode(self, spikes: Tensor) -> Tensor:
        """The values back from this encoder's output (:func:`population_decode`): ``[B, ..., C]`` for a
        static code (the responses averaged over time), ``[T, B, C]`` step by step for a series."""
        spikes = as_spikes(spikes, "Population.decode")
        if spikes.shape[-1] % self.neurons:
            raise ValueError(
                f"Population.decode: the last dim must be neurons * C = {self.neurons} * C; "
                f"got shape {tuple(spikes.shape)}"
            )
        r = spikes.reshape(*spikes.shape[:-1], spikes.shape[-1] // self.neurons, self.neurons)
        if self.steps is not None:
            r = r.mean(dim=0)  # a [B] input comes back as [B, 1]
        return population_decode(r, low=self.low, high=self.high, width=self.width, output=self.output)


def population_decode(
    responses: Tensor,
    *,
    low: float = -2.0,
    high: float = 2.0,
    width: float = 1.0,
    output: Literal["current", "spikes"] = "current",
) -> Tensor:
    """Invert :class:`Population` (the equations in :mod:`spikeforge.encode.population`).

    ``responses``: ``[..., K]``, the ``K`` neurons of each value (currents, or spike counts / rates for
    ``output="spikes"``: a neuron counts as active where its count is at least half the largest count of
    its value). Returns ``[...]``. Where nothing responds (no spike, or all currents 0) the value is the
    middle of the range, ``(low + high)/2``.
    """
    r = as_spikes(responses, "population_decode", at_least=1)
    k = r.shape[-1]
    if k < 2:
        raise ValueError(f"population_decode: responses must be [..., K], K >= 2 neurons; got shape {tuple(r.shape)}")
    enc = Population(neurons=k, low=low, high=high, width=width, output=output)  # checks the parameters
    mu = enc.centres(r)
    delta = (enc.high - enc.low) / (k - 1)
    mid = r.new_full(r.shape[:-1], (enc.low + enc.high) / 2)
    peak = r.amax(dim=-1)
    if output == "current":
        tiny = torch.finfo(r.dtype).tiny
        best = r.argmax(dim=-1, keepdim=True)
        left = r.gather(-1, (best - 1).clamp(min=0))
        right = r.gather(-1, (best + 1).clamp(max=k - 1))
        # Pair the peak with its stronger neighbour: the pair (j, j+1).
        j = torch.where(((right >= left) & (best < k - 1)) | (best == 0), best, best - 1)
        r_j, r_j1 = r.gather(-1, j).clamp(min=tiny), r.gather(-1, j + 1).clamp(min=tiny)
        x = (mu[j] + mu[j + 1]) / 2 - enc.sigma ** 2 * (torch.log(r_j) - torch.log(r_j1)) / delta
        return torch.where(peak > 0, x.squeeze(-1), mid)
    lo, hi, mu_a, mu_b = _spike_interval(r, enc)
    x = torch.where(lo <= hi, (lo + hi) / 2, (mu_a + mu_b) / 2)
    return torch.where(peak > 0, x, mid)


def _spike_interval(r: Tensor, enc: Population) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """``(lo, hi, μ_a, μ_b)``: the values consistent with the first and last active neuron of ``r [..., K]``."""
    k = r.shape[-1]
    mu = enc.centres(r)
    delta = (enc.high - enc.low) / (k - 1)
    peak = r.amax(dim=-1)
    active = (r >= 0.5 * peak.unsqueeze(-1)) & (r > 0)
    index = torch.arange(k, device=r.device)
    a = torch.where(active, index, k).amin(dim=-1)
    b = torch.where(active, index, -1).amax(dim=-1)
    a_c, b_c = a.clamp(0, k - 1), b.clamp(0, k - 1)
    mu_a, mu_b = mu[a_c], mu[b_c]
    rho = enc.half_max_radius()
    lo = torch.where(a_c > 0, torch.maximum(mu_b - rho, mu_a - delta + rho), mu_b - rho)
    hi = torch.where(b_c < k - 1, torch.minimum(mu_a + rho, mu_b + delta - rho), mu_a + rho)
    return lo, hi, mu_a, mu_b

r"""Population coding of a series by Gaussian receptive fields.

Each input channel is seen by ``K`` neurons whose tuning curves are Gaussians with centres
``μ_k = low + k·(high − low)/(K − 1)``, ``k = 0 … K−1``, spread evenly over the value range ``[low, high]``,
and a common width ``σ = width·(high − low)/(K − 1)`` (``width = 1``: neighbouring curves cross at
``exp(−1/8)`` of their peak, halfway between centres). Neuron ``k`` of channel ``c`` responds

.. math:: r_{c,k}(t) = \exp\!\Big(-\frac{(x_c(t) − μ_k)^2}{2σ^2}\Big) \in (0, 1]

as a current (``output="current"``), or spikes ``s = H(r − ½)`` -- the neurons whose centre lies within
``σ·\sqrt{2\ln 2}`` of the value (``output="spikes"``, deterministic). A value beyond the range excites the edge
neurons most (it is not clipped).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from spikeforge.encode._checks import as_float, check_finite, check_lengths, check_ndim, check_positive, time_mask

__all__ = ["Population"]

_EXPECTED = "time-major [T, B, C] (time, batch, channels)"
OUTPUTS = ("current", "spikes")


@dataclass(frozen=True)
class Population:
    """Gaussian receptive fields over the value range (the equations in :mod:`spikeforge.encode.population`).

    Input: a time-major series ``[T, B, C]``, optional ``lengths`` ``[B]`` (later steps give zeros). Output
    ``[T, B, K·C]``, channel-major: ``out[..., c·K + k]`` is neuron ``k`` of channel ``c``.

    ``neurons``: ``K >= 2``. ``low``, ``high``: the range of the centres, in the input's units (default
    ``±2``: two standard deviations of the standardised series the loaders give). ``width``: ``σ`` in units
    of the spacing of the centres. ``output``: ``"current"`` or ``"spikes"``.
    """

    neurons: int = 8
    low: float = -2.0
    high: float = 2.0
    width: float = 1.0
    output: Literal["current", "spikes"] = "current"

    def __post_init__(self) -> None:
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
        return "series"

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

    def __call__(self, x: Tensor, *, lengths: Tensor | None = None, generator: torch.Generator | None = None) -> Tensor:
        x = as_float(x, "Population", _EXPECTED)
        check_ndim(x, "Population", _EXPECTED, exact=3)
        steps, batch, channels = x.shape
        lengths = check_lengths(lengths, "Population", steps, batch)
        r = torch.exp(-((x.unsqueeze(-1) - self.centres(x)) ** 2) / (2 * self.sigma ** 2))
        if self.output == "spikes":
            r = (r >= 0.5).to(x.dtype)
        out = r.reshape(steps, batch, channels * self.neurons)
        if lengths is not None:
            out = out * time_mask(lengths, steps, x.device).unsqueeze(-1).to(out.dtype)
        return out

    def half_max_radius(self) -> float:
        """``σ·sqrt(2 ln 2)``: a neuron spikes (``output="spikes"``) when the value is this close to its centre."""
        return self.sigma * math.sqrt(2 * math.log(2))

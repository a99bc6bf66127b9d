r"""Firing models: threshold noise, which gives both the stochastic spike and the surrogate gradient.

A neuron with potential :math:`u = \mathrm{Re}(v^*)` and threshold :math:`\theta` fires when
:math:`u - \theta - \xi \ge 0`, where :math:`\xi` is threshold noise with centred CDF :math:`F` and
density :math:`f`. Hence

.. math:: p_\text{spike}(v^*) = P(\xi \le u - \theta) = F(u - \theta).

For graded spikes (``max_spikes = n_max > 1``) one draw of :math:`\xi` shifts the whole staircase of
thresholds :math:`k\theta`, :math:`k = 1..n_\max`:

.. math:: n = \sum_{k=1}^{n_\max} H(u - \xi - k\theta)
          \quad (= \mathrm{clamp}(\lfloor (u-\xi)/\theta \rfloor, 0, n_\max) \text{ in exact arithmetic;
          :func:`spike_count` evaluates the sum exactly in floating point}),
          \qquad E[n] = \sum_{k=1}^{n_\max} F(u - k\theta).

Forward pass: ``stochastic=False`` takes :math:`\xi = 0` (the Heaviside staircase); ``stochastic=True``
samples :math:`\xi` (escape noise). Backward pass, in both cases: the derivative of :math:`E[n]`,
:math:`\partial n/\partial u := \sum_k f(u - k\theta)` and
:math:`\partial n/\partial \theta := -\sum_k k\, f(u - k\theta)` -- the surrogate gradient *is* the density
of the noise. Gaussian noise gives the erf sigmoid, Cauchy the arctan, logistic the logistic sigmoid.

The models are immutable, picklable values; ``sigma`` is the noise scale in units of potential.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from spikeforge._checks import sum_to

__all__ = [
    "Cauchy",
    "FiringModel",
    "Gaussian",
    "Heaviside",
    "Logistic",
    "expected_count",
    "sample_noise",
    "spike_count",
    "surrogate_terms",
]


def _check_sigma(sigma: float, cls: str) -> float:
    if isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or not math.isfinite(sigma) or sigma <= 0:
        raise ValueError(f"{cls}(sigma=...) expects a positive finite float, got {sigma!r}")
    return float(sigma)


@dataclass(frozen=True)
class FiringModel:
    """Base class of threshold-noise distributions. Subclasses define ``cdf``, ``pdf`` and ``icdf``."""

    def cdf(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def pdf(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def icdf(self, q: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def is_noisy(self) -> bool:
        return True


@dataclass(frozen=True)
class Heaviside(FiringModel):
    r"""No noise: :math:`p_\text{spike} = H(u-\theta)`. Its density is a Dirac delta, so ``pdf`` is zero
    everywhere and no gradient flows through the spike: pick a noisy model to train with gradients."""

    def cdf(self, x: torch.Tensor) -> torch.Tensor:
        return (x >= 0).to(x.dtype)

    def pdf(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(x)

    def icdf(self, q: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(q)

    @property
    def is_noisy(self) -> bool:
        return False


@dataclass(frozen=True)
class Gaussian(FiringModel):
    r"""Gaussian threshold noise: :math:`F(x) = \tfrac12[1 + \mathrm{erf}(x/(\sigma\sqrt2))]`."""

    sigma: float = 0.5

    def __post_init__(self) -> None:
        object.__setattr__(self, "sigma", _check_sigma(self.sigma, "Gaussian"))

    def cdf(self, x: torch.Tensor) -> torch.Tensor:
        # erfc keeps the lower tail's relative precision (1 + erf cancels below about -5σ)
        return 0.5 * torch.erfc(x / (-self.sigma * math.sqrt(2.0)))

    def pdf(self, x: torch.Tensor) -> torch.Tensor:
        z = x / self.sigma
        return torch.exp(-0.5 * z * z) / (self.sigma * math.sqrt(2.0 * math.pi))

    def icdf(self, q: torch.Tensor) -> torch.Tensor:
        return self.sigma * math.sqrt(2.0) * torch.erfinv(2.0 * q - 1.0)


@dataclass(frozen=True)
class Cauchy(FiringModel):
    r"""Cauchy threshold noise: :math:`F(x) = \tfrac12 + \arctan(x/\sigma)/\pi` (the arctan surrogate)."""

    sigma: float = 0.5

    def __post_init__(self) -> None:
        object.__setattr__(self, "sigma", _check_sigma(self.sigma, "Cauchy"))

    def cdf(self, x: torch.Tensor) -> torch.Tensor:
        # = 1/2 + atan(x/σ)/π without the cancellation of the lower tail
        return torch.atan2(torch.ones_like(x), -x / self.sigma) / math.pi

    def pdf(self, x: torch.Tensor) -> torch.Tensor:
        return self.sigma / (math.pi * (x * x + self.sigma * self.sigma))

    def icdf(self, q: torch.Tensor) -> torch.Tensor:
        return self.sigma * torch.tan(math.pi * (q - 0.5))


@dataclass(frozen=True)
class Logistic(FiringModel):
    r"""Logistic threshold noise: :math:`F(x) = 1/(1 + e^{-x/\sigma})` (the sigmoid surrogate)."""

    sigma: float = 0.25

    def __post_init__(self) -> None:
        object.__setattr__(self, "sigma", _check_sigma(self.sigma, "Logistic"))

    def cdf(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(x / self.sigma)

    def pdf(self, x: torch.Tensor) -> torch.Tensor:
        # e^{-|z|}/(1 + e^{-|z|})² is symmetric and never forms 1 - p (which is 0 for z ≳ 17 in float32)
        e = torch.exp(-(x / self.sigma).abs())
        return e / ((1.0 + e) * (1.0 + e) * self.sigma)

    def icdf(self, q: torch.Tensor) -> torch.Tensor:
        return self.sigma * (torch.log(q) - torch.log1p(-q))


def sample_noise(
    firing: FiringModel, shape: tuple[int, ...], *, dtype: torch.dtype, device: torch.device | str,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Draw threshold noise ``xi`` by inverting the CDF of uniform draws (open interval (0, 1))."""
    q = torch.rand(shape, dtype=dtype, device=device, generator=generator)
    tiny = torch.finfo(dtype).tiny
    q = q.clamp(min=tiny, max=1.0 - torch.finfo(dtype).eps)
    return firing.icdf(q)


def spike_count(u: torch.Tensor, theta: torch.Tensor, noise: torch.Tensor | None, max_spikes: int) -> torch.Tensor:
    """Forward spike count: the staircase ``n = Σ_{k=1..n_max} H(x − k·θ)``, ``x = u − ξ``, ``H(0) = 1``.

    The one definition used by every backend, so that all of them emit identical spikes. It is evaluated
    exactly in floating point: ``floor(x/θ)`` is corrected by one step where the rounded quotient and the
    rounded products ``k·θ`` disagree at a step (``0.39·3 ≤ 1.17`` although ``1.17/0.39 < 3``).
    Non-finite potentials: ``x = +inf`` gives ``n_max``, ``x = −inf`` and NaN give 0.
    """
    x = u if noise is None else u - noise
    fires = x >= theta
    if max_spikes == 1:
        return fires.to(u.dtype)
    n = torch.floor(x / theta).clamp(0, max_spikes)
    up = (n < max_spikes) & (x >= (n + 1) * theta)
    down = (n > 0) & (x < n * theta)
    n = n + up.to(n.dtype) - down.to(n.dtype)
    return torch.where(fires, n, torch.zeros_like(n))


def surrogate_terms(
    firing: FiringModel, u: torch.Tensor, theta: torch.Tensor, max_spikes: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""Return ``(dn/du, -dn/dtheta, dh/du)`` of the expected staircase (see the module docstring).

    ``dh/du = f(u - theta)`` is the derivative of the first step, the spike *gate* used by resets.
    """
    f1 = firing.pdf(u - theta)
    if max_spikes == 1:
        return f1, f1, f1
    dn_du = f1.clone()
    k_dn = f1.clone()
    for k in range(2, max_spikes + 1):
        fk = firing.pdf(u - k * theta)
        dn_du = dn_du + fk
        k_dn = k_dn + k * fk
    return dn_du, k_dn, f1


class _ExpectedCount(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u, theta, firing, max_spikes):  # type: ignore[override]
        ctx.save_for_backward(u, theta)
        ctx.firing, ctx.max_spikes = firing, max_spikes
        out = torch.zeros_like(u + theta)
        for k in range(1, max_spikes + 1):
            out = out + firing.cdf(u - k * theta)
        return out

    @staticmethod
    def backward(ctx, g):  # type: ignore[override]
        u, theta = ctx.saved_tensors
        dn_du, k_dn, _ = surrogate_terms(ctx.firing, u, theta, ctx.max_spikes)
        gu = g * dn_du
        gt = -g * k_dn
        return sum_to(gu, u), sum_to(gt, theta), None, None


def expected_count(
    u: torch.Tensor, theta: torch.Tensor | float, firing: FiringModel, max_spikes: int = 1
) -> torch.Tensor:
    r""":math:`E[n] = \sum_{k=1}^{n_\max} F(u - k\theta)`, differentiable with the model's density as derivative.

    This is the smooth staircase of the seed (a soft ReLU for large ``n_max``); ``gradcheck`` against it
    verifies that ``pdf`` is the derivative of ``cdf``.
    """
    theta = torch.as_tensor(theta, dtype=u.dtype, device=u.device)
    return _ExpectedCount.apply(u, theta, firing, max_spikes)

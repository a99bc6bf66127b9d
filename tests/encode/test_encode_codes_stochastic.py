"""Random rate codes (Bernoulli ``Rate``, ``Poisson`` counts and its binary variant): the round-trip error
has the standard deviation each promises (``error_std``), no more and no less, over many random values."""

from __future__ import annotations

import math

import pytest
import torch

from spikeforge.encode import Poisson, Rate, poisson_decode


def _z_scores(enc, x: torch.Tensor, seed: int) -> torch.Tensor:
    s = enc(x, generator=torch.Generator().manual_seed(seed))
    std = enc.error_std(x)
    keep = std > 0
    return ((enc.decode(s) - x)[keep] / std[keep])


@pytest.mark.parametrize(
    "enc",
    [Rate(steps=400), Poisson(steps=400), Poisson(steps=400, gain=2.0), Poisson(steps=400, binary=True)],
    ids=["rate", "poisson", "poisson-gain2", "poisson-binary"],
)
def test_error_has_the_promised_standard_deviation(enc):
    g = torch.Generator().manual_seed(11)
    x = torch.rand(6000, generator=g, dtype=torch.float64) * 0.98 + 0.01
    z = _z_scores(enc, x, seed=5)
    # 6000 z-scores: the sample mean has s.e. 0.013, the sample std about 0.009 (plus the delta method's bias)
    assert abs(float(z.mean())) < 0.06
    assert 0.93 < float(z.std()) < 1.07
    # and the tail is Gaussian-like: 4 standard deviations are rare
    assert float((z.abs() > 4).double().mean()) < 2e-3


def test_poisson_counts_are_poisson():
    x = torch.full((20000,), 0.7, dtype=torch.float64)
    s = Poisson(steps=1, seed=3)(x)[0]
    # P(n = k) = e^{-0.7} 0.7^k / k!, each frequency within 5 binomial standard errors
    for k in range(4):
        p = math.exp(-0.7) * 0.7 ** k / math.factorial(k)
        assert abs(float((s == k).double().mean()) - p) < 5 * math.sqrt(p * (1 - p) / len(x))
    b = Poisson(steps=1, seed=3, binary=True)(x)[0]
    p1 = 1 - math.exp(-0.7)
    assert set(b.unique().tolist()) <= {0.0, 1.0}
    assert abs(float(b.mean()) - p1) < 5 * math.sqrt(p1 * (1 - p1) / len(x))


def test_poisson_seed_series_and_decoder_edges():
    x = torch.rand(3, 4)
    assert torch.equal(Poisson(steps=10, seed=1)(x), Poisson(steps=10, seed=1)(x))
    assert not Poisson().deterministic and Poisson(steps=None).input_kind == "series"
    rates = torch.full((6, 2, 3), 2.0)
    s = Poisson(steps=None, seed=0)(rates, lengths=torch.tensor([6, 2]))
    assert s.shape == (6, 2, 3) and s[2:, 1].sum() == 0 and s[:, 0].sum() > 0
    # all steps firing: capped, finite; none: 0
    full = poisson_decode(torch.ones(10, 2), binary=True)
    assert torch.allclose(full, torch.full((2,), -math.log(0.5 / 10)))
    assert torch.equal(poisson_decode(torch.zeros(10, 2), binary=True), torch.zeros(2))
    with pytest.raises(ValueError, match="negative values"):
        poisson_decode(-torch.ones(3, 2))
    with pytest.raises(ValueError, match="Poisson: gain must be a finite number > 0"):
        Poisson(gain=0)

"""Firing models: CDF/density pairs, sampling, surrogate gradients."""

import math
import pickle

import pytest
import torch

from spikeforge.neuron.firing import (
    Cauchy,
    Gaussian,
    Heaviside,
    Logistic,
    expected_count,
    sample_noise,
    spike_count,
    surrogate_terms,
)

NOISY = [Gaussian(0.4), Cauchy(0.3), Logistic(0.2)]


def test_closed_forms_of_the_seed():
    x = torch.linspace(-3, 3, 101, dtype=torch.float64)
    g = Gaussian(0.7)
    torch.testing.assert_close(g.cdf(x), 0.5 * (1 + torch.erf(x / (0.7 * math.sqrt(2)))))
    c = Cauchy(0.3)
    torch.testing.assert_close(c.cdf(x), 0.5 + torch.atan(x / 0.3) / math.pi)
    lo = Logistic(0.2)
    torch.testing.assert_close(lo.cdf(x), 1 / (1 + torch.exp(-x / 0.2)))
    torch.testing.assert_close(Heaviside().cdf(x), (x >= 0).double())


@pytest.mark.parametrize("model", NOISY, ids=lambda m: type(m).__name__)
def test_pdf_is_derivative_of_cdf(model):
    x = torch.linspace(-2, 2, 41, dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(model.cdf(x).sum(), x)
    torch.testing.assert_close(g, model.pdf(x.detach()), rtol=1e-10, atol=1e-12)
    # and it integrates to one (trapezoid over a wide range; Cauchy has heavy tails)
    grid = torch.linspace(-400, 400, 400001, dtype=torch.float64)
    assert abs(torch.trapezoid(model.pdf(grid), grid).item() - 1) < 2e-3


@pytest.mark.parametrize("model", NOISY, ids=lambda m: type(m).__name__)
def test_icdf_inverts_cdf(model):
    q = torch.linspace(0.01, 0.99, 99, dtype=torch.float64)
    torch.testing.assert_close(model.cdf(model.icdf(q)), q, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("model", [*NOISY, Heaviside()], ids=lambda m: type(m).__name__)
@pytest.mark.parametrize("max_spikes", [1, 3])
def test_gradcheck_expected_count(model, max_spikes):
    torch.manual_seed(0)
    # keep away from Heaviside's jumps, where a finite difference sees the Dirac delta
    u = (torch.rand(7, dtype=torch.float64) * 3 + 0.05).add_(0.013).requires_grad_()
    theta = torch.tensor(0.9, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: expected_count(a, b, model, max_spikes), (u, theta))


def test_spike_count_staircase():
    u = torch.tensor([-1.0, 0.0, 0.99, 1.0, 2.5, 3.0, 10.0])
    assert spike_count(u, torch.tensor(1.0), None, 1).tolist() == [0, 0, 0, 1, 1, 1, 1]
    assert spike_count(u, torch.tensor(1.0), None, 4).tolist() == [0, 0, 0, 1, 2, 3, 4]


def test_surrogate_terms_match_autograd_of_expectation():
    u = torch.linspace(-1, 5, 31, dtype=torch.float64, requires_grad=True)
    theta = torch.tensor(1.1, dtype=torch.float64, requires_grad=True)
    m = Gaussian(0.5)
    e = sum(m.cdf(u - k * theta) for k in range(1, 5))
    gu, gt = torch.autograd.grad(e.sum(), [u, theta])
    dn_du, k_dn, dh_du = surrogate_terms(m, u.detach(), theta.detach(), 4)
    torch.testing.assert_close(dn_du, gu)
    torch.testing.assert_close(-k_dn.sum(), gt)
    torch.testing.assert_close(dh_du, m.pdf(u.detach() - theta.detach()))


def test_models_are_immutable_and_picklable():
    for m in [*NOISY, Heaviside()]:
        assert pickle.loads(pickle.dumps(m)) == m
    with pytest.raises(AttributeError):
        Gaussian(0.3).sigma = 1.0  # type: ignore[misc]


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), "x", True])
def test_bad_sigma(bad):
    with pytest.raises(ValueError, match="sigma"):
        Gaussian(bad)


def test_sample_noise_is_seeded():
    a = sample_noise(Cauchy(0.3), (100,), dtype=torch.float64, device="cpu", generator=torch.Generator().manual_seed(3))
    b = sample_noise(Cauchy(0.3), (100,), dtype=torch.float64, device="cpu", generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and torch.isfinite(a).all()


def _scipy_law(model):
    stats = pytest.importorskip("scipy.stats")
    return {Gaussian: stats.norm, Cauchy: stats.cauchy, Logistic: stats.logistic}[type(model)](
        scale=model.sigma)


@pytest.mark.parametrize("model", [Gaussian(0.5), Gaussian(3.0), Cauchy(0.3), Cauchy(20.0),
                                   Logistic(0.25), Logistic(4.0)], ids=repr)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cdf_and_pdf_against_scipy_over_a_wide_range(model, dtype):
    # issue 10.5: Logistic(0.25).pdf gave 0 at x = 5 in float32 (true 8.2e-9) and lopsided tails
    import numpy as np

    law = _scipy_law(model)
    mag = np.concatenate([np.linspace(0, 50, 2001), np.logspace(-6, 6, 1201)])
    x = torch.tensor(np.concatenate([mag, -mag]), dtype=dtype)
    xd = x.double().numpy()  # the float32 inputs themselves, exactly
    tiny = torch.finfo(dtype).tiny
    for ours, theirs in ((model.cdf(x), law.cdf(xd)), (model.pdf(x), law.pdf(xd))):
        assert ours.dtype == dtype and not torch.isnan(ours).any()
        want = torch.from_numpy(theirs)
        # relative error where the true value is a normal number of this dtype; x/σ carries a rounding of
        # 1 ulp that exp and erfc magnify by about z² (Gaussian) or z (logistic) in the tails, not Cauchy's
        z = (x.double() / model.sigma).abs()
        eps = torch.finfo(dtype).eps
        growth = {Gaussian: 1 + z * z, Logistic: 1 + z, Cauchy: torch.ones_like(z)}[type(model)]
        rtol = 8 * eps * growth
        normal = want >= tiny * 1e3
        err = (ours.double() - want).abs()
        assert bool(torch.all(err[normal] <= rtol[normal] * want[normal])), float((err / want)[normal].max())
        assert bool(torch.all(err[~normal] <= tiny * 1e3))
    pdf = model.pdf(x)
    torch.testing.assert_close(pdf[: len(mag)], pdf[len(mag):], rtol=0, atol=0)  # symmetric, bit for bit


def test_logistic_pdf_float32_tail():
    got = Logistic(0.25).pdf(torch.tensor([4.0, 5.0, -5.0]))
    torch.testing.assert_close(got, torch.tensor([4.5014e-7, 8.2446e-9, 8.2446e-9]), rtol=1e-4, atol=0)

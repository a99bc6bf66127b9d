"""Closed forms that pin the neuron's physics (see spikeforge.neuron.dynamics)."""

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import spikeforge as sf
from spikeforge.neuron.dynamics import reference_scan
from spikeforge.neuron.firing import expected_count

BACKENDS = ["reference", "torch"]


def stream(neuron, x):
    """Feed ``x`` one step at a time; return the potential after every step."""
    state, vs = None, []
    for t in range(x.shape[0]):
        _, state = neuron(x[t : t + 1], state, return_state=True)
        vs.append(state.v)
    return torch.stack(vs)


@pytest.mark.parametrize("backend", BACKENDS)
def test_lif_impulse_response(backend):
    tau, T = 7.0, 30
    n = sf.LIF(tau=tau, reset="none", backend=backend).double()
    x = torch.zeros(T, 1, 1, dtype=torch.float64)
    x[0] = 0.5  # below threshold: no spike
    lam = math.exp(-1 / tau)
    expected = 0.5 * lam ** torch.arange(T, dtype=torch.float64)
    torch.testing.assert_close(stream(n, x).flatten(), expected, rtol=1e-12, atol=1e-15)
    assert n(x).sum() == 0


@pytest.mark.parametrize("backend", BACKENDS)
@given(num=st.integers(1, 63), steps=st.integers(1, 200))
def test_if_constant_input_soft_reset_count(backend, num, steps):
    c = num / 64  # exactly representable, c < θ = 1
    n = sf.IF(reset="soft", backend=backend).double()
    s = n(torch.full((steps, 1, 1), c, dtype=torch.float64))
    assert int(s.sum()) == math.floor(steps * c)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("max_spikes", [1, 3])
def test_charge_conservation(backend, max_spikes):
    torch.manual_seed(1)
    theta = 0.7
    n = sf.IF(threshold=theta, reset="soft", max_spikes=max_spikes, backend=backend).double()
    x = torch.rand(200, 4, 6, dtype=torch.float64) * 0.9
    s, state = n(x, return_state=True)
    theta = n.threshold.item()  # the float32 parameter's value, widened by .double()
    torch.testing.assert_close(theta * s.sum(0) + state.v, x.sum(0), rtol=1e-12, atol=1e-10)


@pytest.mark.parametrize("backend", BACKENDS)
def test_resonate_and_fire_subthreshold_impulse(backend):
    tau, omega, dt, T = 12.0, 0.7, 0.5, 40
    n = sf.ResonateAndFire(tau=tau, omega=omega, dt=dt, backend=backend, dtype=torch.float64)
    x = torch.zeros(T, 1, 1, dtype=torch.float64)
    x[0] = 0.3
    t = torch.arange(T, dtype=torch.float64)
    expected = 0.3 * torch.exp(-t * dt / tau) * torch.exp(1j * omega * t * dt)
    torch.testing.assert_close(stream(n, x).flatten(), expected.to(torch.complex128), rtol=1e-12, atol=1e-15)


def test_resonate_and_fire_spike_carries_phase():
    n = sf.ResonateAndFire(decay=None, tau=5.0, omega=0.3, threshold=0.5).double()
    x = torch.zeros(10, 1, 1, dtype=torch.complex128)
    x[0] = 0.9 * torch.exp(torch.tensor(0.2j, dtype=torch.complex128))
    s = n(x)
    k = int(torch.nonzero(s.abs().flatten())[0])
    assert k == 0
    assert abs(s.flatten()[0].abs().item() - 1) < 1e-12
    assert abs(torch.angle(s.flatten()[0]).item() - 0.2) < 1e-12


@pytest.mark.parametrize("model", [sf.Gaussian(0.4), sf.Cauchy(0.3), sf.Logistic(0.25)], ids=lambda m: type(m).__name__)
@pytest.mark.parametrize("u", [0.7, 1.0, 1.3])
def test_stochastic_rate_matches_cdf(model, u):
    draws = 100_000
    n = sf.Neuron(decay=0.0, firing=model, stochastic=True, reset="none").double()
    x = torch.full((1, draws, 1), u, dtype=torch.float64)
    s = n(x, generator=torch.Generator().manual_seed(7))
    p = float(model.cdf(torch.tensor(u - 1.0, dtype=torch.float64)))
    se = math.sqrt(p * (1 - p) / draws)
    assert abs(s.mean().item() - p) < 4 * se


@pytest.mark.parametrize("model", [sf.Gaussian(0.5), sf.Logistic(0.3)], ids=lambda m: type(m).__name__)
def test_graded_mean_count_matches_expectation(model):
    draws, K = 100_000, 4
    for u in (1.5, 2.6):
        n = sf.Neuron(decay=0.0, firing=model, stochastic=True, reset="none", max_spikes=K).double()
        s = n(torch.full((1, draws, 1), u, dtype=torch.float64), generator=torch.Generator().manual_seed(11))
        e = float(expected_count(torch.tensor(u, dtype=torch.float64), 1.0, model, K))
        sd = s.std().item()
        assert abs(s.mean().item() - e) < 4 * sd / math.sqrt(draws)


def test_graded_deterministic_is_floor():
    n = sf.Neuron(decay=0.0, max_spikes=5, reset="none")
    u = torch.tensor([-1.0, 0.5, 1.0, 2.7, 4.0, 9.0]).reshape(1, 1, -1)
    assert n(u).flatten().tolist() == [0, 0, 1, 2, 4, 5]


@pytest.mark.parametrize("backend", BACKENDS)
def test_hard_and_refractory_reset(backend):
    x = torch.tensor([1.2, 0.5, 0.5, 0.5, 1.5, 0.0]).reshape(-1, 1, 1).double()
    hard = sf.IF(reset="hard", v_reset=0.0, backend=backend).double()
    assert hard(x).flatten().tolist() == [1, 0, 1, 0, 1, 0]
    refr = sf.IF(reset="refractory", refractory_steps=2, v_refractory=-0.25, backend=backend).double()
    s, st_ = refr(x, return_state=True)
    # spike at 0, inputs at 1 and 2 ignored: v stays -0.25; then 0.25, then 1.75 -> spike, then refractory
    assert s.flatten().tolist() == [1, 0, 0, 0, 1, 0]
    assert st_.v.item() == -0.25 and st_.ref.item() == 1


def test_fire_first_delays_by_one_step():
    torch.manual_seed(0)
    x = torch.rand(50, 3, 4, dtype=torch.float64)
    a = sf.LIF(order="integrate-fire-reset").double()(x)
    b = sf.LIF(order="fire-first").double()(x)
    torch.testing.assert_close(b[1:], a[:-1])
    assert b[0].sum() == 0


def test_integrate_reset_fire_is_snntorch_leaky_convention():
    # v_t = β v_{t-1} + I_t − θ s_{t-1};  s_t = H(v_t − θ)
    torch.manual_seed(0)
    beta, theta = 0.9, 1.0
    x = torch.rand(60, 2, 5, dtype=torch.float64)
    s = sf.Neuron(decay=beta, order="integrate-reset-fire").double()(x)
    v = torch.zeros(2, 5, dtype=torch.float64)
    sp = torch.zeros_like(v)
    out = []
    for t in range(60):
        v = beta * v + x[t] - theta * sp
        sp = (v >= theta).double()
        out.append(sp)
    torch.testing.assert_close(s, torch.stack(out))


def test_random_order_is_seeded_and_mixes_orders():
    torch.manual_seed(0)
    x = torch.rand(80, 2, 8, dtype=torch.float64)
    n = sf.LIF(order="random").double()
    a = n(x, generator=torch.Generator().manual_seed(5))
    b = n(x, generator=torch.Generator().manual_seed(5))
    c = n(x, generator=torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_module_equals_pure_function():
    torch.manual_seed(3)
    n = sf.CuBaLIF(firing=sf.Cauchy(0.3)).double()
    x = torch.rand(30, 2, 7, dtype=torch.float64) * 2
    state = n.initial_state(x)
    s_ref, st_ref = reference_scan(x, state, n.params(torch.float64, x.device), n.spec)
    s, st_ = n(x, return_state=True)
    torch.testing.assert_close(s, s_ref)
    torch.testing.assert_close(st_.v, st_ref.v)
    torch.testing.assert_close(st_.i, st_ref.i)


def test_adaptive_threshold_reduces_rate():
    x = torch.full((300, 1, 1), 0.3, dtype=torch.float64)
    plain = sf.LIF(tau=20.0).double()(x).sum()
    adaptive = sf.AdaptiveLIF(tau=20.0, adapt_scale=0.5).double()(x).sum()
    assert 0 < adaptive < plain

"""The SE-adLIF neuron (Baronig et al. 2025) as a declared model: its step against a naive loop of the paper's
equations written here, the clamp to the paper's ranges (straight-through gradient), the plug-in catalog, and
the recurrent population (spikeforge.synapse.Recurrent) of a declared model against a hand loop."""

import math

import pytest
import torch

import spikeforge as sf
from spikeforge.neuron.catalog import neuron_classes
from spikeforge.neuron.models.adlif import ADLIF, RANGES, AdLIF, AdLIFState
from spikeforge.synapse import Recurrent, RecurrentModelState


def naive(x, tau_u, tau_w, a, b, q=120.0, theta=1.0, dt=1.0):
    """The paper's SE-adLIF recursion, one neuron and one step at a time, in plain Python floats."""
    steps, batch, n = x.shape
    out = torch.zeros_like(x)
    for bi in range(batch):
        for j in range(n):
            al = math.exp(-dt / min(max(tau_u[j], 5.0), 25.0))
            be = math.exp(-dt / min(max(tau_w[j], 60.0), 300.0))
            aj, bj = min(max(a[j], 0.0), 1.0), min(max(b[j], 0.0), 2.0)
            u = w = 0.0
            for t in range(steps):
                u = al * u + (1 - al) * (float(x[t, bi, j]) - w)
                s = 1.0 if u >= theta else 0.0
                u = u * (1 - s)
                w = be * w + (1 - be) * q * (aj * u + bj * s)
                out[t, bi, j] = s
    return out


def test_the_step_is_the_papers_recursion():
    torch.manual_seed(0)
    # values inside and outside the ranges (the latter are used clamped)
    tau_u, tau_w = [3.0, 10.0, 25.0, 40.0], [50.0, 80.0, 200.0, 400.0]
    a, b = [-0.5, 0.2, 0.9, 1.5], [0.0, 0.5, 1.8, 3.0]
    n = AdLIF(tau_u=torch.tensor(tau_u), tau_w=torch.tensor(tau_w), a=torch.tensor(a), b=torch.tensor(b),
              dtype=torch.float64)
    x = torch.rand(80, 3, 4, dtype=torch.float64) * 6.0
    spikes = n(x)
    assert 0 < int(spikes.sum()) < spikes.numel()
    torch.testing.assert_close(spikes, naive(x, tau_u, tau_w, a, b), rtol=0, atol=0)
    # a loop of steps is the scan
    state, steps = None, []
    for t in range(x.shape[0]):
        s, state = n.step(x[t], state)
        steps.append(s)
    torch.testing.assert_close(torch.stack(steps), spikes, rtol=0, atol=0)
    assert isinstance(state, AdLIFState)


def test_adaptation_uses_the_new_potential_and_the_spike():
    # one step from rest by hand: u* = (1-α) I, reset if u* >= θ, then w = (1-β) q (a u + b s)
    n = AdLIF(tau_u=10.0, tau_w=100.0, a=0.5, b=1.5, q=2.0, dtype=torch.float64)
    al, be = math.exp(-0.1), math.exp(-0.01)
    for current, spike in ((1.0, 0.0), (30.0, 1.0)):
        s, st = n.step(torch.tensor([[current]], dtype=torch.float64))
        u = (1 - al) * current * (1 - spike)
        assert float(s) == spike and float(st.u) == pytest.approx(u)
        assert float(st.w) == pytest.approx((1 - be) * 2.0 * (0.5 * u + 1.5 * spike))


def test_ranges_clamp_forward_and_pass_the_gradient_straight_through():
    x = torch.rand(30, 2, 3, dtype=torch.float64) * 4
    inside = AdLIF(tau_u=25.0, shape=3, learnable=("tau_u",), firing=sf.Gaussian(0.5), dtype=torch.float64)
    beyond = AdLIF(tau_u=60.0, shape=3, learnable=("tau_u",), firing=sf.Gaussian(0.5), dtype=torch.float64)
    ya, yb = inside(x), beyond(x)
    torch.testing.assert_close(ya, yb, rtol=0, atol=0)
    (ga,) = torch.autograd.grad(ya.sum(), inside.tau_u)
    (gb,) = torch.autograd.grad(yb.sum(), beyond.tau_u)
    torch.testing.assert_close(ga, gb)
    assert ga.abs().sum() > 0
    assert dict(RANGES) == {"tau_u": (5.0, 25.0), "tau_w": (60.0, 300.0), "a": (0.0, 1.0), "b": (0.0, 2.0)}


def test_it_is_a_neuron_choice_with_the_papers_defaults():
    assert neuron_classes()["AdLIF"] is AdLIF
    n = AdLIF()
    assert n.dt == 1.0 and n.model is ADLIF and "adaptive" in n.features and n.neuron_type == "AdLIF"
    assert {p.name for p in ADLIF.params if p.learnable} == {"tau_u", "tau_w", "a", "b"}


def test_a_recurrent_population_of_a_declared_model_is_the_hand_loop():
    torch.manual_seed(0)
    n = AdLIF(shape=5, tau_u=torch.linspace(6, 20, 5), theta=0.3, firing=sf.Gaussian(0.3), learnable=("a",),
              dtype=torch.float64)
    rec = Recurrent(5, n).double()
    with torch.no_grad():
        rec.weight.mul_(3.0)
    x = torch.rand(25, 2, 5, dtype=torch.float64) * 2
    y, st = rec(x, return_state=True)
    state, prev, want = None, torch.zeros(2, 5, dtype=torch.float64), []
    for t in range(x.shape[0]):
        prev, state = n.step(x[t] + prev @ rec.weight.T, state)
        want.append(prev)
    want = torch.stack(want)
    torch.testing.assert_close(y, want, rtol=0, atol=0)
    assert 0 < int(y.sum()) < y.numel()
    assert isinstance(st, RecurrentModelState) and torch.equal(st.s, want[-1])
    # gradients reach the recurrent weights and the neuron's parameter; chunks stream
    y.sum().backward()
    assert rec.weight.grad.abs().sum() > 0 and n.a.grad is not None
    with torch.no_grad():
        first, s1 = rec(x[:10], return_state=True)
        second, _ = rec(x[10:], s1, return_state=True)
        torch.testing.assert_close(torch.cat([first, second]), y.detach(), rtol=0, atol=0)
    with pytest.raises(TypeError, match="state: expected a RecurrentModelState"):
        rec(x, st.neuron)
    with pytest.raises(TypeError, match=r"neuron: expected a spikeforge\.Neuron or a declared ModelNeuron"):
        Recurrent(5, torch.nn.ReLU())

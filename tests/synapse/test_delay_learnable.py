"""Learnable synaptic delays (Hammouamri et al., ICLR 2024): whole-step delays are exactly the shifted linear
layer, the gradient with respect to a delay equals finite differences, the rounded layer is spikeforge.synapse.Delay
followed by a linear layer, and the layer streams and counts like its linear layer."""

import pytest
import torch

import spikeforge as sf
from spikeforge.hardware import count_ops
from spikeforge.nets import Sequential, delayed_mlp, round_delays
from spikeforge.synapse import Delay, DelayedLinear, Linear


def shifted(layer: DelayedLinear, x: torch.Tensor, delays: torch.Tensor) -> torch.Tensor:
    """y_t[j] = b_j + sum_i w_ij x_{t - d_ij}[i] with integer delays, by a loop (zeros before the start)."""
    w, b = layer.linear.weight, layer.linear.bias
    steps, batch, n_in = x.shape
    out = torch.zeros(steps, batch, w.shape[0], dtype=x.dtype)
    for t in range(steps):
        for j in range(w.shape[0]):
            acc = b[j].expand(batch).clone()
            for i in range(n_in):
                s = t - int(delays[j, i])
                if s >= 0:
                    acc = acc + w[j, i] * x[s, :, i]
            out[t, :, j] = acc
    return out


def test_whole_step_delays_are_exactly_the_shifted_linear_layer():
    torch.manual_seed(0)
    d = torch.randint(0, 6, (4, 3)).double()
    layer = DelayedLinear(3, 4, 5, init_delays=d).double()
    x = torch.randn(12, 2, 3, dtype=torch.float64)
    torch.testing.assert_close(layer(x), shifted(layer, x, d), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("interpolation", "sigma"), [("linear", 1.0), ("gaussian", 0.7), ("gaussian", 2.0)])
def test_the_gradient_wrt_each_delay_equals_finite_differences(interpolation, sigma):
    torch.manual_seed(1)
    d = torch.rand(3, 2, dtype=torch.float64) * 5.6 + 0.2  # away from whole steps and the bounds
    d = d + (d.frac() < 0.05) * 0.1
    layer = DelayedLinear(2, 3, 6, interpolation=interpolation, sigma=sigma, init_delays=d).double()
    x = torch.randn(15, 2, 2, dtype=torch.float64)
    g = torch.randn(15, 2, 3, dtype=torch.float64)
    (grad,) = torch.autograd.grad((layer(x) * g).sum(), layer.delay)
    h = 1e-6
    fd = torch.zeros_like(d)
    for j in range(3):
        for i in range(2):
            with torch.no_grad():
                layer.delay[j, i] += h
                up = (layer(x) * g).sum()
                layer.delay[j, i] -= 2 * h
                down = (layer(x) * g).sum()
                layer.delay[j, i] += h
            fd[j, i] = (up - down) / (2 * h)
    torch.testing.assert_close(grad, fd, rtol=1e-6, atol=1e-8)
    assert grad.abs().min() > 0


def test_linear_interpolation_between_whole_steps():
    # a delay of 2.25 is 3/4 of the input two steps back plus 1/4 of it three steps back
    layer = DelayedLinear(1, 1, 4, init_delays=torch.tensor([[2.25]]), bias=False).double()
    with torch.no_grad():
        layer.linear.weight.fill_(2.0)
    x = torch.randn(10, 1, 1, dtype=torch.float64)
    past = lambda k: torch.cat([torch.zeros(k, 1, 1, dtype=torch.float64), x[: 10 - k]])  # noqa: E731
    torch.testing.assert_close(layer(x), 2.0 * (0.75 * past(2) + 0.25 * past(3)))


def test_rounded_is_delay_then_linear():
    torch.manual_seed(2)
    layer = DelayedLinear(3, 4, 7)
    x = (torch.rand(20, 2, 3) < 0.4).float()
    r = layer.rounded()
    assert not isinstance(r.delay, torch.nn.Parameter) and torch.equal(r.delay, torch.round(layer.delay.detach()))
    # per synapse: every synapse's own Delay on a copy of its input, then the weighted sum (+ bias)
    per_synapse = Delay(r.delay, shape=(4, 3))
    spread = per_synapse(x.unsqueeze(2).expand(20, 2, 4, 3).contiguous())
    want = (spread * layer.linear.weight).sum(-1) + layer.linear.bias
    with torch.no_grad():
        torch.testing.assert_close(r(x), want, rtol=1e-6, atol=1e-6)
    # delays that depend only on the input: exactly Delay(steps per input) + Linear
    d_in = torch.tensor([0.0, 3.0, 6.0])
    layer2 = DelayedLinear(3, 4, 7, init_delays=d_in.expand(4, 3) + 0.3)
    lin = Linear(3, 4)
    with torch.no_grad():
        lin.weight.copy_(layer2.linear.weight)
        lin.bias.copy_(layer2.linear.bias)
        torch.testing.assert_close(layer2.rounded()(x), Sequential(Delay(d_in, shape=(3,)), lin)(x), rtol=1e-6,
                                   atol=1e-6)


def test_delays_stay_in_range_stream_and_count_as_the_linear_layer():
    torch.manual_seed(3)
    layer = DelayedLinear(3, 2, 4)
    with torch.no_grad():
        layer.delay[0, 0] = 9.0  # pushed past the bound by an optimiser: used as 4
        layer.delay[1, 1] = -2.0
    used = layer.delays().detach()
    assert float(used[0, 0]) == 4.0 and float(used[1, 1]) == 0.0
    x = torch.randn(16, 2, 3)
    with torch.no_grad():
        y = layer(x)
        a, st = layer(x[:5], return_state=True)
        b, _ = layer(x[5:], st, return_state=True)
        torch.testing.assert_close(torch.cat([a, b]), y)
    with pytest.raises(ValueError, match="state: expected the last 4 inputs"):
        layer(x, torch.zeros(2, 2, 3))
    with pytest.raises(ValueError, match="max_delay: expected an integer >= 1"):
        DelayedLinear(3, 2, 0)
    with pytest.raises(ValueError, match="interpolation: expected one of"):
        DelayedLinear(3, 2, 3, interpolation="cubic")
    spikes = (torch.rand(16, 2, 3) < 0.3).float()
    net = Sequential(layer, sf.LIF(threshold=0.3))
    plain = Sequential(layer.linear, sf.LIF(threshold=0.3))
    c, p = count_ops(net, spikes), count_ops(plain, spikes)
    assert c.layer("0.linear").effective_acs == p.layer("0").effective_acs > 0


def test_round_delays_rounds_every_delayed_layer_of_a_network():
    torch.manual_seed(4)
    net = delayed_mlp([3, 6, 5, 2], neuron=sf.LIF(threshold=0.3), max_delay=5, delayed_readout=True)
    rounded = round_delays(net)
    layers = [m for m in rounded.modules() if isinstance(m, DelayedLinear)]
    assert len(layers) == 3 and all(torch.equal(m.delay, m.delay.round()) for m in layers)
    assert all(isinstance(m.delay, torch.nn.Parameter) for m in net.modules() if isinstance(m, DelayedLinear))
    x = torch.randn(10, 2, 3)
    with torch.no_grad():
        assert rounded(x).shape == net(x).shape == (10, 2, 2)

"""Networks: builders, streaming state, recurrence and synapses over whole sequences."""

import pytest
import torch

import spikeforge as sf
from spikeforge.nets import Sequential, mlp, rsnn
from spikeforge.synapse import Conv2d, Flatten, Linear, Recurrent


def test_mlp_structure_and_shapes():
    net = mlp([700, 256, 256, 20], neuron=sf.LIF(firing=sf.Gaussian(0.5)), readout="li")
    kinds = [type(m).__name__ for m in net]
    assert kinds == ["Linear", "LIF", "Linear", "LIF", "Linear", "LI"]
    assert net[1] is not net[3]
    x = (torch.rand(25, 4, 700) < 0.05).float()
    y = net(x)
    assert y.shape == (25, 4, 20)
    y.sum().backward()
    assert net[0].weight.grad is not None and net[0].weight.grad.abs().sum() > 0


def test_linear_is_one_gemm_over_time_and_batch():
    lin = Linear(5, 3)
    x = torch.rand(7, 2, 5)
    torch.testing.assert_close(lin(x), torch.stack([x[t] @ lin.weight.T + lin.bias for t in range(7)]))
    with pytest.raises(ValueError, match=r"\[T, B, 5\]"):
        lin(torch.rand(7, 2, 4))


def test_conv2d_over_time():
    conv = Conv2d(2, 4, 3, padding=1)
    x = torch.rand(6, 3, 2, 8, 8)
    y = conv(x)
    assert y.shape == (6, 3, 4, 8, 8)
    torch.testing.assert_close(y[2], torch.nn.functional.conv2d(x[2], conv.weight, conv.bias, padding=1))
    net = Sequential(conv, sf.LIF(), Flatten(), Linear(4 * 64, 10), sf.LI())
    assert net(x).shape == (6, 3, 10)


def test_sequential_streaming_equals_whole():
    torch.manual_seed(0)
    net = rsnn([10, 16, 3], neuron=sf.CuBaLIF(firing=sf.Gaussian(0.5)))
    x = torch.rand(30, 2, 10) * 2
    whole = net(x)
    y1, st = net(x[:11], return_state=True)
    y2, _ = net(x[11:], st, return_state=True)
    torch.testing.assert_close(torch.cat([y1, y2]), whole)
    with pytest.raises(ValueError, match="one entry per layer"):
        net(x, st[:2])


def test_recurrent_gradients_match_reference_backend():
    torch.manual_seed(0)
    out = []
    for backend in ("reference", "torch"):
        torch.manual_seed(0)
        rec = Recurrent(6, sf.LIF(firing=sf.Cauchy(0.3), backend=backend)).double()
        x = torch.rand(20, 3, 6, dtype=torch.float64) * 1.5
        s = rec(x)
        out.append((s, torch.autograd.grad((s * torch.arange(6.0)).sum(), rec.weight)[0]))
    assert torch.equal(out[0][0], out[1][0])
    torch.testing.assert_close(out[0][1], out[1][1])


def test_readouts_and_errors():
    assert isinstance(mlp([4, 3], readout="spikes")[-1], sf.Neuron)
    assert isinstance(mlp([4, 3], readout="none")[-1], Linear)
    with pytest.raises(ValueError, match="readout"):
        mlp([4, 3], readout="softmax")
    with pytest.raises(ValueError, match="sizes"):
        mlp([4])
    with pytest.raises(TypeError, match="neuron"):
        mlp([4, 3], neuron=3)


def test_complex_spikes_through_linear():
    torch.manual_seed(0)
    rf = sf.ResonateAndFire(firing=sf.Gaussian(0.5))
    lin = Linear(4, 3)
    s = rf(torch.rand(20, 2, 4) * 3)
    y = lin(s)
    assert y.is_complex()
    torch.testing.assert_close(y.real, lin(s.real))
    torch.testing.assert_close(y.imag, lin(s.imag) - lin.bias)
    out = sf.LIF(firing=sf.Gaussian(0.5))(y)  # a real neuron fed complex current fires on Re(v*)
    out.abs().sum().backward()
    assert lin.weight.grad is not None


def test_event_synapses_give_the_same_network():
    from spikeforge.synapse import Linear

    torch.manual_seed(0)
    dense = mlp([40, 30, 5], neuron=sf.LIF(firing=sf.Gaussian(0.5)), synapse="dense")
    event = mlp([40, 30, 5], neuron=sf.LIF(firing=sf.Gaussian(0.5)), synapse="event")
    auto = mlp([40, 30, 5], neuron=sf.LIF(firing=sf.Gaussian(0.5)))
    assert isinstance(event[0], Linear) and (event[0].mode, dense[0].mode, auto[0].mode) == ("event", "dense", "auto")
    event.load_state_dict(dense.state_dict())
    auto.load_state_dict(dense.state_dict())
    x = (torch.rand(20, 3, 40) < 0.02).float()
    torch.testing.assert_close(event(x), dense(x), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(auto(x), dense(x), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="synapse"):
        mlp([4, 3], synapse="sparse")

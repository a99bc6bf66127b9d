"""Memory-lean layers (spikes saved as bits, potentials recomputed) give the unfused layers' results."""

import pytest
import torch

import spikeforge as sf
from spikeforge.kernels.lean import LinearLIF, PackedLinear, pack_spikes, unpack_spikes


@pytest.mark.parametrize("save", ["bits", "bytes", "float"])
@pytest.mark.parametrize("reset", ["soft", "hard"])
def test_linear_lif_equals_unfused_float64(save, reset):
    torch.manual_seed(0)
    neuron = sf.LIF(tau=5.0, reset=reset, firing=sf.Gaussian(0.4), learnable=("tau", "threshold")).double()
    lean = LinearLIF(13, 6, neuron, save=save).double()
    lin = torch.nn.Linear(13, 6).double()
    lin.load_state_dict(lean.linear.state_dict())
    ref_neuron = sf.LIF(tau=5.0, reset=reset, firing=sf.Gaussian(0.4), learnable=("tau", "threshold"),
                        backend="reference").double()
    x = (torch.rand(17, 3, 13) < 0.3).double().requires_grad_()
    w = torch.randn(17, 3, 6, dtype=torch.float64)
    a = lean(x)
    b = ref_neuron(lin(x))
    assert torch.equal(a, b)
    ga = torch.autograd.grad((a * w).sum(), [x, lean.linear.weight, lean.linear.bias, neuron.tau, neuron.threshold])
    gb = torch.autograd.grad((b * w).sum(), [x, lin.weight, lin.bias, ref_neuron.tau, ref_neuron.threshold])
    for u, v in zip(ga, gb):
        torch.testing.assert_close(u, v, rtol=1e-6, atol=1e-9)


def test_pack_roundtrip_and_graded_fallback():
    x = (torch.rand(5, 4, 21) < 0.4).float()
    p, kind = pack_spikes(x)
    assert kind == "bits" and p.dtype == torch.uint8 and p.shape == (5, 4, 3)
    assert torch.equal(unpack_spikes(p, kind, 21, torch.float32), x)
    g = x * 2
    p, kind = pack_spikes(g)
    assert kind == "raw" and p is g


def test_packed_linear_gradients():
    torch.manual_seed(1)
    pl = PackedLinear(9, 4)
    x = (torch.rand(6, 2, 9) < 0.5).float().requires_grad_()
    y = pl(x)
    gy = torch.randn_like(y)
    ga = torch.autograd.grad(y, [x, pl.weight, pl.bias], gy)
    gb = torch.autograd.grad(torch.nn.functional.linear(x, pl.weight, pl.bias), [x, pl.weight, pl.bias], gy)
    for u, v in zip(ga, gb):
        torch.testing.assert_close(u, v)


def test_linear_lif_refuses_other_neurons():
    with pytest.raises(ValueError, match="fast path"):
        LinearLIF(3, 2, sf.GradedLIF())
    with pytest.raises(ValueError, match="save"):
        LinearLIF(3, 2, sf.LIF(), save="zip")

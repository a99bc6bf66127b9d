"""The temporal convolutional SNN (issue 12): the causal time convolution against a naive loop, streaming,
batch norm over channels, the FCN-shaped builder and its operation counts."""

import pytest
import torch

import spikeforge as sf
from spikeforge.hardware import count_ops
from spikeforge.nets import FCN_KERNELS, TimeBatchNorm, tcn
from spikeforge.synapse import TemporalConv


def _naive(conv: TemporalConv, x: torch.Tensor) -> torch.Tensor:
    """y_t = b + sum_k W[:, :, k] x_{t - k*dilation}, the missing past as zeros, one step at a time."""
    w = conv.weight
    out = []
    for t in range(x.shape[0]):
        y = conv.linear.bias.expand(x.shape[1], -1).clone() if conv.linear.bias is not None else 0.0
        for k in range(conv.kernel_size):
            s = t - k * conv.dilation
            if s >= 0:
                y = y + x[s] @ w[:, :, k].T
        out.append(y)
    return torch.stack(out)


@pytest.mark.parametrize(("k", "dil", "bias"), [(1, 1, True), (3, 1, True), (4, 2, False), (8, 1, True)])
def test_temporal_conv_is_the_causal_sum_over_lags(k, dil, bias):
    torch.manual_seed(0)
    conv = TemporalConv(3, 5, k, dilation=dil, bias=bias).double()
    x = torch.randn(11, 2, 3, dtype=torch.float64, requires_grad=True)
    y, ref = conv(x), _naive(conv, x)
    torch.testing.assert_close(y, ref, rtol=1e-12, atol=1e-12)
    g = torch.randn_like(y)
    gx, gw = torch.autograd.grad(y, (x, conv.linear.weight), g)
    rx, rw = torch.autograd.grad(ref, (x, conv.linear.weight), g)
    torch.testing.assert_close(gx, rx)
    torch.testing.assert_close(gw, rw)
    assert conv.receptive_field == (k - 1) * dil + 1


def test_step_t_sees_only_the_past_and_chunks_stream():
    torch.manual_seed(1)
    conv = TemporalConv(2, 4, 5, dilation=2)
    x = torch.randn(20, 3, 2)
    x2 = x.clone()
    x2[12:] += 1.0
    with torch.no_grad():
        a, b = conv(x), conv(x2)
        torch.testing.assert_close(a[:12], b[:12], rtol=0, atol=0)
        assert not torch.allclose(a[12], b[12])
        first, st = conv(x[:7], return_state=True)
        second, _ = conv(x[7:], st, return_state=True)
        torch.testing.assert_close(torch.cat([first, second]), a)
    with pytest.raises(ValueError, match="state: expected the last 8 inputs"):
        conv(x, torch.zeros(3, 3, 2))
    with pytest.raises(ValueError, match=r"x: expected \[T, B, 2\]"):
        conv(torch.zeros(4, 3, 5))
    with pytest.raises(ValueError, match="kernel_size: expected a positive integer"):
        TemporalConv(2, 4, 0)


def test_time_batch_norm_normalises_each_channel_over_time_and_batch():
    bn = TimeBatchNorm(3)
    x = torch.randn(9, 4, 3) * torch.tensor([1.0, 5.0, 0.1]) + 2.0
    y = bn(x)
    torch.testing.assert_close(y.mean((0, 1)), torch.zeros(3), atol=1e-5, rtol=0)
    flat = x.reshape(-1, 3)
    torch.testing.assert_close(y, ((x - flat.mean(0)) / torch.sqrt(flat.var(0, unbiased=False) + bn.eps)))


def test_tcn_has_the_fcn_shape_and_trains():
    torch.manual_seed(0)
    net = tcn([2, 8, 16, 8, 3], neuron=sf.LIF(threshold=0.3, firing=sf.Gaussian(0.5)), readout_tau=5.0)
    kinds = [type(m).__name__ for m in net]
    assert kinds == ["TemporalConv", "TimeBatchNorm", "LIF"] * 3 + ["Linear", "LI"]
    assert [m.kernel_size for m in net if isinstance(m, TemporalConv)] == list(FCN_KERNELS)
    assert all(m.linear.bias is None for m in net if isinstance(m, TemporalConv))  # the norm has the bias
    x = torch.randn(30, 4, 2)
    y = net(x)
    assert y.shape == (30, 4, 3)
    y.mean(0).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    plain = tcn([2, 8, 3], norm="none", readout="linear", kernel_sizes=[4])
    assert [type(m).__name__ for m in plain] == ["TemporalConv", "LIF", "Linear"]
    assert plain[0].linear.bias is not None
    with pytest.raises(ValueError, match="kernel_sizes: expected 3 positive integers"):
        tcn([2, 8, 8, 8, 3], kernel_sizes=[3, 3])
    with pytest.raises(ValueError, match="norm: expected one of"):
        tcn([2, 8, 3], norm="layer")


def test_temporal_conv_counts_one_operation_per_event_lag_and_target():
    torch.manual_seed(0)
    conv = TemporalConv(3, 4, 3, dilation=2, bias=False)
    net = sf.nets.Sequential(conv, sf.LIF(threshold=0.3))
    x = (torch.rand(10, 2, 3) < 0.4).float()
    c = count_ops(net, x)
    # input event at step s reaches outputs t = s + k*dilation <= T-1, for each of the 4 target channels
    t_steps = x.shape[0]
    want = 0
    for s in range(t_steps):
        taps = sum(1 for k in range(3) if s + 2 * k < t_steps)
        want += int(x[s].count_nonzero()) * taps * 4
    la = c.layer("0.linear")
    assert la.effective_acs * x.shape[1] == want and la.effective_macs == 0
    assert la.units == 4 and la.fan_in == 9
    assert la.dense_macs * x.shape[1] == t_steps * 2 * 3 * 3 * 4


@pytest.mark.parametrize("kernels, dilations", [((8, 5, 3), (1, 2, 4)), ((8, 5, 3), (1, 1, 1)), ((3, 7), (5, 2))])
def test_receptive_field_is_the_span_of_inputs_one_output_step_depends_on(kernels, dilations):
    from spikeforge.nets import receptive_field, tcn_layout

    torch.manual_seed(0)
    convs = [TemporalConv(1, 1, k, dilation=d) for k, d in zip(kernels, dilations, strict=True)]
    for c in convs:  # positive weights: no tap cancels another
        torch.nn.init.uniform_(c.linear.weight, 0.5, 1.0)
    x = torch.randn(60, 1, 1, dtype=torch.float64, requires_grad=True)
    y = x
    for c in convs:
        y = c.double()(y)
    (g,) = torch.autograd.grad(y[-1].sum(), x)
    hit = (g.flatten() != 0).nonzero().flatten()
    assert int(hit[-1]) == 59  # the step itself ...
    span = 60 - int(hit[0])  # ... back to the earliest input it depends on
    assert span == receptive_field(kernels, dilations) == 1 + sum((k - 1) * d for k, d in zip(kernels, dilations))
    assert tcn_layout(3) == (FCN_KERNELS, (1, 1, 1)) and tcn_layout(2, 5, [1, 3]) == ((5, 5), (1, 3))
    with pytest.raises(ValueError, match="dilations: expected 3 positive integers"):
        tcn_layout(3, None, (1, 2))

"""nets.rocket: spikes where a kernel's response exceeds its bias; the mean readout is the readout of the
spike rates (MiniRocket's PPV); only the readout trains; counted by count_ops."""

import pytest
import torch

from spikeforge.hardware import count_ops
from spikeforge.learn.losses import readout_logits
from spikeforge.nets import rocket
from spikeforge.nets.rocket import NORM_EPS
from spikeforge.synapse.kernel_bank import KERNELS


def _net(c=2, dilations=2, biases=1, k=3, seed=0):
    torch.manual_seed(seed)
    return rocket([c, KERNELS * dilations * biases, k], dilations=dilations).double()


def test_the_neurons_spike_where_the_response_exceeds_the_bias():
    net = _net()
    x = torch.randn(40, 3, 2, dtype=torch.float64)
    bank, neuron = net[0], net[1]
    bank.fit(x)
    spikes = neuron(bank(x))
    per = KERNELS
    want = torch.cat([bank.responses(x, j) > bank.bias[j * per:(j + 1) * per] for j in range(2)], -1)
    assert torch.equal(spikes.bool(), want)
    assert 0.05 < float(spikes.mean()) < 0.95


def test_the_mean_readout_is_the_readout_of_the_spike_rates():
    net = _net()
    x = torch.randn(50, 4, 2, dtype=torch.float64)
    lengths = torch.tensor([50, 31, 44, 12])
    net[0].fit(x, lengths)
    net.train()(x)  # the standardisation's running statistics move
    net.eval()
    logits = readout_logits(net(x), lengths, "mean")
    spikes = net[1](net[0](x))
    valid = (torch.arange(50)[:, None] < lengths[None, :]).double()[..., None]
    rates = (spikes * valid).sum(0) / lengths[:, None]  # [B, F]: each neuron's spike rate, MiniRocket's PPV
    norm = net[2]
    z = (rates - norm.running_mean) / torch.sqrt(norm.running_var + NORM_EPS)
    torch.testing.assert_close(logits, net[3](z[None])[0])


def test_only_the_readout_learns():
    net = _net()
    x = torch.randn(30, 2, 2, dtype=torch.float64)
    out = net(x)
    readout_logits(out, None, "mean").sum().backward()
    trained = {n for n, p in net.named_parameters() if p.requires_grad}
    assert trained == {"3.weight", "3.bias"}
    assert net[3].weight.grad is not None and torch.any(net[3].weight.grad != 0)


def test_count_ops_counts_the_bank_and_the_readout():
    net = _net()
    x = torch.randn(30, 2, 2, dtype=torch.float64)
    net[0].fit(x)
    counts = count_ops(net, x)
    names = [layer.name for layer in counts.layers]
    assert "0.slots.0" in names and "0.slots.1" in names and "3" in names
    bank = [layer for layer in counts.layers if layer.name.startswith("0.slots")]
    # the bank reads the analog series: multiply-accumulates, at most one per weight and step
    assert all(0 < layer.effective_macs <= layer.dense_macs for layer in bank)


@pytest.mark.parametrize("sizes, match", [([2, 100, 3], "multiple of 84"), ([2, 168, 10, 3], "features, classes")])
def test_bad_sizes(sizes, match):
    with pytest.raises(ValueError, match=match):
        rocket(sizes, dilations=2)


def _tied_series(steps=40, batch=4, c=2):
    """Integer-valued series (counts, as Covid3Month's): many kernel responses equal a fitted bias."""
    g = torch.Generator().manual_seed(3)
    return torch.randint(-2, 3, (steps, batch, c), generator=g).double()


@pytest.mark.parametrize("tied", [False, True])
def test_sequence_logits_equal_the_per_step_network_in_training_and_evaluation(tied):
    x = _tied_series() if tied else torch.randn(40, 4, 2, dtype=torch.float64)
    lengths = torch.tensor([40, 17, 33, 25])
    for b, n in enumerate(lengths):
        x[int(n):, b] = 0.0
    fast, slow = _net(), _net()
    fast[0].fit(x)
    slow[0].fit(x)
    if tied:
        spikes = slow[1](slow[0](x))
        assert torch.any(slow[0](x) == 1.0)  # responses exactly at a bias: the neuron's tie rule decides
        assert torch.equal(spikes.bool(), slow[0](x) >= 1.0)
    for mode in (True, False, True, False):
        fast.train(mode)
        slow.train(mode)
        got = fast.sequence_logits(x, lengths)
        want = readout_logits(slow(x), lengths, "mean")
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)
        for name in ("running_mean", "running_var", "num_batches_tracked"):
            torch.testing.assert_close(getattr(fast[2], name), getattr(slow[2], name), rtol=1e-10, atol=1e-12)


def test_sequence_logits_fit_an_unfitted_bank_on_the_valid_steps_and_train_the_readout():
    # spike input (a level-crossing code): its silent trailing steps are data, not padding
    g = torch.Generator().manual_seed(1)
    x = (torch.rand(30, 3, 2, generator=g) < 0.2).double()
    x[20:] = 0.0
    lengths = torch.tensor([30, 30, 24])
    fast, ref = _net(), _net()
    fast.sequence_logits(x, lengths).sum().backward()
    ref[0].fit(x, lengths)
    assert torch.equal(fast[0].bias, ref[0].bias) and torch.equal(fast[0].dilation, ref[0].dilation)
    guessed = _net()
    guessed[0].fit(x)  # without lengths: the trailing silent steps taken for padding
    assert not torch.equal(guessed[0].dilation, ref[0].dilation) or not torch.equal(guessed[0].bias, ref[0].bias)
    assert fast[3].weight.grad is not None and torch.any(fast[3].weight.grad != 0)
    with pytest.raises(ValueError, match="reduce"):
        fast.sequence_logits(x, reduce="last")
    with pytest.raises(RuntimeError, match="not fitted"):
        _net().eval().sequence_logits(x, lengths)


@pytest.mark.parametrize("lengths", [[30, 0, 5], [30, 31, 5], [30, 5]])
def test_sequence_logits_refuse_lengths_outside_the_steps(lengths):
    net = _net()
    with pytest.raises(ValueError, match=r"lengths: expected 3 values in \[1, 30\]"):
        net.sequence_logits(torch.randn(30, 3, 2, dtype=torch.float64), torch.tensor(lengths))


def test_sequence_logits_follow_a_cumulative_average_standardisation():
    x = torch.randn(25, 4, 2, dtype=torch.float64)
    lengths = torch.tensor([25, 9, 17, 25])
    fast, slow = _net(), _net()
    for net in (fast, slow):
        net[0].fit(x, lengths)
        net[2].momentum = None  # torch's cumulative moving average
    for _ in range(3):
        got = fast.sequence_logits(x, lengths)
        want = readout_logits(slow(x), lengths, "mean")
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(fast[2].running_var, slow[2].running_var, rtol=1e-10, atol=1e-12)


def test_the_spike_meter_counts_the_same_spikes_on_both_paths():
    from spikeforge.learn.loop import SpikeMeter
    from spikeforge.learn.losses import valid_mask

    x = torch.randn(30, 3, 2, dtype=torch.float64)
    lengths = torch.tensor([30, 12, 21])
    net = _net().eval()
    net[0].fit(x)
    a, b = SpikeMeter(net), SpikeMeter(net)
    mask = valid_mask(lengths, 30, 3, x.device)
    with a.watching(mask):
        net(x)
    with b.watching(mask):
        net.sequence_logits(x, lengths)
    assert a.totals[0] > 0 and a.totals == b.totals and a.layers() == b.layers()

"""Losses on a spiking output layer (rate, first spike) and the firing-rate regulariser, each against a plain
computation written here."""

import math

import pytest
import torch
from torch.nn import functional as F

import spikeforge as sf
from spikeforge.learn.config import ConfigError, TrainConfig
from spikeforge.learn.losses import (
    LOSSES,
    classification_loss,
    first_spike_times,
    rate_penalty,
    readout_logits,
    recording_spikes,
)
from spikeforge.learn.models import build_model


def _spikes(seed=0, shape=(9, 4, 5), p=0.25):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(*shape, generator=g) < p).to(torch.float64)


def test_names_are_accepted_by_config_and_cli_list():
    for name in ("rate", "first_spike", "mean", "max", "last", "sum", "mse"):
        assert name in LOSSES


def test_rate_loss_is_cross_entropy_of_spike_counts_over_valid_steps():
    s = _spikes()
    lengths = torch.tensor([9, 3, 6, 1])
    y = torch.tensor([0, 4, 2, 1])
    loss, logits = classification_loss(s, y, lengths, "rate")
    counts = torch.zeros(4, 5, dtype=torch.float64)
    for b in range(4):
        for t in range(int(lengths[b])):
            counts[b] += s[t, b]
    assert torch.equal(logits, counts)
    plain = -sum(math.log(math.exp(counts[b, y[b]]) / sum(math.exp(c) for c in counts[b].tolist()))
                 for b in range(4)) / 4
    assert loss.item() == pytest.approx(float(plain), rel=1e-12)


def _plain_first_times(s, lengths):
    _, batch, k = s.shape
    out = torch.zeros(batch, k, dtype=torch.float64)
    for b in range(batch):
        for j in range(k):
            n = int(lengths[b])
            hits = [t for t in range(n) if s[t, b, j] > 0]
            out[b, j] = hits[0] + 1 if hits else n + 1
    return out


def test_first_spike_time_is_the_first_spike_step_or_length_plus_one():
    s = _spikes(1)
    lengths = torch.tensor([9, 4, 7, 2])
    assert torch.equal(first_spike_times(s, lengths), _plain_first_times(s, lengths))
    y = torch.tensor([1, 0, 3, 2])
    loss, logits = classification_loss(s, y, lengths, "first_spike")
    assert torch.equal(logits, -_plain_first_times(s, lengths))
    assert loss.item() == pytest.approx(F.cross_entropy(-_plain_first_times(s, lengths), y).item(), rel=1e-12)


def test_first_spike_gradient_is_the_closed_form_at_binary_spikes():
    s = _spikes(2, (8, 3, 4)).requires_grad_(True)
    lengths = torch.tensor([8, 5, 8])
    first_spike_times(s, lengths).sum().backward()
    want = torch.zeros_like(s)
    for b in range(3):
        n = int(lengths[b])
        for j in range(4):
            hits = [t + 1 for t in range(n) if s[t, b, j] > 0]
            t1 = hits[0] if hits else n + 1
            t2 = hits[1] if len(hits) > 1 else n + 1
            for u in range(1, n + 1):
                want[u - 1, b, j] = -(t1 - u) if u < t1 else (-(t2 - t1) if u == t1 else 0.0)
    assert torch.equal(s.grad, want)


def test_first_spike_loss_gradient_matches_finite_differences():
    g = torch.Generator().manual_seed(3)
    s = torch.rand(6, 2, 3, generator=g, dtype=torch.float64).requires_grad_(True)  # spike probabilities
    y = torch.tensor([2, 0])

    def loss(v):
        return F.cross_entropy(-first_spike_times(v, torch.tensor([6, 4])), y)

    loss(s).backward()
    eps = 1e-6
    fd = torch.zeros_like(s)
    for idx in torch.cartesian_prod(*(torch.arange(n) for n in s.shape)):
        i = tuple(idx.tolist())
        d = torch.zeros_like(s)
        d[i] = eps
        fd[i] = (loss(s.detach() + d) - loss(s.detach() - d)) / (2 * eps)
    assert torch.allclose(s.grad, fd, atol=1e-8)
    assert s.grad[4:, 1].abs().sum() == 0  # padded steps of sample 1


def test_spike_losses_train_a_spiking_readout_through_the_surrogate():
    torch.manual_seed(0)
    cfg = TrainConfig(dataset="digits", model="mlp", model_params={"readout": "spiking"}, hidden=[16],
                      loss="first_spike")
    net = build_model(cfg, 8, 3)
    assert isinstance(net[-1], sf.Neuron)
    x = torch.rand(12, 5, 8) * 2
    for loss_name in ("first_spike", "rate"):
        net.zero_grad()
        loss, _ = classification_loss(net(x), torch.tensor([0, 1, 2, 0, 1]), None, loss_name)
        loss.backward()
        assert net[0].weight.grad.abs().sum() > 0, loss_name


def test_spike_losses_refuse_a_leaky_readout():
    out = torch.randn(5, 2, 3)
    for name in ("rate", "first_spike"):
        with pytest.raises(ValueError, match=r"expected the output layer's spikes.*readout': 'spiking'"):
            readout_logits(out, None, name)
        with pytest.raises(ConfigError, match=r"config loss: .*needs the output layer's spikes"):
            TrainConfig(dataset="digits", loss=name)
    rec = build_model(TrainConfig(dataset="digits", model="recurrent", model_params={"readout": "spiking"},
                                  hidden=[5], loss="rate"), 4, 3)
    assert isinstance(rec[-1], sf.Neuron) and rec(torch.rand(6, 2, 4)).shape == (6, 2, 3)
    with pytest.raises(ConfigError, match="readout: expected 'li' or 'spiking'"):
        build_model(TrainConfig(dataset="digits", model_params={"readout": "spikes"}), 4, 2)


def test_rate_penalty_matches_the_plain_formula():
    a, b = _spikes(4, (7, 3, 5)), _spikes(5, (7, 3, 2, 2), p=0.6)
    lengths = torch.tensor([7, 2, 5])
    target = 0.1
    terms = []
    for s in (a, b):
        flat = s.reshape(7, 3, -1)
        per_neuron = []
        for j in range(flat.shape[2]):
            total = sum(float(flat[t, bb, j]) for bb in range(3) for t in range(int(lengths[bb])))
            per_neuron.append((total / float(lengths.sum()) - target) ** 2)
        terms.append(sum(per_neuron) / len(per_neuron))
    assert rate_penalty([a, b], lengths, target).item() == pytest.approx(sum(terms) / 2, rel=1e-12)
    with pytest.raises(ValueError, match="rate_reg: expected a model with spiking populations"):
        rate_penalty([])


def _net():
    torch.manual_seed(1)
    return sf.nets.mlp([6, 10, 8, 3], neuron=sf.LIF(tau=5.0, firing=sf.Gaussian(0.5)), readout="li")


def test_recording_spikes_collects_each_population_and_leaves_no_hooks():
    net = _net()
    x = torch.rand(10, 4, 6) * 2
    with recording_spikes(net) as rec:
        net(x)
    assert rec.names == ["1", "3"]
    s1 = net[1](net[0](x))
    assert torch.equal(rec.spikes[0], s1) and torch.equal(rec.spikes[1], net[3](net[2](s1)))
    assert rec.spikes[0].requires_grad
    assert all(not m._forward_hooks for m in net.modules())


def test_recording_spikes_of_a_recurrent_declared_model():
    cfg = TrainConfig(dataset="digits", model="adlif", hidden=[6, 5])
    net = build_model(cfg, 4, 3)
    with recording_spikes(net) as rec:
        net(torch.rand(5, 2, 4))
    assert [tuple(s.shape) for s in rec.spikes] == [(5, 2, 6), (5, 2, 5)]


def test_regulariser_gradient_is_autograd_of_the_written_formula():
    net = _net()
    x = torch.rand(10, 4, 6) * 2
    lengths = torch.tensor([10, 7, 3, 10])
    with recording_spikes(net) as rec:
        net(x)
    got = torch.autograd.grad(rate_penalty(rec.spikes, lengths, 0.05), list(net.parameters()), allow_unused=True)
    s1 = net[1](net[0](x))
    s2 = net[3](net[2](s1))
    mask = (torch.arange(10)[:, None] < lengths[None, :]).float()[..., None]
    r1 = (s1 * mask).sum((0, 1)) / mask.sum()
    r2 = (s2 * mask).sum((0, 1)) / mask.sum()
    written = 0.5 * (((r1 - 0.05) ** 2).mean() + ((r2 - 0.05) ** 2).mean())
    want = torch.autograd.grad(written, list(net.parameters()), allow_unused=True)
    for g, w in zip(got, want):
        assert (g is None) == (w is None)
        if g is not None:
            assert torch.allclose(g, w, atol=1e-7)
    assert got[0].abs().sum() > 0


def test_bptt_step_applies_the_weighted_penalty():
    from spikeforge.learn.loop import Objective
    from spikeforge.learn.methods.bptt import bptt_step

    x = torch.rand(10, 4, 6) * 2
    y = torch.tensor([0, 2, 1, 0])
    lengths = torch.tensor([10, 8, 10, 5])
    batch = type("B", (), {"x": x, "y": y, "lengths": lengths})()
    net = _net()
    before = [p.detach().clone() for p in net.parameters()]
    bptt_step(net, batch, torch.optim.SGD(net.parameters(), lr=1.0), Objective(rate_reg=3.0, rate_target=0.02))
    ref = _net()
    with recording_spikes(ref) as rec:
        out = ref(x)
    j = classification_loss(out, y, lengths)[0] + 3.0 * rate_penalty(rec.spikes, lengths, 0.02)
    grads = torch.autograd.grad(j, list(ref.parameters()), allow_unused=True)
    for p, p0, g in zip(net.parameters(), before, grads):
        step = torch.zeros_like(p0) if g is None else g
        assert torch.allclose(p.detach(), p0 - step, atol=1e-6)


def test_regulariser_lowers_the_spike_count_in_training():
    from spikeforge.data import load_dataset
    from spikeforge.learn.loop import Objective, fit, make_optimizer

    ds = load_dataset("digits", steps=10)
    train = ds.train.take(torch.arange(192))
    spikes = {}
    for reg in (0.0, 100.0):
        torch.manual_seed(0)
        net = sf.nets.mlp([64, 48, 10], neuron=sf.LIF(tau=5.0, firing=sf.Gaussian(0.5)), readout="li")
        opt = make_optimizer("adam", net.parameters(), 5e-3)
        state = fit(net, "bptt", train, opt, epochs=2, batch_size=32, objective=Objective(rate_reg=reg),
                    generator=torch.Generator().manual_seed(0))
        spikes[reg] = state.history[-1]["train_spikes_per_sample"]
    assert spikes[100.0] < 0.5 * spikes[0.0], spikes


def test_config_refuses_rate_reg_for_a_method_that_ignores_it():
    TrainConfig(dataset="digits", rate_reg=0.5)  # bptt applies it
    with pytest.raises(ConfigError, match=r"config rate_reg: expected 0 with method 'convert'.*\('bptt',\)"):
        TrainConfig(dataset="digits", method="convert", rate_reg=0.5)


@pytest.mark.parametrize("loss", ["rate", "first_spike"])
def test_cli_trains_a_spiking_readout_with_a_spike_loss(tmp_path, loss):
    import json

    from spikeforge.cli.main import main

    run = tmp_path / "run"
    assert main(["train", "--dataset", "digits", "--loss", loss, "--model-param", "readout=spiking", "--rate-reg",
                 "0.1", "--epochs", "1", "--hidden", "16", "--batch-size", "64", "--threads", "1", "--no-progress",
                 "--no-report", *(["--no-plots"] if loss == "rate" else []), "--out", str(run)]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert 0.0 <= metrics["test_accuracy"] <= 1.0
    assert loss == "rate" or (run / "plots" / "raster.png").is_file()  # the raster names the predicted class
    assert json.loads((run / "config.json").read_text())["model_params"] == {"readout": "spiking"}

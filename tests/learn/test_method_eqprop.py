"""``eqprop``: the EP estimate tends to the finite-difference gradient of the loss at the free fixed point as
beta -> 0 (one-sided O(beta), symmetric O(beta^2)); the network's fixed point is rho(drive); spikes are
sigma-delta (counts track the rates) and counted; the method trains through the command line."""

import json

import pytest
import torch
from torch.nn import functional as F

from spikeforge.cli.main import main
from spikeforge.data.split import Batch
from spikeforge.hardware import count_ops
from spikeforge.learn import TrainConfig, method_named
from spikeforge.learn.loop import Objective
from spikeforge.learn.methods.eqprop import ep_gradients, eqprop_step
from spikeforge.nets.energy import EnergyNet


def _tiny_net():
    torch.manual_seed(0)
    net = EnergyNet([3, 5, 4, 2], eps=0.5, spiking=False).double()
    with torch.no_grad():
        for lin in net.layers:
            lin.weight.uniform_(-0.5, 0.5)
            lin.bias.uniform_(0.2, 0.5)
    x = torch.rand(1, 4, 3, dtype=torch.float64).expand(200, 4, 3).contiguous()  # a constant input rate
    t = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    return net, x, t


def _loss(net, x, t):
    u = net.relax(x).state.u[-1]
    return 0.5 * ((u - t) ** 2).sum(1).mean()


@torch.no_grad()
def _finite_differences(net, x, t, h=1e-6):
    out = []
    for lin in net.layers:
        for p in (lin.weight, lin.bias):
            flat = p.view(-1)
            for i in range(flat.numel()):
                old = float(flat[i])
                flat[i] = old + h
                up = _loss(net, x, t)
                flat[i] = old - h
                down = _loss(net, x, t)
                flat[i] = old
                out.append((up - down) / (2 * h))
    return torch.stack(out)


@pytest.fixture(scope="module")
def tiny():
    net, x, t = _tiny_net()
    return net, x, t, _finite_differences(net, x, t)


@pytest.mark.parametrize("nudge", ["positive", "symmetric"])
def test_the_ep_estimate_approaches_the_finite_difference_gradient_as_beta_shrinks(tiny, nudge):
    net, x, t, fd = tiny
    assert float(fd.abs().max()) > 1e-3  # units in the box's interior: a gradient to find
    errors = []
    with torch.no_grad():
        for beta in (0.1, 0.01, 0.001):
            grads, _ = ep_gradients(net, x, t, beta, nudge=nudge, nudge_steps=200)
            ep = torch.cat([torch.cat([dw.reshape(-1), db.reshape(-1)]) for dw, db in grads])
            errors.append(float((ep - fd).norm() / fd.norm()))
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < (1e-2 if nudge == "positive" else 1e-4)
    if nudge == "symmetric":  # second order: two decades of beta give about four decades of error
        assert errors[2] < errors[1] * 1e-1


def test_the_free_phase_converges_to_rho_of_the_drive():
    net, x, _ = _tiny_net()
    with torch.no_grad():
        u = net.relax(x).state.u
        w = [lin.weight for lin in net.layers]
        b = [lin.bias for lin in net.layers]
        drive = [x[0] @ w[0].t() + b[0] + u[1] @ w[1], u[0] @ w[1].t() + b[1] + u[2] @ w[2], u[1] @ w[2].t() + b[2]]
        for uk, dk in zip(u, drive):
            torch.testing.assert_close(uk, dk.clamp(0, 1), atol=1e-12, rtol=0)


def test_sigma_delta_spike_counts_track_the_rates_and_are_counted():
    torch.manual_seed(1)
    net = EnergyNet([6, 8, 3], eps=0.5, spiking=True)
    x = (torch.rand(60, 2, 6) < 0.5).float()
    with torch.no_grad():
        phase = net.relax(x, window=60)
        # the modulator's count over the whole phase differs from the summed rates by less than one spike
        assert torch.all((phase.sent[0] - phase.rates[0]).abs() * 60 < 1.0 + 1e-4)
        counts = count_ops(net, x)
    spikes = sum(la.nonzero_outputs for la in counts.layers if la.kind == "neuron")
    assert counts.spikes == pytest.approx(spikes) and counts.spikes > 0
    names = {la.name for la in counts.layers}
    assert {"layers.0", "layers.1", "feedback.0", "units.0", "units.1"} <= names
    # the feedback synapses carry the output spikes back: as many operations as W_2's forward direction would
    fb = counts.layer("feedback.0")
    assert fb.dense_macs == pytest.approx(60 * 8 * 3)


def test_nudging_pulls_the_output_towards_the_target():
    net, x, t = _tiny_net()
    with torch.no_grad():
        free = net.relax(x)
        nudged = net.relax(x[:100], free.state, beta=0.5, target=t)
    assert float(((nudged.state.u[-1] - t) ** 2).sum()) < float(((free.state.u[-1] - t) ** 2).sum())


def test_options_are_checked():
    method = method_named("eqprop")
    assert method.params({})["beta"] > 0
    for bad in ({"beta": 0}, {"nudge": "up"}, {"nudge_steps": 0}, {"eps": 1.5}, {"spiking": "yes"},
                {"pre": "spikes", "spiking": False}):
        with pytest.raises(ValueError, match=next(iter(bad)) if "pre" not in bad else "pre"):
            method.params(bad)
    with pytest.raises(ValueError, match="method_params"):
        TrainConfig(dataset="digits", method="eqprop", method_params={"beta": -1.0})


def test_the_step_lowers_the_cost_on_a_batch():
    torch.manual_seed(0)
    net = EnergyNet([8, 16, 3], eps=0.5, spiking=False)
    x = torch.rand(1, 12, 8).expand(30, 12, 8).contiguous()
    y = torch.arange(12) % 3
    t = F.one_hot(y, 3).float()
    opt = torch.optim.SGD(net.parameters(), lr=0.2)
    batch = Batch(x, y, torch.full((12,), 30), torch.arange(12))
    objective = Objective(method_params=method_named("eqprop").params({"spiking": False, "nudge_steps": 30}))
    with torch.no_grad():
        before = float(((net.relax(x).state.u[-1] - t) ** 2).sum())
    for _ in range(20):
        eqprop_step(net, batch, opt, objective)
    with torch.no_grad():
        after = float(((net.relax(x).state.u[-1] - t) ** 2).sum())
    assert after < 0.7 * before


def test_train_eqprop_on_digits_through_the_command_line(tmp_path):
    run = tmp_path / "run"
    assert main(["train", "--method", "eqprop", "--dataset", "digits", "--epochs", "1", "--hidden", "16",
                 "--batch-size", "64", "--optimizer", "sgd", "--lr", "0.01", "--method-param", "nudge_steps=4",
                 "--threads", "1", "--no-progress", "--no-plots", "--out", str(run)]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert 0.0 <= metrics["test_accuracy"] <= 1.0
    assert metrics["spikes_per_sample"] > 0 and metrics["synaptic_ops_per_sample"] > 0
    assert json.loads((run / "config.json").read_text())["method_params"] == {"nudge_steps": 4}
    assert (run / "report.html").is_file()


def test_spike_frequencies_as_the_presynaptic_factor_stay_within_the_sigma_delta_bound():
    torch.manual_seed(2)
    net = EnergyNet([6, 8, 3], eps=0.5, spiking=True).double()
    x = (torch.rand(40, 5, 6) < 0.5).double()
    t = F.one_hot(torch.arange(5) % 3, 3).double()
    with torch.no_grad():
        torch.manual_seed(3)
        rate, _ = ep_gradients(net, x, t, 0.5, nudge_steps=40, pre="rate")
        spikes, _ = ep_gradients(net, x, t, 0.5, nudge_steps=40, pre="spikes")
    # the input layer's factor is the same; a hidden neuron's spike count over a window of 20 steps differs
    # from its summed rate by less than one spike, in each of the two phases (post factors <= 1)
    torch.testing.assert_close(rate[0][0], spikes[0][0])
    diff = (rate[1][0] - spikes[1][0]).abs().max()
    assert 0 < float(diff) <= 2 * (1 / 20) / 0.5 + 1e-9


def test_a_stream_in_chunks_gives_the_readout_of_the_whole():
    torch.manual_seed(1)
    net = EnergyNet([6, 8, 3], eps=0.5, spiking=True)
    x = (torch.rand(12, 2, 6) < 0.5).float()
    with torch.no_grad():
        whole = net(x)
        first, state = net(x[:5], return_state=True)
        second = net(x[5:], state)
    torch.testing.assert_close(torch.cat([first, second]), whole)


def test_a_batch_of_several_lengths_is_the_weighted_mean_of_its_length_groups_each_over_its_own_steps():
    torch.manual_seed(0)
    net = EnergyNet([8, 16, 3], eps=0.5, spiking=True)
    x = torch.rand(30, 5, 8)
    lengths = torch.tensor([30, 12, 30, 7, 12])
    x = x * (torch.arange(30)[:, None] < lengths[None, :]).unsqueeze(-1)  # zero padding, as batches have
    y = torch.tensor([0, 1, 2, 0, 1])
    batch = Batch(x, y, lengths, torch.arange(5))
    objective = Objective(method_params=method_named("eqprop").params())
    expected = None
    for length, rows in ((7, [3]), (12, [1, 4]), (30, [0, 2])):
        xs = x[:length, rows]
        grads, _ = ep_gradients(net, xs, F.one_hot(y[rows], 3).double().float(), 1.0, nudge_steps=10)
        part = [[g * len(rows) / 5 for g in pair] for pair in grads]
        expected = part if expected is None else [[a + b for a, b in zip(p, q)] for p, q in zip(expected, part)]
    eqprop_step(net, batch, torch.optim.SGD(net.parameters(), lr=0.0), objective)
    for lin, (dw, db) in zip(net.layers, expected):
        assert torch.allclose(lin.weight.grad, dw, atol=1e-6) and torch.allclose(lin.bias.grad, db, atol=1e-6)
    # the forward's readout at a sample's last valid step is the end of that sample's own free phase
    with torch.no_grad():
        whole = net(x)
        alone = net.relax(x[:7, [3]]).readout
    assert torch.allclose(whole[6, 3], alone[-1, 0])


"""``stdp``: the trace-based pair rule equals the plain sum over spike pairs (all-to-all and nearest-neighbour,
additive and multiplicative), traces decay as exp(-dt/tau); Diehl & Cook's network (inhibition, thresholds,
normalisation, votes); neurons labelled on the training split only; the method trains through the command
line."""

import json
import math

import pytest
import torch

from spikeforge.cli.main import main
from spikeforge.data.split import Batch
from spikeforge.hardware import count_ops
from spikeforge.learn import TrainConfig, Trainer, method_named
from spikeforge.learn.loop import Objective
from spikeforge.learn.methods.stdp import label_neurons, stdp_step
from spikeforge.learn.plasticity import PairSTDP
from spikeforge.nets.diehl_cook import DiehlCook

T, C, N = 40, 3, 2


def _trains():
    g = torch.Generator().manual_seed(4)
    pre = (torch.rand(T, C, generator=g) < 0.25).double()
    post = (torch.rand(T, N, generator=g) < 0.2).double()
    post[5, 0] = pre[5, 0] = 1.0  # a simultaneous pair
    return pre, post


def _pair_sum(times_a, t, tau, strict, nearest):
    """Sum over spikes of train ``a`` before ``t`` (``<=`` unless ``strict``) of exp(-(t - t_a)/tau); only the
    latest one when ``nearest``."""
    earlier = [ta for ta in times_a if (ta < t if strict else ta <= t)]
    if nearest:
        earlier = earlier[-1:]
    return sum(math.exp(-(t - ta) / tau) for ta in earlier)


def _closed_form(rule, w0, pre, post):
    """The pair-based rule written plainly: at each step, for each synapse, the sums over spike pairs."""
    w = w0.clone()
    pre_times = [[t for t in range(T) if pre[t, j]] for j in range(C)]
    post_times = [[t for t in range(T) if post[t, i]] for i in range(N)]
    nearest = rule.pairing == "nearest"
    for t in range(T):
        dw = torch.zeros_like(w)
        for i in range(N):
            for j in range(C):
                ltp = rule.nu_post * post[t, i] * _pair_sum(pre_times[j], t, rule.tau_pre, False, nearest)
                ltd = rule.nu_pre * pre[t, j] * _pair_sum(post_times[i], t, rule.tau_post, True, nearest)
                if rule.dependence == "multiplicative":
                    ltp, ltd = ltp * (rule.w_max - w[i, j]), ltd * (w[i, j] - rule.w_min)
                dw[i, j] = ltp - ltd
        w = (w + dw).clamp(rule.w_min, rule.w_max)
    return w


@pytest.mark.parametrize("pairing", ["all", "nearest"])
@pytest.mark.parametrize("dependence", ["additive", "multiplicative"])
def test_the_trace_rule_equals_the_sum_over_spike_pairs(pairing, dependence):
    pre, post = _trains()
    rule = PairSTDP(nu_post=0.05, nu_pre=0.04, tau_pre=3.0, tau_post=5.0, dependence=dependence, pairing=pairing)
    w0 = torch.tensor([[0.5, 0.3, 0.7], [0.4, 0.6, 0.5]], dtype=torch.float64)
    w = w0.clone()
    traces = rule.initial_traces(1, C, N, dtype=torch.float64)
    for t in range(T):
        dw, traces = rule.update(w, traces, pre[t][None], post[t][None])
        rule.apply(w, dw)
    expected = _closed_form(rule, w0, pre, post)
    assert not torch.equal(expected, w0)
    torch.testing.assert_close(w, expected, atol=1e-12, rtol=0)


def test_all_to_all_and_nearest_differ_and_the_simultaneous_pair_is_causal():
    rule = PairSTDP(nu_post=1.0, nu_pre=1.0, tau_pre=2.0, tau_post=2.0)
    w = torch.zeros(1, 1, dtype=torch.float64)
    tr = rule.initial_traces(1, 1, 1, dtype=torch.float64)
    one, zero = torch.ones(1, 1, dtype=torch.float64), torch.zeros(1, 1, dtype=torch.float64)
    dw, tr = rule.update(w, tr, one, one)  # pre and post together: potentiation exp(0) = 1, no depression
    assert float(dw) == pytest.approx(1.0)
    dw_all = [rule.update(w, tr, zero, zero)[0]]
    near = PairSTDP(nu_post=1.0, nu_pre=1.0, tau_pre=2.0, tau_post=2.0, pairing="nearest")
    # two presynaptic spikes then a postsynaptic one: all-to-all adds both pairs, nearest only the later one
    for r, expected in ((rule, math.exp(-2 / 2) + math.exp(-1 / 2)), (near, math.exp(-1 / 2))):
        tr = r.initial_traces(1, 1, 1, dtype=torch.float64)
        _, tr = r.update(w, tr, one, zero)
        _, tr = r.update(w, tr, one, zero)
        dw, _ = r.update(w, tr, zero, one)
        assert float(dw) == pytest.approx(expected)
    assert float(dw_all[0]) == 0.0


def test_traces_decay_as_exp_of_minus_dt_over_tau():
    rule = PairSTDP(tau_pre=3.0, tau_post=7.0)
    tr = rule.initial_traces(1, 1, 1, dtype=torch.float64)
    w = torch.zeros(1, 1, dtype=torch.float64)
    one, zero = torch.ones(1, 1, dtype=torch.float64), torch.zeros(1, 1, dtype=torch.float64)
    _, tr = rule.update(w, tr, one, one)
    for k in range(1, 6):
        _, tr = rule.update(w, tr, zero, zero)
        assert float(tr.pre) == pytest.approx(math.exp(-k / 3.0), rel=1e-12)
        assert float(tr.post) == pytest.approx(math.exp(-k / 7.0), rel=1e-12)


def test_rule_arguments_are_checked():
    for bad, name in (({"dependence": "power"}, "dependence"), ({"pairing": "first"}, "pairing"),
                      ({"tau_pre": 0}, "tau_pre"), ({"nu_post": -1}, "nu_post"), ({"w_min": 1.0}, "w_min")):
        with pytest.raises(ValueError, match=name):
            PairSTDP(**bad)
    with pytest.raises(ValueError, match="refractory"):
        method_named("stdp").params({"refractory": 1.5})
    with pytest.raises(ValueError, match="method_params"):
        TrainConfig(dataset="digits", method="stdp", method_params={"pairing": "all-to-one"})


def test_the_network_step_inhibition_thresholds_and_votes():
    torch.manual_seed(0)
    net = DiehlCook(4, 3, 2, tau=5.0, inhibition=10.0, norm=1.0, refractory=0)
    free = DiehlCook(4, 3, 2, tau=5.0, inhibition=0.0, norm=1.0, refractory=0)
    torch.testing.assert_close(net.input.weight.sum(1), torch.full((3,), 1.0))
    with torch.no_grad():
        for m in (net, free):
            m.input.weight.copy_(torch.tensor([[0.5] * 4, [0.45] * 4, [0.0] * 4]))
    x = torch.ones(6, 1, 4)
    spikes, _ = net.run(x)
    # neurons 0 (input 2 per step) and 1 (1.8) cross at step 0 and, uninhibited, at every step (reset to 0);
    # with inhibition each one's spike pushes the other 10 below at the next step
    assert spikes[0, 0].tolist() == [1.0, 1.0, 0.0]
    assert free.run(x)[0][:, 0, :2].sum() == 12
    assert spikes[1, 0].tolist() == [0.0, 0.0, 0.0]
    lam = math.exp(-1 / 5)
    v = -8.0  # step 1: 2 - 10; then v <- lam·v + 2 until it crosses 1
    for t in range(2, 6):
        v = lam * v + 2.0
        assert spikes[t, 0, 0] == float(v >= 1.0)
        if v >= 1.0:
            break
    assert spikes[:, 0, 2].sum() == 0
    # a threshold raised above what the input can reach keeps neuron 1 silent
    with torch.no_grad():
        net.excitatory.theta.copy_(torch.tensor([0.0, 1.8 / (1 - lam), 0.0]))
    spikes, _ = net.run(x)
    assert spikes[:, 0, 1].sum() == 0 and spikes[:, 0, 0].sum() > 0
    net.labels.copy_(torch.tensor([1, 1, -1]))
    votes = net(x)
    torch.testing.assert_close(votes[..., 1], torch.cumsum(spikes[:, 0, :2].sum(1), 0)[:, None] / 2)
    assert votes[..., 0].abs().sum() == 0
    counts = count_ops(net, x)
    assert counts.spikes == pytest.approx(float(spikes.sum()))
    assert {"input", "inhibition.weight", "excitatory"} <= {la.name for la in counts.layers}


def test_neurons_are_labelled_on_the_training_split_and_finalize_is_idempotent(tmp_path):
    config = TrainConfig(dataset="digits", method="stdp", steps=10, hidden=[12], batch_size=64, epochs=1, seed=0,
                         valid_fraction=0.0, method_params={"online": False})
    tr = Trainer(config, tmp_path / "run", progress=False, plots=False, hardware=False)
    tr.start()
    tr.fit()
    tr.method.finalize(tr.model, tr.dataset.train, tr.config, tr.device)
    first = tr.model.labels.clone()
    mean = label_neurons(tr.model, tr.dataset.train, seed=config.seed)
    assert torch.equal(tr.model.labels, first)
    fired = mean.sum(1) > 0
    assert torch.equal(first[fired], mean[fired].argmax(1)) and bool((first[~fired] == -1).all())
    # the test split is not what the labels come from: labelling on it would change them
    weights = tr.model.input.weight.clone()
    tr.method.finalize(tr.model, tr.dataset.train, tr.config, tr.device)
    assert torch.equal(tr.model.labels, first) and torch.equal(tr.model.input.weight, weights)


def test_online_learning_is_the_batch_rule_applied_one_sample_at_a_time():
    config = TrainConfig(dataset="digits", method="stdp", hidden=[10])
    method = method_named("stdp")
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(15, 3, 64, generator=g) < 0.4).float()
    y = torch.tensor([1, 4, 1])
    nets = []
    for _ in range(2):
        torch.manual_seed(5)
        nets.append(method.build_model(config, 64, 10))
    online = Objective(method_params=method.params({"online": True}))
    batch = Objective(method_params=method.params({"online": False}))
    stdp_step(nets[0], Batch(x, y, torch.full((3,), 15), torch.arange(3)), None, online)
    for i in range(3):
        stdp_step(nets[1], Batch(x[:, i:i + 1], y[i:i + 1], torch.full((1,), 15), torch.arange(1)), None, batch)
    for key, value in nets[0].state_dict().items():
        torch.testing.assert_close(value, nets[1].state_dict()[key], msg=key)
    assert float(nets[0].excitatory.theta.sum()) > 0  # neurons fired, thresholds rose


def test_train_stdp_on_digits_through_the_command_line(tmp_path):
    run = tmp_path / "run"
    assert main(["train", "--method", "stdp", "--dataset", "digits", "--steps", "20", "--epochs", "1",
                 "--hidden", "30", "--batch-size", "64", "--threads", "1", "--no-progress", "--no-plots",
                 "--method-param", "dependence=multiplicative", "--method-param", "online=false",
                 "--out", str(run)]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert 0.0 <= metrics["test_accuracy"] <= 1.0
    assert metrics["spikes_per_sample"] > 0 and metrics["synaptic_ops_per_sample"] > 0
    assert json.loads((run / "config.json").read_text())["method_params"] == {"dependence": "multiplicative",
                                                                          "online": False}


def test_a_stream_in_chunks_gives_the_votes_of_the_whole():
    torch.manual_seed(1)
    net = DiehlCook(64, 20, 10, tau=5.0, inhibition=10.0)
    net.labels.copy_(torch.arange(20) % 10)
    x = (torch.rand(12, 2, 64) < 0.4).float()
    whole = net(x)
    first, state = net(x[:5], return_state=True)
    second, _ = net(x[5:], state, return_state=True)
    assert float(whole[-1].sum()) > 0
    torch.testing.assert_close(torch.cat([first, second]), whole)

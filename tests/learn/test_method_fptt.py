"""FPTT (``fptt``): a batch equals a hand-written reference of the update equations (float64, the network
stepped by hand, plain SGD by hand); the running mean and the multipliers live in the optimizer's state, so
a checkpoint carries them and a resumed run is bit-identical; the graph kept between two optimizer steps does
not grow with T (BPTT's does)."""

import copy
import json

import pytest
import torch
from torch import nn
from torch.nn import functional as F

import spikeforge as sf
from spikeforge.cli.main import main
from spikeforge.data import Batch
from spikeforge.learn import TrainConfig, Trainer
from spikeforge.learn.checkpoint import load_checkpoint
from spikeforge.learn.loop import Objective
from spikeforge.learn.methods import method_named
from spikeforge.nets import mlp, rsnn

B, C, H = 3, 2, 4


def _model(family: str, classes: int, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    build = mlp if family == "mlp" else rsnn
    return build([C, H, classes], neuron=sf.LIF(tau=3.0, threshold=0.3, firing=sf.Gaussian(0.5)), synapse="dense",
                 readout_tau=4.0).double()


def _batch(steps: int, lengths, regression: bool, seed: int = 1) -> Batch:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(steps, B, C, generator=g, dtype=torch.float64) * 1.5
    y = torch.rand(B, generator=g, dtype=torch.float64) * 2 if regression else torch.tensor([1, 0, 1])
    return Batch(x, y, torch.tensor(lengths), torch.arange(B))


def _reference(step_window, model, batch, lr, params, loss, mean=None, lam=None):
    """The update equations written plainly: per window, the network stepped by hand from the detached state,
    the data loss, the regulariser, autograd, W <- W - lr g, then lambda and W_bar. ``mean``/``lam``: where a
    previous batch left them (default: W_bar = W, lambda = 0)."""
    alpha, beta, rho, k, weighting = (params[n] for n in ("alpha", "beta", "rho", "k", "weighting"))
    layers, ps = list(model), list(model.parameters())
    mean = [p.detach().clone() for p in ps] if mean is None else [m.clone() for m in mean]
    lam = [torch.zeros_like(p) for p in ps] if lam is None else [la.clone() for la in lam]
    states = [None] * len(layers)
    steps = batch.x.shape[0]
    for t0 in range(0, steps, k):
        t1 = min(steps, t0 + k)
        outs, states = step_window(layers, batch.x, t0, t1, states)
        data, running = 0.0, False
        for b in range(B):
            n = int(batch.lengths[b])
            if n <= t0:
                continue
            running = True
            e = min(t1, n) - 1
            o = outs[e - t0][b]
            term = (o[0] - batch.y[b]) ** 2 if loss == "mse" else F.cross_entropy(o, batch.y[b])
            data = data + ((e + 1) / n if weighting == "linear" else 1.0) * term
        if not running:
            continue
        total = data / B
        for p, m, la in zip(ps, mean, lam):
            total = total - (1 - rho) * (p * la).sum() + alpha / 2 * ((p - m) ** 2).sum()
        grads = torch.autograd.grad(total, ps)
        with torch.no_grad():
            for i, (p, g) in enumerate(zip(ps, grads)):
                p -= lr * g
                lam[i] = lam[i] - alpha * (p - mean[i])
                mean[i] = (1 - beta) * mean[i] + beta * p - beta / alpha * lam[i]
    return ps, mean, lam


@pytest.mark.parametrize("family", ["mlp", "recurrent"])
@pytest.mark.parametrize("loss, options, lengths", [
    ("mse", {}, (6, 6, 6)),
    ("mse", {"k": 2, "alpha": 0.3, "beta": 0.7, "rho": 0.2}, (6, 4, 1)),
    ("last", {"weighting": "uniform"}, (6, 3, 5)),
    ("last", {"k": 4}, (6, 5, 2)),
])
def test_a_batch_equals_the_update_equations_written_by_hand(family, loss, options, lengths, step_window):
    model = _model(family, 1 if loss == "mse" else 2)
    ref_model = copy.deepcopy(model)
    batch = _batch(6, lengths, loss == "mse")
    lr = 0.05
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    method = method_named("fptt")
    params = method.params(options)
    for _ in range(2):  # the second batch starts from the stored mean and multipliers
        method(model, batch, opt, Objective(loss=loss, method_params=options))
    _, mean, lam = _reference(step_window, ref_model, batch, lr, params, loss)
    ref = _reference(step_window, ref_model, batch, lr, params, loss, mean, lam)
    for p, w, m, la in zip(model.parameters(), *ref):
        assert torch.allclose(p, w, rtol=1e-10, atol=1e-12)
        assert torch.allclose(opt.state[p]["fptt_mean"], m, rtol=1e-10, atol=1e-12)
        assert torch.allclose(opt.state[p]["fptt_lambda"], la, rtol=1e-10, atol=1e-12)
    assert any(float(la.abs().max()) > 0 for la in ref[2])


def _saved_between_steps(method: str, steps: int, params=None) -> int:
    """The most bytes autograd saves for backward between two optimizer steps of one batch."""
    model = _model("recurrent", 1, seed=3)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    count, peak = [0], [0]

    def pack(t):
        count[0] += t.numel() * t.element_size()
        peak[0] = max(peak[0], count[0])
        return t

    def reset(*_):
        count[0] = 0

    opt.register_step_post_hook(reset)
    batch = _batch(steps, (steps, steps, steps), True)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        method_named(method)(model, batch, opt, Objective(loss="mse", method_params=params or {}))
    return peak[0]


def test_the_graph_kept_between_steps_does_not_grow_with_the_sequence():
    fptt = [_saved_between_steps("fptt", t) for t in (20, 200)]
    bptt = [_saved_between_steps("bptt", t) for t in (20, 200)]
    window = [_saved_between_steps("fptt", t, {"k": 5}) for t in (20, 200)]
    assert fptt[0] == fptt[1] > 0 and window[0] == window[1] > fptt[0]
    assert bptt[1] > 8 * bptt[0]


@pytest.mark.parametrize("bad, match", [
    ({"alpha": 0}, "alpha: expected a number > 0"), ({"beta": 1.5}, r"beta: expected a number in \(0, 1\]"),
    ({"k": 0}, "k: expected an integer >= 1"), ({"weighting": "t"}, "weighting: expected one of"),
    ({"rho": float("nan")}, "rho: expected a finite number"), ({"lambda": 1}, "lambda: not an option"),
])
def test_bad_options_are_named(bad, match):
    with pytest.raises(ValueError, match=match):
        method_named("fptt").params(bad)


def test_a_resumed_run_is_bit_identical_and_the_checkpoint_carries_the_mean_and_multipliers(tmp_path):
    config = TrainConfig(dataset="digits", steps=6, hidden=[8], batch_size=400, epochs=2, seed=2, method="fptt",
                         method_params={"k": 2})
    whole = Trainer(config, tmp_path / "whole", progress=False, plots=False, hardware=False)
    whole.start()
    whole.fit()
    parted = Trainer(config, tmp_path / "parted", progress=False, plots=False, hardware=False)
    parted.start()
    assert parted.fit(stop_after=1) == "stopped"
    saved = load_checkpoint(tmp_path / "parted" / "checkpoint.safetensors")["optimizer"]["state"]
    assert all({"fptt_mean", "fptt_lambda", "exp_avg"} <= set(entry) for entry in saved.values())
    resumed = Trainer.resume(tmp_path / "parted", progress=False, plots=False, hardware=False)
    resumed.fit()
    a = load_checkpoint(tmp_path / "whole" / "checkpoint.safetensors")
    b = load_checkpoint(tmp_path / "parted" / "checkpoint.safetensors")
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    for idx, entry in a["optimizer"]["state"].items():
        for name in ("fptt_mean", "fptt_lambda"):
            assert torch.equal(entry[name], b["optimizer"]["state"][idx][name])


def test_fptt_trains_the_adding_problem_from_the_command_line(tmp_path):
    run = tmp_path / "run"
    args = ["train", "--dataset", "adding:12", "--loss", "mse", "--method", "fptt", "--method-param", "alpha=0.2",
            "--hidden", "8", "--epochs", "1", "--batch-size", "200", "--threads", "1", "--no-progress", "--no-plots",
            "--out", str(run)]
    assert main(args) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert json.loads((run / "config.json").read_text())["method_params"] == {"alpha": 0.2}
    assert metrics["task"] == "regression" and metrics["test_mse"] == metrics["test_loss"]

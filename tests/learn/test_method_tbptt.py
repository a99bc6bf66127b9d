"""Truncated BPTT (``tbptt``): with ``k >= T`` exactly BPTT; with ``k < T`` each window's gradient is the
autograd gradient of that window's loss from the state before it, detached (a plain per-step reference); the
state carried from window to window is the uninterrupted forward's; models whose state cannot be carried are
refused naming the layer."""

import copy
import json
import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F

import spikeforge as sf
from spikeforge.cli.main import main
from spikeforge.data import Batch
from spikeforge.learn.loop import Objective
from spikeforge.learn.methods import method_named
from spikeforge.learn.methods._windows import carried_model, run_windows, window_bounds
from spikeforge.nets import Sequential, mlp, rsnn

T, B, C, H, K_OUT = 11, 4, 3, 6, 3


def _model(family: str, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    build = mlp if family == "mlp" else rsnn
    model = build([C, H, K_OUT], neuron=sf.LIF(tau=4.0, threshold=0.3, firing=sf.Gaussian(0.5)), synapse="dense",
                  readout_tau=5.0)
    return model.double()


def _batch(seed: int = 1, lengths=(11, 7, 3, 9)) -> Batch:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(T, B, C, generator=g, dtype=torch.float64) * 1.5
    lengths = torch.tensor(lengths)
    x = x * (torch.arange(T)[:, None] < lengths[None, :]).to(x.dtype)[..., None]
    return Batch(x, torch.tensor([0, 2, 1, 2]), lengths, torch.arange(B))


class Recorder(torch.optim.Optimizer):
    """Records every step's gradients and leaves the weights as they are."""

    def __init__(self, params):
        super().__init__(list(params), {"lr": 0.0})
        self.grads = []

    def step(self, closure=None):
        self.grads.append([p.grad.detach().clone() for g in self.param_groups for p in g["params"]])


@pytest.mark.parametrize("family", ["mlp", "recurrent"])
@pytest.mark.parametrize("loss", ["last", "mean", "max"])
def test_a_window_at_least_as_long_as_the_sequence_is_exactly_bptt(family, loss):
    a, b = _model(family), _model(family)
    opt_a, opt_b = torch.optim.Adam(a.parameters(), 1e-2), torch.optim.Adam(b.parameters(), 1e-2)
    bptt, tbptt = method_named("bptt"), method_named("tbptt")
    for k in range(3):
        batch = _batch(seed=k)
        ra = bptt(a, batch, opt_a, Objective(loss=loss))
        rb = tbptt(b, batch, opt_b, Objective(loss=loss, method_params={"k": T + k}))
        assert rb.loss == pytest.approx(ra.loss, rel=1e-12) and torch.allclose(ra.logits, rb.logits, atol=1e-12)
    for (name, pa), pb in zip(a.named_parameters(), b.parameters()):
        assert torch.equal(pa, pb), name


def _reference_window_grads(step_window, model, batch, k, loss):
    """Per window: autograd of the window's loss from the (detached) state before it, the network stepped one
    step at a time by hand (synapse, then neuron with spikeforge.step)."""
    layers = list(model)
    params = list(model.parameters())
    lengths, y = batch.lengths, batch.y
    states = [None] * len(layers)
    grads = []
    for t0 in range(0, T, k):
        t1 = min(T, t0 + k)
        outs, states = step_window(layers, batch.x, t0, t1, states)
        out = torch.stack(outs)
        terms = []
        for b in range(B):
            n_valid = max(0, min(int(lengths[b]), t1) - t0)
            if loss == "last":
                if t0 <= int(lengths[b]) - 1 < t1:
                    terms.append(F.cross_entropy(out[int(lengths[b]) - 1 - t0, b], y[b]))
            elif n_valid:
                mean = out[:n_valid, b].mean(0)
                terms.append(n_valid / int(lengths[b]) * F.cross_entropy(mean, y[b]))
        if terms:
            grads.append(torch.autograd.grad(sum(terms) / B, params, allow_unused=True))
    return [[torch.zeros_like(p) if g is None else g for g, p in zip(gs, params)] for gs in grads]


@pytest.mark.parametrize("family", ["mlp", "recurrent"])
@pytest.mark.parametrize("loss, k", [("last", 4), ("last", 2), ("mean", 3), ("mean", 5)])
def test_each_window_gradient_is_autograd_from_the_detached_state_before_it(family, loss, k, step_window):
    model = _model(family, seed=2)
    batch = _batch(seed=3)
    recorder = Recorder(model.parameters())
    method_named("tbptt")(model, batch, recorder, Objective(loss=loss, method_params={"k": k}))
    reference = _reference_window_grads(step_window, copy.deepcopy(model), batch, k, loss)
    assert len(recorder.grads) == len(reference) > 1
    for got, want in zip(recorder.grads, reference):
        for g, w in zip(got, want):
            assert torch.allclose(g, w, rtol=1e-10, atol=1e-12)
    # the windows' gradients are not BPTT's: truncation loses the paths across windows
    full = sum(torch.stack([g[0] for g in reference]))
    model.zero_grad()
    out = model(batch.x)
    from spikeforge.learn.losses import classification_loss

    classification_loss(out, batch.y, batch.lengths, loss)[0].backward()
    assert not torch.allclose(full, next(model.parameters()).grad, atol=1e-6)


@pytest.mark.parametrize("family", ["mlp", "recurrent"])
@pytest.mark.parametrize("k", [1, 3, 4, 11])
def test_the_carried_state_is_the_uninterrupted_forward_state(family, k):
    model = _model(family, seed=4)
    x = _batch(seed=5).x * 2
    spikes = {}
    neuron = model[1]
    neuron.register_forward_hook(lambda m, i, o: spikes.setdefault("run", []).append(o[0] if isinstance(o, tuple)
                                                                                   else o))
    with torch.no_grad():
        full_out, full_state = model(x, return_state=True)
        whole = spikes.pop("run")[0]
        outs, last = [], None
        for _t0, _t1, out, state in run_windows(model, x, k):
            outs.append(out)
            last = state
        windowed = torch.cat(spikes.pop("run"))
    assert whole.sum() > 0 and torch.equal(whole, windowed)  # spikes equal step by step
    assert torch.equal(torch.cat(outs), full_out)
    for a, b in zip(full_state, last):
        if a is not None:
            for u, v in zip(a, b):
                assert (u is None and v is None) or torch.equal(u, v)


def test_window_bounds_cover_the_sequence():
    assert window_bounds(10, 4) == [(0, 4), (4, 8), (8, 10)]
    assert window_bounds(3, 5) == [(0, 3)]
    with pytest.raises(ValueError, match="k: expected an integer >= 1"):
        window_bounds(3, 0)


def test_models_whose_state_cannot_be_carried_are_refused_naming_the_layer():
    with pytest.raises(ValueError, match=r"layer 1 \(BatchNorm1d\)"):
        carried_model(Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), sf.LIF()), "tbptt")
    with pytest.raises(ValueError, match=r"needs a spikeforge\.nets\.Sequential"):
        carried_model(nn.Linear(3, 4), "tbptt")
    objective = Objective(method_params={"k": 2})
    with pytest.raises(ValueError, match="Sequential"):
        method_named("tbptt")(nn.Linear(3, 3), _batch(), torch.optim.SGD([nn.Parameter(torch.zeros(1))]), objective)


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "3"])
def test_a_bad_window_length_is_named(bad):
    with pytest.raises(ValueError, match="k: expected an integer >= 1"):
        method_named("tbptt").params({"k": bad})


def test_tbptt_trains_the_adding_problem_from_the_command_line(tmp_path):
    run = tmp_path / "run"
    args = ["train", "--dataset", "adding:30", "--loss", "mse", "--tbptt", "10", "--hidden", "8", "--epochs", "1",
            "--batch-size", "100", "--threads", "1", "--no-progress", "--no-plots", "--out", str(run)]
    assert main(args) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    config = json.loads((run / "config.json").read_text())
    assert config["method"] == "tbptt" and config["method_params"] == {"k": 10}
    assert metrics["task"] == "regression" and metrics["confusion"] is None
    assert math.isfinite(metrics["test_mse"]) and metrics["test_mse"] == metrics["test_loss"]
    assert 0 <= metrics["test_accuracy"] <= 1 and "0.04" in metrics["accuracy_rule"]

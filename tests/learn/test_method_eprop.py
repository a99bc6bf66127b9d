"""``eprop``: where e-prop equals BPTT (no recurrent weights, the reset detached, symmetric feedback, the per-step
loss through the leaky readout), e-prop with recurrence against its factorisation written here with autograd,
random feedback, refusals, and the command line."""

import copy
import json
from types import SimpleNamespace

import pytest
import torch
from torch.nn import functional as F

import spikeforge as sf
from spikeforge.cli.main import main
from spikeforge.learn import Objective, TrainConfig, build_model
from spikeforge.learn.methods.eprop import FEEDBACK_BUFFER, METHOD, add_random_feedback, eprop_gradients, eprop_step
from spikeforge.nets import mlp, rsnn
from spikeforge.neuron import LIState

T, B, C, N, K = 14, 5, 6, 8, 3
LENGTHS = torch.tensor([14, 9, 14, 5, 2])


def _neuron(kind, **kw):
    base = {"threshold": 0.5, "firing": sf.Gaussian(0.5), "dtype": torch.float64, "detach_reset": True, **kw}
    if kind == "ALIF":
        return sf.AdaptiveLIF(tau=8.0, tau_adapt=30.0, adapt_scale=0.3, **base)
    return sf.LIF(tau=5.0, reset=kind.split("-")[1], **base)


def _batch(seed=0, regression=False):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(T, B, C, generator=g, dtype=torch.float64) * 1.5
    y = torch.rand(B, generator=g, dtype=torch.float64) if regression else torch.randint(0, K, (B,), generator=g)
    return SimpleNamespace(x=x, y=y, lengths=LENGTHS)


def _per_step_loss(out, batch, loss):
    total = 0
    for t in range(out.shape[0]):
        lengths = batch.lengths
        if loss == "mean":
            w = (t < lengths).double() / (lengths.double() * len(lengths))
        else:
            w = (t == lengths - 1).double() / len(lengths)
        per = (out[t, :, 0] - batch.y) ** 2 if loss == "mse" else F.cross_entropy(out[t], batch.y, reduction="none")
        total = total + (w * per).sum()
    return total


@pytest.mark.parametrize("loss", ["mean", "last", "mse"])
@pytest.mark.parametrize("kind", ["LIF-soft", "LIF-hard", "ALIF"])
def test_without_recurrence_eprop_is_bptt(kind, loss):
    """THE check: no recurrent weights, the reset excluded from the gradient (detach_reset), symmetric feedback,
    the per-step loss through the leaky readout: e-prop's updates are BPTT's (autograd through the model's
    fused forward)."""
    torch.manual_seed(7)
    model = mlp([C, N, 1 if loss == "mse" else K], neuron=_neuron(kind), readout_tau=6.0).double()
    batch = _batch(1, regression=loss == "mse")
    result = eprop_gradients(model, batch, Objective(loss=loss))
    params = [p for p, _ in result.grads]
    assert len(params) == 4
    out = model(batch.x)
    assert float(model[1](model[0](batch.x)).detach().sum()) > 5  # the hidden layer spikes
    exact = torch.autograd.grad(_per_step_loss(out, batch, loss), params)
    assert result.loss == pytest.approx(float(_per_step_loss(out, batch, loss).detach()), rel=1e-12)
    for (_, g), e in zip(result.grads, exact):
        assert float(e.abs().max()) > 1e-4
        torch.testing.assert_close(g, e, rtol=0, atol=1e-10)


def factorised_eprop(model, batch, loss, feedback=None):
    """e-prop by autograd: the model's own layers stepped one at a time, the recurrent input taken from the
    previous spikes *detached* (e-prop drops the paths through other neurons), the reset detached by the
    neuron; the readout's gradient reaches the spikes through ``feedback`` (default ``W_out``)."""
    lin_in, rec, lin_out, li = model
    x = batch.x
    state, o, outs = None, LIState(torch.zeros(x.shape[1], K, dtype=x.dtype)), []
    z = torch.zeros(x.shape[1], N, dtype=x.dtype)
    for t in range(x.shape[0]):
        current = lin_in(x[t][None])[0] + F.linear(z.detach(), rec.weight)
        z, state = sf.step(rec.neuron, current, state)
        if feedback is None:
            drive = lin_out(z[None])[0]
        else:  # the value of W_out·z + b, the gradient to z through the feedback matrix
            drive = lin_out(z.detach()[None])[0] + (F.linear(z, feedback) - F.linear(z, feedback).detach())
        out, o = li(drive[None], o, return_state=True)
        outs.append(out[0])
    params = [lin_in.weight, lin_in.bias, rec.weight, lin_out.weight, lin_out.bias]
    return torch.autograd.grad(_per_step_loss(torch.stack(outs), batch, loss), params)


@pytest.mark.parametrize("kind", ["LIF-soft", "LIF-hard", "ALIF"])
def test_with_recurrence_eprop_is_its_factorisation_and_the_readout_stays_exact(kind):
    torch.manual_seed(11)
    model = rsnn([C, N, K], neuron=_neuron(kind), readout_tau=6.0).double()
    with torch.no_grad():
        model[1].weight.mul_(2.0)  # recurrence that matters
    batch = _batch(2)
    result = eprop_gradients(model, batch, Objective(loss="mean"))
    ref = factorised_eprop(model, batch, "mean")
    for (_, g), e in zip(result.grads, ref):
        assert float(e.abs().max()) > 1e-4
        torch.testing.assert_close(g, e, rtol=0, atol=1e-10)
    bptt = torch.autograd.grad(_per_step_loss(model(batch.x), batch, "mean"), [p for p, _ in result.grads])
    for (_, g), e in zip(result.grads[3:], bptt[3:]):
        torch.testing.assert_close(g, e, rtol=0, atol=1e-10)  # the readout's gradient is exact
    assert float((result.grads[2][1] - bptt[2]).abs().max()) > 1e-5  # the recurrent one is not


def test_random_feedback_is_fixed_kept_in_the_model_and_used_for_the_hidden_layer():
    torch.manual_seed(3)
    model = rsnn([C, N, K], neuron=_neuron("LIF-soft"), readout_tau=6.0).double()
    batch = _batch(4)
    objective = Objective(loss="mean", method_params={"feedback": "random"})
    with pytest.raises(ValueError, match=r"^feedback: 'random' needs the model's fixed feedback matrix"):
        eprop_gradients(model, batch, objective)
    fb = add_random_feedback(model, torch.Generator().manual_seed(0))
    assert add_random_feedback(model) is fb and FEEDBACK_BUFFER in model.state_dict()
    result = eprop_gradients(model, batch, objective)
    ref = factorised_eprop(model, batch, "mean", feedback=fb)
    for (_, g), e in zip(result.grads, ref):
        torch.testing.assert_close(g, e, rtol=0, atol=1e-10)
    symmetric = eprop_gradients(model, batch, Objective(loss="mean"))
    assert not torch.allclose(result.grads[0][1], symmetric.grads[0][1])
    for (_, a), (_, b) in zip(result.grads[3:], symmetric.grads[3:]):
        assert torch.equal(a, b)
    config = TrainConfig(method="eprop", model="recurrent", hidden=[N], method_params={"feedback": "random"}, seed=2)
    a, b = build_model(config, C, K), build_model(config, C, K)
    assert torch.equal(getattr(a, FEEDBACK_BUFFER), getattr(b, FEEDBACK_BUFFER))
    assert getattr(a, FEEDBACK_BUFFER).shape == (K, N)


def test_a_step_applies_the_gradients_with_loss_weight_and_clipping():
    torch.manual_seed(5)
    model = rsnn([C, N, K], neuron=_neuron("ALIF"), readout_tau=6.0).double()
    clipped = copy.deepcopy(model)
    batch = _batch(6)
    grads = dict(eprop_gradients(model, batch, Objective(loss="last")).grads)
    start = {p: p.detach().clone() for p in model.parameters()}
    eprop_step(model, batch, torch.optim.SGD(model.parameters(), lr=0.1), Objective(loss="last", loss_weight=0.5))
    for p in model.parameters():
        torch.testing.assert_close(p.detach(), start[p] - 0.1 * 0.5 * grads[p], rtol=0, atol=1e-12)
    norm = float(torch.sqrt(sum((g * g).sum() for g in grads.values())))
    before = {p: p.detach().clone() for p in clipped.parameters()}
    eprop_step(clipped, batch, torch.optim.SGD(clipped.parameters(), lr=1.0), Objective(loss="last",
                                                                                         grad_clip=norm / 4))
    moved = float(torch.sqrt(sum(((p.detach() - before[p]) ** 2).sum() for p in clipped.parameters())))
    assert moved == pytest.approx(norm / 4, rel=1e-6)


def test_refusals_name_the_layer_and_the_option():
    batch = _batch(0)
    opt = lambda m: torch.optim.SGD(m.parameters(), lr=0.1)  # noqa: E731
    deep = mlp([C, N, N, K], neuron=_neuron("LIF-soft")).double()
    with pytest.raises(ValueError, match=r"method 'eprop' trains networks with at most 1 hidden layer; got 2"):
        eprop_step(deep, batch, opt(deep), Objective())
    model = rsnn([C, N, K], neuron=_neuron("LIF-soft")).double()
    with pytest.raises(ValueError, match=r"^loss: method 'eprop' trains a per-step loss.*got 'sum'"):
        eprop_step(model, batch, opt(model), Objective(loss="sum"))
    with pytest.raises(ValueError, match=r"^rate_reg: method 'eprop' has no firing-rate regulariser"):
        eprop_step(model, batch, opt(model), Objective(rate_reg=0.1))
    refractory = rsnn([C, N, K], neuron=sf.LIF(reset="refractory", dtype=torch.float64)).double()
    with pytest.raises(ValueError, match=r"layer 1 \(Recurrent\)'s neuron with reset='refractory'"):
        eprop_step(refractory, batch, opt(refractory), Objective())
    with pytest.raises(ValueError, match=r"^feedback: expected one of \('symmetric', 'random'\), got 'mirror'"):
        METHOD.params({"feedback": "mirror"})
    with pytest.raises(ValueError, match=r"config hidden: method 'eprop' trains at most 1 hidden layer"):
        build_model(TrainConfig(method="eprop", model="recurrent", hidden=[8, 8]), C, K)
    with pytest.raises(ValueError, match=r"config loss: method 'eprop' trains a per-step loss.*got 'max'"):
        build_model(TrainConfig(method="eprop", model="recurrent", hidden=[8], loss="max"), C, K)


@pytest.mark.parametrize("extra", [[], ["--model", "recurrent", "--method-param", "feedback=random"]])
def test_command_line_run_folder(extra, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--method", "eprop", "--dataset", "digits", "--hidden", "32", "--epochs", "1", "--out",
                 str(run), "--threads", "1", "--no-progress", "--no-plots", "--no-report", *extra]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test_accuracy"] > 0.3  # ten classes: chance is 0.1
    capsys.readouterr()
    assert main(["evaluate", str(run), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["accuracy"] == metrics["test_accuracy"]

"""``ottt`` (online training through time): its instantaneous gradients against a naive per-step autograd loop
written here, its relation to BPTT, OTTT_O against the same loop with an SGD step per time step, memory that
does not grow with T, refusals, and the command line."""

import json
import weakref
from types import SimpleNamespace

import pytest
import torch
from torch.nn import functional as F
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

import spikeforge as sf
from spikeforge.cli.main import main
from spikeforge.learn import Objective, TrainConfig, build_model, fit
from spikeforge.learn.methods.ottt import METHOD, ottt_gradients, ottt_step
from spikeforge.nets import mlp, rsnn
from spikeforge.neuron import LIState

T, B, C, K = 14, 5, 6, 3
LENGTHS = torch.tensor([14, 9, 14, 5, 2])


def _lif(**kw):
    return sf.LIF(**{"tau": 5.0, "threshold": 0.5, "firing": sf.Gaussian(0.5), "dtype": torch.float64, **kw})


def _batch(seed=0, regression=False, steps=T, rows=B, lengths=LENGTHS):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(steps, rows, C, generator=g, dtype=torch.float64) * 1.5
    y = torch.rand(rows, generator=g, dtype=torch.float64) if regression else torch.randint(0, K, (rows,), generator=g)
    return SimpleNamespace(x=x, y=y, lengths=lengths)


def _weights(t, lengths, loss):
    if loss == "mean":
        return (t < lengths).double() / (lengths.double() * len(lengths))
    return (t == lengths - 1).double() / len(lengths)


def _step_loss(o, y, t, lengths, loss):
    w = _weights(t, lengths, loss)
    per = (o[:, 0] - y) ** 2 if loss == "mse" else F.cross_entropy(o, y, reduction="none")
    return (w * per).sum()


def _detached(state):
    return type(state)(*(None if v is None else v.detach() for v in state))


def naive_ottt(model, batch, loss, sgd_lr=None):
    """OTTT by autograd, step by step: the model's own layers (their fused scans and surrogate backward) on one
    step with the state cut from the past, ``∂E_t/∂I^l_t`` by autograd, the traces as plain sums
    ``Σ_τ λ^{t−τ}·s_τ``. With ``sgd_lr``: a plain SGD step after every step with loss (OTTT_O)."""
    layers = list(model)
    syn, neurons, li = layers[0::2], layers[1:-1:2], layers[-1]
    decays = [n.lam().detach() for n in neurons] + [li.lam().detach()]
    x, y, lengths = batch.x, batch.y, batch.lengths
    states, o = [None] * len(neurons), torch.zeros(x.shape[1], syn[-1].out_features, dtype=x.dtype)
    history = [[] for _ in syn]
    total = {p: torch.zeros_like(p) for p in model.parameters()}
    for t in range(x.shape[0]):
        s, currents = x[t], []
        for k, neuron in enumerate(neurons):
            history[k].append(s.detach())
            current = syn[k](s[None])[0]
            currents.append(current)
            s, states[k] = sf.step(neuron, current, None if states[k] is None else _detached(states[k]))
        history[-1].append(s.detach())
        current = syn[-1](s[None])[0]
        currents.append(current)
        out, st = li(current[None], LIState(o.detach()), return_state=True)
        o = st.v
        if not bool((_weights(t, lengths, loss) > 0).any()):
            continue
        grads = torch.autograd.grad(_step_loss(out[0], y, t, lengths, loss), currents)
        step = {}
        for k, g in enumerate(grads):
            powers = decays[k] ** torch.arange(t, -1, -1, dtype=x.dtype)
            trace = sum(powers[tau] * history[k][tau] for tau in range(t + 1))
            step[syn[k].weight] = g.t() @ trace
            step[syn[k].bias] = g.sum(0) * powers.sum()
        if sgd_lr is None:
            for p, g in step.items():
                total[p] += g
        else:
            with torch.no_grad():
                for p, g in step.items():
                    p -= sgd_lr * g
    return total


@pytest.mark.parametrize("loss", ["mean", "last", "mse"])
@pytest.mark.parametrize("reset", ["soft", "hard"])
def test_instantaneous_gradients_equal_a_naive_autograd_loop(loss, reset):
    torch.manual_seed(1)
    model = mlp([C, 7, 5, 1 if loss == "mse" else K], neuron=_lif(reset=reset), readout_tau=6.0).double()
    batch = _batch(2, regression=loss == "mse")
    result = ottt_gradients(model, batch, Objective(loss=loss))
    ref = naive_ottt(model, batch, loss)
    assert len(result.grads) == 6
    for p, g in result.grads:
        assert float(ref[p].abs().max()) > 1e-4  # spikes and gradients happen in every layer
        torch.testing.assert_close(g, ref[p], rtol=0, atol=1e-10)


def _bptt(model, batch, loss, params):
    out = model(batch.x)
    total = sum(_step_loss(out[t], batch.y, t, batch.lengths, loss) for t in range(out.shape[0]))
    return torch.autograd.grad(total, params)


@pytest.mark.parametrize("loss", ["mean", "last"])
def test_one_layer_no_reset_gradient_memoryless_readout_is_bptt(loss):
    """The relation of the module docstring: one hidden layer, the reset detached, readout decay κ = 0 (LI with
    τ = 1e-3: exp(-1000) = 0): OTTT_A's gradient of the per-step loss is BPTT's."""
    torch.manual_seed(3)
    model = mlp([C, 8, K], neuron=_lif(detach_reset=True), readout_tau=1e-3).double()
    assert float(model[-1].lam()) == 0.0
    batch = _batch(4)
    result = ottt_gradients(model, batch, Objective(loss=loss))
    exact = _bptt(model, batch, loss, [p for p, _ in result.grads])
    for (_, g), e in zip(result.grads, exact):
        assert float(e.abs().max()) > 1e-4
        torch.testing.assert_close(g, e, rtol=0, atol=1e-10)


def test_with_a_leaky_readout_only_the_readout_weights_stay_exact():
    torch.manual_seed(3)
    model = mlp([C, 8, K], neuron=_lif(detach_reset=True), readout_tau=10.0).double()
    batch = _batch(4)
    result = ottt_gradients(model, batch, Objective(loss="mean"))
    exact = _bptt(model, batch, "mean", [p for p, _ in result.grads])
    (_, g1), _, (_, g2), (_, gb2) = result.grads
    torch.testing.assert_close(g2, exact[2], rtol=0, atol=1e-10)
    torch.testing.assert_close(gb2, exact[3], rtol=0, atol=1e-10)
    assert float((g1 - exact[0]).abs().max()) > 1e-4  # the paths through the readout's memory are dropped
    cos = F.cosine_similarity(g1.flatten(), exact[0].flatten(), dim=0)
    assert cos > 0.5  # ... but it still points the same way


def test_online_update_is_an_optimiser_step_per_time_step():
    torch.manual_seed(5)
    model = mlp([C, 7, K], neuron=_lif(), readout_tau=6.0).double()
    reference = mlp([C, 7, K], neuron=_lif(), readout_tau=6.0).double()
    reference.load_state_dict(model.state_dict())
    batch = _batch(6)
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    ottt_step(model, batch, opt, Objective(loss="mean", method_params={"update": "online"}))
    naive_ottt(reference, batch, "mean", sgd_lr=0.5)
    for (name, p), q in zip(model.named_parameters(), reference.parameters()):
        torch.testing.assert_close(p, q, rtol=0, atol=1e-10, msg=name)
    # OTTT_A moves the weights by the summed gradient, once
    acc = mlp([C, 7, K], neuron=_lif(), readout_tau=6.0).double()
    acc.load_state_dict(reference.state_dict())
    start = {n: p.detach().clone() for n, p in acc.named_parameters()}
    grads = dict(ottt_gradients(acc, batch, Objective(loss="mean")).grads)
    ottt_step(acc, batch, torch.optim.SGD(acc.parameters(), lr=0.5), Objective(loss="mean"))
    for n, p in acc.named_parameters():
        torch.testing.assert_close(p.detach(), start[n] - 0.5 * grads[p], rtol=0, atol=1e-12)


class LiveBytes(TorchDispatchMode):
    """The peak of the bytes held by tensors created inside the mode (storages counted once; tensors made
    before it, such as the input, are not counted)."""

    def __init__(self):
        super().__init__()
        self.refs, self.sizes, self.now, self.peak = {}, {}, 0, 0

    def _free(self, key):
        self.refs[key] -= 1
        if not self.refs[key]:
            self.now -= self.sizes.pop(key)
            del self.refs[key]

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        inputs = {t.untyped_storage().data_ptr() for t in tree_leaves((args, kwargs)) if isinstance(t, torch.Tensor)}
        for t in tree_leaves(out):
            if not isinstance(t, torch.Tensor):
                continue
            key = t.untyped_storage().data_ptr()
            if key in self.refs:
                self.refs[key] += 1
            elif key in inputs or key == 0:
                continue  # a view or in-place result of a tensor from outside
            else:
                self.refs[key], self.sizes[key] = 1, t.untyped_storage().nbytes()
                self.now += self.sizes[key]
                self.peak = max(self.peak, self.now)
            weakref.finalize(t, self._free, key)
        return out


def _peak(fn):
    with LiveBytes() as meter:
        fn()
    return meter.peak


def test_peak_memory_does_not_grow_with_the_sequence_length():
    torch.manual_seed(0)
    model = mlp([C, 16, 16, K], neuron=_lif(), readout_tau=6.0).double()
    peaks, bptt = {}, {}
    for steps in (10, 80):
        batch = _batch(1, steps=steps, rows=4, lengths=torch.full((4,), steps))
        peaks[steps] = _peak(lambda b=batch: ottt_gradients(model, b, Objective(loss="mean")))

        def backprop(b=batch):
            out = model(b.x)
            sum(_step_loss(out[t], b.y, t, b.lengths, "mean") for t in range(b.x.shape[0])).backward()

        bptt[steps] = _peak(backprop)
    model.zero_grad()
    assert bptt[80] > 4 * bptt[10], bptt  # the meter sees BPTT's graph grow with T
    assert peaks[80] < 1.1 * peaks[10] + 1024, peaks
    assert peaks[80] < bptt[80] / 10, (peaks, bptt)


def test_refusals_name_the_layer_and_the_option():
    batch = _batch(0)
    opt = lambda m: torch.optim.SGD(m.parameters(), lr=0.1)  # noqa: E731
    rec = rsnn([C, 7, K], neuron=_lif()).double()
    with pytest.raises(ValueError, match=r"method 'ottt' trains the mlp family .*layer 1 \(Recurrent\) has recurrent"):
        ottt_step(rec, batch, opt(rec), Objective())
    model = mlp([C, 7, K], neuron=_lif()).double()
    with pytest.raises(ValueError, match=r"^loss: method 'ottt' trains a per-step loss.*got 'max'"):
        ottt_step(model, batch, opt(model), Objective(loss="max"))
    cuba = mlp([C, 7, K], neuron=sf.CuBaLIF(dtype=torch.float64)).double()
    with pytest.raises(ValueError, match=r"layer 1 \(CuBaLIF\) with a synaptic current"):
        ottt_step(cuba, batch, opt(cuba), Objective())
    learn = mlp([C, 7, K], neuron=_lif(learnable=("tau",))).double()
    with pytest.raises(ValueError, match=r"learnable neuron parameters \['tau'\]"):
        ottt_step(learn, batch, opt(learn), Objective())
    with pytest.raises(ValueError, match=r"^update: expected one of \('accumulate', 'online'\), got 'sometimes'"):
        METHOD.params({"update": "sometimes"})
    with pytest.raises(ValueError, match=r"config model: method 'ottt' trains the families \['mlp'\]; got 'tcn'"):
        build_model(TrainConfig(method="ottt", model="tcn", hidden=[8]), C, K)


def test_regression_with_mse_trains_through_fit():
    """``loss="mse"`` (real targets, one readout unit; what the adding problem uses): the step reports the
    objective's loss of the model it was given, and a few epochs through :func:`fit` lower it."""
    from spikeforge.data import Split
    from spikeforge.learn import classification_loss

    g = torch.Generator().manual_seed(0)
    n, steps = 96, 20
    values, marks = torch.rand(n, steps, generator=g), (torch.rand(n, steps, generator=g) < 0.5).float()
    x = torch.stack([values, marks], -1)
    split = Split(x, (values * marks).sum(1) / marks.sum(1).clamp(min=1), torch.full((n,), steps), ("mean",),
                  "series")
    torch.manual_seed(0)
    model = mlp([2, 32, 1], neuron=sf.LIF(tau=20.0, threshold=0.3, firing=sf.Gaussian(0.5)), readout_tau=5.0)
    xs, lengths = x.transpose(0, 1), split.lengths

    def objective_loss():
        with torch.no_grad():
            return float(classification_loss(model(xs), split.y, lengths, "mse")[0])

    before = objective_loss()
    result = ottt_step(model, SimpleNamespace(x=xs, y=split.y, lengths=lengths),
                       torch.optim.SGD(model.parameters(), lr=0.0), Objective(loss="mse"))
    assert result.loss == pytest.approx(before, rel=1e-5) and result.logits.shape == (n, 1)
    fit(model, "ottt", split, torch.optim.Adam(model.parameters(), lr=1e-2), epochs=4, batch_size=16,
        objective=Objective(loss="mse"), generator=torch.Generator().manual_seed(0))
    assert objective_loss() < before / 20


def test_command_line_run_folder(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--method", "ottt", "--dataset", "digits", "--hidden", "32", "--epochs", "1", "--out",
                 str(run), "--threads", "1", "--no-progress", "--no-plots", "--no-report"]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test_accuracy"] > 0.3  # ten classes: chance is 0.1
    assert "energy" in metrics
    assert json.loads((run / "config.json").read_text())["method"] == "ottt"
    capsys.readouterr()
    assert main(["evaluate", str(run), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["accuracy"] == metrics["test_accuracy"]


def test_state_is_not_kept_between_calls():
    # two calls on the same batch give the same gradients (nothing is carried on the method or the module)
    model = mlp([C, 7, K], neuron=_lif()).double()
    batch = _batch(3)
    a = ottt_gradients(model, batch, Objective(loss="mean"))
    b = ottt_gradients(model, batch, Objective(loss="mean"))
    for (_, ga), (_, gb) in zip(a.grads, b.grads):
        assert torch.equal(ga, gb)


def test_command_line_regression_on_the_adding_problem(tmp_path):
    """What benchmarks/method_memory.py runs: ``--method ottt`` on ``adding:T`` with ``--loss mse`` and two hidden
    layers of the mlp family."""
    run = tmp_path / "run"
    assert main(["train", "--method", "ottt", "--dataset", "adding:20", "--loss", "mse", "--hidden", "16,16",
                 "--epochs", "1", "--out", str(run), "--threads", "1", "--quiet", "--no-plots", "--no-report"]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test_loss"] == metrics["test_mse"] > 0
    assert json.loads((run / "config.json").read_text())["hidden"] == [16, 16]

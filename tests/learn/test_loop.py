"""The plain loop spikeforge.learn.fit: learns from a notebook-like script, sharded gradients equal the
full-batch gradient, callbacks stop and prune, resuming from a LoopState is exact, optimizers by name."""

import copy

import pytest
import torch

from spikeforge.data import carve_validation, load_dataset
from spikeforge.learn import LoopState, Objective, TrainConfig, bptt_step, build_model, fit, make_optimizer
from spikeforge.learn.loop import train_epoch

CFG = TrainConfig(hidden=[16], epochs=1)


@pytest.fixture(scope="module")
def jv():
    return load_dataset("JapaneseVowels")


def _model(ds, seed=0):
    torch.manual_seed(seed)
    return build_model(CFG, ds.in_channels, ds.num_classes)


def test_fit_from_a_notebook_learns(jv):
    # What a notebook does: load, carve a validation split, build, fit; no files, no terminal.
    train, valid = carve_validation(jv.train, 0.2, seed=0)
    model = _model(jv)
    opt = make_optimizer("adam", model.parameters(), lr=1e-2)
    state = fit(model, "bptt", train, opt, epochs=3, batch_size=32, valid=valid,
                generator=torch.Generator().manual_seed(0))
    assert state.epoch == 3 and state.step == 3 * -(-len(train) // 32) and not state.stopped
    rows = state.history
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    assert set(rows[0]) == {"epoch", "lr", "train_loss", "train_accuracy", "train_spikes_per_sample", "valid_loss",
                            "valid_accuracy", "valid_spikes_per_sample", "seconds"}
    assert rows[-1]["train_loss"] < rows[0]["train_loss"] and rows[-1]["valid_loss"] < rows[0]["valid_loss"]
    assert rows[-1]["valid_accuracy"] > 0.3  # chance is 1/9 (16 neurons, 3 epochs)
    # A data set is taken whole: its train split, and its valid split when it has one (JapaneseVowels: none).
    more = fit(_model(jv), "bptt", jv, make_optimizer("sgd", _model(jv).parameters(), 1e-2), epochs=1)
    assert "valid_accuracy" not in more.history[0]


def test_fit_never_evaluates_the_test_split(jv, monkeypatch):
    import spikeforge.learn.loop as loop

    seen = []
    real = loop.evaluate
    monkeypatch.setattr(loop, "evaluate", lambda model, split, *a, **k: seen.append(split) or real(model, split, *a,
                                                                                                     **k))
    train, valid = carve_validation(jv.train, 0.2, seed=1)
    ds = type(jv)(jv.name, train, jv.test, valid)
    model = _model(jv)
    fit(model, "bptt", ds, make_optimizer("adam", model.parameters(), 1e-3), epochs=2, batch_size=64)
    assert len(seen) == 2 and all(s is valid for s in seen)


def _grads(model):
    return {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize(("rows", "world"), [(32, 2), (7, 2), (2, 3)])
def test_sharded_gradients_average_to_the_full_batch_gradient(jv, rows, world):
    # One global batch (batch_size = its size); each "rank" runs the method's forward/backward on its shard;
    # the mean over ranks (what DDP computes) equals the one-process gradient of the whole batch.
    # (in float64, so that 1e-6 measures the weighting, not float32 rounding of gradients ~10)
    split = jv.train.take(torch.arange(rows))
    model = _model(jv).double()
    captured = []

    def method(m, batch, optimizer, objective):
        result = bptt_step(m, batch._replace(x=batch.x.double()), optimizer, objective)
        captured.append((_grads(m), objective.loss_weight, int(batch.y.shape[0])))
        return result

    objective = Objective(loss="last", label_smoothing=0.1)
    opt = torch.optim.SGD(model.parameters(), lr=0.0)  # lr 0: the weights stay, the gradients are kept
    train_epoch(model, method, split, opt, objective, batch_size=rows, generator=torch.Generator().manual_seed(0))
    full, _, _ = captured.pop()
    for rank in range(world):
        train_epoch(model, method, split, opt, objective, batch_size=rows, shard=(rank, world),
                    generator=torch.Generator().manual_seed(0))
    assert sum(n for _, w, n in captured if w > 0) == rows
    assert all(w == 0 for _, w, _ in captured[rows:])  # a rank without rows takes part with weight 0
    for name, g in full.items():
        mean = sum(c[0][name] for c in captured) / world
        assert torch.allclose(mean, g, atol=1e-6, rtol=0), (name, (mean - g).abs().max())
    assert any(float(g.abs().max()) > 0 for g in full.values())


def test_a_callback_stops_and_a_raising_one_prunes(jv):
    class StopAt:
        def __init__(self, at):
            self.at, self.batches, self.ended = at, 0, None

        def on_batch(self, state, metrics):
            self.batches += 1
            assert {"loss", "accuracy", "spikes"} <= set(metrics)

        def on_epoch_end(self, state, row):
            return state.epoch >= self.at

        def on_fit_end(self, state):
            self.ended = state.epoch

    model = _model(jv)
    cb = StopAt(2)
    state = fit(model, "bptt", jv.train, make_optimizer("adamw", model.parameters(), 1e-3, 1e-4), [cb, object()],
                epochs=5, batch_size=64)
    assert state.epoch == 2 and state.stopped and cb.ended == 2 and cb.batches == 2 * -(-len(jv.train) // 64)
    # continue the same state: it is no longer stopped
    state = fit(model, "bptt", jv.train, make_optimizer("adam", model.parameters(), 1e-3), epochs=3,
                batch_size=64, state=state)
    assert state.epoch == 3 and not state.stopped and len(state.history) == 3

    class Pruned(Exception):
        pass

    class Prune:
        def on_epoch_end(self, state, row):
            if row["train_accuracy"] < 2:  # always: pruning raises out of fit, as Optuna's TrialPruned
                raise Pruned(state.epoch)

    with pytest.raises(Pruned, match="1"):
        fit(_model(jv), "bptt", jv.train, make_optimizer("adam", model.parameters(), 1e-3), [Prune()], epochs=4,
            batch_size=64)


def test_resume_from_a_loop_state_gives_the_uninterrupted_weights(jv):
    def schedule(step):
        return 1e-2 * 0.9 ** step

    train, valid = carve_validation(jv.train, 0.25, seed=3)
    kw = {"batch_size": 32, "valid": valid, "lr_schedule": schedule, "objective": Objective(grad_clip=1.0)}
    model = _model(jv)
    opt = make_optimizer("adam", model.parameters(), 1e-2)
    whole = fit(model, "bptt", train, opt, epochs=3, generator=torch.Generator().manual_seed(5), **kw)

    part_model = _model(jv)
    part_opt = make_optimizer("adam", part_model.parameters(), 1e-2)
    gen = torch.Generator().manual_seed(5)
    part = fit(part_model, "bptt", train, part_opt, epochs=1, generator=gen, **kw)
    # what a checkpoint keeps: weights, optimizer state, generator state, the loop state
    saved = (copy.deepcopy(part_model.state_dict()), copy.deepcopy(part_opt.state_dict()), gen.get_state(),
             LoopState(part.epoch, part.step, [dict(r) for r in part.history]))
    model2 = _model(jv, seed=99)
    model2.load_state_dict(saved[0])
    opt2 = make_optimizer("adam", model2.parameters(), 1e-2)
    opt2.load_state_dict(saved[1])
    gen2 = torch.Generator()
    gen2.set_state(saved[2])
    resumed = fit(model2, "bptt", train, opt2, epochs=3, generator=gen2, state=saved[3], **kw)
    assert resumed.step == whole.step
    for k, v in model.state_dict().items():
        assert torch.equal(v, model2.state_dict()[k]), k
    strip = [{k: v for k, v in r.items() if k != "seconds"} for r in whole.history]
    assert strip == [{k: v for k, v in r.items() if k != "seconds"} for r in resumed.history]
    assert whole.history[-1]["lr"] == schedule(whole.step - 1)


def test_make_optimizer_and_objective():
    params = [torch.nn.Parameter(torch.zeros(3))]
    assert type(make_optimizer("Adam", params, 1e-3)) is torch.optim.Adam
    assert type(make_optimizer("adamw", params, 1e-3, 0.1)).__name__ == "AdamW"
    sgd = make_optimizer("sgd", params, 0.1)
    assert sgd.param_groups[0]["momentum"] == 0.9 and sgd.param_groups[0]["nesterov"]
    with pytest.raises(ValueError, match=r"optimizer: expected one of \('adam', 'adamw', 'sgd'\), got 'rmsprop'"):
        make_optimizer("rmsprop", params, 0.1)
    cfg = TrainConfig(loss="mean", label_smoothing=0.1, grad_clip=2.0)
    assert Objective.of(cfg) == Objective("mean", 0.1, 2.0, 1.0)
    assert Objective.of(None) == Objective()
    with pytest.raises(ValueError, match="Objective loss"):
        Objective(loss="median")
    digits = load_dataset("digits", steps=4).train
    with pytest.raises(TypeError, match=r"optimizer: expected a torch\.optim\.Optimizer"):
        fit(torch.nn.Linear(1, 1), "bptt", digits, None)
    with pytest.raises(ValueError, match="shard: expected"):
        train_epoch(torch.nn.Linear(1, 1), "bptt", digits, make_optimizer("sgd", params, 0.1), shard=(2, 2))
    with pytest.raises(ValueError, match="method: expected one of"):
        fit(torch.nn.Linear(1, 1), "nope", digits, make_optimizer("sgd", params, 0.1))

"""--model auto: chosen on the validation split (never the test split), within the budget, recorded, deterministic."""

from __future__ import annotations

import json

import pytest
import torch
from rich.console import Console

from spikeforge.data import load_dataset
from spikeforge.learn import auto, loop
from spikeforge.learn.config import ConfigError, TrainConfig
from spikeforge.learn.models import preferred_loss
from spikeforge.learn.search import Candidate, DataShape, candidates, space, suggest
from spikeforge.learn.trainer import load_training_data

DATASET = "ucr:ItalyPowerDemand"  # 67 train cases of 24 steps: a search over it takes seconds
EIGHT = [Candidate(f, "medium", 3e-3, e) for f in ("mlp", "delays", "tcn", "recurrent") for e in ("delta", "current")]


@pytest.fixture(scope="module")
def ipd():
    return load_dataset(DATASET)


def _config(**kw) -> TrainConfig:
    return TrainConfig(**{"dataset": DATASET, "model": "auto", "epochs": 2, "batch_size": 16, **kw})


def test_candidates_are_points_of_the_space_and_apply_their_family(ipd):
    shape = DataShape.of(ipd)
    assert (shape.kind, shape.steps, shape.channels, shape.classes, shape.train_size) == ("series", 24, 1, 2, 67)
    sp = space(shape)
    cands = candidates(shape)
    assert len(cands) >= 4 and len(set(cands)) == len(cands)
    assert all(c in sp for c in cands)
    assert {c.family for c in cands} >= {"mlp", "tcn"}
    assert {c.encoder for c in cands} == {"delta", "current"} < set(sp.encoders)
    cfg = cands[0].apply(TrainConfig(dataset=DATASET, model="auto"))
    assert (cfg.model, cfg.hidden, cfg.loss) == (cands[0].family, cands[0].hidden, preferred_loss(cands[0].family))
    assert cfg.encoder == cands[0].encoder_spec()
    # with the series' length: a tcn reads out its last step where its receptive field (24) covers the series
    tcn = next(c for c in cands if c.family == "tcn")
    base = TrainConfig(dataset=DATASET, model="auto")
    assert tcn.apply(base).loss == "mean" == tcn.apply(base, steps=25).loss != tcn.apply(base, steps=24).loss
    delays = next(c for c in cands if c.family == "delays")
    assert tcn.apply(base, steps=24).loss == "last" and delays.apply(base, steps=24).loss == "mean"
    # a fixed encoder: every candidate keeps the data set's
    assert all(c.encoder is None for c in candidates(shape, fixed_encoder=True))
    # static data: the MLP only
    assert {c.family for c in candidates(DataShape("static", 25, 64, 10, 100))} == {"mlp"}
    # series: the random-kernel network first, on the injected value; spike data never get it
    assert cands[0] == Candidate("rocket", "small", 3e-3, "current") and cands[0].hidden == [2688]
    assert cands[0].apply(base, steps=24).loss == "mean"
    spikes = DataShape("spikes", 100, 700, 20, 1000)
    assert "rocket" not in {c.family for c in candidates(spikes)} | set(space(spikes).families)
    with pytest.raises(ValueError, match="family expected one of"):
        Candidate("gru", "small", 1e-3)


def test_suggest_samples_the_same_space():
    import optuna

    shape = DataShape("series", 24, 1, 2, 67)
    trial = optuna.trial.FixedTrial({"family": "tcn", "encoder": "current", "size": "small", "lr": 0.01})
    cand = suggest(trial, shape)
    assert cand == Candidate("tcn", "small", 0.01, "current") and cand in space(shape)
    outside = Candidate("tcn", "small", 0.5, "current")
    assert outside not in space(shape)


class _Scripted:
    """Replaces the training of a candidate: validation accuracy by family (and a test accuracy that would
    choose otherwise), costing ``cost`` seconds of a fake clock."""

    def __init__(self, valid: dict[str, float], cost: float = 1.0) -> None:
        self.valid, self.cost, self.now, self.trained = valid, cost, 0.0, []

    def clock(self) -> float:
        return self.now

    def train_to(self, run, epochs, device, stop=None):
        self.now += self.cost
        self.trained.append((run.cand.family, run.cand.encoder, epochs))
        acc = self.valid.get(run.cand.family, 0.5) + (0.01 if run.cand.encoder == "delta" else 0.0)
        run.state.epoch = epochs
        run.seconds += self.cost
        return acc, 1.0 - acc, self.cost


def test_best_on_validation_is_chosen_even_when_another_is_better_on_test(ipd, monkeypatch):
    # The real loop: the candidates train on the carved split. evaluate() is scripted by family: the recurrent
    # network is best on validation, the MLP would be best on the test split.
    shape = DataShape.of(ipd)
    cands = [c for c in candidates(shape) if c.family in ("mlp", "recurrent")]
    monkeypatch.setattr(auto, "candidates", lambda shape, **kw: cands)
    config = _config()
    dataset, _, _ = load_training_data(config)
    real = loop.evaluate
    seen = []

    def scripted(model, split, objective=None, **kw):
        out = real(model, split, objective, **kw)
        family = "recurrent" if any(type(m).__name__ == "Recurrent" for m in model.modules()) else "mlp"
        seen.append(split.name)
        on_test = split is dataset.test
        out["accuracy"] = {("recurrent", False): 0.9, ("mlp", False): 0.6, ("recurrent", True): 0.5,
                           ("mlp", True): 1.0}[family, on_test]
        return out

    monkeypatch.setattr(loop, "evaluate", scripted)
    final, new_ds, record = auto.resolve(config, dataset, budget=1e9)
    assert final.model == "recurrent" and record["chosen"]["family"] == "recurrent"
    assert record["chosen"]["valid_accuracy"] == 0.9
    assert seen and set(seen) == {dataset.valid.name} != {dataset.test.name}
    assert len(new_ds.test) == len(dataset.test) and len(new_ds.valid) == len(dataset.valid)


def test_a_tcn_is_searched_and_trained_with_the_readout_of_its_receptive_field(ipd, monkeypatch):
    # ItalyPowerDemand: 24 steps, the medium tcn's receptive field: its last step; the MLP keeps its own
    script = _Scripted({"tcn": 0.9})
    losses = set()

    def train_to(run, epochs, device, stop=None):
        losses.add((run.cand.family, run.config.loss))
        return script.train_to(run, epochs, device)

    monkeypatch.setattr(auto, "_train_to", train_to)
    final, _, rec = auto.resolve(_config(), ipd, budget=1e9, clock=script.clock)
    assert rec["chosen"]["family"] == "tcn"
    assert (final.model, final.loss) == ("tcn", "last") and ("tcn", "last") in losses
    assert ("tcn", "mean") not in losses and ("mlp", "last") in losses and ("delays", "mean") in losses


def test_budget_stops_new_trainings(ipd, monkeypatch):
    script = _Scripted({"tcn": 0.9}, cost=10.0)
    monkeypatch.setattr(auto, "_train_to", script.train_to)
    config = _config(epochs=30).replace(model="mlp")
    train, valid, _ = auto.validation_split(config, ipd)
    cands = EIGHT
    rec = auto.select(cands, config, ipd, train, valid, budget=25.0, clock=script.clock)
    # 10 s each: the third training starts at 20 s < 25 s, none after 30 s
    assert len(script.trained) == 3 and rec["stopped"].startswith("budget")
    assert [len(c["rungs"]) for c in rec["candidates"]] == [1, 1, 1] + [0] * (len(cands) - 3)
    assert rec["chosen"]["index"] in (0, 1, 2)
    # a rung whose estimated cost ends past the budget is not started: rung 1 (8 candidates) costs 80 s
    script2 = _Scripted({"tcn": 0.9}, cost=10.0)
    monkeypatch.setattr(auto, "_train_to", script2.train_to)
    rec2 = auto.select(cands, config, ipd, train, valid, budget=100.0, clock=script2.clock)
    assert len(script2.trained) == len(cands) and "rung 2" in rec2["stopped"]
    assert rec2["chosen"]["family"] == "tcn" and rec2["chosen"]["encoder"] == "delta"


def test_a_first_training_that_would_end_past_the_budget_stops_after_one_epoch(ipd, monkeypatch):
    # The real loop, on a clock of one second per epoch trained: the first candidate trains its rung (15
    # epochs); the second, started at 15 s, would end its rung at 30 s > 20 s: it stops after its first epoch,
    # is not ranked, and the third never starts. The first of a rung always finishes it.
    epochs_done = [0]
    real = loop.train_epoch

    def counted(*args, **kw):
        epochs_done[0] += 1
        return real(*args, **kw)

    monkeypatch.setattr(loop, "train_epoch", counted)
    config = _config(epochs=30).replace(model="mlp")
    train, valid, _ = auto.validation_split(config, ipd)
    cands = [Candidate("mlp", "small", 3e-3, "delta"), Candidate("delays", "small", 3e-3, "current"),
             Candidate("mlp", "medium", 3e-3, "current")]
    clock = lambda: float(epochs_done[0])  # noqa: E731
    rec = auto.select(cands, config, ipd, train, valid, budget=20.0, clock=clock)
    assert rec["rung_epochs"][0] == 15 and epochs_done[0] == 16
    first, second, third = rec["candidates"]
    assert len(first["rungs"]) == 1 and first["rungs"][0]["epochs"] == 15
    assert second["rungs"] == [] and second["stopped_after"]["epochs"] == 1 and third["rungs"] == []
    assert "stopped_after" not in first and "stopped_after" not in third
    assert rec["stopped"].startswith(f"budget: {cands[1].name} would end rung 1 (15 epochs")
    assert rec["chosen"]["index"] == 0 and "among 1 candidate(s)" in rec["chosen"]["why"]
    # a budget spent within the first candidate's rung: it still finishes it, and is chosen
    epochs_done[0] = 0
    rec = auto.select(cands, config, ipd, train, valid, budget=5.0, clock=clock)
    assert epochs_done[0] == 15 and rec["chosen"]["index"] == 0 and "spent during rung 1" in rec["stopped"]
    assert all("stopped_after" not in c for c in rec["candidates"])


def test_halving_keeps_the_better_half_and_decides_on_the_last_full_rung(ipd, monkeypatch):
    script = _Scripted({"tcn": 0.9, "recurrent": 0.8, "delays": 0.7, "mlp": 0.6}, cost=1.0)
    monkeypatch.setattr(auto, "_train_to", script.train_to)
    config = _config(epochs=30).replace(model="mlp")
    train, valid, _ = auto.validation_split(config, ipd)
    cands = EIGHT
    rec = auto.select(cands, config, ipd, train, valid, budget=1e9, clock=script.clock)
    rungs = rec["rung_epochs"]
    assert rungs[0] == 15 and rungs[1] == 30  # ceil(60 steps / 4 batches), doubled
    second = [(f, e) for f, e, ep in script.trained if ep == rungs[1]]
    assert sorted(second) == sorted([("tcn", "delta"), ("tcn", "current"), ("recurrent", "delta"),
                                     ("recurrent", "current")])
    assert rec["stopped"] is None and rec["chosen"]["rung"] == len(rungs)
    assert (rec["chosen"]["family"], rec["chosen"]["encoder"]) == ("tcn", "delta")
    assert "highest validation accuracy" in rec["chosen"]["why"]


def test_resolve_is_deterministic_and_records_everything(ipd, monkeypatch):
    monkeypatch.setattr(auto, "candidates", lambda shape, **kw: [
        Candidate("mlp", "small", 3e-3, "delta"), Candidate("delays", "small", 3e-3, "current")])
    config = _config(seed=3)
    a = auto.resolve(config, ipd, budget=1e9)
    b = auto.resolve(config, ipd, budget=1e9)
    assert a[0] == b[0]
    strip = [{k: v for k, v in r.items() if k != "seconds"} for c in a[2]["candidates"] for r in c["rungs"]]
    strip_b = [{k: v for k, v in r.items() if k != "seconds"} for c in b[2]["candidates"] for r in c["rungs"]]
    assert strip == strip_b and len(strip) >= len(a[2]["candidates"])
    rec = a[2]
    assert rec["validation"]["source"] == "carved" and rec["validation"]["valid_size"] == 14
    assert rec["chosen"]["name"] in [c["name"] for c in rec["candidates"]]
    assert rec["final_epochs"]["epochs"] == a[0].epochs >= rec["chosen"]["epochs"]
    json.dumps(rec)  # JSON-friendly (metrics.json, run.json)
    assert a[0].model == rec["chosen"]["family"] and a[0].model != "auto"


def test_refusals_and_non_auto_passes_through(ipd):
    cfg = TrainConfig(dataset=DATASET)
    assert auto.resolve(cfg, ipd) == (cfg, ipd, None)
    with pytest.raises(ConfigError, match="valid_fraction"):
        auto.resolve(_config(valid_fraction=0.0), ipd)
    with pytest.raises(ConfigError, match="processes"):
        auto.resolve(_config(), ipd, world_size=2)


def test_trainer_run_folder_touches_the_test_split_once(tmp_path, monkeypatch):
    from spikeforge.learn import trainer as trainer_mod
    from spikeforge.learn.trainer import Trainer

    calls = []
    real_loop, real_trainer = loop.evaluate, trainer_mod.evaluate

    def spy(real):
        def wrapped(model, split, *args, **kw):
            calls.append(split.name)
            return real(model, split, *args, **kw)
        return wrapped

    monkeypatch.setattr(loop, "evaluate", spy(real_loop))
    monkeypatch.setattr(trainer_mod, "evaluate", spy(real_trainer))
    monkeypatch.setattr(auto, "FINAL_STEPS", 1)  # the winner trains config.epochs (2)
    monkeypatch.setattr(auto, "candidates", lambda shape, **kw: [
        Candidate("mlp", "small", 3e-3, "delta"), Candidate("delays", "small", 3e-3, "current")])
    t = Trainer(_config(budget=60.0), tmp_path / "run", progress=False, plots=False, hardware=False,
                console=Console(quiet=True))
    assert "test" not in calls and calls  # the search evaluated the validation split only
    t.start()
    t.fit()
    assert "test" not in calls
    metrics = t.finalize()
    assert calls.count("test") == 1
    assert metrics["auto"]["chosen"]["family"] in ("mlp", "delays")
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert info["auto"]["candidates"] == metrics["auto"]["candidates"]
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["model"] == metrics["auto"]["chosen"]["family"]
    assert t.config.epochs == 2 and 0.0 <= metrics["test_accuracy"] <= 1.0
    # refit (the default): the choice trained on all 67 training series; nothing held out is claimed
    assert metrics["auto"]["refit"] and saved["valid_fraction"] == 0 and len(t.dataset.train) == 67
    assert metrics["validation"]["source"] == "none" and "refit" in metrics["validation"]["rule"]
    # the validation accuracy is the search's, said so
    assert metrics["valid_accuracy"] == metrics["auto"]["chosen"]["valid_accuracy"] is not None
    assert metrics["valid_of"].startswith("the --model auto search")
    from spikeforge.learn.report import write_report

    page = write_report(tmp_path / "run").read_text()
    assert f"{metrics['valid_accuracy']:.4f} (of the --model auto search" in page
    from spikeforge.learn.trainer import evaluate_run

    assert evaluate_run(tmp_path / "run")["accuracy"] == metrics["test_accuracy"]
    with pytest.raises(ValueError, match="refit"):
        evaluate_run(tmp_path / "run", "valid")
    again = Trainer.resume(tmp_path / "run", progress=False, plots=False, hardware=False, console=Console(quiet=True))
    assert again.validation == t.validation and len(again.dataset.train) == 67


def test_refit_trains_the_winner_on_the_whole_training_split(ipd, monkeypatch):
    # chosen on the carve (53 + 14 validation series); the winner then trains on all 67, reloaded as
    # `spikeforge train --config RUN/config.json` loads them, for the epochs that fit at the larger epoch's speed
    from spikeforge.data import SpikeDataset

    script = _Scripted({"tcn": 0.9}, cost=2.0)
    monkeypatch.setattr(auto, "_train_to", script.train_to)
    monkeypatch.setattr(auto, "candidates", lambda shape, **kw: [
        Candidate("mlp", "small", 3e-3, "delta"), Candidate("tcn", "small", 3e-3, "current")])
    config = _config()
    carved, _, _ = load_training_data(config)  # as the Trainer passes it
    train, valid = carved.train, carved.valid
    final, ds, rec = auto.resolve(config, carved, budget=40.0, fixed_normalize=False, clock=script.clock)
    assert final.model == "tcn" and rec["chosen"]["valid_accuracy"] == 0.9
    assert rec["refit"] and final.valid_fraction == 0 and ds.valid is None
    assert len(ds.train) == 67 == len(train) + len(valid) and torch.equal(ds.train.y, ipd.train.y)
    assert torch.equal(ds.test.x, ipd.test.x)
    again, _, validation = load_training_data(final)
    assert torch.equal(again.train.x, ds.train.x) and validation["source"] == "none"
    # 15 epochs in 2 s on the 53 series of the carve: 2 / 15 * 67 / 53 s per epoch of the whole split
    per_epoch = 2.0 / 15 * 67 / 53
    assert rec["seconds_per_epoch"] == pytest.approx(2.0 / 15)
    assert final.epochs == int(40.0 // per_epoch) == 237 < int(40.0 // (2.0 / 15))
    assert f"{per_epoch:.2f} s per epoch" in rec["final_epochs"]["rule"]
    assert "whole training split, 67 samples" in rec["final_epochs"]["trained_on"]
    # --no-refit: the carve stays, and so does the validation split
    kept, kept_ds, rec2 = auto.resolve(config.replace(refit=False), carved, budget=40.0, fixed_normalize=False,
                                       clock=_Scripted({"tcn": 0.9}, cost=2.0).clock)
    assert not rec2["refit"] and kept.valid_fraction == 0.2 and kept.epochs == 300
    assert len(kept_ds.train) == 53 and len(kept_ds.valid) == 14
    # nothing is reloaded where the caller does not let the search reload the data set (fixed_normalize), nor
    # where the data set brought its own validation split (kept held out)
    _, same, rec3 = auto.resolve(config, carved, budget=40.0, clock=_Scripted({"tcn": 0.9}).clock)
    assert not rec3["refit"] and len(same.train) == 53 and torch.equal(same.valid.y, carved.valid.y)
    own = SpikeDataset(ipd.name, ipd.train.take(torch.arange(50)), ipd.test, ipd.train.take(torch.arange(50, 67)),
                       dict(ipd.meta))
    _, own_ds, rec4 = auto.resolve(config, own, budget=40.0, fixed_normalize=False,
                                   clock=_Scripted({"tcn": 0.9}).clock)
    assert rec4["validation"]["source"] == "dataset" and not rec4["refit"] and len(own_ds.valid) == 17


def test_spike_data_keep_their_form(monkeypatch):
    from spikeforge.data import SpikeDataset, Split

    gen = torch.Generator().manual_seed(0)
    y = torch.arange(24) % 2
    x = (torch.rand(24, 20, 8, generator=gen) < 0.1 + 0.3 * y[:, None, None]).float()  # class 1 fires more

    def split(rows, name):
        return Split(x[rows], y[rows], torch.full((len(rows),), 20), ("a", "b"), "spikes", None, name)

    ds = SpikeDataset("toy", split(list(range(16)), "train"), split(list(range(16, 24)), "test"))
    shape = DataShape.of(ds)
    assert (shape.kind, shape.steps, shape.channels) == ("spikes", 20, 8)
    assert all(c.encoder is None for c in candidates(shape))
    monkeypatch.setattr(auto, "candidates", lambda shape, **kw: [
        Candidate("mlp", "small", 1e-2), Candidate("delays", "small", 1e-2)])
    final, new_ds, rec = auto.resolve(TrainConfig(dataset="toy", model="auto", epochs=2, encoder=None), ds,
                                      budget=1e9)
    assert final.encoder is None and new_ds is ds and final.model in ("mlp", "delays")
    assert rec["validation"]["train_size"] + rec["validation"]["valid_size"] == 16


def test_auto_refuses_a_method_other_than_bptt(ipd):
    with pytest.raises(ConfigError, match=r"'auto' chooses among families trained with bptt; with method 'tbptt' "
                                          r"expected a family"):
        auto.resolve(_config(method="tbptt", method_params={"k": 4}), ipd)


def test_standard_error_and_the_one_standard_error_rule():
    # closed form: p = (k + 2) / (n + 4), se = sqrt(p (1 - p) / n)
    assert auto.standard_error(5 / 6, 6) == pytest.approx(((7 / 10) * (3 / 10) / 6) ** 0.5)
    assert auto.standard_error(1.0, 10) == pytest.approx(((12 / 14) * (2 / 14) / 10) ** 0.5)
    # one sample of 14 is within it (ItalyPowerDemand's validation split)
    assert auto.standard_error(1.0, 14) > 1 / 14
    assert auto.standard_error(0.9, 10_000) < 0.004
    # 6 validation samples: 4/6 for the first candidate is within one standard error of 5/6 (0.187): the prior
    # (list order) decides; 2/6 is not
    res = {0: (4 / 6, 0.9), 1: (5 / 6, 0.4), 2: (2 / 6, 0.1)}
    assert auto.ranking(res, 6) == [0, 1, 2]
    # 600 samples: the same accuracies are far apart, the highest wins
    assert auto.ranking(res, 600) == [1, 0, 2]
    # outside the band: by accuracy, then the lower loss, then list order
    res = {0: (0.9, 0.5), 1: (0.5, 0.2), 2: (0.5, 0.1), 3: (0.5, 0.1)}
    assert auto.ranking(res, 1000) == [0, 2, 3, 1]


def test_choice_within_one_standard_error_goes_to_the_earlier_candidate(ipd, monkeypatch):
    # 14 validation samples: tcn 0.85 against recurrent 0.93 is within one standard error (about 0.09): tcn,
    # earlier in the list, is chosen, and the record says why
    script = _Scripted({"tcn": 0.85, "recurrent": 0.93}, cost=1.0)
    monkeypatch.setattr(auto, "_train_to", script.train_to)
    config = _config(epochs=30).replace(model="mlp")
    train, valid, _ = auto.validation_split(config, ipd)
    cands = [Candidate("tcn", "medium", 3e-3, "current"), Candidate("recurrent", "medium", 3e-3, "current")]
    rec = auto.select(cands, config, ipd, train, valid, budget=1e9, clock=script.clock)
    assert rec["chosen"]["family"] == "tcn"
    assert "within one standard error" in rec["chosen"]["why"] and "14 validation samples" in rec["chosen"]["why"]
    # with the order reversed the recurrent network is first and best: chosen
    rec = auto.select(cands[::-1], config, ipd, train, valid, budget=1e9, clock=script.clock)
    assert rec["chosen"]["family"] == "recurrent" and "highest validation accuracy" in rec["chosen"]["why"]


def _two_class_ts(folder, name, labels, draw, n):
    """Write ``NAME_TRAIN.ts`` (``n`` cases) and ``NAME_TEST.ts`` (``n // 2``), univariate and of equal length:
    case ``i`` is of class ``labels[i % 2]``, its values ``draw(label)``; returns the train file's path."""
    head = (f"@problemName {name}\n@timeStamps false\n@missing false\n@univariate true\n@equalLength true\n"
            f"@classLabel true {' '.join(labels)}\n@data\n")
    for split, count in (("TRAIN", n), ("TEST", n // 2)):
        rows = [",".join(f"{v:.6g}" for v in draw(labels[i % 2]).tolist()) + f":{labels[i % 2]}"
                for i in range(count)]
        (folder / f"{name}_{split}.ts").write_text(head + "\n".join(rows) + "\n")
    return folder / f"{name}_TRAIN.ts"


def _auto_data(path, batch_size):
    """``(dataset, config, shape)`` of a ``--model auto`` run on the .ts problem at ``path``, as the Trainer
    loads it (validation split carved)."""
    dataset, config, _ = load_training_data(TrainConfig(dataset=str(path), model="auto", epochs=2,
                                                        batch_size=batch_size))
    return dataset, config, DataShape.of(dataset)


def _scaled_pair(folder, n=40, steps=16, seed=0):
    """A two-class .ts problem whose series differ in shape (rising or falling) but whose scales spread over
    four orders of magnitude between samples."""
    g = torch.Generator().manual_seed(seed)

    def draw(label):
        ramp = torch.linspace(0, 1, steps) if label == "up" else torch.linspace(1, 0, steps)
        return (ramp + 0.1 * torch.randn(steps, generator=g)) * 10.0 ** float(torch.randint(-2, 3, (1,), generator=g))

    return _two_class_ts(folder, "Scaled", ("up", "down"), draw, n)


def test_instance_normalisation_is_a_candidate_where_scales_spread(tmp_path, ipd, monkeypatch):
    from spikeforge.learn.search import SCALE_SPREAD, scale_spread

    dataset, config, shape = _auto_data(_scaled_pair(tmp_path), batch_size=16)
    assert shape.scale_spread > SCALE_SPREAD > DataShape.of(ipd).scale_spread
    # unchanged by a per-channel affine map
    x, lengths = dataset.train.x, dataset.train.lengths
    assert scale_spread(3.0 * x.double() + 7.0, lengths) == pytest.approx(scale_spread(x, lengths), rel=1e-9)
    cands = candidates(shape)
    assert cands[0] == Candidate("rocket", "small", 3e-3, "current")  # the random-kernel network first, then
    assert cands[2] == Candidate("tcn", "medium", 3e-3, "current", "instance")  # after the first tcn
    assert cands[2].name.endswith("(instance-normalised)") and cands[2].apply(config).normalize == "instance"
    assert all(c.normalize is None for c in candidates(shape, normalize=False))
    assert all(c.normalize is None for c in candidates(DataShape.of(ipd)))
    # resolve: the instance-normalised candidate does best on validation: the run gets that config and the data
    # reloaded with it, the same samples in the same train / valid carve
    seen = []

    def train_to(run, epochs, device, stop=None):
        seen.append((run.cand.normalize, scale_spread(run.train.x, run.train.lengths)))
        run.state.epoch = epochs
        run.seconds += 1.0
        acc = 1.0 if run.cand.normalize == "instance" else 0.5
        return acc, 1.0 - acc, 1.0

    monkeypatch.setattr(auto, "_train_to", train_to)
    # (--no-refit: the run keeps the carve, which is checked to be the same; refit: test_refit_...)
    final, new_ds, rec = auto.resolve(config.replace(refit=False), dataset, budget=1e9, fixed_normalize=False)
    assert final.normalize == "instance" and rec["chosen"]["normalize"] == "instance" and not rec["refit"]
    assert new_ds.meta["normalize"] == "instance"
    assert torch.equal(new_ds.train.y, dataset.train.y) and torch.equal(new_ds.valid.y, dataset.valid.y)
    again, _, _ = load_training_data(final)  # what `spikeforge train --config RUN/config.json` loads
    assert torch.equal(again.train.x, new_ds.train.x) and torch.equal(again.valid.x, new_ds.valid.x)
    means = new_ds.train.x.mean(1)
    assert means.abs().max() < 1e-5  # every series by its own statistics
    # standard-normalised candidates saw the standardised data, whose scale still spreads; the other did not
    assert min(m for n, m in seen if n is None) > SCALE_SPREAD and max(m for n, m in seen if n == "instance") < 1.01
    # the default (fixed_normalize=True, as with --normalize given): no such candidate
    _, _, rec2 = auto.resolve(config, dataset, budget=1e9)
    assert all(c["normalize"] is None for c in rec2["candidates"])
    # a normalisation the user chose (here minmax) is kept even where the search may renormalise; the Trainer
    # (fixed_normalize=False) and tune ask the same predicate
    from spikeforge.learn.search import may_renormalize
    from spikeforge.learn.tune import _fixed_choices

    mm_ds, mm_config, _ = load_training_data(config.replace(normalize="minmax"))
    assert may_renormalize(config, dataset) and not may_renormalize(mm_config, mm_ds)
    assert _fixed_choices(config, dataset)[1] and not _fixed_choices(mm_config, mm_ds)[1]
    _, _, rec3 = auto.resolve(mm_config, mm_ds, budget=1e9, fixed_normalize=False)
    assert all(c["normalize"] is None for c in rec3["candidates"])


def _long_pair(folder, n=24, steps=320, seed=0):
    """A two-class .ts problem of series longer than search.LONG_SERIES steps (a slow sine or a slow ramp)."""
    g = torch.Generator().manual_seed(seed)
    t = torch.linspace(0, 1, steps)

    def draw(label):
        return (torch.sin(6.28 * t) if label == "sine" else t) + 0.1 * torch.randn(steps, generator=g)

    return _two_class_ts(folder, "Long", ("sine", "ramp"), draw, n)


def test_downsampled_candidate_for_long_series(tmp_path, ipd, monkeypatch):
    from spikeforge.learn.search import DOWNSAMPLE, LONG_SERIES, candidate_from_params, may_downsample
    from spikeforge.learn.tune import _fixed_choices

    dataset, config, shape = _auto_data(_long_pair(tmp_path), batch_size=8)
    assert shape.steps > LONG_SERIES
    cands = candidates(shape)
    down = [c for c in cands if c.downsample is not None]
    assert down == [Candidate("tcn", "medium", 3e-3, "current", downsample=DOWNSAMPLE)]
    assert cands.index(down[0]) == 2 and down[0].name.endswith(f"(downsampled x{DOWNSAMPLE})")
    assert down[0].apply(config).downsample == DOWNSAMPLE and down[0].data_changes() == {"downsample": DOWNSAMPLE}
    assert candidate_from_params(down[0].params()) == down[0]
    assert all(c.downsample is None for c in candidates(shape, downsample=False))
    assert all(c.downsample is None for c in candidates(DataShape.of(ipd)))  # 24 steps
    seen = []

    def train_to(run, epochs, device, stop=None):
        seen.append((run.cand.downsample, run.train.steps, run.config.loss))
        run.state.epoch = epochs
        run.seconds += 1.0
        acc = 1.0 if run.cand.downsample else 0.5
        return acc, 1.0 - acc, 1.0

    monkeypatch.setattr(auto, "_train_to", train_to)
    final, new_ds, rec = auto.resolve(config, dataset, budget=1e9, fixed_normalize=False)
    assert final.downsample == DOWNSAMPLE and rec["chosen"]["downsample"] == DOWNSAMPLE
    assert new_ds.train.steps == -(-shape.steps // DOWNSAMPLE) and new_ds.meta["downsample"] == DOWNSAMPLE
    assert {s for d, s, _ in seen if d} == {160} and {s for d, s, _ in seen if not d} == {320}
    # refit (the default): the downsampled carve and validation split together
    assert rec["refit"] and new_ds.valid is None and final.valid_fraction == 0
    assert len(new_ds.train) == len(dataset.train) + len(dataset.valid)
    again, _, _ = load_training_data(final)  # what `spikeforge train --config RUN/config.json` loads
    assert torch.equal(again.train.x, new_ds.train.x) and torch.equal(again.test.x, new_ds.test.x)
    # --no-refit: the same samples in the same carve
    _, kept, _ = auto.resolve(config.replace(refit=False), dataset, budget=1e9, fixed_normalize=False)
    assert torch.equal(kept.train.y, dataset.train.y) and torch.equal(kept.valid.y, dataset.valid.y)
    assert kept.train.steps == 160
    # a factor the user chose is kept; tune asks the same predicate
    _, _, rec2 = auto.resolve(config, dataset, budget=1e9)  # fixed_normalize=True: nothing reloaded
    assert all(c["downsample"] is None for c in rec2["candidates"])
    user_ds, user_config, _ = load_training_data(config.replace(downsample=3))
    assert may_downsample(config, dataset) and not may_downsample(user_config, user_ds)
    assert _fixed_choices(config, dataset)[2] and not _fixed_choices(user_config, user_ds)[2]
    _, _, rec3 = auto.resolve(user_config, user_ds, budget=1e9, fixed_normalize=False)
    assert all(c["downsample"] is None for c in rec3["candidates"])
    assert not may_downsample(TrainConfig(dataset="digits"), load_dataset("digits"))


def test_suggest_samples_downsampling_on_long_series_only(ipd):
    import optuna

    from spikeforge.learn.search import DOWNSAMPLE, LONG_SERIES

    long_shape = DataShape("series", LONG_SERIES + 1, 1, 2, 40)
    short = DataShape.of(ipd)
    seen = set()
    for k in range(12):
        trial = optuna.trial.FixedTrial({"family": "tcn", "encoder": "current", "size": "small", "lr": 3e-3,
                                         "downsample": [1, DOWNSAMPLE][k % 2]})
        seen.add(suggest(trial, long_shape, downsample=True).downsample)
        assert suggest(trial, short, downsample=True).downsample is None
        assert suggest(trial, long_shape).downsample is None  # the user chose the factor
    assert seen == {None, DOWNSAMPLE}

"""spikeforge.learn.tune: the study samples the space, prunes on validation accuracy per epoch, keeps to its
budget, resumes without losing or doubling a trial, and its best trial is what `spikeforge train` reproduces."""

from __future__ import annotations

import dataclasses
import json
import time
from typing import ClassVar

import optuna
import pytest
from optuna.trial import TrialState

from spikeforge.learn import loop, tune
from spikeforge.learn.config import TrainConfig
from spikeforge.learn.search import DataShape, space, suggest

DATASET = "ucr:ItalyPowerDemand"


@pytest.fixture(autouse=True)
def _epochs_as_given(monkeypatch):
    """The tests below count epochs: no floor of optimisation steps, for the trials or the best run
    (test_min_steps_and_warm_start and test_the_best_run_trains_final_steps have them)."""
    from spikeforge.learn import auto

    monkeypatch.setattr(tune, "MIN_STEPS", 0)
    monkeypatch.setattr(auto, "FINAL_STEPS", 0)


def _config(**kw) -> TrainConfig:
    return TrainConfig(**{"dataset": DATASET, "model": "auto", "epochs": 3, **kw})


class FakeFit:
    """loop.fit replaced: validation accuracy per epoch scripted by family (rising with the epoch), reported to
    the callbacks as the real loop does; counts the trainings."""

    ACC: ClassVar[dict[str, float]] = {"tcn": 0.9, "recurrent": 0.8, "delays": 0.7, "mlp": 0.6, "adlif": 0.3}

    def __init__(self, sleep: float = 0.0) -> None:
        self.calls, self.sleep = [], sleep

    def __call__(self, model, method, data, optimizer, callbacks=(), *, epochs=1, **kw):
        family = self.family_of(model)
        self.calls.append(family)
        state = loop.LoopState()
        for e in range(1, epochs + 1):
            time.sleep(self.sleep)
            row = {"epoch": e, "valid_accuracy": self.ACC[family] * e / epochs}
            state.epoch = e
            state.history.append(row)
            for cb in callbacks:
                cb.on_epoch_end(state, row)
        return state

    @staticmethod
    def family_of(model) -> str:
        names = {type(m).__name__ for m in model.modules()}
        for family, marks in (("tcn", ("TemporalConv",)), ("delays", ("DelayedLinear",)),
                              ("adlif", ("AdLIF",)), ("recurrent", ("Recurrent",))):
            if names & set(marks):
                return family
        return "mlp"


@pytest.fixture
def fake(monkeypatch):
    f = FakeFit()
    monkeypatch.setattr(loop, "fit", f)
    return f


def test_study_runs_the_trials_in_the_space_and_records_them(tmp_path, fake):
    study = tune.create_study(tmp_path / "s", _config(), trials=4)
    assert study.run() == "finished"
    done = study.finished()
    assert len(done) == 4 == len(fake.calls)
    sp = space(study.shape)
    for t in done:
        assert t.params["family"] in sp.families and t.params["encoder"] in sp.encoders
        assert sp.lr_range[0] <= t.params["lr"] <= sp.lr_range[1]
    best = study.best_trial()
    assert best.value == max(t.value for t in done if t.state == TrialState.COMPLETE)
    cfg = study.best_config()
    assert cfg.model == best.params["family"] and cfg.lr == best.params["lr"] and cfg.epochs == 3
    assert cfg.valid_fraction == 0.0 and study.refits  # refit (the default): the whole training split
    summary = json.loads((tmp_path / "s" / "study.json").read_text())
    assert summary["trials_finished"] == 4 and summary["best"]["number"] == best.number
    assert summary["validation"]["source"] == "carved"
    settings = json.loads((tmp_path / "s" / tune.SETTINGS).read_text())
    assert settings["trials"] == 4 and settings["config"]["dataset"] == DATASET
    paths = study.plot()
    assert [p.name for p in paths] == ["optimization_history.png", "param_importances.png"]
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in paths)


def test_median_pruning_stops_a_trial_below_the_median(tmp_path, fake):
    study = tune.create_study(tmp_path / "s", _config(epochs=5), trials=2)
    study.run()  # the pruner's start-up trials: never pruned
    assert all(t.state == TrialState.COMPLETE for t in study.finished()) and study.settings.startup_trials == 2
    # the next trial reports far below the median of the first ones at the same epoch: pruned at the first
    # epoch after the warm-up
    trial = study.study.ask()
    report = tune._Report(trial)
    state = loop.LoopState(epoch=study.settings.warmup_epochs + 1)
    with pytest.raises(optuna.TrialPruned, match="below the median"):
        report.on_epoch_end(state, {"valid_accuracy": 0.0})
    assert trial.user_attrs["pruned_at_epoch"] == state.epoch


def test_budget_stops_new_trials_and_counts_all_sessions(tmp_path, monkeypatch):
    slow = FakeFit(sleep=0.15)
    monkeypatch.setattr(loop, "fit", slow)
    study = tune.create_study(tmp_path / "s", _config(epochs=2), trials=10, budget=0.5)
    assert study.run() == "budget"
    n = len(study.finished())
    assert 1 <= n < 10 and study.seconds() >= 0.5
    again = tune.open_study(tmp_path / "s")
    assert again.run() == "budget" and len(again.finished()) == n  # nothing left to spend


def test_interrupted_study_resumes_to_n_trials_none_lost_or_doubled(tmp_path, fake, monkeypatch):
    n_total, k = 5, 2
    study = tune.create_study(tmp_path / "s", _config(), trials=n_total)
    real = tune.Study._objective
    calls = {"n": 0}

    def interrupting(self, trial):
        calls["n"] += 1
        if calls["n"] == k + 1:
            suggest(trial, self.shape)  # (a Ctrl-C during its training)
            raise KeyboardInterrupt
        return real(self, trial)

    monkeypatch.setattr(tune.Study, "_objective", interrupting)
    with pytest.raises(KeyboardInterrupt):
        study.run()
    before = [(t.number, t.params) for t in study.finished()]
    assert len(before) == k
    monkeypatch.setattr(tune.Study, "_objective", real)
    # a process killed in a trial leaves it RUNNING: resume fails it and queues its parameters again too
    killed = study.study.ask()
    suggest(killed, study.shape)
    lost = [study.study.trials[k].params, killed.params]
    resumed = tune.open_study(tmp_path / "s")
    states = {t.number: t.state for t in resumed.study.trials}
    assert states[killed.number] == TrialState.FAIL and states[k] == TrialState.FAIL
    assert resumed.run() == "finished"
    done = resumed.finished()
    assert len(done) == n_total
    assert [(t.number, t.params) for t in done][:k] == before  # the first trials kept as they were
    assert len({t.number for t in done}) == n_total
    # the interrupted and the killed trials' parameters ran again
    assert all(p in [t.params for t in done[k:]] for p in lost)
    assert resumed.study.user_attrs["requeued"] == sorted([k, killed.number])
    # resuming a finished study runs nothing
    assert tune.open_study(tmp_path / "s").run() == "finished"
    assert len(fake.calls) == n_total


def test_refusals_name_the_argument(tmp_path, fake):
    with pytest.raises(ValueError, match="expected an integer >= 1") as e:
        tune.create_study(tmp_path / "a", _config(), trials=0)
    assert e.value.argument == "trials"
    with pytest.raises(ValueError) as e:
        tune.create_study(tmp_path / "a", _config(), trials=2, budget=0)
    assert e.value.argument == "budget"
    with pytest.raises(FileNotFoundError, match="expected a study folder") as e:
        tune.open_study(tmp_path / "nothing")
    assert e.value.argument == "resume"
    tune.create_study(tmp_path / "b", _config(), trials=1)
    with pytest.raises(FileExistsError, match="already holds a study") as e:
        tune.create_study(tmp_path / "b", _config(), trials=1)
    assert e.value.argument == "out"
    with pytest.raises(ValueError, match="validation split") as e:
        tune.create_study(tmp_path / "c", _config(valid_fraction=0.0), trials=1)
    assert e.value.argument == "valid_fraction"


def test_a_trial_trains_as_spikeforge_train_does(tmp_path):
    # the real loop: the best trial's validation accuracy is what a Trainer run of its config ends with
    from rich.console import Console

    from spikeforge.learn.trainer import Trainer

    study = tune.create_study(tmp_path / "s", _config(epochs=2, batch_size=32), trials=1, refit=False)
    study.study.enqueue_trial({"family": "mlp", "encoder": "delta", "size": "small", "lr": 0.01})
    study.run()
    best = study.best_trial()
    t = Trainer(study.best_config(), tmp_path / "run", progress=False, plots=False, hardware=False,
                console=Console(quiet=True))
    t.start()
    t.fit()
    assert t.history[-1]["valid_accuracy"] == pytest.approx(best.value, abs=1e-12)
    assert [r["valid_accuracy"] for r in t.history] == pytest.approx(
        [best.intermediate_values[e] for e in sorted(best.intermediate_values)], abs=1e-12)


def test_min_steps_and_warm_start(tmp_path, fake, monkeypatch):
    from spikeforge.learn.search import DataShape, candidates

    monkeypatch.setattr(tune, "MIN_STEPS", 300)
    study = tune.create_study(tmp_path / "s", _config(epochs=3, batch_size=16), trials=4)
    settings = json.loads((tmp_path / "s" / "tune.json").read_text())
    assert settings["min_steps"] == 300 and settings["warm_start"] == tune.WARM_START == 2
    assert study.sampler_seed == 0  # the config's seed: the enqueued warm-start trials are not draws
    assert study.run() == "finished"
    batches = -(-len(study.dataset.train) // 16)  # 53 samples: 4 batches, so 75 epochs give 300 steps
    trials = sorted(study.finished(), key=lambda t: t.number)
    done = [t for t in trials if t.state == TrialState.COMPLETE]
    assert done and all(len(t.intermediate_values) == -(-300 // batches) for t in done)
    assert study.best_config().epochs == -(-300 // batches)
    # the first trials are --model auto's first candidates, in its order; the rest are sampled
    first = candidates(DataShape.of(study.dataset))[:2]
    assert [t.params for t in trials[:2]] == [c.params() for c in first]
    # fewer trials than warm starts: at least one is sampled
    small = tune.create_study(tmp_path / "t", _config(), trials=1, min_steps=0)
    assert small.run() == "finished" and len(small.finished()) == 1
    # the settings refuse what is not a count
    with pytest.raises(ValueError, match="min_steps: expected an integer >= 0, got -1"):
        tune.create_study(tmp_path / "u", _config(), trials=2, min_steps=-1)


def test_the_best_run_refits_on_the_whole_training_split(tmp_path):
    # the default: the best configuration trains from scratch on the carve and the validation split together,
    # for its trial's epochs; the test split is the one the trial never saw
    from rich.console import Console

    from spikeforge.learn.trainer import Trainer, load_training_data

    study = tune.create_study(tmp_path / "s", _config(epochs=2, batch_size=32), trials=1)
    study.study.enqueue_trial({"family": "mlp", "encoder": "delta", "size": "small", "lr": 0.01})
    study.run()
    assert study.refits and study.settings.refit
    trial = study.trial_config(study.best_trial().params)
    cfg = study.best_config()
    assert cfg == trial.replace(valid_fraction=0.0) and cfg.epochs == trial.epochs == 2
    whole, _, validation = load_training_data(cfg)
    assert validation["source"] == "none" and whole.valid is None
    carve = study.dataset
    assert len(whole.train) == len(carve.train) + len(carve.valid) == 67  # ItalyPowerDemand's training split
    assert whole.test.x.shape == carve.test.x.shape and bool((whole.test.y == carve.test.y).all())
    summary = json.loads((tmp_path / "s" / "study.json").read_text())
    assert summary["best"]["refit"] is True and "whole training split" in summary["best"]["trained_on"]
    assert summary["best"]["config"]["valid_fraction"] == 0.0
    t = Trainer(cfg, tmp_path / "run", progress=False, plots=False, hardware=False, console=Console(quiet=True))
    t.start()
    t.fit()
    assert len(t.dataset.train) == 67 and len(t.history) == 2
    html = tune.write_report(study).read_text()
    assert "whole training split" in html
    # a data set's own validation split is never folded in
    study.validation = {**study.validation, "source": "data set"}
    assert not study.refits and study.best_config() == trial
    assert "as its trial" in study.best_trained_on()


def test_the_best_run_trains_final_steps_as_autos_winner(tmp_path, fake, monkeypatch):
    from spikeforge.learn import auto

    monkeypatch.setattr(auto, "FINAL_STEPS", 1500)
    study = tune.create_study(tmp_path / "s", _config(epochs=3, batch_size=16), trials=1)
    assert json.loads((tmp_path / "s" / tune.SETTINGS).read_text())["final_steps"] == 1500
    study.study.enqueue_trial({"family": "mlp", "encoder": "delta", "size": "small", "lr": 0.01})
    study.run()
    best = study.best_trial()
    batches = -(-len(study.dataset.train) // 16)  # 53 samples of the carve: 4 batches
    assert study.trial_config(best.params).epochs == 3 and len(best.intermediate_values) == 3
    # no budget: max(3, ceil(1500 / 4)) = 375 epochs
    assert study.best_epochs() == study.best_config().epochs == -(-1500 // batches) == 375
    # a budget: cut to the epochs that fit in it at the trial's seconds per epoch, scaled to the 67 samples of
    # the refit (the carve's 53 and the validation split's 14), never below the trial's 3
    per_epoch = best.user_attrs["seconds"] / 3 * 67 / 53
    study.settings = dataclasses.replace(study.settings, budget=100 * per_epoch)
    assert study.best_epochs() in (99, 100)  # (the float division may land on either side of 100)
    study.settings = dataclasses.replace(study.settings, budget=per_epoch)
    assert study.best_epochs() == 3
    # --no-refit: the carve's speed, unscaled
    study.settings = dataclasses.replace(study.settings, refit=False, budget=100 * per_epoch * 53 / 67)
    assert study.best_epochs() in (99, 100)
    # 0: the trial's epochs
    study.settings = dataclasses.replace(study.settings, final_steps=0)
    assert study.best_epochs() == 3
    # a study written before the field existed: its best run keeps its trial's epochs
    path = tmp_path / "s" / tune.SETTINGS
    data = json.loads(path.read_text())
    del data["final_steps"]
    path.write_text(json.dumps(data))
    assert tune.open_study(tmp_path / "s").best_epochs() == 3
    with pytest.raises(ValueError, match="final_steps: expected an integer >= 0, got -5"):
        tune.create_study(tmp_path / "u", _config(), trials=1, final_steps=-5)


def test_refit_setting_is_stored_and_old_studies_read_back_with_it(tmp_path, fake):
    study = tune.create_study(tmp_path / "s", _config(), trials=1, refit=False)
    assert json.loads((tmp_path / "s" / tune.SETTINGS).read_text())["refit"] is False
    study.run()
    assert not study.refits and study.best_config().valid_fraction == _config().valid_fraction
    assert tune.open_study(tmp_path / "s").settings.refit is False
    # a tune.json written before the field existed: refit (the default)
    path = tmp_path / "s" / tune.SETTINGS
    data = json.loads(path.read_text())
    del data["refit"]
    path.write_text(json.dumps(data))
    assert tune.open_study(tmp_path / "s").refits
    with pytest.raises(ValueError, match="expected true or false") as e:
        tune.TuneSettings(config=_config().to_dict(), trials=1, refit="yes")
    assert e.value.argument == "refit"


def test_the_choice_is_the_one_standard_error_rule_over_trial_numbers(tmp_path, fake):
    # 14 validation samples: one standard error of 13/14 is about 0.08, so 12/14 (0.857) is within it of
    # 13/14 (0.929), and the earlier trial wins; 10/14 is not
    study = tune.create_study(tmp_path / "s", _config(), trials=1, warm_start=0)
    assert study.validation["valid_size"] == 14
    cat = optuna.distributions.CategoricalDistribution
    dists = {"family": cat(("mlp", "recurrent", "tcn")), "size": cat(("small",)), "lr": cat((0.01,))}

    def add(family, value):
        study.study.add_trial(optuna.trial.create_trial(
            params={"family": family, "size": "small", "lr": 0.01}, distributions=dists, value=value))

    for family, value in (("mlp", 10 / 14), ("tcn", 12 / 14), ("recurrent", 13 / 14)):
        add(family, value)
    assert study.highest_trial().number == 2 and study.best_trial().number == 1
    s = study.summary()["best"]
    assert s["number"] == 1 and s["highest"] == 2 and "one-standard-error" in s["rule"]
    # 14/14 later: its standard error (0.084) leaves out 12/14 but not 13/14, the earliest within it
    add("tcn", 1.0)
    assert study.highest_trial().number == 3 and study.best_trial().number == 2


@pytest.mark.parametrize("shape", [
    DataShape("series", 1460, 1, 10, 80), DataShape("series", 84, 1, 3, 112, scale_spread=280.0),
    DataShape("series", 500, 2, 3, 100, scale_spread=50.0), DataShape("series", 29, 12, 9, 216, scale_spread=3.0),
], ids=["long", "spread", "long-and-spread", "short"])
def test_warm_start_params_name_every_dimension_so_the_trial_is_the_candidate(shape):
    # a FixedTrial raises on a parameter it was not given: every dimension suggest samples is in the params,
    # and they give back auto's candidate itself (the run's own data where it keeps it: not a drawn variant)
    from optuna.trial import FixedTrial

    from spikeforge.learn.search import candidates, trial_params

    cands = candidates(shape, normalize=True, downsample=True)
    assert cands
    for cand in cands:
        params = trial_params(cand, shape, normalize=True, downsample=True)
        assert suggest(FixedTrial(params), shape, normalize=True, downsample=True) == cand

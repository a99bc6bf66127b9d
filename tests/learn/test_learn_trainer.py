"""The run-folder trainer: learning, exact resume, load_run, spike counts against the hardware counts."""

import json
import math

import pytest
import torch
from rich.console import Console

from spikeforge.learn import TrainConfig, Trainer, evaluate_run, load_run
from spikeforge.learn.checkpoint import load_checkpoint

TINY = {"hidden": [16], "batch_size": 32, "threads": 1}


def _trainer(cfg, out, **kw):
    return Trainer(cfg, out, progress=False, console=Console(quiet=True), plots=False, **kw)


def test_learns_japanese_vowels_and_writes_the_run_folder(tmp_path):
    cfg = TrainConfig(epochs=4, lr=1e-2, **{**TINY, "hidden": [32]})
    tr = _trainer(cfg, tmp_path)
    tr.start()
    assert tr.fit() == "finished"
    metrics = tr.finalize()
    assert metrics["test_accuracy"] > 0.6  # chance is 1/9
    for name in ("config.json", "run.json", "metrics.csv", "metrics.json", "checkpoint.safetensors",
                 "model.safetensors"):
        assert (tmp_path / name).is_file(), name
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["test_accuracy"] == metrics["test_accuracy"]
    # The resolved config records the encoder the loader chose, and is accepted back.
    resolved = json.loads((tmp_path / "config.json").read_text())
    assert resolved["encoder"]["name"] == "delta"
    assert TrainConfig.from_dict(resolved).encoder == resolved["encoder"]
    # Training-loop spike meter (masked batches) agrees with count_ops on length-trimmed samples.
    assert math.isclose(saved["spikes_per_sample"], saved["spike_events_per_sample"], rel_tol=1e-9)
    assert saved["synaptic_ops_per_sample"] > 0 and saved["dense_macs_per_sample"] > saved["synaptic_ops_per_sample"]
    rows = saved["energy"]["rows"]
    assert {r["kind"] for r in rows} == {"neuromorphic", "accelerator"}
    assert saved["energy"]["per_sample_j"][saved["energy"]["reference"]] > 0
    assert saved["fit"]["available"] and "Loihi-2" in saved["fit"]["chips"]
    # load_run rebuilds the same model without the data set.
    model = load_run(tmp_path)
    x = tr.dataset.test.encode(torch.arange(5))
    with torch.no_grad():
        assert torch.equal(model(x), tr.model.eval()(x))
    again = evaluate_run(tmp_path)
    assert again["accuracy"] == metrics["test_accuracy"]


def _state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_resume_gives_exactly_the_uninterrupted_run(tmp_path):
    cfg = TrainConfig(epochs=3, **TINY)
    full = _trainer(cfg, tmp_path / "full")
    full.start()
    full.fit()
    parted = _trainer(cfg, tmp_path / "parted")
    parted.start()
    assert parted.fit(stop_after=1) == "stopped"
    assert load_checkpoint(tmp_path / "parted" / "checkpoint.safetensors")["record"]["epoch"] == 1
    torch.manual_seed(1234)  # a fresh process would have another global RNG state: resume must restore it
    resumed = Trainer.resume(tmp_path / "parted", progress=False, console=Console(quiet=True), plots=False)
    assert resumed.epoch == 1
    assert resumed.fit(stop_after=1) == "stopped"
    resumed = Trainer.resume(tmp_path / "parted", progress=False, console=Console(quiet=True), plots=False)
    assert resumed.fit() == "finished"
    a, b = _state(full.model), _state(resumed.model)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    strip = [{k: v for k, v in r.items() if k != "seconds"} for r in full.history]
    assert strip == [{k: v for k, v in r.items() if k != "seconds"} for r in resumed.history]
    assert len(strip) == 3


def test_recurrent_adaptive_learnable_and_stochastic_settings_train(tmp_path):
    cfg = TrainConfig(model="recurrent", neuron="AdaptiveLIF", learnable=["tau", "threshold"], per_neuron=True,
                      loss="mean", epochs=1, firing="logistic", sigma=0.3, **TINY)
    tr = _trainer(cfg, tmp_path)
    tr.start()
    before = _state(tr.model)
    tr.fit()
    after = _state(tr.model)
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert any(k.endswith("tau") for k in changed) and any(k.endswith("threshold") for k in changed)


def test_start_refuses_an_existing_run(tmp_path):
    cfg = TrainConfig(epochs=1, **TINY)
    _trainer(cfg, tmp_path).start()
    with pytest.raises(FileExistsError, match="already holds a run"):
        _trainer(cfg, tmp_path).start()
    _trainer(cfg, tmp_path).start(overwrite=True)


def test_load_run_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        load_run(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match=r"has no config\.json"):
        load_run(tmp_path)
    cfg = TrainConfig(epochs=1, **TINY)
    _trainer(cfg, tmp_path).start()
    with pytest.raises(FileNotFoundError, match="has no weights yet"):
        load_run(tmp_path)
    with pytest.raises(ValueError, match="checkpoint: expected 'final' or 'last'"):
        load_run(tmp_path, checkpoint="best")


def test_static_digits_dataset_trains(tmp_path):
    cfg = TrainConfig(dataset="digits", steps=8, epochs=1, hidden=[32], batch_size=32, threads=1, lr=1e-2)
    tr = _trainer(cfg, tmp_path)
    tr.start()
    tr.fit()
    assert tr.history[0]["valid_accuracy"] > 0.5  # chance is 0.1
    assert json.loads((tmp_path / "config.json").read_text())["encoder"]["name"] == "rate"


def test_deterministic_mode_does_not_leak_into_the_caller(tmp_path):
    assert not torch.are_deterministic_algorithms_enabled()
    tr = _trainer(TrainConfig(epochs=1, **TINY), tmp_path)
    tr.start()
    tr.fit()
    tr.finalize()
    assert not torch.are_deterministic_algorithms_enabled()


def test_ctrl_c_while_checkpointing_leaves_the_folder_at_the_last_checkpoint(tmp_path, monkeypatch):
    import csv

    import spikeforge.learn.trainer as trainer_mod

    real = trainer_mod.save_checkpoint
    calls = []

    def save_then_interrupt(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # Ctrl-C while epoch 2's checkpoint is written: the file keeps epoch 1
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(trainer_mod, "save_checkpoint", save_then_interrupt)
    tr = _trainer(TrainConfig(epochs=3, **TINY), tmp_path)
    tr.start()
    with pytest.raises(KeyboardInterrupt):
        tr.fit()
    assert tr.epoch == 1 and len(tr.history) == 1
    assert load_checkpoint(tmp_path / "checkpoint.safetensors")["record"]["epoch"] == 1
    info = json.loads((tmp_path / "run.json").read_text())
    assert info["status"] == "interrupted" and info["epochs_done"] == 1
    with (tmp_path / "metrics.csv").open() as fh:
        assert [int(r["epoch"]) for r in csv.DictReader(fh)] == [1]
    monkeypatch.setattr(trainer_mod, "save_checkpoint", real)
    resumed = Trainer.resume(tmp_path, progress=False, console=Console(quiet=True), plots=False)
    assert resumed.epoch == 1 and resumed.fit() == "finished" and len(resumed.history) == 3


def test_fit_prints_one_line_per_epoch_unless_the_console_is_a_terminal(tmp_path):
    import io

    for terminal in (False, True):
        buf = io.StringIO()
        console = Console(file=buf, force_terminal=terminal, width=120)
        tr = Trainer(TrainConfig(epochs=2, **TINY), tmp_path / str(terminal), progress=True, console=console,
                     plots=False)
        tr.start()
        tr.fit()
        plain = [line for line in buf.getvalue().splitlines() if line.startswith("epoch ")]
        assert len(plain) == (0 if terminal else 2), buf.getvalue()


def test_errors_say_which_config_field_they_are_about(tmp_path):
    from spikeforge.learn.config import ConfigError

    with pytest.raises(ConfigError) as e:
        TrainConfig(epochs=0)
    assert (e.value.field, e.value.detail) == ("epochs", "expected an integer >= 1, got 0")
    with pytest.raises(ValueError, match="steps") as e:
        _trainer(TrainConfig(steps=10, **TINY), tmp_path)
    assert e.value.argument == "steps"
    with pytest.raises(ValueError) as e:
        _trainer(TrainConfig(dataset=str(tmp_path / "none_TRAIN.ts"), **TINY), tmp_path)
    assert e.value.argument == "dataset" and isinstance(e.value, FileNotFoundError)
    with pytest.raises(ValueError) as e:
        _trainer(TrainConfig(neuron_params={"tau": -1.0}, **TINY), tmp_path)
    assert (e.value.argument, e.value.key) == ("neuron_params", "tau")
    afile = tmp_path / "afile"
    afile.write_text("")
    with pytest.raises(FileExistsError, match="is a file") as e:
        _trainer(TrainConfig(**TINY), afile)
    assert e.value.argument == "out_dir"



def test_optimizer_from_config_validation_recorded_and_test_split_evaluated_once(tmp_path, monkeypatch):
    import csv

    import spikeforge.learn.loop as loop

    evaluated = []
    real = loop.evaluate

    def counting(model, split, *args, **kwargs):
        evaluated.append(split)
        return real(model, split, *args, **kwargs)

    monkeypatch.setattr(loop, "evaluate", counting)
    monkeypatch.setattr("spikeforge.learn.trainer.evaluate", counting)
    cfg = TrainConfig(epochs=3, optimizer="sgd", lr=0.05, valid_fraction=0.25, **TINY)
    tr = _trainer(cfg, tmp_path, hardware=False)
    assert isinstance(tr.optimizer, torch.optim.SGD) and tr.optimizer.param_groups[0]["nesterov"]
    tr.start()
    tr.fit()
    metrics = tr.finalize()
    assert sum(s is tr.dataset.test for s in evaluated) == 1  # at the end, once
    assert sum(s is tr.dataset.valid for s in evaluated) == 3 + 1  # every epoch, and the end
    info = json.loads((tmp_path / "run.json").read_text())
    v = info["validation"]
    assert (v["source"], v["fraction"], v["seed"], v["from_train_size"]) == ("carved", 0.25, 0, 270)
    assert v["valid_size"] == len(tr.dataset.valid) == 9 * round(0.25 * 30) and info["optimizer"] == "sgd"
    assert info["dataset"]["splits"] == ["train", "test", "valid"]
    with (tmp_path / "metrics.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["epoch", "lr", "train_loss", "train_accuracy", "train_spikes_per_sample", "valid_loss",
                             "valid_accuracy", "valid_spikes_per_sample", "seconds"]
    assert float(rows[-1]["valid_accuracy"]) == metrics["valid_accuracy"] == tr.history[-1]["valid_accuracy"]
    assert metrics["valid_of"] == "the final model"
    assert metrics["validation"] == v and evaluate_run(tmp_path, "valid")["accuracy"] == metrics["valid_accuracy"]

"""Every discovered training method keeps the method contract end to end: ``spikeforge train --method NAME``
writes a complete run folder (test accuracy, energy analysis, report), ``evaluate`` reloads the trained model
and reproduces the recorded test accuracy, and ``resume`` of a run stopped after one epoch reaches the
weights of an uninterrupted run (the method's state across batches lives in the optimizer or the model)."""

import json

import pytest
import torch

from spikeforge.cli.main import main
from spikeforge.learn import TrainConfig, Trainer, methods
from spikeforge.learn.checkpoint import load_checkpoint

ARGS = ["--dataset", "digits", "--steps", "8", "--hidden", "16", "--batch-size", "64", "--threads", "1",
        "--seed", "1", "--no-progress", "--no-plots"]


@pytest.mark.parametrize("name", sorted(methods()))
def test_a_method_trains_into_a_run_folder_that_evaluate_reproduces(name, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--method", name, "--epochs", "1", "--out", str(run), *ARGS]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert 0.0 <= metrics["test_accuracy"] <= 1.0
    assert metrics["synaptic_ops_per_sample"] > 0 and metrics["energy"]["rows"]
    assert json.loads((run / "config.json").read_text())["method"] == name
    capsys.readouterr()
    assert main(["evaluate", str(run), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["accuracy"] == pytest.approx(metrics["test_accuracy"], abs=1e-9)


@pytest.mark.parametrize("name", sorted(methods()))
def test_a_resumed_run_of_a_method_ends_with_the_weights_of_an_uninterrupted_one(name, tmp_path):
    config = TrainConfig(dataset="digits", steps=8, hidden=[16], batch_size=64, epochs=2, seed=1, method=name)
    whole = Trainer(config, tmp_path / "whole", progress=False, plots=False, hardware=False)
    whole.start()
    whole.fit()
    parted = Trainer(config, tmp_path / "parted", progress=False, plots=False, hardware=False)
    parted.start()
    assert parted.fit(stop_after=1) == "stopped"
    resumed = Trainer.resume(tmp_path / "parted", progress=False, plots=False, hardware=False)
    resumed.fit()
    a = load_checkpoint(tmp_path / "whole" / "checkpoint.safetensors")["model"]
    b = load_checkpoint(tmp_path / "parted" / "checkpoint.safetensors")["model"]
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key

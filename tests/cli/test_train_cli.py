"""``spikeforge train / evaluate / resume / report`` end to end on JapaneseVowels (tiny model, few epochs)."""

import base64
import csv
import json
import re

import pytest
import torch

from spikeforge.cli.main import main
from spikeforge.learn.checkpoint import load_checkpoint

TINY = ["--hidden", "16", "--batch-size", "32", "--threads", "1", "--no-progress"]


def _train(out, *extra):
    return main(["train", "--epochs", "2", "--seed", "3", "--out", str(out), *TINY, *extra])


def test_train_writes_everything_and_the_verbs_read_it(tmp_path, capsys):
    run = tmp_path / "run"
    assert _train(run, "--lr", "0.01") == 0
    out = capsys.readouterr().out
    assert "test accuracy" in out and "Energy per sample" in out
    metrics = json.loads((run / "metrics.json").read_text())
    assert 0.0 <= metrics["test_accuracy"] <= 1.0
    for key in ("spikes_per_sample", "synaptic_ops_per_sample", "energy", "fit", "wall_seconds"):
        assert key in metrics, key
    energy = metrics["energy"]
    chips = [r for r in energy["rows"] if r["kind"] == "neuromorphic"]
    assert len(chips) == 15 and all(r["energy_j"] > 0 for r in chips)
    assert energy["vs_reference"][energy["reference"]] == 1.0
    with (run / "metrics.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert float(rows[-1]["test_accuracy"]) == metrics["test_accuracy"]
    for name in ("learning_curves", "raster", "firing_rates", "energy"):
        assert (run / "plots" / f"{name}.png").read_bytes()[:4] == b"\x89PNG", name
    config = json.loads((run / "config.json").read_text())
    assert config["epochs"] == 2 and config["seed"] == 3 and config["hidden"] == [16]

    # evaluate reproduces the recorded accuracy
    assert main(["evaluate", str(run), "--json"]) == 0
    ev = json.loads(capsys.readouterr().out)
    assert ev["accuracy"] == metrics["test_accuracy"] == ev["recorded_test_accuracy"]

    # report: one self-contained page, every picture embedded
    assert main(["report", str(run)]) == 0
    page = (run / "report.html").read_text()
    assert capsys.readouterr().out.strip().endswith("report.html")
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == 4
    assert all(base64.b64decode(i)[:4] == b"\x89PNG" for i in images)
    assert not re.search(r'(src|href)="(?!data:)', page)  # nothing external
    assert f"{metrics['test_accuracy']:.4f}" in page

    # resume of a finished run does nothing
    assert main(["resume", str(run)]) == 0
    assert "nothing to resume" in capsys.readouterr().out


def test_config_file_is_accepted_back_and_options_override_it(tmp_path, capsys):
    first = tmp_path / "a"
    assert _train(first, "--no-plots", "--no-report", "--epochs", "1", "--tau", "7", "--learnable", "tau") == 0
    second = tmp_path / "b"
    assert main(["train", "--config", str(first / "config.json"), "--out", str(second), "--no-progress",
                 "--no-plots", "--no-report", "--seed", "5"]) == 0
    a = json.loads((first / "config.json").read_text())
    b = json.loads((second / "config.json").read_text())
    assert b.pop("seed") == 5 and a.pop("seed") == 3
    assert a == b
    # --tau goes on top of the tuned LIF defaults (hard reset), not instead of them
    assert a["neuron_params"] == {"tau": 7.0, "reset": "hard"} and a["learnable"] == ["tau"]


def test_stop_and_resume_match_an_uninterrupted_run(tmp_path, capsys):
    full, parted = tmp_path / "full", tmp_path / "parted"
    assert _train(full, "--no-plots", "--no-report") == 0
    assert _train(parted, "--no-plots", "--no-report", "--stop-after", "1") == 0
    assert "spikeforge resume" in capsys.readouterr().out
    assert not (parted / "metrics.json").exists()
    assert main(["resume", str(parted), "--no-progress", "--no-plots", "--no-report"]) == 0
    m_full = json.loads((full / "metrics.json").read_text())
    m_part = json.loads((parted / "metrics.json").read_text())
    for key in ("test_accuracy", "test_loss", "train_loss", "spikes_per_sample", "synaptic_ops_per_sample"):
        assert m_full[key] == m_part[key], key
    w_full = load_checkpoint(full / "model.safetensors")["model"]
    w_part = load_checkpoint(parted / "model.safetensors")["model"]
    assert w_full.keys() == w_part.keys()
    assert all(torch.equal(w_full[k], w_part[k]) for k in w_full)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--dataset", "no/such/file_TRAIN.ts"], "no/such/file_TRAIN.ts"),
        (["--epochs", "0"], "config epochs: expected an integer >= 1, got 0"),
        (["--neuron-param", "tau_sin=3"], "tau_sin"),
        (["--neuron", "ResonateAndFire"], "complex spikes"),
        (["--encoder-param", "threshold=0.5"], "--encoder-param: needs --encoder NAME"),
    ],
)
def test_train_errors_are_clear(tmp_path, capsys, args, message):
    assert main(["train", "--out", str(tmp_path / "r"), *TINY, *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("spikeforge train: error:") and message in err


def test_existing_run_needs_overwrite_and_missing_runs_are_named(tmp_path, capsys):
    run = tmp_path / "run"
    assert _train(run, "--no-plots", "--no-report", "--epochs", "1") == 0
    assert _train(run, "--no-plots", "--no-report", "--epochs", "1") == 2
    assert "--overwrite" in capsys.readouterr().err
    assert _train(run, "--no-plots", "--no-report", "--epochs", "1", "--overwrite") == 0
    for verb in ("evaluate", "resume", "report"):
        assert main([verb, str(tmp_path / "missing")]) == 2
        assert f"spikeforge {verb}: error: run: {tmp_path / 'missing'} is not a folder" in capsys.readouterr().err


def test_resume_finishes_a_run_interrupted_during_its_final_analysis(tmp_path, capsys):
    run = tmp_path / "run"
    assert _train(run, "--no-plots", "--no-report", "--epochs", "1") == 0
    recorded = json.loads((run / "metrics.json").read_text())["test_accuracy"]
    (run / "metrics.json").unlink()
    info = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps({**info, "status": "running"}))
    capsys.readouterr()
    assert main(["resume", str(run), "--no-progress", "--no-plots", "--no-report"]) == 0
    assert "finishing the analysis" in capsys.readouterr().out
    assert json.loads((run / "metrics.json").read_text())["test_accuracy"] == recorded
    assert json.loads((run / "run.json").read_text())["status"] == "finished"

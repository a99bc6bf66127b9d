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
    assert "test_accuracy" not in rows[-1]  # per epoch: validation only; the test split is evaluated once
    assert float(rows[-1]["valid_accuracy"]) == metrics["valid_accuracy"]
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


# Words of the code, not of the command line, that errors used to start with.
INTERNAL = re.compile(r"(?<![-\w])(config \w+|load_\w+|make_encoder|read_shd|Split|path|out_dir|neuron_params|"
                      r"run|split|device|out|dataset):")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--dataset", "no/such/file_TRAIN.ts"], "--dataset: no/such/file_TRAIN.ts: file not found"),
        (["--dataset", "nosuch"], "--dataset: 'nosuch': no such file or folder, and not a known name"),
        (["--epochs", "0"], "--epochs: expected an integer >= 1, got 0"),
        (["--batch-size", "0"], "--batch-size: expected an integer >= 1, got 0"),
        (["--lr", "-1"], "--lr: expected a number > 0, got -1.0"),
        (["--threads", "0"], "--threads: expected an integer >= 1, got 0"),
        (["--steps", "10"], "--steps: applies to digits, SHD/SSC and tonic sets only"),
        (["--dataset", "digits", "--encoder", "none"], "--encoder: the digits are images: they need an encoder"),
        (["--dataset", "digits", "--encoder", "delta"], "--encoder: Delta(threshold=0.3"),
        (["--encoder", "bogus"], "--encoder: unknown encoder 'bogus'"),
        (["--encoder-param", "threshold=0.5"], "--encoder-param: needs --encoder NAME"),
        (["--encoder", "rate", "--encoder-param", "bogus=1"], "--encoder-param: bad parameters ['bogus'] for 'rate'"),
        (["--encoder", "bogus", "--encoder-param", "gain=1"], "--encoder: unknown encoder 'bogus'"),
        (["--device", "mps"], "--device: 'mps' asked for, but MPS is not available"),
        (["--neuron-param", "tau_sin=3"], "--neuron-param: ['tau_sin'] are not parameters of LIF"),
        (["--neuron-param", "reset=bogus"], "--neuron-param reset: expected one of"),
        (["--neuron-param", "firing=x"], "--neuron-param: 'firing' is set by its own field"),
        (["--tau", "-1"], "--tau: expected positive"),
        (["--learnable", "foo"], "--learnable: expected names among"),
        (["--neuron", "ResonateAndFire"], "--neuron: ResonateAndFire has a complex potential"),
    ],
)
def test_train_errors_name_the_option_typed(tmp_path, capsys, args, message):
    assert main(["train", "--out", str(tmp_path / "r"), *TINY, *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"spikeforge train: error: {message}"), err
    assert err.count("\n") == 1 and not INTERNAL.search(err), err
    assert not (tmp_path / "r").exists()  # nothing written for a bad input


def test_out_that_is_a_file_is_named(tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert main(["train", "--out", str(afile), *TINY]) == 2
    assert capsys.readouterr().err == (f"spikeforge train: error: --out: {afile} is a file; expected a run folder "
                                       "(a new or an empty folder, or a run to continue)\n")
    assert main(["train", "--out", str(afile / "sub"), *TINY]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"spikeforge train: error: --out: cannot make the run folder {afile / 'sub'}"), err
    assert afile.read_text() == "x"


def test_config_file_errors_name_the_file_and_field(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"epochs": 0}))
    # the file's bad value is reported as the file's, even with --epochs given too (it is read first)
    assert main(["train", "--config", str(bad), "--out", str(tmp_path / "r"), *TINY, "--epochs", "2"]) == 2
    assert capsys.readouterr().err == (f"spikeforge train: error: --config {bad}: epochs: expected an integer "
                                       ">= 1, got 0\n")
    bad.write_text(json.dumps({"epoch": 3}))
    assert main(["train", "--config", str(bad), "--out", str(tmp_path / "r"), *TINY]) == 2
    assert capsys.readouterr().err.startswith(f"spikeforge train: error: --config {bad}: unknown field(s) ['epoch']")
    missing = tmp_path / "missing.json"
    assert main(["train", "--config", str(missing), "--out", str(tmp_path / "r"), *TINY]) == 2
    assert capsys.readouterr().err.startswith(f"spikeforge train: error: --config: {missing}: config file not found")
    assert not (tmp_path / "r").exists()


def test_existing_run_needs_overwrite_and_missing_runs_are_named(tmp_path, capsys):
    run = tmp_path / "run"
    assert _train(run, "--no-plots", "--no-report", "--epochs", "1") == 0
    assert _train(run, "--no-plots", "--no-report", "--epochs", "1") == 2
    assert "--overwrite" in capsys.readouterr().err
    assert _train(run, "--no-plots", "--no-report", "--epochs", "1", "--overwrite") == 0
    for verb in ("evaluate", "resume", "report"):
        assert main([verb, str(tmp_path / "missing")]) == 2
        assert capsys.readouterr().err == (f"spikeforge {verb}: error: RUN: {tmp_path / 'missing'} is not a folder "
                                           "(expected a run folder written by 'spikeforge train')\n")


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


def test_one_line_per_epoch_when_the_live_display_is_off(tmp_path, capsys):
    # capsys: standard output is not a terminal, so no live bars, with or without --no-progress
    for extra in ((), ("--no-progress",)):
        run = tmp_path / f"run{len(extra)}"
        assert main(["train", "--epochs", "3", "--out", str(run), "--hidden", "16", "--threads", "1", "--no-plots",
                     "--no-report", *extra]) == 0
        out = capsys.readouterr().out
        lines = [line for line in out.splitlines() if line.startswith("epoch ")]
        assert [line.split()[1] for line in lines] == ["1/3", "2/3", "3/3"], out
        with (run / "metrics.csv").open() as fh:
            rows = list(csv.DictReader(fh))
        for line, row in zip(lines, rows):
            assert f"train loss {float(row['train_loss']):.4f}" in line
            assert f"valid acc {float(row['valid_accuracy']):.4f}" in line
            assert re.search(r"  \d+\.\d\d s$", line), line
        assert not re.search(r"^(epochs|batches) ", out, flags=re.MULTILINE)  # no bars printed at the end
    # --quiet: nothing
    assert main(["train", "--epochs", "1", "--out", str(tmp_path / "q"), "--hidden", "16", "--no-plots",
                 "--no-report", "--quiet"]) == 0
    assert capsys.readouterr().out == ""


def _write_shd(path, samples):
    import h5py
    import numpy as np

    with h5py.File(path, "w") as f:
        times = f.create_dataset("spikes/times", (len(samples),), dtype=h5py.vlen_dtype(np.float32))
        units = f.create_dataset("spikes/units", (len(samples),), dtype=h5py.vlen_dtype(np.uint16))
        for i, (t, u, _) in enumerate(samples):
            times[i], units[i] = np.asarray(t, dtype=np.float32), np.asarray(u, dtype=np.uint16)
        f.create_dataset("labels", data=np.array([s[2] for s in samples], dtype=np.uint16))


def test_evaluate_valid_where_the_data_set_has_one_and_a_clear_error_where_not(tmp_path, capsys):
    data = tmp_path / "ssc"
    data.mkdir()
    sizes = {"train": 6, "valid": 4, "test": 3}
    for which, n in sizes.items():
        _write_shd(data / f"ssc_{which}.h5", [([0.1 * (k % 5), 0.5], [k % 7, 3], k % 2) for k in range(n)])
    run = tmp_path / "ssc_run"
    assert main(["train", "--dataset", f"ssc:{data}", "--steps", "10", "--epochs", "1", "--hidden", "8",
                 "--out", str(run), "--no-progress", "--no-plots", "--no-report"]) == 0
    info = json.loads((run / "run.json").read_text())["dataset"]
    assert info["splits"] == ["train", "test", "valid"] and info["valid_size"] == 4
    capsys.readouterr()
    for split, n in sizes.items():
        assert main(["evaluate", str(run), "--split", split, "--json"]) == 0
        result = json.loads(capsys.readouterr().out)
        assert result["split"] == split and result["samples"] == n
    # JapaneseVowels has no validation split of its own: the run carves one (20 %), and evaluate carves it again
    jv = tmp_path / "jv"
    assert _train(jv, "--no-plots", "--no-report", "--epochs", "1") == 0
    capsys.readouterr()
    info = json.loads((jv / "run.json").read_text())
    carve = info["validation"]
    assert carve["source"] == "carved" and carve["train_size"] + carve["valid_size"] == carve["from_train_size"] == 270
    assert main(["evaluate", str(jv), "--split", "valid", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["samples"] == carve["valid_size"]
    assert result["accuracy"] == json.loads((jv / "metrics.json").read_text())["valid_accuracy"]
    assert result["recorded_valid_accuracy"] == result["accuracy"]
    # With --valid-fraction 0 there is none: the error says which splits there are, and why
    none = tmp_path / "none"
    assert _train(none, "--no-plots", "--no-report", "--epochs", "1", "--valid-fraction", "0") == 0
    out = capsys.readouterr().out
    assert "no validation split (valid_fraction 0)" in out
    saved = json.loads((none / "metrics.json").read_text())
    assert saved["valid_accuracy"] is None and saved["valid_of"] is None
    assert main(["evaluate", str(none), "--split", "valid"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("spikeforge evaluate: error: --split: expected 'train' or 'test' (the splits of "
                          "JapaneseVowels), got 'valid'; this run has no validation split: it was trained with "
                          "valid_fraction 0"), err
    assert err.count("\n") == 1
    with pytest.raises(SystemExit):
        main(["evaluate", "--help"])
    assert "valid_fraction 0" in " ".join(capsys.readouterr().out.split())


def test_evaluate_and_report_errors_name_their_options(tmp_path, capsys):
    run = tmp_path / "run"
    assert _train(run, "--no-plots", "--no-report", "--epochs", "1") == 0
    capsys.readouterr()
    assert main(["evaluate", str(run), "--device", "mps"]) == 2
    assert capsys.readouterr().err.startswith("spikeforge evaluate: error: --device: 'mps' asked for")
    assert main(["report", str(run), "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith(f"spikeforge report: error: --out: {tmp_path} is a folder")
    config = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**config, "dataset": str(tmp_path / "gone_TRAIN.ts")}))
    for verb in ("evaluate", "resume"):
        assert main([verb, str(run)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"spikeforge {verb}: error: {run / 'config.json'}: dataset: "
                              f"{tmp_path / 'gone_TRAIN.ts'}: file not found"), err
    (run / "config.json").write_text("{")
    assert main(["report", str(run)]) == 2
    assert capsys.readouterr().err.startswith(f"spikeforge report: error: RUN: {run / 'config.json'} is not valid JSON")


def test_a_taken_run_folder_is_refused_before_the_data_set_loads_and_auto_searches(tmp_path, capsys, monkeypatch):
    (tmp_path / "config.json").write_text("{}")
    import spikeforge.learn.trainer as trainer_module

    def never(*args, **kwargs):
        raise AssertionError("the data set was loaded for a refused run folder")

    monkeypatch.setattr(trainer_module, "load_training_data", never)
    assert main(["train", "--model", "auto", "--out", str(tmp_path), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "--out" in err and "already holds a run" in err


def test_a_data_set_name_with_an_emoji_code_prints_as_typed(tmp_path, capsys):
    assert main(["train", "--dataset", "adding:100", "--loss", "mse", "--epochs", "1", "--hidden", "8",
                 "--out", str(tmp_path / "r"), "--no-progress", "--no-plots"]) == 0
    out = capsys.readouterr().out
    assert "adding:100" in out and "\U0001f4af" not in out


@pytest.mark.parametrize(("argv", "model"), [
    ([], "mlp"),  # the bare command: the tuned JapaneseVowels run
    (["--dataset", "uea:JapaneseVowels"], "mlp"),
    (["--dataset", "ucr:GunPoint"], "auto"),  # any other data set, as a new user types it
    (["--dataset", "digits"], "auto"),
    (["--dataset", "ucr:GunPoint", "--encoder", "current", "--epochs", "5"], "auto"),  # auto keeps these
    (["--dataset", "ucr:GunPoint", "--hidden", "16"], "mlp"),  # fixes what auto would choose
    (["--dataset", "ucr:GunPoint", "--lr", "0.01"], "mlp"),
    (["--dataset", "ucr:GunPoint", "--loss", "mean"], "mlp"),
    (["--dataset", "ucr:GunPoint", "--model-param", "readout=li"], "mlp"),
    (["--dataset", "ucr:GunPoint", "--method", "eprop"], "mlp"),  # auto searches with bptt
    (["--dataset", "ucr:GunPoint", "--tbptt", "8"], "mlp"),
    (["--dataset", "ucr:GunPoint", "--model", "tcn"], "tcn"),
])
def test_the_default_family_is_auto_except_for_the_tuned_default(argv, model):
    import argparse

    from spikeforge.cli import train

    parser = argparse.ArgumentParser()
    train.register(parser.add_subparsers())
    assert train.build_config(parser.parse_args(["train", *argv])).model == model


def test_the_rocket_family_gets_its_neurons_and_loss_unless_given():
    import argparse

    from spikeforge.cli import train

    parser = argparse.ArgumentParser()
    train.register(parser.add_subparsers())
    cfg = train.build_config(parser.parse_args(["train", "--dataset", "ucr:GunPoint", "--model", "rocket"]))
    assert (cfg.model, cfg.hidden, cfg.loss) == ("rocket", [2688], "mean")
    cfg = train.build_config(parser.parse_args(["train", "--dataset", "ucr:GunPoint", "--model", "rocket",
                                                "--hidden", "5376"]))
    assert cfg.hidden == [5376]


def test_a_config_file_keeps_its_family(tmp_path):
    import argparse

    from spikeforge.cli import train
    from spikeforge.learn.config import TrainConfig

    TrainConfig(dataset="ucr:GunPoint", model="mlp").save(tmp_path / "config.json")
    parser = argparse.ArgumentParser()
    train.register(parser.add_subparsers())
    args = parser.parse_args(["train", "--config", str(tmp_path / "config.json")])
    assert train.build_config(args).model == "mlp"


@pytest.mark.parametrize(("argv", "refit"), [([], True), (["--refit"], True), (["--no-refit"], False)])
def test_refit_is_on_unless_no_refit(argv, refit):
    import argparse

    from spikeforge.cli import train

    parser = argparse.ArgumentParser()
    train.register(parser.add_subparsers())
    config = train.build_config(parser.parse_args(["train", "--dataset", "ucr:GunPoint", *argv]))
    assert config.refit is refit and config.model == "auto"

"""``spikeforge tune`` end to end on a small set (2 trials of 2 epochs), its resume and its errors."""

import json

import pytest

from spikeforge.cli.main import main

SMALL = ["--dataset", "ucr:ItalyPowerDemand", "--epochs", "2", "--batch-size", "32", "--threads", "1", "--min-steps",
         "0", "--final-steps", "0"]


def test_tune_study_pictures_and_best_run_that_the_verbs_read(tmp_path, capsys, monkeypatch):
    from spikeforge.learn import tune

    # trainings of 2 epochs: their training accuracies are noise, so the refit's check is off here (it has its
    # own test below)
    monkeypatch.setattr(tune, "REFIT_DROP", 1.0)
    out = tmp_path / "study"
    assert main(["tune", *SMALL, "--trials", "2", "--budget", "600", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    # not a terminal: one line per trial
    assert "trial 1/2" in text and "trial 2/2" in text and "best trial #" in text
    for name in ("study.db", "tune.json", "study.json", "plots/optimization_history.png",
                 "plots/param_importances.png", "best/config.json", "best/metrics.json", "best/model.safetensors"):
        assert (out / name).is_file(), name
    summary = json.loads((out / "study.json").read_text())
    assert summary["trials_finished"] == 2 and summary["budget_seconds"] == 600.0
    best_cfg = json.loads((out / "best" / "config.json").read_text())
    assert best_cfg["model"] == summary["best"]["params"]["family"] and best_cfg["epochs"] == 2
    # refit (the default): the best run trained on the whole training split, nothing held out after the study
    assert best_cfg["valid_fraction"] == 0.0 and summary["best"]["refit"] is True
    assert "on the whole training split" in text
    metrics = json.loads((out / "best" / "metrics.json").read_text())
    assert metrics["valid_accuracy"] is None and metrics["validation"]["train_size"] == 67
    assert main(["evaluate", str(out / "best"), "--json"]) == 0
    evaluated = json.loads(capsys.readouterr().out)
    assert evaluated["accuracy"] == pytest.approx(metrics["test_accuracy"])
    page = (out / "report.html").read_text()  # the study's page: pictures embedded, every trial
    assert page.count("data:image/png;base64,") == 2 and page.count("<tr><td>") == 2
    assert 'href="best/report.html"' in page and (out / "best" / "report.html").is_file()
    assert main(["report", str(out / "best")]) == 0
    capsys.readouterr()
    # resuming a finished study: nothing to run, the best run is there
    assert main(["tune", "--resume", str(out), "--no-plots"]) == 0
    text = capsys.readouterr().out
    assert "resuming: 2 of 2 trials" in text and "already trained" in text


@pytest.mark.parametrize("args, message", [
    (["--trials", "0"], "argument --trials: expected an integer >= 1"),
    (["--budget", "-5"], "argument --budget: expected a number of seconds > 0"),
    (["--resume", "{tmp}/nothing"], "--resume: {tmp}/nothing does not exist; expected a study folder"),
    (["--resume", "{tmp}"], "expected a study folder"),
    (["--epochs", "0", "--out", "{tmp}/x"], "--epochs: expected an integer >= 1"),
    (["--valid-fraction", "0", "--out", "{tmp}/x"], "--valid-fraction: tune chooses on a validation split"),
])
def test_tune_errors_name_the_option(tmp_path, capsys, args, message):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    try:
        code = main(["tune", "--dataset", "ucr:ItalyPowerDemand", *args] if "--resume" not in args
                    else ["tune", *args])
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]  # (argparse prints its usage before)
    assert last.startswith("spikeforge tune: error: ") and message.replace("{tmp}", str(tmp_path)) in last


def test_resume_refuses_other_settings_and_out_refuses_a_study(tmp_path, capsys):
    out = tmp_path / "s"
    (out).mkdir()
    (out / "tune.json").write_text("{}")
    (out / "study.db").write_text("")
    assert main(["tune", "--resume", str(out), "--trials", "3"]) == 2
    assert "--resume: the study's settings are read back" in capsys.readouterr().err
    assert main(["tune", *SMALL, "--trials", "1", "--out", str(out)]) == 2
    assert f"--out: {out} already holds a study" in capsys.readouterr().err
    assert main(["tune", "--resume", str(out)]) == 2
    assert f"--resume: {out}/tune.json is not a study's settings" in capsys.readouterr().err


def test_no_refit_trains_the_best_exactly_as_its_trial(tmp_path, capsys):
    out = tmp_path / "study"
    assert main(["tune", *SMALL, "--trials", "1", "--no-refit", "--no-plots", "--no-report", "--out", str(out)]) == 0
    assert "on the carved training split" in capsys.readouterr().out
    summary = json.loads((out / "study.json").read_text())
    metrics = json.loads((out / "best" / "metrics.json").read_text())
    assert summary["best"]["refit"] is False and metrics["valid_of"] == "the final model"
    assert metrics["valid_accuracy"] == pytest.approx(summary["best"]["valid_accuracy"], abs=1e-12)
    assert main(["tune", "--resume", str(out), "--refit"]) == 2
    assert "expected no --refit with it" in capsys.readouterr().err
    assert json.loads((out / "tune.json").read_text())["final_steps"] == 0  # --final-steps 0 (SMALL), kept
    assert main(["tune", "--resume", str(out), "--final-steps", "10"]) == 2
    assert "expected no --final-steps with it" in capsys.readouterr().err


def test_final_steps_help_states_autos_default(capsys):
    from spikeforge.learn import auto

    with pytest.raises(SystemExit):
        main(["tune", "--help"])
    assert f"(default {auto.FINAL_STEPS};" in " ".join(capsys.readouterr().out.split())


def test_a_refit_that_fails_to_train_is_replaced_by_the_trial(tmp_path, capsys, monkeypatch):
    from spikeforge.learn import tune

    monkeypatch.setattr(tune, "REFIT_DROP", -1.0)  # every refit counts as failed: its accuracy cannot rise by 1
    out = tmp_path / "study"
    assert main(["tune", *SMALL, "--trials", "1", "--no-plots", "--no-report", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "the refit ended at training accuracy" in text and "trains again as its trial" in text
    summary = json.loads((out / "study.json").read_text())
    assert summary["best"]["refit"] is False and "its refit failed to train" in summary["best"]["trained_on"]
    best_cfg = json.loads((out / "best" / "config.json").read_text())
    metrics = json.loads((out / "best" / "metrics.json").read_text())
    assert best_cfg["valid_fraction"] == 0.2 and metrics["valid_of"] == "the final model"
    assert metrics["valid_accuracy"] == pytest.approx(summary["best"]["valid_accuracy"], abs=1e-12)
    # the failure is kept in the study: a resume finds the trial's own run finished, trains nothing
    assert main(["tune", "--resume", str(out), "--no-plots", "--no-report"]) == 0
    text = capsys.readouterr().out
    assert "already trained" in text and "refit ended" not in text

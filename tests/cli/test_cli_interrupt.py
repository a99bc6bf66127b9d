"""Ctrl-C during ``spikeforge train``: one line on stderr, exit status 130, no traceback, and a run folder
that ``spikeforge resume`` continues (the command runs in a subprocess that gets a real SIGINT)."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from spikeforge.cli.main import main
from spikeforge.learn.checkpoint import load_checkpoint

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process is POSIX")

# What the installed console script runs (its file name is what the early Ctrl-C guard looks for), after
# touching a marker file: the delays count from the moment spikeforge starts to be imported, not from the
# start of a Python that a busy machine may take a while to bring up.
SCRIPT = ("import pathlib, sys\npathlib.Path(sys.argv.pop(1)).touch()\nfrom spikeforge.cli.main import main\n"
          "sys.exit(main())\n")
ARGS = ["train", "--epochs", "500", "--hidden", "16", "--threads", "1", "--no-plots", "--no-report", "--no-progress"]


def _start(tmp_path, out):
    script, marker = tmp_path / "spikeforge", tmp_path / "importing"
    script.write_text(SCRIPT)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, str(script), str(marker), *ARGS, "--out", str(out)], stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, env=env,
        # a test runner started in the background may ignore SIGINT; the command must see it as a user would
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.stderr else ""
        time.sleep(0.01)
    return proc


def _stop(proc):
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    return proc.returncode, out, err


def _rows(run):
    with (run / "metrics.csv").open() as fh:
        return list(csv.DictReader(fh))


@pytest.mark.parametrize("delay", [0.2, 1.0, 2.0, 3.0])
def test_ctrl_c_in_the_first_seconds_prints_one_line(tmp_path, delay):
    run = tmp_path / "run"
    proc = _start(tmp_path, run)
    time.sleep(delay)
    rc, _, err = _stop(proc)
    assert rc == 130, err
    assert "Traceback" not in err and err.count("\n") == 1 and "interrupted" in err, err
    if (run / "checkpoint.safetensors").exists():  # whatever was saved agrees with itself
        epoch = load_checkpoint(run / "checkpoint.safetensors")["record"]["epoch"]
        assert len(_rows(run)) == epoch == json.loads((run / "run.json").read_text())["epochs_done"]
    elif run.exists():
        assert (run / "config.json").is_file()  # a started run: resume starts it from epoch 1


def test_ctrl_c_during_training_leaves_a_run_that_resumes(tmp_path, capsys):
    run = tmp_path / "run"
    proc = _start(tmp_path, run)
    for line in proc.stdout:  # wait until two epochs are done
        if line.startswith("epoch") and line.split()[1].startswith("2/"):
            break
    rc, _, err = _stop(proc)
    assert rc == 130 and "Traceback" not in err
    epoch = load_checkpoint(run / "checkpoint.safetensors")["record"]["epoch"]
    assert epoch >= 2
    assert err == (f"spikeforge train: interrupted after epoch {epoch} of 500; continue with "
                   f"'spikeforge resume {run}'\n")
    info = json.loads((run / "run.json").read_text())
    assert info["status"] == "interrupted" and info["epochs_done"] == epoch == len(_rows(run))
    assert main(["resume", str(run), "--stop-after", "1", "--no-progress", "--no-plots", "--no-report"]) == 0
    assert f"epoch {epoch + 1:>3}/500" in capsys.readouterr().out
    assert len(_rows(run)) == epoch + 1

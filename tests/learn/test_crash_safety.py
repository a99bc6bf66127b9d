"""Crash safety: `spikeforge train` killed with SIGKILL at random moments (22 times, many of them in the middle
of a checkpoint write) never leaves a checkpoint that does not load, and `spikeforge resume` then reaches final
weights bit-identical to an uninterrupted run, with the same metrics.csv.

The processes are forked from one helper process that has imported spikeforge once (each kill would otherwise
cost a Python start-up and torch import, seconds on a busy machine). The helper makes the checkpoint write slow
-- half the bytes, a pause, the rest -- by patching spikeforge.learn.checkpoint in the test only; each child
then runs spikeforge.cli.main.main(["train" | "resume", ...]) as `python -m spikeforge` does.
"""

import csv
import json
import random
import subprocess
import sys
import textwrap

import torch

from spikeforge.learn.checkpoint import load_checkpoint

HELPER = textwrap.dedent(r'''
    import json, os, signal, sys, time

    import torch._dynamo  # noqa: F401  (as spikeforge.cli.main does for train/resume)
    import spikeforge.learn.checkpoint as checkpoint
    import spikeforge.learn.trainer  # noqa: F401
    from spikeforge._io import atomic_path
    from spikeforge.cli.main import main

    PAUSE = float(sys.argv[1])
    FLAG = os.path.abspath("writing.flag")  # exists while a child pauses in the middle of a write

    def slow_write(path, data):
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as fh:
                fh.write(data[: len(data) // 2])
                fh.flush()
                open(FLAG, "w").close()
                time.sleep(PAUSE)
                os.unlink(FLAG)
                fh.write(data[len(data) // 2:])

    checkpoint.atomic_write_bytes = slow_write
    out = sys.stdout
    for line in sys.stdin:
        delay, log, argv = json.loads(line)
        if os.path.exists(FLAG):
            os.unlink(FLAG)
        pid = os.fork()
        if pid == 0:
            fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            code = 1
            try:
                code = main(argv)
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        # delay: seconds from the start, or ["write", s]: s seconds into the next pause in the middle of a write
        end = None if delay is None or isinstance(delay, list) else time.monotonic() + delay
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                out.write(json.dumps(["exited", os.waitstatus_to_exitcode(status)]) + "\n")
                break
            if end is None and isinstance(delay, list) and os.path.exists(FLAG):
                end = time.monotonic() + delay[1]
            if end is not None and time.monotonic() >= end:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                out.write(json.dumps(["killed", None]) + "\n")
                break
            time.sleep(0.005)
        out.flush()
''')

OPTIONS = ["--epochs", "6", "--hidden", "8", "--batch-size", "64", "--threads", "1", "--no-plots", "--no-report",
           "--quiet"]
KILLS = 22
PAUSE = 0.12  # seconds a checkpoint write pauses half way


class Helper:
    def __init__(self, cwd, pause):
        self.proc = subprocess.Popen([sys.executable, "-c", HELPER, str(pause)], cwd=cwd, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        self.log = cwd / "children.log"

    def run(self, argv, delay=None):
        self.proc.stdin.write(json.dumps([delay, str(self.log), argv]) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line, f"the helper process ended (log: {self.log.read_text() if self.log.exists() else ''})"
        return json.loads(line)

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=30)
        self.proc.stdout.close()


def _csv_without_seconds(path):
    with path.open() as fh:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(fh)]


def _final_weights(run):
    from safetensors.torch import load_file

    return load_file(str(run / "model.safetensors"))


def _assert_same_run(ref, run):
    assert not list(run.glob(".*.tmp"))  # torn temporary files were cleaned up
    a, b = _final_weights(ref), _final_weights(run)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), (run, key)
    assert _csv_without_seconds(run / "metrics.csv") == _csv_without_seconds(ref / "metrics.csv")
    assert json.loads((run / "run.json").read_text())["status"] == "finished"
    assert json.loads((run / "metrics.json").read_text())["test_accuracy"] == json.loads(
        (ref / "metrics.json").read_text())["test_accuracy"]


def test_sigkill_at_random_moments_then_resume_gives_the_uninterrupted_weights(tmp_path):
    helper = Helper(tmp_path, pause=PAUSE)
    try:
        ref = tmp_path / "reference"
        assert helper.run(["train", "--out", str(ref), *OPTIONS]) == ["exited", 0]
        runs = [tmp_path / "killed0"]
        rng = random.Random(12)
        kills, mid_write, epochs_seen = 0, 0, set()
        while kills < KILLS:
            run = runs[-1]
            verb = ["resume", str(run)] if (run / "config.json").is_file() else ["train", "--out", str(run)]
            # most kills at a random moment of the process's life, every fourth one at a random moment of the
            # pause in the middle of its next checkpoint (or final weights) write
            delay = ["write", rng.uniform(0.0, 0.8 * PAUSE)] if kills % 4 == 3 else rng.uniform(0.05, 1.6)
            result = helper.run([*verb, *(OPTIONS if verb[0] == "train" else OPTIONS[-3:])], delay=delay)
            if result[0] == "exited":  # the run came to its end before this kill: it is checked, and another begins
                assert result[1] == 0, helper.log.read_text()
                assert len(runs) < 60, "runs keep finishing before their kill"
                runs.append(tmp_path / f"killed{len(runs)}")
                continue
            kills += 1
            mid_write += bool(list(run.glob(".*.safetensors.*.tmp")))  # a checkpoint or the final weights
            ckpt = run / "checkpoint.safetensors"
            if ckpt.exists():  # the newest complete checkpoint loads, and holds its epoch's history
                record = load_checkpoint(ckpt)["record"]
                assert len(record["history"]) == record["epoch"] <= 6
                epochs_seen.add(record["epoch"])
        last = runs[-1]  # to its end: resume it, or train it where the last kill came before config.json existed
        verb = ["resume", str(last), *OPTIONS[-3:]] if (last / "config.json").is_file() else [
            "train", "--out", str(last), *OPTIONS]
        assert helper.run(verb) == ["exited", 0], helper.log.read_text()
    finally:
        helper.close()
    print(f"{kills} kills, {mid_write} in the middle of a checkpoint write, checkpoint epochs seen "
          f"{sorted(epochs_seen)}, {len(runs)} runs")
    assert kills >= 20 and mid_write >= KILLS // 4, (kills, mid_write)
    assert len(epochs_seen) >= 2, epochs_seen  # the kills fell at different stages of the runs
    for run in runs:
        _assert_same_run(ref, run)

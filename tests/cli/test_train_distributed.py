"""``spikeforge train --nproc 2`` and ``torchrun ... -m spikeforge train``: two CPU workers on gloo train the
weights one process trains on the same global batches, write one run folder that evaluates in one process,
and a worker killed with SIGKILL ends the job with one line within a bounded time."""

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import torch.distributed as dist

from spikeforge.cli.main import main
from spikeforge.learn.checkpoint import load_checkpoint

pytestmark = pytest.mark.skipif(not dist.is_available() or not sys.platform.startswith("linux"),
                                reason="torch.distributed (gloo) and /proc: Linux")

# GunPoint: 40 training rows after the carve, batches of 16: 3 optimisation steps per epoch (the last of 8 rows)
ARGS = ["train", "--dataset", "ucr:GunPoint", "--hidden", "16", "--lr", "1e-2", "--threads", "1", "--no-plots",
        "--no-report", "--no-progress"]


def _spikeforge(*words, env=None, timeout=120):
    return subprocess.run([sys.executable, "-m", "spikeforge", *words], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


def test_two_workers_train_and_resume_to_the_one_process_weights_and_the_run_evaluates_in_one_process(tmp_path,
                                                                                                         capsys):
    two, one = tmp_path / "two", tmp_path / "one"
    res = _spikeforge(*ARGS, "--epochs", "2", "--nproc", "2", "--stop-after", "1", "--out", str(two))
    assert res.returncode == 0, res.stderr
    # rank 0 alone printed: one header, each epoch line once
    assert res.stdout.count("spikeforge train ->") == 1 and res.stdout.count("epoch 1/2") == 1, res.stdout
    assert "2 processes (gloo)" in res.stdout and "stopped after epoch 1 of 2" in res.stdout
    # resume relaunches the run's two workers; every rank loads the same checkpoint
    res = _spikeforge("resume", str(two), "--no-progress", "--no-plots", "--no-report")
    assert res.returncode == 0, res.stderr
    assert res.stdout.count("from epoch 1 of 2") == 1 and res.stdout.count("epoch 2/2") == 1, res.stdout
    assert main([*ARGS, "--epochs", "2", "--quiet", "--out", str(one)]) == 0
    capsys.readouterr()

    a, b = load_checkpoint(one / "checkpoint.safetensors"), load_checkpoint(two / "checkpoint.safetensors")
    assert a["record"]["step"] == b["record"]["step"] == 6
    for name, w in a["model"].items():
        assert (b["model"][name] - w).abs().max() <= 1e-6, name
    assert a["model"]["0.weight"].ne(load_checkpoint(one / "model.safetensors")["model"]["0.weight"]).sum() == 0
    # the per-epoch figures are those of the whole global batches
    for ra, rb in zip(a["record"]["history"], b["record"]["history"]):
        for key in ("train_loss", "train_accuracy", "valid_loss", "valid_accuracy"):
            assert abs(ra[key] - rb[key]) < 1e-5, key
    assert {"torch_rank0", "torch_rank1"} <= set(b["rng"])  # each rank's own stream, for resume
    info = json.loads((two / "run.json").read_text())
    assert info["processes"] == {"world_size": 2, "backend": "gloo"} and info["status"] == "finished"
    assert json.loads((two / "config.json").read_text())["nproc"] == 2
    assert sorted(p.name for p in two.iterdir() if p.name.startswith(".")) == []  # no temporaries left

    # the distributed run's checkpoint loads and evaluates in one process: what metrics.json recorded
    assert main(["evaluate", str(two), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    recorded = json.loads((two / "metrics.json").read_text())["test_accuracy"]
    assert out["accuracy"] == recorded == json.loads((one / "metrics.json").read_text())["test_accuracy"]


def test_torchrun_runs_spikeforge_train_and_its_world_replaces_the_config_files_nproc(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"nproc": 3, "epochs": 1}))
    run = tmp_path / "run"
    res = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "spikeforge",
         *ARGS, "--config", str(tmp_path / "config.json"), "--out", str(run)],
        capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.count("epoch 1/1") == 1 and "2 processes (gloo)" in res.stdout
    assert json.loads((run / "config.json").read_text())["nproc"] == 2  # torchrun's processes, not the file's 3
    assert json.loads((run / "run.json").read_text())["processes"]["world_size"] == 2


@pytest.mark.parametrize("rank", ["0", "1"])
def test_under_torchrun_a_typed_nproc_must_agree_and_rank_0_alone_says_so(tmp_path, monkeypatch, capsys, rank):
    # (torchrun's own parser refuses --nproc after the script as an abbreviation of --nproc-per-node; another
    # launcher that sets the same environment passes it)
    for name, value in (("WORLD_SIZE", "2"), ("LOCAL_WORLD_SIZE", "2"), ("RANK", rank), ("LOCAL_RANK", rank)):
        monkeypatch.setenv(name, value)
    assert main([*ARGS, "--nproc", "3", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    line = ("spikeforge train: error: --nproc: under torchrun the processes are torchrun's (--nproc_per_node 2 on "
            "this machine); expected --nproc 2 or no --nproc, got 3\n")
    assert err == (line if rank == "0" else "")
    assert not (tmp_path / "run").exists()


def _pids_with(tag: str, rank: str) -> list[int]:
    """Processes whose environment holds ``TEST_TAG=tag`` and ``RANK=rank`` (the workers of this test)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            env = set((entry / "environ").read_bytes().split(b"\0"))
        except OSError:
            continue
        if f"TEST_TAG={tag}".encode() in env and f"RANK={rank}".encode() in env:
            found.append(int(entry.name))
    return found


def test_killing_one_worker_ends_the_job_with_one_clear_line(tmp_path):
    run, tag = tmp_path / "run", uuid.uuid4().hex
    proc = subprocess.Popen([sys.executable, "-m", "spikeforge", *ARGS, "--epochs", "100000", "--nproc", "2",
                             "--out", str(run)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "TEST_TAG": tag})
    try:
        deadline = time.monotonic() + 90
        while not (run / "checkpoint.safetensors").exists():  # an epoch is done: the job is training
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.05)
        victims = _pids_with(tag, "1")
        assert len(victims) == 1
        os.kill(victims[0], signal.SIGKILL)
        t0 = time.monotonic()
        _, err = proc.communicate(timeout=60)
        elapsed = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert elapsed < 60 and proc.returncode == 1
    last = err.strip().splitlines()[-1]
    assert last == (f"spikeforge train: error: rank 1 of 2 (pid {victims[0]}) was killed by signal SIGKILL; the other "
                    f"worker was stopped; {run} holds the last finished epoch: continue with 'spikeforge resume "
                    f"{run}'"), err
    assert "Traceback" not in err, err
    assert _pids_with(tag, "0") == []  # rank 0 was stopped too
    load_checkpoint(run / "checkpoint.safetensors")  # and what it left loads


@pytest.mark.parametrize("words", [
    ["train"],
    ["train", "--dataset", "ucr:GunPoint", "--hidden", "32,16", "--lr", "0.1234567890123", "--encoder", "delta",
     "--encoder-param", "threshold=0.25", "--encoder-param", "initial=first", "--neuron-param", "tau_syn=5",
     "--model-param", "kernel_sizes=[5, 3]", "--per-neuron", "--no-deterministic", "--weight-decay=-1e-3",
     "--learnable", "tau,threshold", "--out", "some dir/run", "--overwrite", "--stop-after", "2", "-q",
     "--no-plots", "--nproc", "2"],
    ["resume", "runs/x", "--stop-after", "3", "--no-report"],
])
def test_the_workers_command_line_parses_back_to_the_same_options(words):
    from spikeforge.cli.main import build_parser
    from spikeforge.cli.train import command_line

    parser = build_parser()
    args = parser.parse_args(words)
    again = command_line(words[0], args)
    assert vars(parser.parse_args(again)) == vars(args), again

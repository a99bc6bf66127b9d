"""spikeforge.learn.distributed: the process group's context manager, the one-machine launcher, and what a
failing worker does to the job (2 CPU workers on gloo; each launch is a few seconds)."""

import json
import logging
import os
import signal
import sys
import time
from datetime import timedelta

import pytest
import torch
import torch.distributed as dist

from spikeforge.learn import distributed as D

pytestmark = pytest.mark.skipif(not dist.is_available() or sys.platform == "win32",
                                reason="torch.distributed with gloo on POSIX")


def test_outside_torchrun_one_process_and_nothing_initialised(monkeypatch):
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "LOCAL_WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    assert not D.launched()
    with D.process_group("cpu") as ctx:
        assert ctx == D.DistContext() and not ctx.distributed and ctx.is_writer and ctx.shard is None
        assert not dist.is_initialized()
        step = object()
        assert ctx.step_method(step, torch.nn.Linear(2, 2)) is step
        assert ctx.all_ok(True) and not ctx.all_ok(False)
        assert ctx.gather(3) == [3] and ctx.broadcast("x") == "x"
        assert ctx.device("cuda") == torch.device("cuda")  # one process: the device as asked
    assert D.context() == D.DistContext()


def test_a_world_of_one_is_one_process(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "1")
    monkeypatch.setenv("RANK", "0")
    with D.process_group("cpu") as ctx:
        assert not ctx.distributed and not dist.is_initialized()


@pytest.mark.parametrize(("kwargs", "needle"), [
    ({"timeout": 5}, "timeout: expected a positive datetime.timedelta, got 5"),
    ({"timeout": timedelta(0)}, "timeout: expected a positive datetime.timedelta"),
    ({"backend": "mpi"}, "backend: expected 'gloo', 'nccl' or None, got 'mpi'"),
])
def test_bad_arguments_are_named(kwargs, needle):
    with pytest.raises(ValueError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        with D.process_group("cpu", **kwargs):
            pass


def test_rank_seeds():
    assert D.rank_seed(7, 0) == 7
    seeds = {D.rank_seed(7, r) for r in range(1, 64)} | {D.rank_seed(8, r) for r in range(1, 64)}
    assert len(seeds) == 126 and 7 not in seeds and 8 not in seeds  # distinct, and not another run's rank 0
    assert D.rank_seed(7, 3) == D.rank_seed(7, 3) and all(0 <= s < 2**63 for s in seeds)


def test_backend_and_nproc_under_torchrun(monkeypatch):
    assert D.backend_for("cpu") == "gloo" and D.backend_for("cuda:1") == "nccl"
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    assert D.check_nproc(1, given=False) == 2  # a config file's value gives way to torchrun's
    assert D.check_nproc(2, given=True) == 2
    with pytest.raises(ValueError, match=r"^--nproc: under torchrun .*--nproc_per_node 2 .*got 3$"):
        D.check_nproc(3, given=True)


def test_launch_refuses_a_bad_nproc():
    with pytest.raises(ValueError, match="nproc: expected an integer >= 1, got 0"):
        D.launch(["-c", "pass"], 0)


# What each worker runs: join the group, record who it is and what the collectives gave.
WORKER = """
import json, os, sys, torch
from spikeforge.learn import distributed as D
out = sys.argv[1]
with D.process_group('cpu') as ctx:
    assert torch.distributed.is_initialized()
    t = torch.tensor([float(ctx.rank + 1)])
    torch.distributed.all_reduce(t)
    rec = dict(ctx=[ctx.rank, ctx.world_size, ctx.local_rank, ctx.local_world_size, ctx.backend],
               shard=list(ctx.shard), writer=ctx.is_writer, sum=float(t), gather=ctx.gather(ctx.rank * 10),
               bcast=ctx.broadcast(f'from {ctx.rank}'), ok=ctx.all_ok(True), one_bad=ctx.all_ok(ctx.rank != 1))
rec['initialised_after'] = torch.distributed.is_initialized()
# (no second group in the same workers: under torchrun the workers share the agent's store, and a second
# init_process_group on it raced -- "connection refused" or a wait for the 5-minute timeout)
open(os.path.join(out, f'rank{ctx.rank}.json'), 'w').write(json.dumps(rec))
"""


def _handlers():
    return {s: signal.getsignal(getattr(signal, s)) for s in ("SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT")}


def test_two_workers_join_one_group_and_leave_it(tmp_path):
    before = (_handlers(), os.environ.get("TORCHELASTIC_SIGNALS_TO_HANDLE"),
              logging.getLogger("torch.distributed.elastic").handlers[:])
    D.launch(["-c", WORKER, str(tmp_path)], 2)
    recs = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    for r, rec in enumerate(recs):
        assert rec["ctx"] == [r, 2, r, 2, "gloo"] and rec["shard"] == [r, 2] and rec["writer"] == (r == 0)
        assert rec["sum"] == 3.0 and rec["gather"] == [0, 10] and rec["bcast"] == "from 0"
        assert rec["ok"] is True and rec["one_bad"] is False
        assert rec["initialised_after"] is False  # the context manager destroyed its group
    # the agent's signal handlers, environment variable and log handler do not outlive the launch
    assert (_handlers(), os.environ.get("TORCHELASTIC_SIGNALS_TO_HANDLE"),
            logging.getLogger("torch.distributed.elastic").handlers) == before


DIES = """
import os, signal, sys, time, torch
from spikeforge.learn import distributed as D
with D.process_group('cpu') as ctx:
    torch.distributed.barrier()
    if ctx.rank == 1:
        os.kill(os.getpid(), signal.SIGKILL)
    for _ in range(10_000):  # rank 0 goes on with collectives: they fail at once (the peer's socket closed)
        torch.distributed.all_reduce(torch.ones(4))
        time.sleep(0.01)
"""


def test_a_killed_worker_ends_the_job_with_one_line():
    t0 = time.monotonic()
    with pytest.raises(D.WorkerFailed) as info:
        D.launch(["-c", DIES], 2)
    assert time.monotonic() - t0 < 60
    exc = info.value
    assert exc.rank == 1 and exc.exitcode == -signal.SIGKILL
    assert "\n" not in exc.message
    assert exc.message.startswith("rank 1 of 2 (pid ") and "was killed by signal SIGKILL" in exc.message


HANGS = """
import sys, time, torch
from datetime import timedelta
from spikeforge.learn import distributed as D
with D.process_group('cpu', timeout=timedelta(seconds=2)) as ctx:
    torch.distributed.barrier()
    if ctx.rank == 1:
        time.sleep(120)  # alive but not answering
    t0 = time.monotonic()
    try:
        torch.distributed.all_reduce(torch.ones(4))
    except RuntimeError:
        print(f'timed out after {time.monotonic() - t0:.1f} s', file=sys.stderr)
        sys.exit(3)
"""


def test_a_hung_worker_times_out_and_the_agent_stops_it():
    t0 = time.monotonic()
    with pytest.raises(D.WorkerFailed) as info:
        D.launch(["-c", HANGS], 2)
    assert time.monotonic() - t0 < 60  # 2 s of timeout, not the 120 s the hung rank sleeps
    assert info.value.rank == 0 and info.value.exitcode == 3
    assert info.value.message.startswith("rank 0 of 2") and "exited with status 3" in info.value.message


# --------------------------------------------------------------------------------------------------
# fit() under DDP: two processes on the same global batches reach the one-process weights.
FIT = """
import sys, torch
from spikeforge.learn import distributed as D
sys.path.insert(0, sys.argv[2])
import _fit_case as case
with D.process_group('cpu') as ctx:
    model, state = case.train(ctx)
    if ctx.is_writer:
        torch.save({'weights': model.state_dict(), 'history': state.history}, sys.argv[1])
"""

CASE = """
import torch
from spikeforge.data import Split
from spikeforge.encode import Rate
from spikeforge.learn.bptt import bptt_step
from spikeforge.learn.config import TrainConfig
from spikeforge.learn.distributed import DistContext, rank_seed
from spikeforge.learn.loop import fit, make_optimizer
from spikeforge.learn.models import build_model


def split(n, seed):
    # series of 5 channels, 6 to 12 valid steps, spike probabilities coded by a random (Rate) encoder
    g = torch.Generator().manual_seed(seed)
    return Split(x=torch.rand(n, 12, 5, generator=g), y=torch.randint(0, 3, (n,), generator=g),
                 lengths=torch.randint(6, 13, (n,), generator=g), classes=('a', 'b', 'c'), kind='series',
                 encoder=Rate(steps=None))


def train(ctx=DistContext(), model_name='mlp', rows=70, batch_size=24, epochs=2):
    train, valid = split(rows, 1), split(40, 2)  # 3 global batches per epoch, the last of 22 rows
    config = TrainConfig(model=model_name, hidden=[12], lr=1e-2)
    torch.manual_seed(0)
    model = build_model(config, 5, 3)
    opt = make_optimizer('adam', model.parameters(), config.lr)
    if ctx.distributed:
        torch.manual_seed(rank_seed(0, ctx.rank))
    state = fit(model, ctx.step_method(bptt_step, model), train, opt, [ctx.epoch_callback(len(train), batch_size)],
                epochs=epochs, batch_size=batch_size, valid=valid, objective=config,
                generator=torch.Generator().manual_seed(0), shard=ctx.shard)
    return model, state
"""


def test_two_processes_train_the_weights_of_one(tmp_path):
    (tmp_path / "_fit_case.py").write_text(CASE)
    sys.path.insert(0, str(tmp_path))
    try:
        import _fit_case as case

        one, one_state = case.train()
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("_fit_case", None)
    D.launch(["-c", FIT, str(tmp_path / "two.pt"), str(tmp_path)], 2)
    two = torch.load(tmp_path / "two.pt")
    assert len(one_state.history) == 2 and one_state.step == 6
    for name, w in one.state_dict().items():
        assert torch.allclose(two["weights"][name], w, rtol=0, atol=1e-6), name
    moved = [n for n, p in one.named_parameters()]
    assert moved  # (the weights did move: the first epoch's loss is not the second's)
    assert one_state.history[0]["train_loss"] != one_state.history[1]["train_loss"]
    # the rows' train figures are those of the whole global batches, not of rank 0's share
    for a, b in zip(one_state.history, two["history"]):
        for key in ("train_loss", "train_accuracy", "train_spikes_per_sample", "valid_loss", "valid_accuracy"):
            assert abs(a[key] - b[key]) < 1e-5, key

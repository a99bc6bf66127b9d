"""Data-parallel training on ``torch.distributed``: one process per worker, DistributedDataParallel.

Every process builds the same model from the same seed, walks the same sequence of global batches (the
data-order generator is seeded alike on every rank) and trains its own rows ``rank::world`` of each one
(:func:`spikeforge.learn.fit`'s ``shard``); DDP averages the gradients, which the loop's loss weights make
equal to the gradient of the whole global batch. Rank 0 alone writes the run folder and prints.

* :func:`process_group` -- a context manager that initialises the default process group from the
  environment torchrun sets (``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``, ...) with a timeout, and destroys it
  on the way out (also on error). Outside torchrun it gives the one-process :class:`DistContext` and
  touches nothing.
* :class:`DistContext` -- who this process is (rank, world size, backend) and the few collective steps
  the trainer needs: :meth:`~DistContext.step_method` (a training method run through DDP),
  :meth:`~DistContext.all_ok`, :meth:`~DistContext.gather`.
* :func:`launch` -- ``spikeforge train --nproc N``: N local workers under torch's elastic agent (what
  ``torchrun --standalone --nproc_per_node N`` does), with the caller's signal handlers, environment and
  logging restored afterwards.

gloo on CPU, NCCL on CUDA (one GPU per local rank).
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import inspect
import logging
import os
import signal
import sys
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

__all__ = [
    "DEFAULT_TIMEOUT",
    "DistContext",
    "WorkerFailed",
    "backend_for",
    "check_nproc",
    "context",
    "launch",
    "launched",
    "process_group",
    "rank_seed",
]

# A collective that waits longer than this fails (and torchrun's agent then stops the other workers): long
# enough for rank 0's checkpoint between two epochs, short enough that a hung peer ends the job.
DEFAULT_TIMEOUT = timedelta(minutes=5)
_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE")


def launched() -> bool:
    """Whether this process was started by torchrun (or :func:`launch`): ``WORLD_SIZE`` is in the environment."""
    return "WORLD_SIZE" in os.environ


def _env_int(name: str, default: int) -> int:
    text = os.environ.get(name)
    if text is None:
        return default
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{name}: expected an integer in the environment (torchrun sets it), got {text!r}") from None


def backend_for(device: torch.device | str) -> str:
    """``"nccl"`` for a CUDA device (``"auto"``: where CUDA is available), ``"gloo"`` otherwise."""
    if device == "auto":
        return "nccl" if torch.cuda.is_available() else "gloo"
    return "nccl" if torch.device(device).type == "cuda" else "gloo"


def rank_seed(seed: int, rank: int) -> int:
    """The seed of rank ``rank``'s own random draws (stochastic neurons, dropout): ``seed`` itself on rank 0,
    an unrelated 63-bit seed derived from ``(seed, rank)`` on the others (not ``seed + rank``, which is
    another run's rank 0)."""
    if rank == 0:
        return int(seed)
    digest = hashlib.sha256(f"spikeforge rank seed {int(seed)} {int(rank)}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


@dataclass(frozen=True)
class DistContext:
    """This process's place in the job: ``rank`` of ``world_size``, ``local_rank`` on its machine, the
    ``backend`` of the process group (``None``: one process, no group)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1
    backend: str | None = None

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_writer(self) -> bool:
        """Rank 0 writes the run folder and prints; the others stay silent."""
        return self.rank == 0

    @property
    def shard(self) -> tuple[int, int] | None:
        """``(rank, world_size)`` for :func:`spikeforge.learn.fit`, ``None`` for one process."""
        return (self.rank, self.world_size) if self.distributed else None

    def device(self, device: torch.device | str) -> torch.device:
        """The device of this rank: ``cuda`` becomes ``cuda:LOCAL_RANK`` (one GPU per local worker)."""
        device = torch.device(device)
        if not self.distributed or device.type != "cuda" or device.index is not None:
            return device
        count = torch.cuda.device_count()
        if self.local_rank >= count:
            raise ValueError(f"device: {self.local_world_size} processes on this machine need one CUDA device each "
                             f"(NCCL), torch sees {count}; use --device cpu (gloo) or fewer processes")
        return torch.device("cuda", self.local_rank)

    def wrap(self, model: nn.Module) -> nn.Module:
        """``model`` in DistributedDataParallel (the model itself for one process)."""
        if not self.distributed:
            return model
        from torch.nn.parallel import DistributedDataParallel

        param = next(model.parameters(), None)
        ids = [param.device.index] if param is not None and param.device.type == "cuda" else None
        # No buffer broadcast before each forward: see step_method (the option's name changed in torch 2.13).
        newer = "forward_sync_buffers" in inspect.signature(DistributedDataParallel.__init__).parameters
        no_sync = {"forward_sync_buffers" if newer else "broadcast_buffers": False}
        return DistributedDataParallel(model, device_ids=ids, **no_sync)

    def step_method(self, method: Callable[..., Any], model: nn.Module) -> Callable[..., Any]:
        """A training method ``(model, batch, optimizer, objective)`` that runs ``method`` on ``model`` wrapped
        in DDP (the gradients of its backward are averaged over the ranks). The loop keeps the plain
        ``model`` for evaluation, which then needs no collective. One process: ``method`` itself."""
        if not self.distributed:
            return method
        ddp = self.wrap(model)
        # Running statistics (batch norm) move with each rank's own rows: after every step all ranks take
        # rank 0's, so that the models stay alike (the validation figures, and so any decision made on
        # them, are the same everywhere).
        stats = [b for m in model.modules() if getattr(m, "track_running_stats", False)
                 for b in m.buffers(recurse=False) if b.is_floating_point()]

        def ddp_step(m: nn.Module, batch, optimizer, objective):
            if m is not model:
                raise ValueError("model: the distributed step method was made for another model")
            result = method(ddp, batch, optimizer, objective)
            if stats:
                flat = torch.cat([b.detach().reshape(-1) for b in stats])
                dist.broadcast(flat, src=0)
                offset = 0
                for b in stats:
                    b.copy_(flat[offset:offset + b.numel()].view_as(b))
                    offset += b.numel()
            return result

        ddp_step.ddp = ddp  # type: ignore[attr-defined]
        return ddp_step

    def epoch_callback(self, train_size: int, batch_size: int) -> _GlobalTrainFigures | None:
        """A :func:`~spikeforge.learn.fit` callback that makes each epoch row's ``train_*`` figures those of
        every rank's rows (the loop measures this rank's share); put it first. ``None`` for one process."""
        if not self.distributed:
            return None
        rows = sum(len(range(self.rank, min(batch_size, train_size - start), self.world_size))
                   for start in range(0, train_size, batch_size))
        return _GlobalTrainFigures(self, rows)

    def all_ok(self, ok: bool) -> bool:
        """True when ``ok`` holds on every rank (a collective: every rank must call it)."""
        if not self.distributed:
            return bool(ok)
        flag = torch.tensor([0 if ok else 1], dtype=torch.int64, device=self._collective_device())
        dist.all_reduce(flag)
        return int(flag.item()) == 0

    def gather(self, obj: Any) -> list[Any]:
        """Every rank's ``obj`` (picklable), in rank order, on every rank (a collective)."""
        if not self.distributed:
            return [obj]
        out: list[Any] = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

    def broadcast(self, obj: Any) -> Any:
        """Rank 0's ``obj`` on every rank (a collective)."""
        if not self.distributed:
            return obj
        box = [obj if self.rank == 0 else None]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def _collective_device(self) -> torch.device:
        return torch.device("cuda", self.local_rank) if self.backend == "nccl" else torch.device("cpu")


class _GlobalTrainFigures:
    """Callback of :meth:`DistContext.epoch_callback`: sums ``train_* x rows`` over the ranks."""

    KEYS = ("train_loss", "train_accuracy", "train_spikes_per_sample")

    def __init__(self, ctx: DistContext, rows: int) -> None:
        self.ctx, self.rows = ctx, rows

    def on_epoch_end(self, state, row: dict[str, Any]) -> None:
        sums = torch.tensor([float(row[k]) * self.rows if self.rows else 0.0 for k in self.KEYS] + [self.rows],
                            dtype=torch.float64, device=self.ctx._collective_device())
        dist.all_reduce(sums)
        for k, v in zip(self.KEYS, sums[:-1].tolist()):
            row[k] = v / float(sums[-1])


def context() -> DistContext:
    """The :class:`DistContext` of the default process group now initialised (one process when none is)."""
    if not (dist.is_available() and dist.is_initialized()):
        return DistContext()
    return DistContext(rank=dist.get_rank(), world_size=dist.get_world_size(),
                       local_rank=_env_int("LOCAL_RANK", 0), local_world_size=_env_int("LOCAL_WORLD_SIZE", 1),
                       backend=str(dist.get_backend()))


@contextlib.contextmanager
def process_group(device: torch.device | str = "cpu", *, backend: str | None = None,
                  timeout: timedelta = DEFAULT_TIMEOUT) -> Iterator[DistContext]:
    """Join the job torchrun started (``env://``) for the duration of the ``with`` block.

    ``backend``: ``"gloo"`` or ``"nccl"`` (default :func:`backend_for` ``device``). ``timeout``: a
    collective waiting longer fails on this rank. Outside torchrun, or with a world of one process, it
    yields the one-process context and initialises nothing; a group already initialised by the caller is
    used and left alone. The group this call creates is destroyed on exit, also on error.
    """
    if not isinstance(timeout, timedelta) or timeout.total_seconds() <= 0:
        raise ValueError(f"timeout: expected a positive datetime.timedelta, got {timeout!r}")
    if backend is not None and backend not in ("gloo", "nccl"):
        raise ValueError(f"backend: expected 'gloo', 'nccl' or None, got {backend!r}")
    if dist.is_available() and dist.is_initialized():
        yield context()
        return
    world = _env_int("WORLD_SIZE", 1) if launched() else 1
    if world <= 1:
        yield DistContext()
        return
    if not dist.is_available():
        raise RuntimeError("torch.distributed is not available in this torch build; it is needed under torchrun")
    backend = backend or backend_for(device)
    local_rank = _env_int("LOCAL_RANK", 0)
    kwargs: dict[str, Any] = {}
    if backend == "nccl":
        count = torch.cuda.device_count()
        if local_rank >= count:
            raise ValueError(f"device: {_env_int('LOCAL_WORLD_SIZE', 1)} processes on this machine need one CUDA "
                             f"device each (NCCL), torch sees {count}; use --device cpu (gloo) or fewer processes")
        kwargs["device_id"] = torch.device("cuda", local_rank)
    # NCCL's object collectives (gather, broadcast) use the current CUDA device: this rank's, while the group
    # lives; the caller's afterwards.
    before = torch.cuda.current_device() if backend == "nccl" else None
    if before is not None:
        torch.cuda.set_device(local_rank)
    try:
        dist.init_process_group(backend=backend, init_method="env://", timeout=timeout, **kwargs)
        try:
            yield context()
        finally:
            # DistributedDataParallel wrappers no longer used still hold the group (and gloo's threads) until
            # the cyclic collector frees them; left to interpreter shutdown, that aborts the process (SIGABRT,
            # "terminate called without an active exception"), so free them while the group still exists.
            gc.collect()
            dist.destroy_process_group()
    finally:
        if before is not None:
            torch.cuda.set_device(before)


def check_nproc(nproc: int, given: bool) -> int:
    """Under torchrun, the number of processes per machine: torchrun's ``LOCAL_WORLD_SIZE``. A ``--nproc``
    typed on the command line (``given``) must agree with it; one from a config file is replaced."""
    local = _env_int("LOCAL_WORLD_SIZE", _env_int("WORLD_SIZE", 1))
    if given and nproc != local:
        raise ValueError(f"--nproc: under torchrun the processes are torchrun's (--nproc_per_node {local} on this "
                         f"machine); expected --nproc {local} or no --nproc, got {nproc}")
    return local


# --------------------------------------------------------------------------------------------------
class WorkerFailed(RuntimeError):
    """A worker of :func:`launch` failed: ``rank`` (global), ``exitcode`` (negative: killed by that signal),
    ``message``: one line for the user."""

    def __init__(self, rank: int, exitcode: int, pid: int | None, message: str) -> None:
        super().__init__(message)
        self.rank, self.exitcode, self.pid, self.message = rank, exitcode, pid, message


def _how(exitcode: int) -> str:
    if exitcode < 0:
        try:
            return f"was killed by signal {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"was killed by signal {-exitcode}"
    return f"exited with status {exitcode}"


def _root_failure(failures: dict[int, Any]) -> tuple[int, Any]:
    """The failure that ended the job: a worker killed by a signal other than the agent's SIGTERM first (its
    peers then fail on their next collective, in the same second of the agent's timestamps), then the
    earliest; those the agent stopped (SIGTERM) last."""
    def key(item: tuple[int, Any]) -> tuple[int, int, int]:
        rank, f = item
        code = int(f.exitcode)
        kind = 2 if code == -signal.SIGTERM else 0 if code < 0 else 1
        return kind, int(f.timestamp), rank

    return min(failures.items(), key=key)


_SIGNALS = ("SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT")


@contextlib.contextmanager
def _agent_side_effects_undone():
    """The elastic agent installs signal handlers, sets environment variables and logs warnings; restore all
    three for the caller (the failure is reported by :func:`launch`'s one line instead of the log)."""
    handlers = {s: signal.getsignal(getattr(signal, s)) for s in _SIGNALS if hasattr(signal, s)}
    env_before = {k: os.environ.get(k) for k in ("TORCHELASTIC_SIGNALS_TO_HANDLE",)}
    # The agent's loggers set their own levels; stop their records at the package logger instead.
    log, quiet = logging.getLogger("torch.distributed.elastic"), logging.NullHandler()
    propagate = log.propagate
    log.addHandler(quiet)
    log.propagate = False
    try:
        yield
    finally:
        log.removeHandler(quiet)
        log.propagate = propagate
        for k, v in env_before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        for s, h in handlers.items():
            if h is not None:
                signal.signal(getattr(signal, s), h)


def launch(args: Sequence[str], nproc: int, *, monitor_interval: float = 0.2, shutdown_timeout: int = 10) -> None:
    """Run ``python ARGS...`` as ``nproc`` workers of one job on this machine (torchrun --standalone).

    The rendezvous is on 127.0.0.1 on a free port; a worker that fails ends the job: the agent stops the
    others (SIGTERM, SIGKILL after ``shutdown_timeout`` s) and this raises :class:`WorkerFailed` for the
    first failure. Ctrl-C (SIGINT) stops the workers and raises ``KeyboardInterrupt``.
    """
    if isinstance(nproc, bool) or not isinstance(nproc, int) or nproc < 1:
        raise ValueError(f"nproc: expected an integer >= 1, got {nproc!r}")
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    config = LaunchConfig(min_nodes=1, max_nodes=1, nproc_per_node=nproc, run_id=uuid.uuid4().hex,
                          rdzv_backend="c10d", rdzv_endpoint="127.0.0.1:0", max_restarts=0,
                          monitor_interval=monitor_interval, shutdown_timeout=shutdown_timeout)
    with _agent_side_effects_undone():
        try:
            elastic_launch(config, sys.executable)(*args)
        except ChildFailedError as exc:
            rank, failure = _root_failure(exc.failures)
            pid = getattr(failure, "pid", None)
            others = "the other worker was stopped" if nproc == 2 else "the other workers were stopped"
            message = (f"rank {rank} of {nproc}{'' if pid is None else f' (pid {pid})'} "
                       f"{_how(int(failure.exitcode))}; {others}")
            raise WorkerFailed(int(rank), int(failure.exitcode), pid, message) from None
        except SignalException as exc:
            if exc.sigval == signal.SIGINT:
                raise KeyboardInterrupt from None
            raise WorkerFailed(-1, -int(exc.sigval), None,
                               f"the launcher got {exc.sigval.name}; the workers were stopped") from None

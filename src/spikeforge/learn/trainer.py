"""Train a spiking network on a data set into a *run folder*, resume it, evaluate it, load it back.

A run folder holds:

* ``config.json`` -- the resolved :class:`~spikeforge.learn.config.TrainConfig` (``spikeforge train
  --config`` accepts it back); ``run.json`` -- what the data set and model turned out to be, versions,
  status;
* ``checkpoint.safetensors`` -- written atomically after every epoch: model, optimizer state, RNG states
  and the history (what :func:`Trainer.resume` needs to continue exactly); ``model.safetensors`` -- the
  final weights (what :func:`load_run` loads);
* ``metrics.csv`` (one :func:`~spikeforge.learn.loop.fit` row per epoch: train and validation figures) and,
  at the end, ``metrics.json`` (test accuracy -- the one time the test split is evaluated --, validation
  accuracy, spikes and synaptic operations per sample, energy per sample on each chip and GPU, fit verdicts);
* ``plots/*.png`` -- learning curves, spike raster and membrane traces of one test sample, firing rate per
  layer, energy comparison.

Reproducibility: with ``deterministic=True`` (default) a run is a function of its config: ``resume``
restores the optimizer and the RNG states (torch's global one and the data-order generator), so
*train N epochs* and *train k, stop, resume* give identical weights and metrics.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import io
import json
import math
import os
import platform as _platform
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from spikeforge.data.errors import about
from spikeforge.learn import auto
from spikeforge.learn.checkpoint import atomic_write_text, load_checkpoint, save_checkpoint
from spikeforge.learn.config import ConfigError, TrainConfig, load_config
from spikeforge.learn.distributed import context as dist_context
from spikeforge.learn.distributed import rank_seed
from spikeforge.learn.loop import ROW_FIELDS, LoopState, SpikeMeter, evaluate, fit, make_optimizer, train_epoch
from spikeforge.learn.methods import method_named
from spikeforge.learn.models import build_model, describe_layers, parameter_count

__all__ = [
    "CHECKPOINT",
    "FINAL_WEIGHTS",
    "VALID_OF_FINAL",
    "SpikeMeter",
    "Trainer",
    "evaluate_model",
    "evaluate_run",
    "load_run",
    "load_training_data",
    "lr_at",
    "read_history",
    "resolve_device",
]

CHECKPOINT = "checkpoint.safetensors"
FINAL_WEIGHTS = "model.safetensors"
SPLITS = ("train", "test", "valid")
#: ``metrics.json`` ``valid_of`` of a run that evaluates its own validation split at the end (the other values:
#: the ``--model auto`` search's figures of a refit run, or ``None`` without a split).
VALID_OF_FINAL = "the final model"
CSV_FIELDS = ROW_FIELDS  # metrics.csv: one fit() row per epoch (valid_* empty without a validation split)


# --------------------------------------------------------------------------------------------------
def resolve_device(name: str) -> torch.device:
    """``"auto"``: CUDA when available, else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device", f"{name!r} asked for, but torch sees no CUDA device (use 'cpu' or 'auto')")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("device", f"{name!r} asked for, but MPS is not available (use 'cpu' or 'auto')")
    return device


def lr_at(config: TrainConfig, step: int, total_steps: int) -> float:
    """Learning rate at optimisation step ``step`` of ``total_steps`` (a pure function: resumable)."""
    if config.schedule == "constant" or total_steps <= 1:
        return config.lr
    return config.lr * 0.5 * (1.0 + math.cos(math.pi * min(step, total_steps) / total_steps))


def _rng_states(data_gen: torch.Generator) -> dict[str, torch.Tensor]:
    states = {"torch": torch.get_rng_state(), "data": data_gen.get_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for k in range(torch.cuda.device_count()):
            states[f"cuda{k}"] = torch.cuda.get_rng_state(k)
    return states


@contextlib.contextmanager
def _deterministic(on: bool):
    """Deterministic kernels (and cuDNN settings) while a run computes; the caller's settings after."""
    before = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),
              torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic)
    if on:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(on, warn_only=True)
    torch.backends.cudnn.benchmark = not on
    torch.backends.cudnn.deterministic = on
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before[0], warn_only=before[1])
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = before[2], before[3]


@contextlib.contextmanager
def _num_threads(n: int):
    """torch's intra-op thread count ``n`` while a run computes; the caller's count after (also on error)."""
    before = torch.get_num_threads()
    if n != before:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


def check_out_free(out: str | Path, overwrite: bool = False) -> None:
    """Refuse ``out`` if it holds a run (its ``config.json``) and ``overwrite`` is not set: asked before the
    data set is loaded and ``--model auto`` searches, so a taken folder costs nothing."""
    out = Path(out)
    if (out / "config.json").exists() and not overwrite:
        detail = (f"{out} already holds a run (config.json); pass --overwrite to replace it, or "
                  f"'spikeforge resume {out}' to continue it")
        raise about("out_dir", FileExistsError(f"out: {detail}"), detail)


def _config_threads(method):
    """Run a :class:`Trainer` method with ``config.threads`` threads (:func:`_num_threads`)."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        with _num_threads(self.config.threads):
            return method(self, *args, **kwargs)

    return wrapper


def _fmt(x: float, digits: int = 4) -> str:
    return f"{x:.{digits}f}" if math.isfinite(x) else "nan"


# --------------------------------------------------------------------------------------------------
def load_training_data(config: TrainConfig):
    """The data set of ``config`` as a run trains on it: ``(dataset, resolved config, validation)``.

    When the data set has no validation split and ``config.valid_fraction > 0``, one is carved from the training
    split (:func:`spikeforge.data.carve_validation`, seeded by ``config.seed``: the same config gives the same
    carve, so ``evaluate --split valid`` reproduces it); ``dataset.train`` is then what remains.
    ``validation`` describes the rule and the sizes (recorded in ``run.json`` and ``metrics.json``).
    The resolved config records the encoder as its full parameter mapping.
    """
    from spikeforge.data import SpikeDataset, carve_validation, load_dataset
    from spikeforge.data.split import CARVE_RULE, CARVE_RULE_REGRESSION
    from spikeforge.encode import encoder_config

    try:
        dataset = load_dataset(config.dataset, encoder=config.encoder, steps=config.steps, normalize=config.normalize,
                               downsample=config.downsample)
    except (ValueError, TypeError, OSError) as exc:
        about("dataset", exc)  # unless the loader named another argument (steps, encoder, ...)
        raise
    _check_task(config, dataset)
    enc = dataset.encoder
    config = config.replace(encoder=None if enc is None else encoder_config(enc))
    if dataset.valid is not None:
        validation = {"source": "data set", "rule": "the data set's own validation split",
                      "train_size": len(dataset.train), "valid_size": len(dataset.valid)}
    elif config.valid_fraction > 0:
        train, valid = carve_validation(dataset.train, config.valid_fraction, config.seed)
        rule = CARVE_RULE_REGRESSION if dataset.train.regression else CARVE_RULE
        validation = {"source": "carved", "rule": rule, "fraction": config.valid_fraction,
                      "seed": config.seed, "from_train_size": len(dataset.train), "train_size": len(train),
                      "valid_size": len(valid)}
        dataset = SpikeDataset(dataset.name, train, dataset.test, valid, dict(dataset.meta))
    else:
        validation = {"source": "none", "rule": "valid_fraction 0: no validation split",
                      "train_size": len(dataset.train), "valid_size": 0}
    return dataset, config, validation


def _check_task(config: TrainConfig, dataset) -> None:
    """A regression set (real targets: the adding problem) trains with a regression loss and a named family;
    a classification set with a classification loss."""
    from spikeforge.learn.losses import REGRESSION_LOSSES

    regression = bool(getattr(dataset, "regression", False))
    if regression and config.loss not in REGRESSION_LOSSES:
        raise ConfigError("loss", f"the data set {dataset.name!r} is a regression task (real targets, one output); "
                                  f"expected one of {list(REGRESSION_LOSSES)}, got {config.loss!r}")
    if not regression and config.loss in REGRESSION_LOSSES:
        raise ConfigError("loss", f"{config.loss!r} is a regression loss but the data set {dataset.name!r} has class "
                                  "labels; expected a classification loss (e.g. 'last')")
    if regression and config.model == "auto":
        raise ConfigError("model", f"'auto' chooses by validation accuracy among classifiers; the data set "
                                   f"{dataset.name!r} is a regression task: expected a family (e.g. 'mlp', "
                                   "'recurrent')")


class _RunFolder:
    """The fit() callback of a :class:`Trainer`: progress per batch; per epoch the checkpoint, ``metrics.csv``,
    ``run.json`` and the epoch line."""

    def __init__(self, trainer: Trainer, progress: Any, tasks: tuple[Any, Any], live: bool) -> None:
        self.trainer, self.progress, self.live = trainer, progress, live
        self.ep_task, self.b_task = tasks

    def on_batch(self, state: LoopState, m: dict[str, float]) -> None:
        self.progress.update(self.b_task, advance=1, info=(
            f"loss {m['loss']:.3f}  acc {m['accuracy']:.3f}  spikes/sample {m['spikes']:.0f}"))

    def on_epoch_end(self, state: LoopState, row: dict[str, Any]) -> None:
        tr, cfg = self.trainer, self.trainer.config
        tr.train_seconds += row["seconds"]
        tr.save()
        tr._write_csv()
        tr._write_run_info("running")
        if "valid_accuracy" in row:
            held = (f"valid {row['valid_accuracy']:.3f}", f"valid acc {row['valid_accuracy']:.4f}")
            spikes = row["valid_spikes_per_sample"]
        else:
            held = ("no validation", "no validation split (" + (
                "refit on the whole training split)" if tr.auto is not None and tr.auto.get("refit")
                else "valid_fraction 0)"))
            spikes = row["train_spikes_per_sample"]
        self.progress.update(self.ep_task, completed=state.epoch, info=(
            f"loss {row['train_loss']:.3f}  train {row['train_accuracy']:.3f}  {held[0]}  spikes/sample {spikes:.0f}"))
        self.progress.reset(self.b_task, total=tr.batches_per_epoch, info="")
        if not self.live and tr.writer:
            width = len(str(cfg.epochs))
            tr.console.print(
                f"epoch {state.epoch:>{width}}/{cfg.epochs}  train loss {row['train_loss']:.4f}  "
                f"train acc {row['train_accuracy']:.4f}  {held[1]}  spikes/sample {spikes:.0f}  "
                f"{row['seconds']:.2f} s", markup=False, highlight=False, soft_wrap=True)


class Trainer:
    """Train ``config`` into the run folder ``out_dir``: the run-folder layer on top of
    :func:`spikeforge.learn.fit`.

    ``Trainer(config, out)`` loads the data set (carving the validation split, see :func:`load_training_data`)
    and builds the model and optimizer; :meth:`fit` trains (checkpointing every epoch; per-epoch figures are
    on the validation split, never the test split) and, once all epochs are done, :meth:`finalize` evaluates
    the test split (once), writes ``metrics.json``, the pictures and the final weights. :meth:`resume`
    rebuilds a trainer from a run folder's last checkpoint.

    Args:
        progress: show rich progress bars (epochs and batches) when the console is a terminal. Without
            them (``progress=False``, or output to a file or pipe) :meth:`fit` prints one line per epoch:
            train loss, train and validation accuracy, spikes per sample, seconds.
        console: a ``rich.console.Console`` for progress and tables (default: stdout).
        plots: draw the pictures at the end.
        hardware: count operations, energy and fit at the end.
        model_factory: ``(config, in_channels, num_classes) -> nn.Module`` to train another network than
            :func:`~spikeforge.learn.models.build_model` gives (e.g. a non-spiking baseline); such a run
            cannot be reloaded by :func:`load_run`.
    """

    def __init__(
        self,
        config: TrainConfig,
        out_dir: str | Path,
        *,
        progress: bool = True,
        console: Any = None,
        plots: bool = True,
        hardware: bool = True,
        model_factory: Callable[[TrainConfig, int, int], nn.Module] | None = None,
    ) -> None:
        if not isinstance(config, TrainConfig):
            raise TypeError(f"config: expected a TrainConfig, got {type(config).__name__}")
        from rich.console import Console

        self.out = Path(out_dir)
        if self.out.exists() and not self.out.is_dir():
            detail = f"{self.out} is a file; expected a run folder (a new or an empty folder, or a run to continue)"
            raise about("out_dir", FileExistsError(f"out_dir: {detail}"), detail)
        self.progress_enabled = progress
        self.console = console if console is not None else Console(emoji=False)
        self.plots = plots
        self.hardware = hardware
        # Distributed training: fit()'s shard (rank, world) and whether this process writes the run folder
        # (progress, checkpoints, metrics, report) are decided here and only here.
        # Under torchrun (spikeforge.learn.distributed.process_group) they come from the process group.
        self.dist = dist_context()
        self.shard: tuple[int, int] | None = self.dist.shard
        self.writer = self.dist.is_writer
        with _num_threads(config.threads):  # (the data set's preprocessing and the initialisation too)
            self.device = self.dist.device(resolve_device(config.device))
            t0 = time.perf_counter()
            self.dataset, self.config, self.validation = load_training_data(config)
            self.method = method_named(self.config.method)
            if self.method.check_data is not None:  # refused before auto searches and a model is built
                try:
                    self.method.check_data(self.dataset.train)
                except ValueError as exc:
                    raise ConfigError("method", str(exc)) from None
            # --model auto: family, encoding and size chosen on the validation split (spikeforge.learn.auto);
            # self.auto is the record of the choice (run.json, metrics.json), None for a named family
            self.config, self.dataset, self.auto = auto.resolve(
                self.config, self.dataset, device=self.device, world_size=self.dist.world_size,
                fixed_encoder=not (isinstance(config.encoder, str) and config.encoder == "default"),
                fixed_normalize=False,  # (search.may_renormalize / may_downsample: unless the user chose them)
                log=(lambda line: self.console.print(line, markup=False, highlight=False)) if self.writer else None)
            self._describe_refit()
            if self.config.model == "rocket" and self.dist.world_size > 1:
                # each process would fit its kernel bank's biases to its own first batch (only the readout's
                # gradients are averaged), and DDP's wrapper hides the fast path
                raise ConfigError("model", f"'rocket' fits its kernel bank on the first training batch of one "
                                           f"process; expected one process, got {self.dist.world_size}")
            self.load_seconds = time.perf_counter() - t0
            self.model = self._build_model(model_factory)
            self.optimizer = self._build_optimizer()
        if self.dist.rank > 0:  # own draws (stochastic neurons, dropout) per rank; rank 0 those of one process
            torch.manual_seed(rank_seed(self.config.seed, self.dist.rank))
        self.data_gen = torch.Generator().manual_seed(self.config.seed)
        self.step_fn = self.method  # the loop fills in the method's options (spikeforge.learn.loop._method)
        self.state = LoopState()
        self.train_seconds = 0.0
        self._saved = (0, 0.0)  # epoch and train_seconds of the last checkpoint on disk
        n = len(self.dataset.train)
        self.batches_per_epoch = -(-n // self.config.batch_size)
        self.total_steps = self.batches_per_epoch * self.config.epochs

    def _describe_refit(self) -> None:
        """``self.validation`` of a run whose ``--model auto`` choice trained on the whole training split."""
        if self.auto is not None and self.auto.get("refit"):
            self.validation = {"source": "none", "rule": "--model auto chose on a validation split carved from the "
                               "training split (auto.validation), then trained its choice on the whole training "
                               "split (refit; --no-refit keeps the split held out)",
                               "train_size": len(self.dataset.train), "valid_size": 0}

    def _build_model(self, model_factory: Callable[[TrainConfig, int, int], nn.Module] | None) -> nn.Module:
        """The model (the one place it is built): parameters drawn from torch's global RNG seeded by the config."""
        torch.manual_seed(self.config.seed)
        make = build_model if model_factory is None else model_factory
        return make(self.config, self.dataset.in_channels, self.dataset.num_classes).to(self.device)

    def _build_optimizer(self) -> torch.optim.Optimizer:
        """The optimizer of ``config.optimizer`` over the model's parameters (the one place it is built)."""
        cfg = self.config
        return make_optimizer(cfg.optimizer, self.model.parameters(), cfg.lr, cfg.weight_decay)

    @property
    def epoch(self) -> int:
        """Epochs done (of :attr:`state`)."""
        return self.state.epoch

    @epoch.setter
    def epoch(self, value: int) -> None:
        self.state.epoch = int(value)
        self.state.step = int(value) * self.batches_per_epoch

    @property
    def history(self) -> list[dict[str, float]]:
        """One row per epoch done (of :attr:`state`)."""
        return self.state.history

    @history.setter
    def history(self, rows: list[dict[str, float]]) -> None:
        self.state.history = list(rows)

    # ---------------------------------------------------------------------------------------- files
    def _run_info(self, status: str) -> dict[str, Any]:
        from spikeforge import __version__

        ds = self.dataset
        return {
            "status": status,
            "epochs_done": self.epoch,
            "epochs": self.config.epochs,
            "dataset": {
                "name": ds.name,
                "summary": ds.summary(),
                "in_channels": int(ds.in_channels),
                "num_classes": int(ds.num_classes),
                "classes": [str(c) for c in ds.classes],
                "steps": int(ds.steps),
                "train_size": len(ds.train),
                "test_size": len(ds.test),
                "splits": [s for s in SPLITS if getattr(ds, s, None) is not None],
                **({"valid_size": len(ds.valid)} if ds.valid is not None else {}),
            },
            "validation": self.validation,
            **({"auto": self.auto} if self.auto else {}),
            "model": {
                "repr": repr(self.model),
                "parameters": parameter_count(self.model),
                "layers": describe_layers(self.model),
            },
            "optimizer": self.config.optimizer,
            "versions": {"spikeforge": __version__, "torch": torch.__version__, "python": _platform.python_version()},
            "device": str(self.device),
            "threads": self.config.threads,
            "processes": {"world_size": self.dist.world_size, "backend": self.dist.backend},
            "train_seconds": self.train_seconds,
        }

    @staticmethod
    def status_of(run_dir: str | Path) -> str | None:
        """The ``status`` recorded in a run folder's ``run.json`` (``None`` when there is none)."""
        path = Path(run_dir) / "run.json"
        try:
            return json.loads(path.read_text()).get("status")
        except (OSError, json.JSONDecodeError, AttributeError):
            return None

    def _write_run_info(self, status: str) -> None:
        if self.writer:
            atomic_write_text(self.out / "run.json", json.dumps(self._run_info(status), indent=2) + "\n")

    def _write_csv(self) -> None:
        if not self.writer:
            return
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
        writer.writeheader()
        for row in self.history:
            writer.writerow({k: row.get(k, "") for k in CSV_FIELDS})
        atomic_write_text(self.out / "metrics.csv", buf.getvalue())

    def save(self) -> Path:
        """Checkpoint after the current epoch (atomic)."""
        record = {"epoch": self.epoch, "step": self.state.step, "history": self.history,
                  "train_seconds": self.train_seconds, "config": self.config.to_dict()}
        path = self.out / CHECKPOINT
        rng = _rng_states(self.data_gen)
        if self.dist.distributed:  # (a collective: every rank saves) each rank's own stream, for resume
            rng.update({f"torch_rank{r}": t for r, t in enumerate(self.dist.gather(torch.get_rng_state()))})
        if self.writer:
            save_checkpoint(path, self.model, optimizer=self.optimizer, rng=rng, record=record)
        self._saved = (self.epoch, self.train_seconds)
        return path

    def _clean_temporaries(self) -> None:
        """Remove the temporary files of atomic writes a killed process left behind (``.NAME.*.tmp``)."""
        if not self.writer or not self.out.is_dir():
            return
        for tmp in self.out.glob(".*.tmp"):
            with contextlib.suppress(OSError):
                tmp.unlink()
        with contextlib.suppress(OSError):
            for tmp in (self.out / "plots").glob(".*.tmp"):
                tmp.unlink()

    def start(self, overwrite: bool = False) -> None:
        """Create the run folder and write ``config.json`` (refuses a folder that holds another run)."""
        if not self.writer:
            return
        check_out_free(self.out, overwrite)
        try:
            if overwrite:
                # config.json first: a folder cut off half way through is no longer a run (nothing to resume
                # by mistake), and 'spikeforge train' takes it again without --overwrite.
                for name in ("config.json", "run.json", "metrics.json", "metrics.csv", CHECKPOINT, FINAL_WEIGHTS,
                             "report.html"):
                    (self.out / name).unlink(missing_ok=True)
            self.out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            detail = f"cannot make the run folder {self.out} ({exc.strerror or exc})"
            raise about("out_dir", exc, detail) from None
        self._clean_temporaries()
        self.config.save(self.out / "config.json")
        self._write_run_info("running")

    @classmethod
    def resume(cls, run_dir: str | Path, **kwargs: Any) -> Trainer:
        """A trainer at the state of ``run_dir``'s last checkpoint (the config is the run's own).

        The run folder is made to describe that checkpoint (``metrics.csv``, ``run.json``: a process killed
        between writing the checkpoint and them leaves them behind it), and temporary files of writes cut
        short are removed."""
        run_dir = Path(run_dir)
        config = load_config(run_dir / "config.json")
        trainer = cls(config, run_dir, **kwargs)
        trainer.auto = _recorded_auto(run_dir)  # (config.json holds the chosen model: no search again)
        trainer._describe_refit()
        trainer._clean_temporaries()
        ckpt_path = run_dir / CHECKPOINT
        if not ckpt_path.exists():
            trainer.console.print(f"[yellow]{ckpt_path} not found: no epoch finished; starting from epoch 1[/]")
            if cls.status_of(run_dir) != "finished":
                trainer._write_csv()
                trainer._write_run_info("running")
            return trainer
        ckpt = load_checkpoint(ckpt_path)
        trainer.model.load_state_dict(ckpt["model"])
        if ckpt["optimizer"] is not None:
            trainer.optimizer.load_state_dict(ckpt["optimizer"])
        rec = ckpt["record"] or {}
        trainer.epoch = int(rec.get("epoch", 0))
        trainer.state.step = int(rec.get("step", trainer.state.step))
        trainer.history = list(rec.get("history", []))
        trainer.train_seconds = float(rec.get("train_seconds", 0.0))
        trainer._saved = (trainer.epoch, trainer.train_seconds)
        rng = ckpt["rng"]
        if "torch" in rng:
            torch.set_rng_state(rng["torch"])
        if trainer.dist.rank > 0:  # its own stream (saved by a run of as many processes), else a fresh one
            own = rng.get(f"torch_rank{trainer.dist.rank}")
            if own is not None:
                torch.set_rng_state(own)
            else:
                torch.manual_seed(rank_seed(config.seed + trainer.epoch, trainer.dist.rank))
        if "data" in rng:
            trainer.data_gen.set_state(rng["data"])
        for k in range(torch.cuda.device_count() if torch.cuda.is_available() else 0):
            if f"cuda{k}" in rng:
                torch.cuda.set_rng_state(rng[f"cuda{k}"], k)
        if cls.status_of(run_dir) != "finished":
            trainer._write_csv()
            trainer._write_run_info("running")
        return trainer

    # ------------------------------------------------------------------------------------- training
    def _lr(self, step: int) -> float:
        return lr_at(self.config, step, self.total_steps)

    @_config_threads
    def train_epoch(self, on_batch: Callable[[dict[str, float]], None] | None = None) -> dict[str, float]:
        """One pass over the training split (as :meth:`fit` does; :attr:`epoch` is not advanced)."""
        cfg = self.config
        step = self.dist.step_method(self.step_fn, self.model)  # through DDP under torchrun
        done = train_epoch(self.model, step, self.dataset.train, self.optimizer, cfg,
                           batch_size=cfg.batch_size, generator=self.data_gen, step=self.state.step,
                           lr_schedule=self._lr, shard=self.shard, device=self.device,
                           on_batch=None if on_batch is None else (lambda _k, m: on_batch(m)))
        done.pop("steps")
        return done

    @_config_threads
    def evaluate(self, split_name: str = "test") -> dict[str, Any]:
        """Loss, accuracy, spike events per sample (and per layer), predictions of ``split_name``."""
        return evaluate_model(self.model, self.dataset, split_name, self.config, self.device)

    @_config_threads
    def fit(self, stop_after: int | None = None) -> str:
        """Train until ``config.epochs`` (or ``stop_after`` more epochs); returns ``"finished"`` or
        ``"stopped"``.

        Ctrl-C (``KeyboardInterrupt``) is re-raised after the run folder is made to describe the last
        checkpoint on disk: ``metrics.csv`` and ``run.json`` (status ``interrupted``) then agree with it, and
        :attr:`epoch` / :attr:`history` are those of that checkpoint (an epoch cut short is done again by
        :meth:`resume`)."""
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        cfg = self.config
        if stop_after is not None and (isinstance(stop_after, bool) or not isinstance(stop_after, int)
                                       or stop_after < 1):
            raise ValueError(f"stop_after: expected an integer >= 1 or None, got {stop_after!r}")
        last = cfg.epochs if stop_after is None else min(cfg.epochs, self.epoch + stop_after)
        # The live bars only where they can be redrawn (a terminal); elsewhere (a log file, a pipe,
        # progress=False) one plain line per epoch.
        live = self.progress_enabled and self.console.is_terminal and self.writer
        progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            TextColumn("{task.fields[info]}"), console=self.console, disable=not live, transient=False,
        )
        try:
            with _deterministic(cfg.deterministic), progress:
                tasks = (progress.add_task("epochs", total=cfg.epochs, completed=self.epoch, info=""),
                         progress.add_task("batches", total=self.batches_per_epoch, info=""))
                folder = _RunFolder(self, progress, tasks, live)
                # Under torchrun: steps through DDP, and the rows' train figures over every rank's rows.
                step = self.dist.step_method(self.step_fn, self.model)
                spread = self.dist.epoch_callback(len(self.dataset.train), cfg.batch_size)
                callbacks = [c for c in (spread, folder) if c is not None]
                fit(self.model, step, self.dataset.train, self.optimizer, callbacks, epochs=last,
                    batch_size=cfg.batch_size, valid=self.dataset.valid, objective=cfg,
                    lr_schedule=self._lr, generator=self.data_gen, state=self.state, shard=self.shard,
                    device=self.device, eval_batch_size=cfg.eval_batch_size)
        except KeyboardInterrupt:
            self.epoch, self.train_seconds = self._saved
            del self.history[self.epoch:]
            self._write_csv()
            self._write_run_info("interrupted")
            raise
        if self.epoch < cfg.epochs:
            self._write_run_info("stopped")
            return "stopped"
        return "finished"

    # ------------------------------------------------------------------------------------- the end
    @_config_threads
    def finalize(self) -> dict[str, Any]:
        """Final weights, the test split evaluated (the one time it is), ``metrics.json``, pictures,
        ``run.json``; returns the metrics."""
        with _deterministic(self.config.deterministic):
            return self._finalize()

    def _finalize(self) -> dict[str, Any]:
        from spikeforge.learn.analysis import hardware_analysis

        t0 = time.perf_counter()
        if self.method.finalize is not None:  # e.g. ANN -> SNN conversion; in place and idempotent
            with _num_threads(self.config.threads):
                self.method.finalize(self.model, self.dataset.train, self.config, self.device)
        if self.writer:
            save_checkpoint(self.out / FINAL_WEIGHTS, self.model, record={"epoch": self.epoch})
        test = self.evaluate("test")
        valid = self.evaluate("valid") if self.dataset.valid is not None else None
        train = self.history[-1] if self.history else {}
        if valid is not None:
            held = {"valid_accuracy": valid["accuracy"], "valid_loss": valid["loss"], "valid_of": VALID_OF_FINAL}
        elif self.auto is not None and self.auto.get("refit"):  # what the choice was made on, before the refit
            chosen = self.auto["chosen"]
            held = {"valid_accuracy": chosen["valid_accuracy"], "valid_loss": chosen["valid_loss"],
                    "valid_of": "the --model auto search: the chosen candidate at its deciding rung, trained on the "
                                "carve (the final model then trained on the validation split too)"}
        else:
            held = {"valid_accuracy": None, "valid_loss": None, "valid_of": None}
        metrics: dict[str, Any] = {
            "dataset": self.dataset.name,
            "test_accuracy": test["accuracy"],
            "test_loss": test["loss"],
            **held,
            "train_accuracy": train.get("train_accuracy"),
            "train_loss": train.get("train_loss"),
            "validation": self.validation,
            **({"auto": self.auto} if self.auto else {}),
            "optimizer": self.config.optimizer,
            "epochs": self.epoch,
            "parameters": parameter_count(self.model),
            "train_seconds": self.train_seconds,
            "spikes_per_sample": test["spikes_per_sample"],
            "input_spikes_per_sample": test["input_spikes_per_sample"],
            "layers": test["layers"],
            "confusion": test["confusion"],
        }
        if "tolerance" in test:  # a regression set: mse, and accuracy = share of samples with |error| < tolerance
            metrics.update(task="regression", test_mse=test["mse"],
                           accuracy_rule=f"share of samples with |prediction - target| < {test['tolerance']} "
                                         "(Hochreiter & Schmidhuber 1997)")
        if self.hardware:
            metrics.update(hardware_analysis(self.model, self.dataset.test, self.device,
                                             self.config.eval_batch_size))
        metrics["analysis_seconds"] = time.perf_counter() - t0
        if self.writer:
            atomic_write_text(self.out / "metrics.json", json.dumps(metrics, indent=2) + "\n")
        if self.plots and self.writer:
            from spikeforge.learn.plots import draw_all

            draw_all(self.out, model=self.model, dataset=self.dataset, history=self.history, metrics=metrics,
                     device=self.device)
        self._write_run_info("finished")
        return metrics

    def summary_table(self, metrics: Mapping[str, Any], wall_seconds: float | None = None):
        from rich.table import Table

        table = Table(title=f"spikeforge run {self.out}")
        table.add_column("quantity")
        table.add_column("value", justify="right")
        table.add_row("data set", self.dataset.summary())
        sizes = [self.dataset.in_channels, *self.config.hidden, self.dataset.num_classes]
        table.add_row("model", f"{self.config.model} {sizes} {self.config.neuron}, {metrics['parameters']} parameters")
        table.add_row("epochs", str(metrics["epochs"]))
        table.add_row("train accuracy", _fmt(metrics.get("train_accuracy") or math.nan))
        if metrics.get("valid_accuracy") is not None:
            search = metrics.get("valid_of") not in (None, VALID_OF_FINAL)
            table.add_row("valid accuracy (auto's search)" if search else "valid accuracy",
                          _fmt(metrics["valid_accuracy"]))
        table.add_row("test accuracy", f"[bold]{_fmt(metrics['test_accuracy'])}[/]")
        table.add_row("spikes per sample (hidden)", f"{metrics['spikes_per_sample']:.1f}")
        if "synaptic_ops_per_sample" in metrics:
            table.add_row("synaptic ops per sample", f"{metrics['synaptic_ops_per_sample']:.4g}")
            table.add_row("dense MACs per sample (GPU)", f"{metrics['dense_macs_per_sample']:.4g}")
        from spikeforge.learn.analysis import energy_headline

        for quantity, value in energy_headline(metrics):  # the lowest-energy chip the model fits, the reference
            table.add_row(quantity, value)
        table.add_row("training time", f"{self.train_seconds:.1f} s")
        if wall_seconds is not None:
            table.add_row("wall time", f"{wall_seconds:.1f} s")
        table.add_row("run folder", str(self.out))
        return table


# --------------------------------------------------------------------------------------------------
def evaluate_model(model: nn.Module, dataset, split_name: str, config: TrainConfig,
                   device: torch.device) -> dict[str, Any]:
    """Evaluate ``model`` on the split ``split_name`` of ``dataset`` (:func:`spikeforge.learn.loop.evaluate`
    with the config's loss, eval batch size and ``seed + 1`` for random encoders)."""
    split = getattr(dataset, split_name, None) if split_name in SPLITS else None
    if split is None:
        raise _no_split(split_name, dataset.name, [s for s in SPLITS if getattr(dataset, s, None) is not None])
    return evaluate(model, split, config, device=device, batch_size=config.eval_batch_size, seed=config.seed + 1)


def _no_split(name: str, dataset: str, have: list[str], refit: bool = False) -> ValueError:
    names = " or ".join(repr(s) for s in have)
    detail = f"expected {names} (the splits of {dataset}), got {name!r}"
    if name == "valid" and refit:
        detail += ("; this run has no validation split: --model auto chose on one carved from the training split, "
                   "then trained its choice on the whole training split (refit; its validation figures are in "
                   "metrics.json under auto; train with --no-refit to keep the split held out)")
    elif name == "valid":
        detail += (f"; this run has no validation split: it was trained with valid_fraction 0 (nothing held out) "
                   f"and {dataset} has none of its own")
    return about("split", ValueError(f"split: {detail}"), detail)


def read_history(run_dir: str | Path) -> list[dict[str, float]]:
    """The per-epoch rows of ``metrics.csv`` as floats."""
    path = Path(run_dir) / "metrics.csv"
    if not path.is_file():
        return []
    rows = []
    with path.open() as fh:
        for row in csv.DictReader(fh):
            rows.append({k: (float(v) if v not in ("", None) else math.nan) for k, v in row.items()})
    return rows


def _check_run(run_dir: str | Path) -> Path:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        what = "is a file" if run_dir.exists() else "is not a folder"
        detail = f"{run_dir} {what} (expected a run folder written by 'spikeforge train')"
        raise about("run", FileNotFoundError(f"run: {detail}"), detail)
    if not (run_dir / "config.json").is_file():
        detail = f"{run_dir} has no config.json (expected a run folder written by 'spikeforge train')"
        raise about("run", FileNotFoundError(f"run: {detail}"), detail)
    return run_dir


def load_run(run_dir: str | Path, checkpoint: str = "final", map_location: str | torch.device = "cpu") -> nn.Module:
    """The trained model of a run folder, in eval mode (no data set is loaded).

    ``checkpoint``: ``"final"`` (``model.safetensors``; falls back to the last checkpoint when the run has
    not finished) or ``"last"`` (``checkpoint.safetensors``).
    """
    run_dir = _check_run(run_dir)
    if checkpoint not in ("final", "last"):
        detail = f"expected 'final' or 'last', got {checkpoint!r}"
        raise about("checkpoint", ValueError(f"checkpoint: {detail}"), detail)
    config = load_config(run_dir / "config.json")
    info_path = run_dir / "run.json"
    if not info_path.is_file():
        detail = f"{run_dir} has no run.json (the data set's shape is recorded there)"
        raise about("run", FileNotFoundError(f"run: {detail}"), detail)
    info = json.loads(info_path.read_text())
    ds = info["dataset"]
    path = run_dir / (FINAL_WEIGHTS if checkpoint == "final" else CHECKPOINT)
    if checkpoint == "final" and not path.exists():
        path = run_dir / CHECKPOINT
    if not path.exists():
        detail = f"{run_dir} has no weights yet ({FINAL_WEIGHTS} or {CHECKPOINT}: no epoch has finished)"
        raise about("run", FileNotFoundError(f"run: {detail}"), detail)
    model = build_model(config, int(ds["in_channels"]), int(ds["num_classes"]))
    state = load_checkpoint(path)["model"]
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise ValueError(f"{path}: the weights do not fit the model of {run_dir / 'config.json'} ({exc})") from None
    return model.to(map_location).eval()


def evaluate_run(run_dir: str | Path, split: str = "test", checkpoint: str = "final",
                 device: str | None = None) -> dict[str, Any]:
    """Reload a run's data set and model and evaluate ``split`` (see :func:`evaluate_model`; ``"train"``
    and ``"valid"`` are the run's: what remains of the training split and the carve, see
    :func:`load_training_data`)."""
    run_dir = _check_run(run_dir)
    if split not in SPLITS:
        detail = f"expected 'train', 'test' or 'valid', got {split!r}"
        raise about("split", ValueError(f"split: {detail}"), detail)
    config = load_config(run_dir / "config.json")
    recorded = _recorded_dataset(run_dir)
    if "splits" in recorded and split not in recorded["splits"]:  # known before the data set is loaded
        raise _no_split(split, recorded.get("name", config.dataset), recorded["splits"],
                        refit=bool((_recorded_auto(run_dir) or {}).get("refit")))
    with _num_threads(config.threads):
        try:
            dev = resolve_device(device or config.device)
        except ConfigError as exc:
            if device is None:
                raise exc.from_file(run_dir / "config.json") from None
            raise
        model = load_run(run_dir, checkpoint, map_location=dev)
        dataset, config, _ = load_training_data(config)  # the validation carve again (a function of the config)
        return evaluate_model(model, dataset, split, config, dev)


def _recorded_dataset(run_dir: Path) -> dict[str, Any]:
    try:
        info = json.loads((run_dir / "run.json").read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    ds = info.get("dataset") if isinstance(info, dict) else None
    return ds if isinstance(ds, dict) else {}


def _recorded_auto(run_dir: Path) -> dict[str, Any] | None:
    """The ``auto`` record (how ``--model auto`` chose) of a run folder's ``run.json``, if any."""
    try:
        info = json.loads((run_dir / "run.json").read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return info.get("auto") if isinstance(info, dict) else None

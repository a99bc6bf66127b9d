"""``spikeforge train``: train a spiking network into a run folder (see ``docs/training.md``).

Every option defaults to the tuned JapaneseVowels run, so ``spikeforge train`` alone does the right thing; on
any other data set ``--model`` defaults to ``auto`` (:func:`default_model`).
``--config FILE`` reads a config (a run's ``config.json``); options given on the command line override it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["build_config", "command_line", "describe_error", "energy_table", "in_process_group", "launch_workers",
           "print_errors", "print_interrupted", "register", "resume_processes", "run", "run_to_end", "run_worker"]

_S = argparse.SUPPRESS


def _key_value(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE (e.g. tau_syn=5), got {text!r}")
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        parsed = value
    return key.strip(), parsed


def _hidden(text: str) -> list[int]:
    try:
        sizes = [int(p) for p in text.replace(" ", "").split(",") if p]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected layer sizes such as 256 or 128,128, got {text!r}") from None
    if not sizes or any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError(f"expected positive layer sizes such as 256 or 128,128, got {text!r}")
    return sizes


def add_train_options(p: argparse.ArgumentParser) -> None:
    """The options of ``spikeforge train`` (all default to SUPPRESS: absent means 'config or default')."""
    from spikeforge.data.loaders import NORMALIZATIONS
    from spikeforge.learn.config import FIRINGS, MODELS, OPTIMIZERS, SCHEDULES
    from spikeforge.learn.losses import LOSSES
    from spikeforge.learn.methods import methods
    from spikeforge.neuron.catalog import neuron_classes

    d = p.add_argument_group("data")
    d.add_argument("--dataset", default=_S, metavar="NAME",
                   help="data set name or path: JapaneseVowels (default), ucr:NAME, uea:NAME, path/to/X_TRAIN.ts, "
                        "digits, shd:PATH, ssc:PATH")
    d.add_argument("--encoder", default=_S, metavar="NAME",
                   help="spike encoder: default (delta for series, rate for images), delta, current, rate, "
                        "latency, none")
    d.add_argument("--encoder-param", action="append", type=_key_value, default=_S, metavar="KEY=VALUE",
                   help="encoder parameter, repeatable (e.g. threshold=0.3, max_per_step=2)")
    d.add_argument("--steps", type=int, default=_S, help="time steps for static or spike data sets")
    d.add_argument("--normalize", choices=NORMALIZATIONS, default=_S,
                   help="normalisation of time series: standard (per channel, training-set statistics; "
                        "default), minmax, instance (each series by its own mean and std), none")
    d.add_argument("--downsample", type=int, default=_S, metavar="K",
                   help="average each K steps of a time series into one (default 1; --model auto may try 2 on "
                        "series longer than 300 steps)")
    m = p.add_argument_group("model")
    m.add_argument("--model", choices=(*MODELS, "rsnn"), default=_S,
                   help="model family: auto (chosen on the validation split), mlp, recurrent, tcn (temporal "
                        "convolutions), adlif (recurrent adaptive LIF), delays (learnable synaptic delays), "
                        "rocket (fixed MiniRocket kernels into threshold neurons, a trained readout of their "
                        "spike rates; --hidden gives its neurons, a multiple of 2688, default 2688; on series "
                        "give it --encoder current, as auto does). "
                        "Default: auto, except mlp on the default data set JapaneseVowels (the tuned run), "
                        "when --hidden, --lr, --loss or --model-param fix what auto chooses, or with a method "
                        "other than bptt")
    m.add_argument("--model-param", action="append", type=_key_value, default=_S, metavar="KEY=VALUE",
                   help="option of the model family, repeatable (e.g. kernel_sizes=[7,5,3] for tcn, "
                        "max_delay=25 for delays)")
    m.add_argument("--hidden", type=_hidden, default=_S, metavar="SIZES", help="hidden layer sizes (default 256)")
    m.add_argument("--neuron", choices=tuple(neuron_classes()), default=_S,
                   help="neuron: a preset of the general neuron or a declared model (default LIF)")
    m.add_argument("--tau", type=float, default=_S, help="membrane time constant, in steps (LIF default 5)")
    m.add_argument("--threshold", type=float, default=_S, help="firing threshold")
    m.add_argument("--reset", choices=("soft", "hard", "refractory", "none"), default=_S,
                   help="reset (LIF default hard)")
    m.add_argument("--max-spikes", type=int, default=_S, help="spikes per step (graded neurons)")
    m.add_argument("--neuron-param", action="append", type=_key_value, default=_S, metavar="KEY=VALUE",
                   help="any other spikeforge.Neuron keyword, repeatable (e.g. tau_syn=5, adapt_scale=0.2)")
    m.add_argument("--firing", choices=FIRINGS, default=_S, help="firing noise = surrogate gradient (gaussian)")
    m.add_argument("--sigma", type=float, default=_S, help="width of the firing noise (default 0.5)")
    m.add_argument("--learnable", default=_S, metavar="NAMES",
                   help="neuron parameters to train, comma separated (e.g. tau,threshold)")
    m.add_argument("--per-neuron", action="store_true", default=_S, help="one tau/threshold per neuron")
    m.add_argument("--readout-tau", type=float, default=_S, help="time constant of the LI readout (default 20)")
    o = p.add_argument_group("training")
    o.add_argument("--loss", choices=LOSSES, default=_S,
                   help="the loss on the readout (default last: cross-entropy on the readout at the last step)")
    o.add_argument("--rate-reg", type=float, default=_S, metavar="WEIGHT",
                   help="weight of the firing-rate (sparsity) regulariser (default 0: off)")
    o.add_argument("--rate-target", type=float, default=_S, metavar="RATE",
                   help="spikes per neuron per step the rate regulariser pulls towards (default 0)")
    o.add_argument("--label-smoothing", type=float, default=_S)
    o.add_argument("--method", default=_S, metavar="NAME",
                   help=f"training method, one of {', '.join(methods())} (default bptt)")
    o.add_argument("--method-param", action="append", type=_key_value, default=_S, metavar="KEY=VALUE",
                   help="an option of the training method, repeatable (e.g. alpha=0.5 for fptt)")
    o.add_argument("--tbptt", type=int, default=_S, metavar="K",
                   help="truncated BPTT: windows of K steps, the state carried and detached between them "
                        "(the same as --method tbptt --method-param k=K)")
    o.add_argument("--epochs", type=int, default=_S, help="epochs (default 30)")
    o.add_argument("--batch-size", type=int, default=_S, help="batch size (default 16)")
    o.add_argument("--optimizer", choices=OPTIMIZERS, default=_S, help="optimiser (default adam)")
    o.add_argument("--lr", type=float, default=_S, help="peak learning rate (default 3e-3)")
    o.add_argument("--weight-decay", type=float, default=_S)
    o.add_argument("--schedule", choices=SCHEDULES, default=_S, help="learning-rate schedule (default cosine)")
    o.add_argument("--grad-clip", type=float, default=_S, help="clip the gradient norm to this value")
    o.add_argument("--valid-fraction", type=float, default=_S,
                   help="stratified share of the training data held out for validation: model choice and "
                        "per-epoch progress use it, the test split is touched once at the end (default 0.2)")
    o.add_argument("--budget", type=float, default=_S, metavar="SECONDS",
                   help="time budget of --model auto's search, in seconds")
    o.add_argument("--refit", action=argparse.BooleanOptionalAction, default=_S,
                   help="--model auto: train the chosen model on the whole training split, the validation split "
                        "it was chosen on included (default); --no-refit keeps that split held out")
    r = p.add_argument_group("run")
    r.add_argument("--seed", type=int, default=_S, help="random seed (default 0)")
    r.add_argument("--device", default=_S, help="cpu (default), cuda, cuda:N, mps or auto")
    r.add_argument("--threads", type=int, default=_S,
                   help="torch CPU threads (default 1: as fast as 2 for small networks, faster on a busy machine)")
    r.add_argument("--no-deterministic", dest="deterministic", action="store_false", default=_S,
                   help="allow non-deterministic kernels (resume then no longer reproduces the run exactly)")
    r.add_argument("--eval-batch-size", type=int, default=_S)
    r.add_argument("--nproc", type=int, default=_S, metavar="N",
                   help="train with N processes on this machine (DistributedDataParallel: gloo on CPU, NCCL on "
                        "CUDA; docs/distributed.md); under torchrun its processes are used")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return value


def add_display_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--stop-after", type=_positive, default=None, metavar="N",
                   help="stop after N epochs of this session (continue later with spikeforge resume)")
    p.add_argument("--no-progress", action="store_true",
                   help="no live progress bars: one line per epoch instead (also when the output is not a terminal)")
    p.add_argument("--quiet", "-q", action="store_true", help="print nothing but errors")
    p.add_argument("--no-plots", action="store_true", help="do not draw the pictures")
    p.add_argument("--no-report", action="store_true", help="do not write report.html at the end")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train", help="train a spiking network into a run folder",
        description="Train a spiking network and write a run folder: config, checkpoints, metrics, energy per "
                    "chip, pictures. With no options: a LIF MLP on JapaneseVowels, 7-8 s on 2 cores "
                    "(benchmarks/default_run.py measures it).",
    )
    p.add_argument("--config", type=Path, default=None, metavar="FILE",
                   help="read the configuration from FILE (e.g. a run's config.json); options override it")
    p.add_argument("--out", type=Path, default=None, metavar="DIR",
                   help="run folder (default runs/<dataset>-<date-time>)")
    p.add_argument("--overwrite", action="store_true", help="replace a run already in --out")
    add_train_options(p)
    add_display_options(p)
    p.set_defaults(func=run)


_FIELD_OF = {
    "dataset": "dataset", "steps": "steps", "normalize": "normalize", "downsample": "downsample", "model": "model",
    "hidden": "hidden",
    "neuron": "neuron", "firing": "firing", "sigma": "sigma", "per_neuron": "per_neuron",
    "readout_tau": "readout_tau", "loss": "loss", "label_smoothing": "label_smoothing", "method": "method",
    "epochs": "epochs", "batch_size": "batch_size", "lr": "lr", "weight_decay": "weight_decay",
    "schedule": "schedule", "grad_clip": "grad_clip", "seed": "seed", "device": "device", "threads": "threads",
    "deterministic": "deterministic", "eval_batch_size": "eval_batch_size", "optimizer": "optimizer",
    "valid_fraction": "valid_fraction", "budget": "budget", "refit": "refit", "nproc": "nproc",
    "rate_reg": "rate_reg", "rate_target": "rate_target",
}


def build_config(args: argparse.Namespace):
    """The :class:`TrainConfig` of ``--config`` (if any) overridden by the options given."""
    from spikeforge.data.errors import about
    from spikeforge.learn.config import ConfigError, TrainConfig, default_neuron_params, load_config

    base: dict[str, Any] = {}
    if getattr(args, "config", None):
        try:
            base = load_config(args.config).to_dict()
        except ConfigError:
            raise  # names the file and the field
        except (OSError, ValueError) as exc:
            raise about("config", exc) from None
    given = vars(args)
    data: dict[str, Any] = dict(base)
    for opt, fld in _FIELD_OF.items():
        if opt in given:
            data[fld] = given[opt]
    if "model_param" in given:
        data["model_params"] = {**(data.get("model_params") or {}), **dict(given["model_param"])}
    if "method" in given and base.get("method") not in (None, given["method"]):
        data["method_params"] = {}  # another method's options do not carry over from --config
    if "tbptt" in given:
        if given.get("method", "tbptt") != "tbptt":
            raise ValueError(f"--tbptt: sets the method tbptt; expected no --method or --method tbptt, got "
                             f"--method {given['method']}")
        if data.get("method") != "tbptt":
            data["method_params"] = {}
        data["method"] = "tbptt"
        data["method_params"] = {**(data.get("method_params") or {}), "k": given["tbptt"]}
    if "method_param" in given:
        data["method_params"] = {**(data.get("method_params") or {}), **dict(given["method_param"])}
    if "model" not in data:  # neither the command line nor --config names a family
        data["model"] = default_model(data, given)
    if "model" in given and "loss" not in given and "loss" not in base:
        from spikeforge.learn.models import PREFERRED_LOSS

        # a family named on the command line trains with the loss it is meant for (tcn, adlif, delays: mean)
        if given["model"] in PREFERRED_LOSS:
            data["loss"] = PREFERRED_LOSS[given["model"]]
    if given.get("model") == "rocket" and "hidden" not in given and not base:
        from spikeforge.learn.search import SIZES

        data["hidden"] = list(SIZES["rocket"][0])  # its neurons: 2688, one bias per kernel and dilation
    if "learnable" in given:
        data["learnable"] = [s.strip() for s in given["learnable"].split(",") if s.strip()]
    overrides = {opt: given[opt] for opt in ("tau", "threshold", "reset", "max_spikes") if opt in given}
    overrides.update(dict(given.get("neuron_param", [])))
    if overrides:
        # On top of the config file's neuron parameters, else of the chosen preset's tuned defaults.
        params = data.get("neuron_params")
        if params is None:
            params = default_neuron_params(data.get("neuron", "LIF"))
        data["neuron_params"] = {**params, **overrides}
    if "encoder" in given or "encoder_param" in given:
        enc_params = dict(given.get("encoder_param", []))
        if "encoder" in given:
            name = given["encoder"]
            data["encoder"] = {"name": name, **enc_params} if enc_params else name
        else:
            current = data.get("encoder", "default")
            if not isinstance(current, dict):
                raise ValueError(f"--encoder-param: needs --encoder NAME (the encoder is {current!r}), "
                                 f"got {sorted(enc_params)}")
            data["encoder"] = {**current, **enc_params}
    return TrainConfig.from_dict(data)


#: The options that fix what ``--model auto`` would choose (it sets the family's sizes, lr and loss).
_FIXES_AUTO = ("hidden", "lr", "loss", "model_param")


def default_model(data: dict[str, Any], given: dict[str, Any]) -> str:
    """The family of a command that names none: ``auto`` (chosen on the validation split), except ``mlp`` (the
    tuned default, ``TrainConfig``'s) on the default data set JapaneseVowels, when the command fixes what auto
    would choose (:data:`_FIXES_AUTO`), or with a method other than bptt (auto searches with bptt)."""
    from spikeforge.data.loaders import is_default_dataset

    if (is_default_dataset(data.get("dataset")) or any(opt in given for opt in _FIXES_AUTO)
            or data.get("method", "bptt") != "bptt"):
        return "mlp"
    return "auto"


def default_out(dataset: str) -> Path:
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", Path(dataset.split(":")[-1]).stem or "run").strip("-") or "run"
    return Path("runs") / f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}"


def energy_table(metrics: dict[str, Any]):
    """A rich table of the energy per sample: every chip, the best GPU and the reference GPU."""
    from rich.table import Table

    energy = metrics["energy"]
    ref = energy["reference"]
    table = Table(title=f"Energy per sample (lower bounds; ratio against {ref})")
    fit = (metrics.get("fit") or {}).get("chips") or {}
    for col in ("device", "kind", "ops / sample", "energy / sample [J]", f"x {ref}", "fits"):
        table.add_column(col, justify="left" if col in ("device", "kind", "fits") else "right")
    for r in energy["rows"]:
        if r["kind"] == "neuromorphic" or r["device"] in (ref, energy.get("best_gpu")):
            verdict = fit.get(r["device"], {}).get("verdict", "") if r["kind"] == "neuromorphic" else ""
            table.add_row(r["device"], r["family"], f"{r['ops']:.3g} {r['op_unit']}", f"{r['energy_j']:.3g}",
                          f"{r['ratio']:.3g}", verdict)
    return table


# The option of `spikeforge train` that sets each config field (and the other arguments errors name).
_OPTION_OF = {fld: "--" + opt.replace("_", "-") for opt, fld in _FIELD_OF.items()}
_OPTION_OF.update(deterministic="--no-deterministic", encoder="--encoder", learnable="--learnable",
                  neuron_params="--neuron-param", model_params="--model-param", method_params="--method-param",
                  config="--config", out_dir="--out", out="--out", run="RUN",
                  split="--split", checkpoint="--checkpoint")
_NEURON_OPTION = {"tau": "--tau", "threshold": "--threshold", "reset": "--reset", "max_spikes": "--max-spikes"}
_ALWAYS = ("config", "out_dir", "out", "run", "split", "checkpoint")  # arguments only the command line gives


def _typed_option(field: str, key: str | None, given: Mapping[str, Any], detail: str = "") -> str | None:
    """The option the user typed that set ``field`` (``key``: the entry of neuron_params), if any."""
    if field in _ALWAYS:
        return _OPTION_OF[field]
    if field == "neuron_params":
        if key in _NEURON_OPTION and key in given:
            return _NEURON_OPTION[key]
        if "neuron_param" in given and (key is None or key in dict(given["neuron_param"])):
            return "--neuron-param"
        return None
    if field == "encoder":
        if "encoder_param" in given and ("encoder" not in given or not detail.startswith("unknown encoder")):
            return "--encoder-param"  # its parameters, unless the name given with it is the trouble
        return "--encoder" if "encoder" in given else None
    opt = {fld: o for o, fld in _FIELD_OF.items()}.get(field, field)
    return _OPTION_OF.get(field) if opt in given else None


def describe_error(exc: BaseException, given: Mapping[str, Any] | None = None, config_file: Path | None = None,
                   *, typed_config: bool = True) -> str:
    """One line for a bad input: the option the user typed (``--epochs: expected ...``), or the config file
    and field the value came from, then what is wrong.

    ``given``: the options given on the command line (``vars(args)`` of options that default to SUPPRESS);
    ``config_file``: where the other fields came from (``--config FILE`` when ``typed_config``, else a run's
    own ``config.json``). Errors say what they are about through ``exc.argument`` / ``exc.detail`` (see
    :func:`spikeforge.data.errors.about` and :class:`~spikeforge.learn.config.ConfigError`).
    """
    field, key = getattr(exc, "argument", None), getattr(exc, "key", None)
    detail = getattr(exc, "detail", None) or str(exc)
    source = getattr(exc, "source", None)  # a value read from a file: that file, even if an option was given too
    where = None if field is None or source is not None else _typed_option(field, key, given or {}, detail)
    if where == "--neuron-param" and key is not None and key not in detail:
        where = f"--neuron-param {key}"
    if where is None:
        file = source if source is not None else config_file
        if file is not None and (source is not None or field is not None):
            lead = f"--config {file}" if typed_config and config_file is not None and Path(file) == Path(
                config_file) else str(file)
            where = lead if field is None else f"{lead}: {field}"
        elif field is not None:
            where = _OPTION_OF.get(field, field)
    if isinstance(exc, KeyError) and detail == str(exc):
        detail = f"missing entry {exc}"
    return detail if where is None else f"{where}: {detail}"


def print_errors(verb: str, exc: BaseException, given: Mapping[str, Any] | None = None,
                 config_file: Path | None = None, *, typed_config: bool = True) -> int:
    """Print ``spikeforge VERB: error: <one line>`` (see :func:`describe_error`) and return 2."""
    message = describe_error(exc, given, config_file, typed_config=typed_config)
    print(f"spikeforge {verb}: error: {message}", file=sys.stderr)
    return 2


_EXPECTED_ERRORS = (ValueError, TypeError, OSError, KeyError)


def print_interrupted(verb: str, trainer=None, started: bool = True) -> int:
    """After Ctrl-C: one line on what the run folder now holds and how to go on; returns 130."""
    if trainer is None or not started:
        what = "; nothing was written"
    else:
        from spikeforge.learn.trainer import Trainer

        out, done, total = trainer.out, trainer.epoch, trainer.config.epochs
        if Trainer.status_of(out) == "finished":
            what = f" after the run finished; its results are in {out} ('spikeforge report {out}' writes the report)"
        elif done >= total:
            what = f" during the final analysis; finish it with 'spikeforge resume {out}'"
        elif done == 0:
            what = f" before epoch 1 finished; 'spikeforge resume {out}' starts the run again"
        else:
            what = f" after epoch {done} of {total}; continue with 'spikeforge resume {out}'"
    print(f"spikeforge {verb}: interrupted{what}", file=sys.stderr)
    return 130


def run_to_end(trainer, args: argparse.Namespace, started: float) -> int:
    """Fit (honouring ``--stop-after``), then finalize, print the tables, write the report (the last three on
    the writing rank alone when distributed).

    Ctrl-C propagates (the callers print :func:`print_interrupted`)."""
    console = trainer.console
    status = trainer.fit(stop_after=args.stop_after)
    if not trainer.writer:  # rank 0 finishes the run folder; the others are done
        return 0
    if status == "stopped":
        console.print(f"stopped after epoch {trainer.epoch} of {trainer.config.epochs}; continue with "
                      f"'spikeforge resume {trainer.out}'")
        return 0
    metrics = trainer.finalize()
    wall = time.perf_counter() - started
    metrics["wall_seconds"] = wall
    from spikeforge.learn.checkpoint import atomic_write_text

    atomic_write_text(trainer.out / "metrics.json", json.dumps(metrics, indent=2) + "\n")
    from spikeforge.cli._tables import print_table  # folds in a terminal; whole cells in a pipe or file

    print_table(console, trainer.summary_table(metrics, wall))
    if metrics.get("energy"):
        print_table(console, energy_table(metrics))
    if not args.no_report:
        from spikeforge.learn.report import write_report

        console.print(f"report: {write_report(trainer.out)}")
    return 0


def run(args: argparse.Namespace) -> int:
    """``spikeforge train``: one process, or ``--nproc N`` workers (:func:`launch_workers`), or one worker of
    a torchrun job (``WORLD_SIZE`` in the environment: see :func:`run_worker`)."""
    from spikeforge.data import DatasetError
    from spikeforge.learn.distributed import DistContext, launched

    if launched():
        return run_worker(args)
    started = time.perf_counter()
    try:
        config = build_config(args)
    except (*_EXPECTED_ERRORS, DatasetError) as exc:
        return print_errors("train", exc, vars(args), args.config)
    out = args.out if args.out is not None else default_out(config.dataset)
    if config.nproc > 1:
        return launch_workers("train", args, config.nproc, out=out)
    return _train(args, config, out, started, DistContext())


def _train(args: argparse.Namespace, config, out: Path, started: float, ctx) -> int:
    """Train ``config`` into ``out`` as this process of ``ctx`` (a :class:`~spikeforge.learn.distributed.DistContext`):
    every rank trains, rank 0 alone prints and writes."""
    from spikeforge.cli._tables import console as make_console
    from spikeforge.data import DatasetError
    from spikeforge.learn.trainer import Trainer, check_out_free

    given = vars(args)
    quiet = args.quiet or not ctx.is_writer
    trainer, folder_made, error = None, False, None
    try:
        try:
            if ctx.is_writer:
                check_out_free(out, args.overwrite)  # before the data set and the auto search
            console = make_console(quiet=quiet)  # as wide as its tables when not a terminal
            trainer = Trainer(config, out, progress=not (args.no_progress or quiet), console=console,
                              plots=not args.no_plots)
            folder_made = True  # from here on a Ctrl-C may leave a folder holding config.json
            trainer.start(overwrite=args.overwrite)
        except (*_EXPECTED_ERRORS, DatasetError) as exc:
            error = exc
        failed = [r for r, ok in enumerate(ctx.gather(error is None)) if not ok]  # every rank goes on, or none
        if failed:
            if error is not None and ctx.rank == failed[0]:  # one line, from the first rank that failed
                if ctx.rank == 0:
                    return print_errors("train", error, given, args.config)
                print(f"spikeforge train: error: rank {ctx.rank}: {describe_error(error, given, args.config)}",
                      file=sys.stderr)
            return 2
        config = trainer.config  # resolved: --model auto has chosen the family, size, lr, loss, epochs
        console.print(f"[bold]spikeforge train[/] -> {out}\n{trainer.dataset.summary()}\nmodel {config.model} "
                      f"{[trainer.dataset.in_channels, *config.hidden, trainer.dataset.num_classes]} "
                      f"{config.neuron}, loss {config.loss}, {config.epochs} epochs, batch {config.batch_size}, "
                      f"lr {config.lr:g}, seed {config.seed}, device {trainer.device}"
                      + (f", {ctx.world_size} processes ({ctx.backend})" if ctx.distributed else ""))
        return run_to_end(trainer, args, started)
    except KeyboardInterrupt:
        if not ctx.is_writer:
            return 130
        if folder_made and args.overwrite and not (trainer.out / "config.json").is_file():
            print(f"spikeforge train: interrupted while replacing the run in {trainer.out}; the old run is gone, "
                  "give the same command again", file=sys.stderr)
            return 130
        return print_interrupted("train", trainer, folder_made and (trainer.out / "config.json").is_file())


# ------------------------------------------------------------------------------------ distributed
def _is_collective_error(exc: BaseException) -> bool:
    """A collective failed: a peer died or hung (gloo/NCCL errors are RuntimeErrors that name the backend)."""
    import torch.distributed as dist

    kinds = tuple(k for k in (getattr(dist, "DistError", None),) if k is not None)
    text = str(exc).lower()
    return isinstance(exc, kinds) or any(w in text for w in ("gloo", "nccl", "connection closed", "timed out"))


def _backend_words(exc: BaseException) -> str:
    """The gist of a gloo/NCCL error: its first sentence, without the source file in brackets."""
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    text = re.sub(r"^\[[^\]]*\.(cc|cpp|h):\d+\]\s*", "", text)
    return text.split(". ")[0].rstrip(".")


def in_process_group(verb: str, args: argparse.Namespace, device: str, body) -> int:
    """Run ``body(ctx)`` inside the process group of this torchrun worker
    (:func:`spikeforge.learn.distributed.process_group`); a failed collective (a peer that died or hangs)
    ends this worker with one line and exit status 1 instead of a traceback."""
    from spikeforge.learn.distributed import process_group

    rank, world = os.environ.get("RANK", "0"), os.environ.get("WORLD_SIZE", "1")
    group = contextlib.ExitStack()
    try:
        ctx = group.enter_context(process_group(device))
    except ValueError as exc:  # e.g. fewer CUDA devices than workers on this machine
        print(f"spikeforge {verb}: error: rank {rank}: {exc}", file=sys.stderr)
        return 2
    with group:
        try:
            return body(ctx)
        except RuntimeError as exc:
            if not _is_collective_error(exc):
                raise
            print(f"spikeforge {verb}: error: rank {rank} of {world}: lost the other processes of the job "
                  f"({_backend_words(exc)})", file=sys.stderr)
            return 1


def run_worker(args: argparse.Namespace) -> int:
    """``spikeforge train`` as one worker of a torchrun job (or of ``--nproc``): the process group is joined
    for the run (gloo on CPU, NCCL on CUDA); all ranks train the same config into rank 0's ``--out``.

    ``--nproc`` under torchrun: the processes are torchrun's; typed, it must agree with torchrun's
    ``--nproc_per_node`` (``LOCAL_WORLD_SIZE``); from a config file it is replaced by it."""
    from spikeforge.data import DatasetError
    from spikeforge.learn.distributed import check_nproc

    started = time.perf_counter()
    given = vars(args)
    writer = os.environ.get("RANK", "0") == "0"
    try:
        config = build_config(args)
        config = config.replace(nproc=check_nproc(config.nproc, "nproc" in given))
    except (*_EXPECTED_ERRORS, DatasetError) as exc:  # the same on every rank: said once
        return print_errors("train", exc, given, args.config) if writer else 2

    def body(ctx) -> int:
        out = Path(ctx.broadcast(str(args.out if args.out is not None else default_out(config.dataset))))
        return _train(args, config, out, started, ctx)

    return in_process_group("train", args, config.device, body)


def resume_processes(args: argparse.Namespace, body) -> int:
    """``spikeforge resume RUN`` as the run was trained: ``body(args, ctx)`` in one process, or as the run's
    ``nproc`` workers (:func:`launch_workers`), or inside the process group of a torchrun worker. Every rank
    loads the same checkpoint (each its own random stream, :meth:`~spikeforge.learn.trainer.Trainer.resume`)."""
    from spikeforge.learn.config import load_config
    from spikeforge.learn.distributed import DistContext, launched

    try:
        config = load_config(Path(args.run_dir) / "config.json")
    except _EXPECTED_ERRORS:  # the body reports a missing or broken run folder in its own words
        config = None
    if launched():
        return in_process_group("resume", args, config.device if config else "cpu", lambda ctx: body(args, ctx))
    if config is not None and config.nproc > 1:
        return launch_workers("resume", args, config.nproc)
    return body(args, DistContext())


def command_line(verb: str, args: argparse.Namespace) -> list[str]:
    """``[verb, options...]`` that parse back to ``args`` (the options given; what the workers of
    :func:`launch_workers` are started with)."""
    from spikeforge.cli.main import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    parser = sub.choices[verb]
    given = vars(args)

    def text(value: Any) -> str:
        if isinstance(value, tuple):  # KEY=VALUE
            return f"{value[0]}={json.dumps(value[1])}"
        if isinstance(value, list):  # layer sizes
            return ",".join(str(v) for v in value)
        return repr(value) if isinstance(value, float) else str(value)

    words: list[str] = [verb]
    for action in parser._actions:
        if action.dest not in given or action.dest == "help":
            continue
        value = given[action.dest]
        if not action.option_strings:  # a positional argument
            words.append(text(value))
            continue
        if action.default is not _S and value == action.default:
            continue
        opt = action.option_strings[-1] if action.option_strings[-1].startswith("--") else action.option_strings[0]
        if action.nargs == 0:  # a flag
            words.append(opt)
        elif isinstance(action, argparse._AppendAction):
            words += [f"{opt}={text(v)}" for v in value]
        else:
            words.append(f"{opt}={text(value)}")
    return words


def launch_workers(verb: str, args: argparse.Namespace, nproc: int, *, out: Path | None = None) -> int:
    """``spikeforge VERB --nproc N``: the same command as ``nproc`` workers of one job on this machine
    (:func:`spikeforge.learn.distributed.launch`, torchrun's agent). ``out``: the run folder, resolved here so
    that every worker takes the same one.

    A worker that dies (or fails a collective) ends the job: its peers are stopped and one line says which
    rank ended how, exit status 1. Input errors and Ctrl-C are reported by rank 0 itself (status 2, 130)."""
    from spikeforge.learn.distributed import WorkerFailed, launch

    if out is not None:
        args = argparse.Namespace(**{**vars(args), "out": out})
    try:
        launch(["-m", "spikeforge", *command_line(verb, args)], nproc)
    except WorkerFailed as exc:
        if exc.exitcode in (2, 130):  # rank 0 said why (bad input, interrupted)
            return exc.exitcode
        line = f"spikeforge {verb}: error: {exc.message}"
        folder = out if out is not None else getattr(args, "run_dir", None)
        if folder is not None and (Path(folder) / "checkpoint.safetensors").is_file():
            line += f"; {folder} holds the last finished epoch: continue with 'spikeforge resume {folder}'"
        print(line, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130  # the workers got the Ctrl-C too; rank 0 has said what the run folder holds
    return 0

"""``spikeforge train``: train a spiking network into a run folder (see ``docs/training.md``).

Every option defaults to the tuned JapaneseVowels run, so ``spikeforge train`` alone does the right thing.
``--config FILE`` reads a config (a run's ``config.json``); options given on the command line override it.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["build_config", "describe_error", "energy_table", "print_errors", "print_interrupted", "register", "run",
           "run_to_end"]

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
    from spikeforge.learn.config import FIRINGS, MODELS, OPTIMIZERS, SCHEDULES
    from spikeforge.learn.losses import REDUCTIONS
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
    d.add_argument("--normalize", choices=("standard", "minmax", "none"), default=_S,
                   help="normalisation of time series (default standard)")
    m = p.add_argument_group("model")
    m.add_argument("--model", choices=(*MODELS, "rsnn"), default=_S,
                   help="model family: auto (chosen on the validation split), mlp, recurrent, tcn (temporal "
                        "convolutions), adlif (recurrent adaptive LIF), delays (learnable synaptic delays)")
    m.add_argument("--model-param", action="append", type=_key_value, default=_S, metavar="KEY=VALUE",
                   help="option of the model family, repeatable (e.g. kernel_size=5, max_delay=25)")
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
    o.add_argument("--loss", choices=REDUCTIONS, default=_S,
                   help="cross-entropy on this reduction of the readout over time (default last)")
    o.add_argument("--label-smoothing", type=float, default=_S)
    o.add_argument("--method", default=_S, help="training method (bptt)")
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
    r = p.add_argument_group("run")
    r.add_argument("--seed", type=int, default=_S, help="random seed (default 0)")
    r.add_argument("--device", default=_S, help="cpu (default), cuda, cuda:N, mps or auto")
    r.add_argument("--threads", type=int, default=_S,
                   help="torch CPU threads (default 1: as fast as 2 for small networks, faster on a busy machine)")
    r.add_argument("--no-deterministic", dest="deterministic", action="store_false", default=_S,
                   help="allow non-deterministic kernels (resume then no longer reproduces the run exactly)")
    r.add_argument("--eval-batch-size", type=int, default=_S)
    r.add_argument("--nproc", type=int, default=_S, metavar="N",
                   help="train with N processes on this machine (DistributedDataParallel, gloo on CPU); under "
                        "torchrun the launcher's world size is used")


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
    "dataset": "dataset", "steps": "steps", "normalize": "normalize", "model": "model", "hidden": "hidden",
    "neuron": "neuron", "firing": "firing", "sigma": "sigma", "per_neuron": "per_neuron",
    "readout_tau": "readout_tau", "loss": "loss", "label_smoothing": "label_smoothing", "method": "method",
    "epochs": "epochs", "batch_size": "batch_size", "lr": "lr", "weight_decay": "weight_decay",
    "schedule": "schedule", "grad_clip": "grad_clip", "seed": "seed", "device": "device", "threads": "threads",
    "deterministic": "deterministic", "eval_batch_size": "eval_batch_size", "optimizer": "optimizer",
    "valid_fraction": "valid_fraction", "budget": "budget", "nproc": "nproc",
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
                  neuron_params="--neuron-param", model_params="--model-param",
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
    """Fit (honouring ``--stop-after``), then finalize, print the tables, write the report.

    Ctrl-C propagates (the callers print :func:`print_interrupted`)."""
    console = trainer.console
    status = trainer.fit(stop_after=args.stop_after)
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
    from spikeforge.cli._tables import console as make_console
    from spikeforge.data import DatasetError
    from spikeforge.learn.trainer import Trainer

    started = time.perf_counter()
    given = vars(args)
    trainer, folder_made = None, False
    try:
        try:
            config = build_config(args)
            out = args.out if args.out is not None else default_out(config.dataset)
            console = make_console(quiet=args.quiet)  # as wide as its tables when not a terminal
            trainer = Trainer(config, out, progress=not (args.no_progress or args.quiet), console=console,
                              plots=not args.no_plots)
            folder_made = True  # from here on a Ctrl-C may leave a folder holding config.json
            trainer.start(overwrite=args.overwrite)
        except (*_EXPECTED_ERRORS, DatasetError) as exc:
            return print_errors("train", exc, given, args.config)
        console.print(f"[bold]spikeforge train[/] -> {out}\n{trainer.dataset.summary()}\nmodel {config.model} "
                      f"{[trainer.dataset.in_channels, *config.hidden, trainer.dataset.num_classes]} "
                      f"{config.neuron}, loss {config.loss}, {config.epochs} epochs, batch {config.batch_size}, "
                      f"lr {config.lr:g}, seed {config.seed}, device {trainer.device}")
        return run_to_end(trainer, args, started)
    except KeyboardInterrupt:
        if folder_made and args.overwrite and not (trainer.out / "config.json").is_file():
            print(f"spikeforge train: interrupted while replacing the run in {trainer.out}; the old run is gone, "
                  "give the same command again", file=sys.stderr)
            return 130
        return print_interrupted("train", trainer, folder_made and (trainer.out / "config.json").is_file())

"""``spikeforge tune``: an Optuna study over the space of ``--model auto``, then the best configuration trained
into ``DIR/best`` (see ``docs/tuning.md`` and :mod:`spikeforge.learn.tune`).

``spikeforge tune --dataset D --trials N --budget SECONDS --out DIR`` starts a study; ``spikeforge tune
--resume DIR`` continues an interrupted one with the settings stored in ``DIR``.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["register", "run"]

_S = argparse.SUPPRESS
# the options of `spikeforge train` that fix what the search space leaves alone
_TRAIN_OPTIONS = ("dataset", "steps", "normalize", "downsample", "neuron", "epochs", "batch_size", "optimizer",
                  "weight_decay", "schedule", "grad_clip", "valid_fraction", "seed", "device", "threads",
                  "label_smoothing")
# the study settings beyond trials and budget that create_study takes (refused with --resume, as all study options)
_SETTINGS = ("min_steps", "warm_start", "refit", "final_steps")
_STUDY_OPTIONS = {"trials": "--trials", "study_budget": "--budget", "out": "--out", "resume": "--resume",
                  "min_steps": "--min-steps", "warm_start": "--warm-start", "refit": "--refit",
                  "final_steps": "--final-steps",
                  "budget": "--budget"}


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return value


def _trials(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1 (trials to finish), got {text!r}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0, got {text!r}")
    return value


def register(subparsers) -> None:
    from spikeforge.data.loaders import NORMALIZATIONS
    from spikeforge.learn.config import OPTIMIZERS, SCHEDULES
    from spikeforge.neuron.catalog import neuron_classes

    p = subparsers.add_parser(
        "tune", help="search models with Optuna, then train the best",
        description="Search model family, encoding, size and learning rate with an Optuna study (TPE sampler, "
                    "median pruning on the validation accuracy per epoch; validation carved from the training "
                    "data, the test split untouched), stored in DIR/study.db so that --resume DIR continues it; "
                    "then train the best configuration into the run folder DIR/best and draw DIR/plots/.",
    )
    s = p.add_argument_group("study")
    s.add_argument("--trials", type=_trials, default=_S, metavar="N", help="trials to finish (default 20)")
    s.add_argument("--budget", dest="study_budget", type=_seconds, default=_S, metavar="SECONDS",
                   help="seconds for the trials of all sessions together (default: no limit); no trial starts "
                        "after it is spent")
    s.add_argument("--out", type=Path, default=None, metavar="DIR", help="study folder (default runs/tune-<dataset>-"
                                                                          "<date-time>)")
    s.add_argument("--resume", type=Path, default=None, metavar="DIR",
                   help="continue the study in DIR with its own settings (no other study or training option)")
    s.add_argument("--min-steps", type=_count, default=_S, metavar="N",
                   help="optimisation steps every trial trains at least: max(--epochs, ceil(N / batches per epoch)) "
                        "epochs (default 400)")
    s.add_argument("--warm-start", type=_count, default=_S, metavar="K",
                   help="the first K trials are the first K candidates of --model auto, in its order (default 2); "
                        "then the TPE sampler")
    s.add_argument("--refit", action=argparse.BooleanOptionalAction, default=_S,
                   help="train the best configuration from scratch on the whole training split, the validation "
                        "split it was chosen on included (default); --no-refit trains it on the carve, as its trial")
    s.add_argument("--final-steps", type=_count, default=_S, metavar="N",
                   help="optimisation steps the best run trains at least, as --model auto's winner: max(its trial's "
                        "epochs, ceil(N / batches per epoch)) epochs, cut to what fits in --budget at the trial's "
                        "speed (default 1500; 0: its trial's epochs, so --no-refit repeats the trial exactly)")
    s.add_argument("--overwrite", action="store_true", help="replace a study already in --out")
    s.add_argument("--no-best", action="store_true", help="do not train the best configuration at the end")
    t = p.add_argument_group("training (fixed for every trial)")
    t.add_argument("--dataset", default=_S, metavar="NAME", help="data set name or path (as spikeforge train)")
    t.add_argument("--steps", type=int, default=_S, help="time steps for static or spike data sets")
    t.add_argument("--normalize", choices=NORMALIZATIONS, default=_S)
    t.add_argument("--downsample", type=int, default=_S, metavar="K",
                   help="average each K steps of a time series into one (default 1: the search may try 2 on long "
                        "series)")
    t.add_argument("--neuron", choices=tuple(neuron_classes()), default=_S, help="neuron (default LIF)")
    t.add_argument("--epochs", type=int, default=_S, help="epochs of every trial and of the best run (default 30)")
    t.add_argument("--batch-size", type=int, default=_S, help="batch size (default 16)")
    t.add_argument("--optimizer", choices=OPTIMIZERS, default=_S, help="optimiser (default adam)")
    t.add_argument("--weight-decay", type=float, default=_S)
    t.add_argument("--schedule", choices=SCHEDULES, default=_S, help="learning-rate schedule (default cosine)")
    t.add_argument("--grad-clip", type=float, default=_S)
    t.add_argument("--label-smoothing", type=float, default=_S)
    t.add_argument("--valid-fraction", type=float, default=_S,
                   help="stratified share of the training data held out for validation (default 0.2)")
    t.add_argument("--seed", type=int, default=_S, help="seed of the sampler and of every training (default 0)")
    t.add_argument("--device", default=_S, help="cpu (default), cuda, cuda:N, mps or auto")
    t.add_argument("--threads", type=int, default=_S, help="torch CPU threads (default 1)")
    d = p.add_argument_group("display")
    d.add_argument("--no-progress", action="store_true", help="no live progress: one line per trial and epoch")
    d.add_argument("--quiet", "-q", action="store_true", help="print nothing but errors")
    d.add_argument("--no-plots", action="store_true", help="do not draw the pictures")
    d.add_argument("--no-report", action="store_true", help="do not write report.html (the study's and the best run's)")
    p.set_defaults(func=run)


def _describe(exc: BaseException, given: dict[str, Any]) -> str:
    from spikeforge.cli.train import describe_error

    field = getattr(exc, "argument", None)
    if field in _STUDY_OPTIONS and getattr(exc, "source", None) is None:
        return f"{_STUDY_OPTIONS[field]}: {getattr(exc, 'detail', None) or exc}"
    return describe_error(exc, given)


def _error(exc: BaseException, given: dict[str, Any]) -> int:
    print(f"spikeforge tune: error: {_describe(exc, given)}", file=sys.stderr)
    return 2


def _open(args: argparse.Namespace, given: dict[str, Any]):
    from spikeforge.cli.train import build_config, default_out
    from spikeforge.learn.tune import create_study, open_study

    if args.resume is not None:
        fixed = {f"--{k.replace('_', '-')}" if k != "study_budget" else "--budget" for k in given}
        if "refit" in given:
            fixed = (fixed - {"--refit"}) | {"--refit" if given["refit"] else "--no-refit"}
        fixed |= {opt for opt, on in (("--out", args.out is not None), ("--overwrite", args.overwrite)) if on}
        fixed = sorted(fixed)
        if fixed:
            raise _usage("resume", f"the study's settings are read back from {args.resume}; expected no "
                                   f"{', '.join(fixed)} with it")
        return open_study(args.resume)
    ns = argparse.Namespace(**{k: v for k, v in given.items() if k in _TRAIN_OPTIONS})
    ns.config = None
    config = build_config(ns).replace(model="auto")
    out = args.out if args.out is not None else default_out("tune-" + config.dataset.split(":")[-1])
    extra = {k: given[k] for k in _SETTINGS if k in given}
    return create_study(out, config, given.get("trials", 20), given.get("study_budget"), overwrite=args.overwrite,
                        **extra)


def _usage(field: str, detail: str) -> ValueError:
    from spikeforge.data.errors import about

    return about(field, ValueError(f"{field}: {detail}"), detail)


def _train_best(study, args: argparse.Namespace, console) -> int:
    """The best configuration trained into DIR/best; a refit that failed to train (:meth:`Study.check_refit`)
    is replaced by the trial's own configuration, trained on the carve."""
    import json

    from spikeforge.learn.tune import REFIT_DROP

    code = _train_config(study, args, console)
    if code != 0 or not study.best_refits():
        return code
    metrics = json.loads((study.out / "best" / "metrics.json").read_text())
    if study.check_refit(metrics.get("train_accuracy")):
        return code
    before = study.best_trial().user_attrs["train_accuracy"]
    console.print(f"the refit ended at training accuracy {metrics['train_accuracy']:.3f}, more than {REFIT_DROP:g} "
                  f"below its trial's {before:.3f}: it failed to train, so the best configuration trains again as its "
                  "trial, on the carved training split")
    return _train_config(study, args, console)


def _train_config(study, args: argparse.Namespace, console) -> int:
    from spikeforge.cli.train import run_to_end
    from spikeforge.learn.config import load_config
    from spikeforge.learn.trainer import Trainer

    config = study.best_config()
    best_dir = study.out / "best"
    started = time.perf_counter()
    progress = not (args.no_progress or args.quiet)
    same = (best_dir / "config.json").is_file() and _same_config(load_config(best_dir / "config.json"), config)
    if same and Trainer.status_of(best_dir) == "finished":
        console.print(f"best configuration already trained in {best_dir}")
        return 0
    if same:
        trainer = Trainer.resume(best_dir, progress=progress, console=console, plots=not args.no_plots)
    else:
        trainer = Trainer(config, best_dir, progress=progress, console=console, plots=not args.no_plots)
        trainer.start(overwrite=True)
    best = study.best_trial()
    console.print(f"[bold]best trial[/] #{best.number}: {best.user_attrs.get('candidate', '')}, validation accuracy "
                  f"{best.value:.4f}; training it into {best_dir} on {study.best_trained_on()}")
    display = argparse.Namespace(stop_after=None, no_report=args.no_report)
    return run_to_end(trainer, display, started)


def _same_config(saved, config) -> bool:
    a, b = saved.to_dict(), config.to_dict()
    a.pop("encoder", None), b.pop("encoder", None)  # resolved to its full mapping in the run's config.json
    return a == b


def run(args: argparse.Namespace) -> int:
    from spikeforge.cli._tables import console as make_console
    from spikeforge.cli.train import _EXPECTED_ERRORS
    from spikeforge.data import DatasetError

    study_keys = ("trials", "study_budget", *_SETTINGS)
    given = {k: v for k, v in vars(args).items() if k in (*_TRAIN_OPTIONS, *study_keys)}
    console = make_console(quiet=args.quiet)
    study = None
    try:
        try:
            study = _open(args, given)
        except (*_EXPECTED_ERRORS, DatasetError) as exc:
            return _error(exc, given)
        done, wanted = len(study.finished()), study.settings.trials
        budget = study.settings.budget
        console.print(f"[bold]spikeforge tune[/] -> {study.out}\n{study.dataset.summary()}\n"
                      f"{'resuming: ' + str(done) + ' of ' if args.resume else ''}{wanted} trials, budget "
                      f"{'none' if budget is None else f'{budget:g} s'}"
                      f"{'' if budget is None else f' ({study.seconds():.0f} s spent)'}, {study.config.epochs} "
                      f"epochs each, seed {study.config.seed}")
        lines = not args.quiet

        def log(line: str) -> None:
            if lines:
                console.print(line, markup=False, highlight=False, soft_wrap=True)

        try:
            status = study.run(log=log)
        except (*_EXPECTED_ERRORS, DatasetError) as exc:
            return _error(exc, given)
        if not args.no_plots:
            for path in study.plot():
                console.print(f"picture: {path}")
        if not args.no_report:
            from spikeforge.learn.tune import write_report

            console.print(f"study report: {write_report(study)}")
        finished = len(study.finished())
        if status == "budget":
            console.print(f"budget of {budget:g} s spent after {finished} of {wanted} trials")
        best = study.best_trial()
        if best is not None:
            console.print(f"best: trial #{best.number} {best.user_attrs.get('candidate', '')}, validation accuracy "
                          f"{best.value:.4f} ({study.out / 'study.json'})")
        if args.no_best:
            return 0
        try:
            return _train_best(study, args, console)
        except (*_EXPECTED_ERRORS, DatasetError) as exc:
            return _error(exc, given)
    except KeyboardInterrupt:
        if study is None:
            print("spikeforge tune: interrupted while opening the study; start it again", file=sys.stderr)
        else:
            n = len(study.finished())
            print(f"spikeforge tune: interrupted after {n} of {study.settings.trials} trials; continue with "
                  f"'spikeforge tune --resume {study.out}'", file=sys.stderr)
        return 130

"""``spikeforge resume RUN``: continue a run folder from its last checkpoint to the end of its config.

In deterministic mode (the default) the result is the one an uninterrupted run gives: the optimizer and the
random number generators are restored with the weights.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

__all__ = ["register", "run"]


def register(subparsers) -> None:
    from spikeforge.cli.train import add_display_options

    p = subparsers.add_parser(
        "resume", help="continue a run from its last checkpoint",
        description="Continue a run folder written by 'spikeforge train' from its last checkpoint, with the "
                    "run's own config, to the same result an uninterrupted run gives.",
    )
    p.add_argument("run_dir", type=Path, metavar="RUN", help="run folder")
    add_display_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from spikeforge.cli.train import resume_processes

    return resume_processes(args, _run)  # one process, the run's --nproc workers, or a torchrun worker


def _run(args: argparse.Namespace, ctx) -> int:
    """Resume as this process of ``ctx`` (rank 0 alone prints and writes)."""
    from spikeforge.cli._tables import console as make_console
    from spikeforge.cli.train import _EXPECTED_ERRORS, print_errors, print_interrupted, run_to_end
    from spikeforge.data import DatasetError
    from spikeforge.learn.trainer import Trainer, _check_run

    started = time.perf_counter()
    trainer, error, quiet = None, None, args.quiet or not ctx.is_writer
    try:
        try:
            _check_run(args.run_dir)
            console = make_console(quiet=quiet)  # as wide as its tables when not a terminal
            trainer = Trainer.resume(args.run_dir, progress=not (args.no_progress or quiet), console=console,
                                     plots=not args.no_plots)
        except (*_EXPECTED_ERRORS, DatasetError) as exc:
            error = exc
        if not ctx.all_ok(error is None):  # every rank goes on, or none (rank 0 says why)
            if error is None or not ctx.is_writer:
                return 2
            return print_errors("resume", error, config_file=args.run_dir / "config.json", typed_config=False)
        if trainer.epoch >= trainer.config.epochs and Trainer.status_of(args.run_dir) == "finished":
            console.print(f"{args.run_dir}: all {trainer.config.epochs} epochs are done already; nothing to resume")
            return 0
        if trainer.epoch >= trainer.config.epochs:
            console.print(f"[bold]spikeforge resume[/] {args.run_dir}: all epochs done; finishing the analysis")
        else:
            console.print(f"[bold]spikeforge resume[/] {args.run_dir}: from epoch {trainer.epoch} of "
                          f"{trainer.config.epochs}")
        return run_to_end(trainer, args, started)
    except KeyboardInterrupt:
        if not ctx.is_writer:
            return 130
        if trainer is None:
            print(f"spikeforge resume: interrupted; {args.run_dir} is as it was", file=sys.stderr)
            return 130
        return print_interrupted("resume", trainer)

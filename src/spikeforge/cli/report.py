"""``spikeforge report RUN``: one self-contained HTML page for a run folder (pictures embedded)."""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["register", "run"]


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "report", help="write an HTML report of a run",
        description="Write RUN/report.html: accuracy, learning curves, spikes, energy per chip, fit verdicts, "
                    "config; pictures embedded, so the one file can be opened or sent anywhere.",
    )
    p.add_argument("run_dir", type=Path, metavar="RUN", help="run folder written by 'spikeforge train'")
    p.add_argument("--out", type=Path, default=None, metavar="FILE", help="where to write (default RUN/report.html)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from spikeforge.cli.train import _EXPECTED_ERRORS, print_errors
    from spikeforge.data import DatasetError
    from spikeforge.learn.report import write_report

    try:
        path = write_report(args.run_dir, args.out)
    except (*_EXPECTED_ERRORS, DatasetError) as exc:
        return print_errors("report", exc)
    print(path)
    return 0

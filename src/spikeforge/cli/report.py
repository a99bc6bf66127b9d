"""``spikeforge report RUN``: one self-contained HTML page for a run folder (pictures embedded)."""

from __future__ import annotations

import argparse
import json
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
    from spikeforge.data.errors import about
    from spikeforge.learn.report import write_report
    from spikeforge.learn.trainer import _check_run

    try:
        _check_run(args.run_dir)
        if not (args.run_dir / "metrics.json").is_file():
            detail = (f"{args.run_dir} has no metrics.json (the run has not finished; 'spikeforge resume "
                      f"{args.run_dir}' first)")
            raise about("run", FileNotFoundError(detail), detail)
        for name in ("config.json", "metrics.json", "run.json"):
            _check_json(args.run_dir / name)
        if args.out is not None:
            _check_out(args.out)
        path = write_report(args.run_dir, args.out)
    except (*_EXPECTED_ERRORS, DatasetError) as exc:
        return print_errors("report", exc, config_file=args.run_dir / "config.json", typed_config=False)
    print(path)
    return 0


def _check_json(path: Path) -> None:
    from spikeforge.data.errors import about

    if not path.is_file():
        return
    try:
        json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        detail = f"{path} is not valid JSON ({exc})"
        raise about("run", ValueError(detail), detail) from None


def _check_out(out: Path) -> None:
    from spikeforge.data.errors import about

    if out.is_dir():
        detail = f"{out} is a folder; expected the name of the HTML file to write (e.g. {out / 'report.html'})"
    elif out.parent.exists() and not out.parent.is_dir():
        detail = f"{out.parent} is a file, so {out} cannot be written; expected a file name in a folder"
    else:
        return
    raise about("out", FileExistsError(detail), detail)

"""``spikeforge evaluate RUN``: reload a run's model and data set and measure it again."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

__all__ = ["register", "run"]


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "evaluate", help="evaluate a trained run on its data set",
        description="Load the model of a run folder and evaluate it on its data set (the test split by default).",
    )
    p.add_argument("run_dir", type=Path, metavar="RUN", help="run folder written by 'spikeforge train'")
    p.add_argument("--split", default="test", choices=("test", "train", "valid"),
                   help="split to evaluate: test (default), train (what the run trained on), or valid (the "
                        "validation split: the data set's own, or the share of the training data the run held out, "
                        "carved again from its config; none when it was trained with valid_fraction 0)")
    p.add_argument("--checkpoint", default="final", choices=("final", "last"),
                   help="final weights (default) or the last checkpoint")
    p.add_argument("--device", default=None, help="device (default: the run's)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from spikeforge.cli.train import _EXPECTED_ERRORS, print_errors
    from spikeforge.data import DatasetError
    from spikeforge.learn.trainer import evaluate_run

    try:
        result = evaluate_run(args.run_dir, split=args.split, checkpoint=args.checkpoint, device=args.device)
    except (*_EXPECTED_ERRORS, DatasetError) as exc:
        given = {"device": args.device} if args.device is not None else {}
        return print_errors("evaluate", exc, given, args.run_dir / "config.json", typed_config=False)
    out = {k: result[k] for k in ("accuracy", "loss", "spikes_per_sample", "input_spikes_per_sample", "samples")}
    out["split"] = args.split
    recorded = None
    metrics_path = args.run_dir / "metrics.json"
    if args.split in ("test", "valid") and args.checkpoint == "final" and metrics_path.is_file():
        recorded = json.loads(metrics_path.read_text()).get(f"{args.split}_accuracy")
        if recorded is not None:
            out[f"recorded_{args.split}_accuracy"] = recorded
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    table = Table(title=f"{args.run_dir} on the {args.split} split ({result['samples']} samples)")
    table.add_column("quantity")
    table.add_column("value", justify="right")
    table.add_row("accuracy", f"{result['accuracy']:.4f}")
    table.add_row("loss", f"{result['loss']:.4f}")
    table.add_row("spike events per sample (hidden)", f"{result['spikes_per_sample']:.1f}")
    table.add_row("input spike events per sample", f"{result['input_spikes_per_sample']:.1f}")
    if recorded is not None:
        same = math.isclose(recorded, result["accuracy"], abs_tol=1e-12)
        table.add_row("recorded in metrics.json", f"{recorded:.4f} ({'same' if same else 'DIFFERENT'})")
    Console(emoji=False).print(table)
    return 0

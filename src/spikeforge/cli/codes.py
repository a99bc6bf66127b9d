"""``spikeforge codes``: compare the spike codes of the encoder registry, and probe a trained run's hidden codes.

Sub-verbs::

    spikeforge codes compare [--codes NAME,NAME] [--steps T] [--levels L] [--samples N] [--sources uniform,digits]
                             [--drop P,P] [--jitter K,K] [--seed S] [--json FILE] [--plot FILE.png] [--markdown FILE]
    spikeforge codes probe RUN [--shuffles K] [--json FILE] [--no-save]

``compare``: :func:`spikeforge.encode.compare.compare_codes` (definitions of every column there and in
``docs/codes.md``). ``probe``: :func:`spikeforge.learn.probe.probe_run` (what the hidden layers carry in counts and
in timing; saved as ``RUN/probe.json`` unless ``--no-save``, which ``spikeforge report`` then shows; an existing
``RUN/report.html`` is rewritten with it).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

__all__ = ["register"]


def _floats(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, e.g. 0.1,0.2; got {text!r}") from None


def _ints(text: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, e.g. 1,2,4; got {text!r}") from None


def _names(text: str) -> list[str]:
    return [v.strip().lower() for v in text.split(",") if v.strip()]


def register(subparsers) -> None:
    p = subparsers.add_parser("codes", help="compare spike codes; probe a run's hidden codes",
                              description=__doc__.split("\n")[0].replace("``", ""))
    sub = p.add_subparsers(dest="codes_verb", metavar="SUBVERB")
    c = sub.add_parser("compare", help="bits, spikes, decoding window and robustness of every registry code")
    c.add_argument("--codes", type=_names, default=None, help="comma-separated encoder names (default: all)")
    c.add_argument("--steps", type=int, default=25, help="time steps per value (default 25)")
    c.add_argument("--levels", type=int, default=16, help="levels of the uniform values (default 16)")
    c.add_argument("--samples", type=int, default=20000, help="draws per code and source (default 20000)")
    c.add_argument("--window-samples", type=int, default=2000, help="draws for the decoding window (default 2000)")
    c.add_argument("--sources", type=_names, default=["uniform", "digits"], help="uniform, digits (default both)")
    c.add_argument("--drop", type=_floats, default=[0.1, 0.2, 0.5], help="spike drop probabilities")
    c.add_argument("--jitter", type=_ints, default=[1, 2, 4], help="jitter half-widths in steps")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--json", type=Path, default=None, metavar="FILE", help="write the result as JSON")
    c.add_argument("--plot", type=Path, default=None, metavar="FILE", help="save the picture (PNG)")
    c.add_argument("--markdown", type=Path, default=None, metavar="FILE", help="write the tables as Markdown")
    c.set_defaults(func=_compare)
    r = sub.add_parser("probe", help="how much a run's hidden layers carry in spike counts and in timing")
    r.add_argument("run_dir", type=Path, metavar="RUN", help="run folder written by 'spikeforge train'")
    r.add_argument("--shuffles", type=int, default=3, help="time shuffles averaged per layer (default 3)")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--json", type=Path, default=None, metavar="FILE", help="also write the result here")
    r.add_argument("--no-save", action="store_true", help="do not write RUN/probe.json")
    r.set_defaults(func=_probe)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1] if args.codes_verb is None else 0)


def _error(sub: str, exc: BaseException) -> int:
    print(f"spikeforge codes {sub}: error: {exc}", file=sys.stderr)
    return 2


def _clean(obj):
    """JSON has no infinity: spikes per bit of a code that carries nothing is written as null."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    return obj


def _compare(args: argparse.Namespace) -> int:
    from spikeforge.cli._tables import console
    from spikeforge.encode.compare import compare_codes, comparison_markdown, comparison_table, plot_comparison

    try:
        result = compare_codes(args.codes, steps=args.steps, levels=args.levels, samples=args.samples,
                               window_samples=args.window_samples, sources=args.sources, drop=args.drop,
                               jitter=args.jitter, seed=args.seed)
    except (ValueError, TypeError) as exc:
        return _error("compare", exc)
    out = console()
    for source in result.settings["sources"]:
        out.print(comparison_table(result, source))
    for name, reason in result.skipped.items():
        out.print(f"skipped {name}: {reason}")
    try:
        if args.json is not None:
            args.json.write_text(json.dumps(_clean(result.to_dict()), indent=2, allow_nan=False))
            out.print(f"json: {args.json}")
        if args.markdown is not None:
            args.markdown.write_text("\n\n".join(f"{s} values:\n\n{comparison_markdown(result, s)}"
                                                  for s in result.settings["sources"]) + "\n")
            out.print(f"markdown: {args.markdown}")
        if args.plot is not None:
            plot_comparison(result, str(args.plot), result.settings["sources"][0])
            out.print(f"plot: {args.plot}")
    except OSError as exc:
        return _error("compare", exc)
    return 0


def _probe(args: argparse.Namespace) -> int:
    from rich.table import Table

    from spikeforge.cli._tables import console
    from spikeforge.cli.train import _EXPECTED_ERRORS
    from spikeforge.data import DatasetError
    from spikeforge.learn.probe import probe_run

    try:
        result = probe_run(args.run_dir, shuffles=args.shuffles, seed=args.seed, write=not args.no_save)
        if args.json is not None:
            args.json.write_text(json.dumps(result, indent=2))
        if not args.no_save and (args.run_dir / "report.html").is_file():
            from spikeforge.learn.report import write_report

            write_report(args.run_dir)  # the report gains the probe's table
    except (*_EXPECTED_ERRORS, DatasetError) as exc:
        return _error("probe", exc)
    table = Table(title=f"{args.run_dir}: network test accuracy {result['network_accuracy']:.4f} "
                        f"(chance {result['chance']:.3f}); decoders fit on {result['train_samples']} training samples")
    for col in ("layer", "neurons", "spikes/sample", "silent", "counts acc", "timing acc", "both acc",
                "net acc, time-shuffled", "drop"):
        table.add_column(col, justify="left" if col == "layer" else "right")
    for name, r in result["layers"].items():
        shuf = r.get("shuffled_network_accuracy")
        table.add_row(name, str(r["neurons"]), f"{r['spikes_per_sample_test']:.1f}", f"{r['silent_fraction_test']:.2f}",
                      f"{r['counts_accuracy']:.4f}", f"{r['timing_accuracy']:.4f}", f"{r['both_accuracy']:.4f}",
                      "—" if shuf is None else f"{shuf:.4f}", "—" if shuf is None else f"{r['shuffle_drop']:+.4f}")
    console().print(table)
    return 0

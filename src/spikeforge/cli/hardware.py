"""``spikeforge hardware``: the neuromorphic-chip catalog, the efficiency chart and model fit.

Sub-verbs::

    spikeforge hardware list [--sort COLUMN [--desc]] [--where EXPR ...] [--accelerators]
    spikeforge hardware show NAME
    spikeforge hardware chart --out chart.png [--sop-per-flop R] [--fit-until YEAR] [--brain-per-flop]
    spikeforge hardware fit --sizes 700,256,256,20 [--neuron LIF] [--rule STDP] [--platform NAME]

``--where`` takes ``COLUMN OP VALUE`` with ``OP`` one of ``>= <= != == = > < ~`` (``~``: contains,
case-insensitive); give it several times to combine with AND, e.g.
``--where "neurons>=1e5" --where "training_rules~*"``.
"""

from __future__ import annotations

import argparse
import math
import re
import sys

__all__ = ["register"]

CHIP_COLUMNS: tuple[str, ...] = (
    "name",
    "developer",
    "release",
    "process_nm",
    "neurons",
    "neuron_type",
    "synapses",
    "synapse_type",
    "synapses_per_neuron",
    "on_device_training",
    "freq_mhz",
    "j_per_sop",
    "sop_per_s_per_w",
    "w_per_synapse",
    "library",
)
ACCELERATOR_COLUMNS: tuple[str, ...] = (
    "name",
    "vendor",
    "family",
    "release_date",
    "process_nm",
    "precision",
    "peak_tflops",
    "tdp_w",
    "gflops_per_w",
)
_OPS = (">=", "<=", "!=", "==", "=", ">", "<", "~")
_WHERE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(>=|<=|!=|==|=|>|<|~)\s*(.*?)\s*$")


def _console():
    from rich.console import Console

    return Console(width=None if sys.stdout.isatty() else 200, soft_wrap=False)


def _fmt(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, int) and abs(value) >= 100_000:
        return f"{value:.3g}"
    return str(value)


def _as_number(value: object) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        return None


def parse_where(expr: str, columns: tuple[str, ...]):
    """``"neurons>=1e5"`` -> a predicate on a row dict. Raises ``ValueError`` naming the problem."""
    m = _WHERE.match(expr)
    if not m:
        raise ValueError(f"--where: expected COLUMN OP VALUE with OP in {' '.join(_OPS)}, got {expr!r}")
    col, op, raw = m.groups()
    if col not in columns:
        raise ValueError(f"--where: unknown column {col!r}; columns: {', '.join(columns)}")

    def pred(row: dict[str, object]) -> bool:
        value = row.get(col)
        if op == "~":
            return raw.casefold() in _fmt(value).casefold() or raw.casefold() in str(value or "").casefold()
        a, b = _as_number(value), _as_number(raw)
        if a is not None and b is not None:
            left, right = a, b
        else:
            if value is None and op not in ("!=",):
                return False
            left, right = str(value if value is not None else "").casefold(), raw.casefold()
            if op in (">", "<", ">=", "<="):
                return False
        return {
            ">=": left >= right,
            "<=": left <= right,
            ">": left > right,
            "<": left < right,
            "=": left == right,
            "==": left == right,
            "!=": left != right,
        }[op]

    return pred


def _sort_rows(rows: list[dict[str, object]], key: str, columns: tuple[str, ...]) -> list[dict[str, object]]:
    desc = key.startswith("-")
    col = key.lstrip("-")
    if col not in columns:
        raise ValueError(f"--sort: unknown column {col!r}; columns: {', '.join(columns)} (prefix '-' to reverse)")
    present = [r for r in rows if r.get(col) is not None]
    missing = [r for r in rows if r.get(col) is None]
    numeric = all(_as_number(r[col]) is not None for r in present)

    def k(r):
        return _as_number(r[col]) if numeric else str(r[col]).casefold()

    return sorted(present, key=k, reverse=desc) + missing  # blanks last either way


def _cmd_list(args: argparse.Namespace) -> int:
    from rich.table import Table

    from spikeforge.hardware import accelerators, platforms

    if args.accelerators:
        columns = ACCELERATOR_COLUMNS
        rows = [a.as_dict() for a in accelerators()]
        title = "GPUs, accelerators and Green500 #1 systems"
    else:
        columns = CHIP_COLUMNS
        rows = [p.as_dict() for p in platforms()]
        title = "Neuromorphic platforms (the seed's table)"
    try:
        preds = [parse_where(w, columns) for w in args.where or ()]
        rows = [r for r in rows if all(p(r) for p in preds)]
        if args.sort:
            key = f"-{args.sort.lstrip('-')}" if args.desc else args.sort
            rows = _sort_rows(rows, key, columns)
    except ValueError as exc:
        print(f"spikeforge hardware list: {exc}", file=sys.stderr)
        return 2
    table = Table(title=f"{title}: {len(rows)} rows")
    for col in columns:
        table.add_column(col, justify="left" if col in ("name", "developer", "vendor", "family") else "right")
    for r in rows:
        table.add_row(*(_fmt(r.get(c)) for c in columns))
    _console().print(table)
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    from rich.table import Table

    from spikeforge.hardware import accelerator, platform

    try:
        record = platform(args.name)
    except KeyError as chip_err:
        try:
            record = accelerator(args.name)
        except KeyError:
            print(f"spikeforge hardware show: {chip_err.args[0]}", file=sys.stderr)
            return 2
    table = Table(title=record.name, show_header=False)
    table.add_column("field")
    table.add_column("value", overflow="fold")
    for k, v in record.as_dict().items():
        table.add_row(k, _fmt(v) if not isinstance(v, float) else f"{v:.4g}")
    _console().print(table)
    return 0


def _cmd_chart(args: argparse.Namespace) -> int:
    from spikeforge.hardware import efficiency_chart

    try:
        table = efficiency_chart(
            args.out,
            sop_per_flop=args.sop_per_flop,
            fit_until=args.fit_until,
            brain_per_flop=args.brain_per_flop,
        )
    except (ValueError, FileNotFoundError) as exc:
        print(f"spikeforge hardware chart: {exc}", file=sys.stderr)
        return 2
    console = _console()
    console.print(table.to_rich())
    console.print(f"chart written to {args.out}")
    return 0


def _parse_sizes(text: str) -> list[int]:
    try:
        sizes = [int(s) for s in text.replace(" ", "").split(",") if s]
    except ValueError:
        raise ValueError(f"--sizes: expected comma-separated layer widths such as 700,256,20, got {text!r}") from None
    if len(sizes) < 2 or any(s < 1 for s in sizes):
        raise ValueError(f"--sizes: expected at least two positive widths such as 700,256,20, got {text!r}")
    return sizes


def _cmd_fit(args: argparse.Namespace) -> int:
    from spikeforge.hardware import fit, fit_all
    from spikeforge.hardware.fit import mlp

    try:
        model = mlp(_parse_sizes(args.sizes), args.neuron)
        if args.platform:
            v = fit(model, args.platform, learning_rule=args.rule)
        else:
            _console().print(fit_all(model, learning_rule=args.rule).to_rich())
            return 0
    except (ValueError, KeyError) as exc:
        msg = exc.args[0] if isinstance(exc, KeyError) else str(exc)
        print(f"spikeforge hardware fit: {msg}", file=sys.stderr)
        return 2
    chips = "?" if v.chips_needed is None else str(v.chips_needed)
    reasons = "; ".join(v.reasons) or "fits"
    print(f"{v.platform}: {v.verdict} (chips needed: {chips}) - {reasons}")
    return 0


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def register(subparsers) -> None:
    """Add the ``hardware`` verb (with ``list``, ``show``, ``chart``, ``fit``) to ``subparsers``."""
    parser = subparsers.add_parser(
        "hardware",
        help="neuromorphic chips: catalog, efficiency chart, model fit",
        description="The 15-chip neuromorphic catalog, GPUs for comparison, the efficiency chart and fit checks.",
    )
    sub = parser.add_subparsers(dest="hardware_verb", metavar="SUBVERB")
    parser.set_defaults(func=lambda _a: (parser.print_help(), 0)[1])

    p = sub.add_parser("list", help="table of the 15 chips (or --accelerators)")
    p.add_argument("--sort", metavar="COLUMN", help="sort by this column (--sort=-COLUMN or --desc: descending)")
    p.add_argument("--desc", action="store_true", help="sort descending")
    p.add_argument("--where", metavar="EXPR", action="append", help="filter, e.g. 'neurons>=1e5' (repeatable)")
    p.add_argument("--accelerators", action="store_true", help="list GPUs/accelerators/Green500 instead")
    p.set_defaults(func=_cmd_list)

    p = sub.add_parser("show", help="every field of one chip (or accelerator)")
    p.add_argument("name", help="e.g. Loihi-2, 'loihi 2', NorthPole, V100")
    p.set_defaults(func=_cmd_show)

    p = sub.add_parser("chart", help="efficiency vs release date, with trend projections")
    p.add_argument("--out", default="chart.png", help="output image (.png, .svg, .pdf); default chart.png")
    p.add_argument("--sop-per-flop", type=_positive_float, default=10.0, help="SOPs per FLOP for chips (default 10)")
    p.add_argument("--fit-until", type=float, default=None, help="fit only points released before this year")
    p.add_argument("--brain-per-flop", action="store_true", help="divide the brain band by the ratio too")
    p.set_defaults(func=_cmd_chart)

    p = sub.add_parser("fit", help="can an MLP of spiking neurons run on each chip?")
    p.add_argument("--sizes", required=True, help="layer widths, e.g. 700,256,256,20")
    p.add_argument("--neuron", default="LIF", help="spikeforge neuron class (LIF, IF, CuBaLIF, GradedLIF, ...)")
    p.add_argument("--rule", default=None, help="on-device learning rule (STDP, e-prop, BPTT, ...)")
    p.add_argument("--platform", default=None, help="one chip only (default: all 15)")
    p.set_defaults(func=_cmd_fit)

"""``spikeforge hardware``: the neuromorphic-chip catalog, the efficiency chart and model fit.

Sub-verbs::

    spikeforge hardware list [--columns COL,COL|all] [--sort COLUMN [--desc]] [--where EXPR ...] [--accelerators]
    spikeforge hardware show NAME
    spikeforge hardware chart --out chart.png [--sop-per-flop R] [--fit-until YEAR] [--now YEAR] [--brain-per-flop]
    spikeforge hardware fit --sizes 700,256,256,20 [--neuron LIF] [--rule STDP] [--platform NAME]

``--where`` takes ``COLUMN OP VALUE`` with ``OP`` one of ``>= <= != == = > < ~`` (``~``: contains,
case-insensitive); give it several times to combine with AND, e.g.
``--where "neurons>=1e5" --where "training_rules~*"``. ``>``, ``<``, ``>=`` and ``<=`` need a number
(a date ``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD`` for ``release`` / ``release_date``).

In a terminal ``list`` shows the columns that fit its width (``--columns`` picks others, ``--columns
all`` every one, folded to fit); written to a pipe or a file every table is complete, one line per row.
"""

from __future__ import annotations

import argparse
import math
import re
import sys

from spikeforge.cli._tables import console as _make_console
from spikeforge.cli._tables import fit_columns, natural_width, print_records, print_table, table_width
from spikeforge.neuron.catalog import neuron_classes

__all__ = ["register"]

#: Columns ``list`` shows by default (all of them when not writing to a terminal).
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
#: In a terminal too narrow for every column, columns are kept in this order while they fit.
CHIP_PRIORITY: tuple[str, ...] = (
    "name",
    "release",
    "neurons",
    "synapses",
    "j_per_sop",
    "neuron_type",
    "on_device_training",
    "synapses_per_neuron",
    "process_nm",
    "developer",
    "synapse_type",
    "freq_mhz",
    "sop_per_s_per_w",
    "w_per_synapse",
    "library",
)
ACCELERATOR_PRIORITY: tuple[str, ...] = (
    "name",
    "release_date",
    "gflops_per_w",
    "family",
    "peak_tflops",
    "precision",
    "tdp_w",
    "vendor",
    "process_nm",
)
_DATE_COLUMNS = frozenset({"release", "release_date"})
_TEXT_LEFT = frozenset({"name", "developer", "vendor", "family", "neuron_type", "synapse_type", "library",
                        "on_device_training", "precision"})
_NAME_WIDTH = 26  # in a terminal, longer names wrap onto more lines
_OPS = (">=", "<=", "!=", "==", "=", ">", "<", "~")
_ORDER_OPS = frozenset({">=", "<=", ">", "<"})
_WHERE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(>=|<=|!=|==|=|>|<|~)\s*(.*?)\s*$")
_DATE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")


def _console():
    return _make_console()


def _fmt(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.5g}" if 100 <= abs(value) < 100_000 else f"{value:.3g}"  # 2017.4, 1216, 1.6e+07
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


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _date_key(text: str, parts: int) -> tuple[int, ...] | None:
    """``"2021-10-30"`` -> ``(2021, 10)`` for ``parts=2``; ``None`` for a blank or malformed date."""
    if not isinstance(text, str) or not _DATE.match(text[: len("YYYY-MM-DD")]):
        return None
    return tuple(int(p) for p in text.split("-")[:parts])


def parse_where(expr: str, columns: tuple[str, ...], rows: list[dict[str, object]] | None = None):
    """``"neurons>=1e5"`` -> a predicate on a row dict. Raises ``ValueError`` naming ``--where``.

    ``>``, ``<``, ``>=``, ``<=`` need a number, or a date (``YYYY``, ``YYYY-MM``, ``YYYY-MM-DD``) for a
    date column, compared at the precision given (``release>=2021`` keeps every chip of 2021 and later).
    With ``rows``, a column that holds only numbers needs a number for ``=`` / ``!=`` too, and a column
    that holds no numbers refuses ``>``/``<``.
    """
    m = _WHERE.match(expr)
    if not m:
        raise ValueError(f"--where: expected COLUMN OP VALUE with OP in {' '.join(_OPS)}, got {expr!r}")
    col, op, raw = m.groups()
    if col not in columns:
        raise ValueError(f"--where: unknown column {col!r} in {expr!r}; columns: {', '.join(columns)}")
    if raw == "":
        raise ValueError(f"--where {expr!r}: expected a value after {op!r}, got nothing")
    values = [r.get(col) for r in rows] if rows is not None else []
    numbers_only = bool(values) and all(_is_number(v) for v in values if v is not None)
    has_numbers = any(_is_number(v) for v in values)
    number = _as_number(raw)

    if col in _DATE_COLUMNS and op != "~":
        if not _DATE.match(raw):
            raise ValueError(
                f"--where {expr!r}: expected a date YYYY, YYYY-MM or YYYY-MM-DD after {op!r}, got {raw!r}"
            )
        parts = raw.count("-") + 1
        wanted = _date_key(raw, parts)

        def by_date(row: dict[str, object]) -> bool:
            key = _date_key(str(row.get(col) or ""), parts)
            return key is not None and _compare(op, key, wanted)

        return by_date
    if op in _ORDER_OPS or (op != "~" and numbers_only):
        if number is None or not math.isfinite(number):
            what = f"column {col} holds numbers" if numbers_only else f"{op!r} compares numbers"
            raise ValueError(f"--where {expr!r}: expected a number after {op!r} ({what}), got {raw!r}")
        if rows is not None and not has_numbers:
            raise ValueError(f"--where {expr!r}: column {col} holds text; use = != or ~ with it")

    def pred(row: dict[str, object]) -> bool:
        value = row.get(col)
        if op == "~":
            return raw.casefold() in _fmt(value).casefold() or raw.casefold() in str(value or "").casefold()
        a = _as_number(value)
        if number is not None and a is not None:
            return _compare(op, a, number)
        if op in _ORDER_OPS:
            return False  # a blank or a text cell ("async") in a number column
        if value is None:
            return op == "!="
        return _compare(op, _fmt(value).casefold(), raw.casefold())

    return pred


def _compare(op: str, left, right) -> bool:
    return {
        ">=": left >= right,
        "<=": left <= right,
        ">": left > right,
        "<": left < right,
        "=": left == right,
        "==": left == right,
        "!=": left != right,
    }[op]


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


def _parse_columns(text: str, columns: tuple[str, ...]) -> list[str]:
    if text.strip().casefold() == "all":
        return list(columns)
    picked = [c.strip() for c in text.split(",") if c.strip()]
    unknown = [c for c in picked if c not in columns]
    if not picked or unknown:
        bad = f"unknown column {unknown[0]!r}" if unknown else "no column"
        raise ValueError(
            f"--columns: {bad} in {text!r}; expected 'all' or names separated by commas from: {', '.join(columns)}"
        )
    if "name" not in picked:
        picked.insert(0, "name")
    return list(dict.fromkeys(picked))


def _cmd_list(args: argparse.Namespace) -> int:
    from rich.table import Table

    from spikeforge.hardware import accelerators, platforms
    from spikeforge.hardware.catalog import TABLE_SOURCE

    if args.accelerators:
        records = accelerators()
        rows = [a.as_dict() for a in records]
        default, priority = ACCELERATOR_COLUMNS, ACCELERATOR_PRIORITY
        title = "GPUs, TPUs and Green500 #1 systems"
        footer = "Sources: the 'source' column of each row ('spikeforge hardware show NAME')."
    else:
        records = platforms()
        rows = [p.as_dict() for p in records]
        default, priority = CHIP_COLUMNS, CHIP_PRIORITY
        title = "Neuromorphic chips"
        disagree = [
            f"{p.name} ({', '.join(d.split(':', 1)[0] for d in p.disagreements)})" for p in records if p.disagreements
        ]
        footer = f"Values from {TABLE_SOURCE}."
        if disagree:
            footer += f" Published sources disagree with it for {', '.join(disagree)}"
        footer += "; 'spikeforge hardware show NAME' names the source of every value."
    known = tuple(rows[0])  # every field, the default columns first
    out = _console()
    try:
        chosen = _parse_columns(args.columns, known) if args.columns else None
        preds = [parse_where(w, known, rows) for w in args.where or ()]
        rows = [r for r in rows if all(p(r) for p in preds)]
        if args.sort:
            key = f"-{args.sort.lstrip('-')}" if args.desc else args.sort
            rows = _sort_rows(rows, key, known)
    except ValueError as exc:
        print(f"spikeforge hardware list: {exc}", file=sys.stderr)
        return 2
    cells = {c: [_fmt(r.get(c)) for r in rows] for c in known}
    widths = {c: natural_width(c, cells[c]) for c in known}
    widths["name"] = min(widths["name"], _NAME_WIDTH)
    hidden: list[str] = []
    if chosen is None:
        chosen = list(default)
        if out.is_terminal:
            keep = set(fit_columns(widths, priority, out.width))
            hidden = [c for c in default if c not in keep]
            chosen = [c for c in default if c in keep]
    elif out.is_terminal and table_width([widths[c] for c in chosen]) > out.width:
        # the columns asked for do not fit side by side: one block per row instead
        records = [[cells[c][i] for c in chosen] for i in range(len(rows))]
        print_records(out, f"{title}: {len(rows)} rows", chosen, records)
        out.print(footer, highlight=False)
        return 0
    table = Table(title=f"{title}: {len(rows)} rows")
    for col in chosen:
        wide = col == "name" and out.is_terminal and natural_width(col, cells[col]) > _NAME_WIDTH
        justify = "left" if col in _TEXT_LEFT else "right"
        table.add_column(col, justify=justify, max_width=_NAME_WIDTH if wide else None)
    for i in range(len(rows)):
        table.add_row(*(cells[c][i] for c in chosen))
    print_table(out, table)
    if hidden:
        out.print(
            f"{len(hidden)} more columns do not fit {out.width} characters: {', '.join(hidden)}. "
            f"Pick with --columns, e.g. --columns name,{hidden[0]}; --columns all shows every one."
        )
    out.print(footer, highlight=False)
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    from rich.table import Table

    from spikeforge.hardware import accelerator, platform
    from spikeforge.hardware.catalog import TABLE, TABLE_SOURCE

    try:
        record = platform(args.name)
    except KeyError as chip_err:
        try:
            record = accelerator(args.name)
        except KeyError:
            print(f"spikeforge hardware show: {chip_err.args[0]}", file=sys.stderr)
            return 2
        return _show_accelerator(record)
    out = _console()
    table = Table(title=f"{record.name} ({record.developer})")
    for col in ("field", "value", "source"):
        table.add_column(col, overflow="fold")
    footnotes = {TABLE: "[1]"}
    notes_text = [f"[1] {TABLE_SOURCE}"]

    def mark(source: str) -> str:
        if source == TABLE:
            return "[1]"
        if source.startswith(f"{TABLE}; "):
            extra = source[len(TABLE) + 2 :]
            tag = footnotes.setdefault(extra, f"[{len(footnotes) + 1}]")
            if len(notes_text) < len(footnotes):
                notes_text.append(f"{tag} J/SOP {extra}")
            return f"[1], {tag}"
        if source.startswith("derived"):
            return source
        tag = footnotes.setdefault(source, f"[{len(footnotes) + 1}]")
        if len(notes_text) < len(footnotes):
            notes_text.append(f"{tag} {source}")
        return tag

    year_tag = ""
    topics = {d.split(":", 1)[0] for d in record.disagreements}
    disputed = {"release": "release year" in topics, "j_per_sop": "J/SOP" in topics}
    for k, v in record.as_dict().items():
        if k in ("sources", "disagreements", "notes"):
            continue
        text = _fmt(v) if not isinstance(v, float) else f"{v:.4g}"
        source = f"[1] vs {year_tag}" if k == "year_check" and year_tag else mark(record.source_of(k))
        if disputed.get(k):
            source += "; another source disagrees (below)"
        if k == "checked_year":
            year_tag = source
        table.add_row(k, text, source)
    print_table(out, table)
    checked = "the release year and J/SOP were" if record.j_per_sop_check else "the release year was"
    _print_list(out, "Sources:", notes_text)
    if record.disagreements:
        _print_list(out, "Where published sources disagree:", [f"- {d}" for d in record.disagreements])
    else:
        out.print(f"Where published sources disagree: nowhere found ({checked} checked).", highlight=False)
    if record.remarks:
        _print_list(out, "Notes:", [f"- {r}" for r in record.remarks])
    return 0


def _print_list(out, heading: str, lines: list[str]) -> None:
    """A heading, then one indented item per line; long items fold under their own indent."""
    from rich.padding import Padding
    from rich.text import Text

    out.print(heading, highlight=False)
    for line in lines:
        out.print(Padding(Text(line, overflow="fold"), (0, 0, 0, 2), expand=False), highlight=False)


def _show_accelerator(record) -> int:
    from rich.table import Table

    out = _console()
    table = Table(title=record.name, show_header=False)
    table.add_column("field")
    table.add_column("value", overflow="fold")
    for k, v in record.as_dict().items():
        table.add_row(k, _fmt(v) if not isinstance(v, float) else f"{v:.4g}")
    print_table(out, table)
    return 0


def _cmd_chart(args: argparse.Namespace) -> int:
    from spikeforge.hardware import efficiency_chart

    try:
        table = efficiency_chart(
            args.out,
            sop_per_flop=args.sop_per_flop,
            fit_until=args.fit_until,
            now=args.now,
            brain_per_flop=args.brain_per_flop,
        )
    except (ValueError, FileNotFoundError) as exc:
        print(f"spikeforge hardware chart: {exc}", file=sys.stderr)
        return 2
    out = _console()
    print_table(out, table.to_rich())
    out.print(f"chart written to {args.out}", highlight=False)
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
            print_table(_console(), fit_all(model, learning_rule=args.rule).to_rich())
            return 0
    except (ValueError, KeyError) as exc:
        msg = exc.args[0] if isinstance(exc, KeyError) else str(exc)
        print(f"spikeforge hardware fit: {msg}", file=sys.stderr)
        return 2
    reasons = "; ".join(v.reasons) or "fits"
    print(f"{v.platform}: {v.verdict} ({v.basis}; chips needed: {v.chips_text}) - {reasons}")
    return 0


def _year_arg(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a year such as 2026 or 2026.5, got {text!r}") from None
    if not (math.isfinite(value) and 1900 <= value <= 2200):
        raise argparse.ArgumentTypeError(f"expected a year between 1900 and 2200 such as 2026, got {text!r}")
    return value


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

    p = sub.add_parser(
        "list",
        help="table of the 15 chips (or --accelerators)",
        description="Table of the 15 neuromorphic chips (or, with --accelerators, GPUs, TPUs and Green500 #1 "
        "systems). In a terminal the columns that fit its width are shown; written to a pipe or a file the "
        "table is complete.",
    )
    p.add_argument(
        "--columns",
        metavar="COL,COL|all",
        help="columns to show, separated by commas (any field of 'show'), or 'all'",
    )
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
    p.add_argument("--fit-until", type=_year_arg, default=None, help="fit only points released before this year")
    p.add_argument(
        "--now",
        type=_year_arg,
        default=None,
        metavar="YEAR",
        help="the year 'in N years' counts from, e.g. 2024 or 2026.5 (default: today's date)",
    )
    p.add_argument("--brain-per-flop", action="store_true", help="divide the brain band by the ratio too")
    p.set_defaults(func=_cmd_chart)

    p = sub.add_parser("fit", help="can an MLP of spiking neurons run on each chip?")
    p.add_argument("--sizes", required=True, help="layer widths, e.g. 700,256,256,20")
    p.add_argument("--neuron", default="LIF", help=f"spikeforge neuron ({', '.join(neuron_classes())})")
    p.add_argument("--rule", default=None, help="on-device learning rule (STDP, e-prop, BPTT, ...)")
    p.add_argument("--platform", default=None, help="one chip only (default: all 15)")
    p.set_defaults(func=_cmd_fit)

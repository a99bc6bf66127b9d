"""Tables on the command line: readable in a narrow terminal, complete when written to a pipe or a file.

* In a terminal the console takes the terminal's width (or ``COLUMNS``); cells that do not fit are
  folded onto more lines, never cut with an ellipsis, and :func:`fit_columns` picks the columns that
  fit side by side at their full width.
* Written to a pipe or a file, the console is as wide as the widest table (no terminal to fit), so
  every cell keeps its full text on one line and ``grep``/``cut``/``less -S`` see whole values.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import IO

__all__ = ["console", "fit_columns", "natural_width", "print_records", "print_table", "table_width"]

#: Console width when not writing to a terminal: wide enough that no table of ours is ever cut.
PIPE_WIDTH = 100_000


def console(file: IO[str] | None = None, **kwargs):
    """A rich console on ``file`` (default ``sys.stdout``): terminal width and colours in a terminal,
    :data:`PIPE_WIDTH` columns and no colours otherwise. ``kwargs`` go to :class:`rich.console.Console`
    (e.g. ``quiet=True``)."""
    from rich.console import Console

    stream = sys.stdout if file is None else file
    kwargs.setdefault("emoji", False)  # a data set named "adding:100" must not print as "adding💯"
    isatty = getattr(stream, "isatty", None)
    if isatty is not None and isatty():
        return Console(file=stream, soft_wrap=False, **kwargs)
    return Console(file=stream, width=PIPE_WIDTH, color_system=None, soft_wrap=False, force_terminal=False,
                   **kwargs)


def print_table(out, table) -> None:
    """Print a rich table: in a terminal with every column folding instead of cutting."""
    if out.is_terminal:
        for col in table.columns:
            col.overflow = "fold"
    out.print(table)


def natural_width(header: str, cells: Sequence[str]) -> int:
    """Characters a column needs to show its header and every cell on one line."""
    from rich.cells import cell_len

    return max([cell_len(header), *(cell_len(c) for c in cells)])


def table_width(widths: Sequence[int]) -> int:
    """Characters a boxed rich table needs for columns of these widths (each + 3, the table + 1)."""
    return 1 + sum(w + 3 for w in widths)


def print_records(out, title: str, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """One block per row, ``column  value`` on each line: the layout for more columns than fit."""
    from rich.table import Table

    out.print(title, highlight=False)
    for cells in rows:
        block = Table(show_header=False, box=None, padding=(0, 1, 0, 0))
        block.add_column("field", style="bold", no_wrap=True)
        block.add_column("value", overflow="fold")
        for col, cell in zip(columns, cells):
            block.add_row(col, cell)
        out.print()
        out.print(block)


def fit_columns(widths: dict[str, int], priority: Sequence[str], width: int) -> list[str]:
    """The columns, taken in ``priority`` order, that fit side by side in ``width`` characters of a rich
    table with a box (each column costs its width + 3, the table 1 more). The first column of
    ``priority`` is always kept. Returns them in ``priority`` order."""
    chosen: list[str] = []
    used = table_width([])
    for k, name in enumerate(priority):
        cost = widths[name] + 3
        if k == 0 or used + cost <= width:
            chosen.append(name)
            used += cost
    return chosen

"""Tables of ``spikeforge train`` written to a pipe are complete (issue 10, item 10: ``neuromorph…``,
``BrainScale…`` cut at 80 columns)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

from rich.table import Table

from spikeforge.cli._tables import PIPE_WIDTH, console, fit_columns, print_table, table_width


def test_console_is_wide_in_a_pipe_and_folds_in_a_terminal():
    table = Table()
    table.add_column("kind")
    table.add_row("neuromorphic " * 12)
    piped = io.StringIO()
    out = console(piped)
    assert out.width == PIPE_WIDTH and not out.is_terminal
    print_table(out, table)
    assert "neuromorphic " * 11 + "neuromorphic" in piped.getvalue()
    assert max(len(line) for line in piped.getvalue().splitlines()) < 200  # as wide as the table, no padding
    from rich.console import Console

    term = io.StringIO()
    narrow = Console(file=term, width=30, force_terminal=True, color_system=None)
    table = Table()
    table.add_column("device")
    table.add_row("BrainScaleS-2-with-a-long-name")
    print_table(narrow, table)
    text = term.getvalue()
    assert "…" not in text and "".join(text.replace("│", "").split()).count("BrainScaleS-2-with-a-long-name") == 1


def test_fit_columns_keeps_priority_order_within_the_width():
    widths = {"name": 10, "a": 20, "b": 5, "c": 30}
    assert table_width([10, 20, 5]) == 1 + 13 + 23 + 8 == 45
    assert fit_columns(widths, ["name", "a", "b", "c"], 78) == ["name", "a", "b", "c"]  # 45 + 33 = 78
    assert fit_columns(widths, ["name", "a", "b", "c"], 77) == ["name", "a", "b"]
    assert fit_columns(widths, ["name", "c", "a", "b"], 40) == ["name", "a"]  # c does not fit, a still does
    assert fit_columns(widths, ["name", "a"], 5) == ["name"]  # the first is always kept


def test_train_tables_are_complete_when_piped(tmp_path):
    run = tmp_path / "run"
    r = subprocess.run(
        [sys.executable, "-m", "spikeforge.cli.main", "train", "--epochs", "1", "--hidden", "16", "--threads", "1",
         "--no-progress", "--no-plots", "--no-report", "--out", str(run)],
        capture_output=True, text=True, env={**os.environ, "COLUMNS": "80"}, timeout=300,
    )
    assert r.returncode == 0, r.stderr
    assert "…" not in r.stdout
    metrics = json.loads((run / "metrics.json").read_text())
    lines = r.stdout.splitlines()
    for row in metrics["energy"]["rows"]:
        if row["kind"] == "neuromorphic":  # every chip on one whole line: name, kind, verdict
            line = next(ln for ln in lines if ln.startswith(f"│ {row['device']} "))
            cells = [c.strip() for c in line.strip().strip("│").split("│")]
            assert cells[1] == "neuromorphic" and cells[-1] == metrics["fit"]["chips"][row["device"]]["verdict"]
    headline = next(ln for ln in lines if "lowest energy per sample" in ln)
    best = metrics["energy"]["best_fitting_chip"]
    assert best in headline and metrics["fit"]["chips"][best]["verdict"] == "yes"

"""The ``hardware`` CLI verb, on our own argparse parser (the main parser lists verbs separately)."""

from __future__ import annotations

import argparse
import io
import os
import re
import shutil
import subprocess
import sys

import pytest
from rich.console import Console

from spikeforge.cli import hardware as hw_cli
from spikeforge.hardware import accelerators, platforms


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="spikeforge")
    sub = parser.add_subparsers(dest="verb")
    hw_cli.register(sub)
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


def test_list_sort_where(capsys):
    assert _run(["hardware", "list"]) == 0
    out = capsys.readouterr().out
    assert "15 rows" in out and "Loihi-2" in out and "Darwin-3" in out
    assert _run(["hardware", "list", "--where", "neurons>=1e6", "--sort", "j_per_sop", "--desc"]) == 0
    out = capsys.readouterr().out
    assert "4 rows" in out  # TrueNorth, Loihi-2, NorthPole, Darwin-3
    names = [n for n in ("NorthPole", "TrueNorth", "Loihi-2", "Darwin-3") if n in out]
    assert sorted(names, key=out.index) == ["NorthPole", "TrueNorth", "Loihi-2", "Darwin-3"]  # J/SOP desc
    assert _run(["hardware", "list", "--sort=-j_per_sop"]) == 0
    out = capsys.readouterr().out
    assert out.index("SpiNNaker-1") < out.index("SNE")
    assert _run(["hardware", "list", "--where", "on_device_training=STDP", "--where", "process_nm<20"]) == 0
    out = capsys.readouterr().out
    assert "1 rows" in out and "Loihi-1" in out
    assert _run(["hardware", "list", "--accelerators", "--where", "family~mobile RX"]) == 0
    assert "12 rows" in capsys.readouterr().out


def test_list_errors(capsys):
    assert _run(["hardware", "list", "--sort", "speed"]) == 2
    assert "--sort: unknown column 'speed'" in capsys.readouterr().err
    assert _run(["hardware", "list", "--where", "neurons"]) == 2
    assert "--where: expected COLUMN OP VALUE" in capsys.readouterr().err


def test_show(capsys):
    assert _run(["hardware", "show", "loihi 2"]) == 0
    out = capsys.readouterr().out
    assert "Loihi-2" in out and "programmable" in out and "1.61e-11" in out
    assert _run(["hardware", "show", "V100"]) == 0
    assert "Tesla V100 SXM2" in capsys.readouterr().out
    assert _run(["hardware", "show", "Loihi-9"]) == 2
    assert "known names" in capsys.readouterr().err


def test_chart(tmp_path, capsys):
    out = tmp_path / "eff.png"
    assert _run(["hardware", "chart", "--out", str(out), "--sop-per-flop", "5"]) == 0
    text = capsys.readouterr().out
    assert out.read_bytes()[:4] == b"\x89PNG"
    assert "Radeon mobile RX" in text and "enters band" in text and "÷ 5 SOP/FLOP" in text
    with pytest.raises(SystemExit):
        _run(["hardware", "chart", "--sop-per-flop", "-1"])
    capsys.readouterr()


def test_fit(capsys):
    assert _run(["hardware", "fit", "--sizes", "700,256,256,20"]) == 0
    out = capsys.readouterr().out
    assert "532 neurons" in out and "fan-in 700 > 128 average synapses per neuron" in out
    assert "hard limits" in out and "heuristic" in out
    assert _run(["hardware", "fit", "--sizes", "10,5", "--platform", "ODIN", "--rule", "e-prop"]) == 0
    line = capsys.readouterr().out
    assert line.startswith("ODIN: no (hard limit: learning rule; chips needed: -)")
    assert _run(["hardware", "fit", "--sizes", "700,256,256,20", "--platform", "Loihi-2"]) == 0
    line = capsys.readouterr().out
    assert line.startswith("Loihi-2: yes (hard limits met; heuristic warns: fan-in; chips needed: 1)")
    assert _run(["hardware", "fit", "--sizes", "700,256,256,20", "--platform", "ODIN"]) == 0
    assert "ODIN: no (hard limit: neurons, synapses; chips needed: 4)" in capsys.readouterr().out
    assert _run(["hardware", "fit", "--sizes", "10"]) == 2
    assert "--sizes: expected at least two" in capsys.readouterr().err
    assert _run(["hardware", "fit", "--sizes", "10,5", "--neuron", "HodgkinHuxley"]) == 2
    assert "neuron: expected one of" in capsys.readouterr().err
    # a declared model (spikeforge.neuron.models) is a neuron the CLI can build
    assert _run(["hardware", "fit", "--sizes", "10,5", "--neuron", "Izhikevich", "--platform", "Loihi-2"]) == 0
    assert capsys.readouterr().out.startswith("Loihi-2: yes")


# ------------------------------------------------------------------ issue 10: tables at 80 columns
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _terminal(monkeypatch, width: int) -> io.StringIO:
    """Make the verb print to a fake terminal ``width`` columns wide; returns what it printed."""
    buf = io.StringIO()
    monkeypatch.setattr(hw_cli, "_console", lambda: Console(file=buf, width=width, force_terminal=True,
                                                             color_system=None, soft_wrap=False))
    return buf


def _subprocess(args: list[str], **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "spikeforge.cli.main", *args], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=120)


def _body_rows(text: str) -> list[list[str]]:
    """The cells of every row of a boxed rich table; a row whose first cell wrapped onto more lines
    (every other cell blank there) is joined back with spaces."""
    rows: list[list[str]] = []
    for ln in text.splitlines():
        if not ln.startswith("│"):
            continue
        cells = [c.strip() for c in ln.strip().strip("│").split("│")]
        if rows and not any(cells[1:]):
            rows[-1] = [f"{a} {b}".strip() for a, b in zip(rows[-1], cells)]
        else:
            rows.append(cells)
    return rows


def _row_line(text: str, name: str) -> str:
    lines = [ln for ln in text.splitlines() if ln.startswith("│") and ln.split("│")[1].strip() == name]
    assert len(lines) == 1, (name, lines)
    return lines[0]


def test_list_in_an_80_column_terminal_shows_whole_cells(monkeypatch):
    buf = _terminal(monkeypatch, 80)
    assert _run(["hardware", "list"]) == 0
    text = buf.getvalue()
    assert max(len(ln) for ln in text.splitlines()) <= 80
    assert "…" not in text
    header = next(ln for ln in text.splitlines() if ln.startswith("┃"))
    shown = [c.strip() for c in header.strip("┃").split("┃")]
    assert shown == ["name", "release", "neurons", "neuron_type", "synapses", "j_per_sop"]  # as docs/hardware.md says
    for chip in platforms():  # every shown cell in full, one line per chip
        cells = [c.strip() for c in _row_line(text, chip.name).strip("│").split("│")]
        assert cells == [hw_cli._fmt(chip.as_dict()[c]) for c in shown]
    hidden = [c for c in hw_cli.CHIP_COLUMNS if c not in shown]
    flat = " ".join(text.split())
    assert f"{len(hidden)} more columns do not fit 80 characters: {', '.join(hidden)}" in flat
    assert "--columns" in flat


def test_list_at_120_columns_keeps_headers_and_dates_whole(monkeypatch):
    buf = _terminal(monkeypatch, 120)
    assert _run(["hardware", "list"]) == 0
    text = buf.getvalue()
    assert max(len(ln) for ln in text.splitlines()) <= 120 and "…" not in text
    for chip in platforms():
        assert chip.release.isoformat() in _row_line(text, chip.name)


def test_list_accelerators_in_an_80_column_terminal(monkeypatch):
    buf = _terminal(monkeypatch, 80)
    assert _run(["hardware", "list", "--accelerators"]) == 0
    text = buf.getvalue()
    assert max(len(ln) for ln in text.splitlines()) <= 80 and "…" not in text
    assert "GPUs, TPUs and Green500 #1 systems: 145 rows" in text
    rows = _body_rows(text)  # long names wrap onto more lines, whole words, nothing cut
    assert [r[0] for r in rows] == [a.name for a in accelerators()]


def test_columns_option_picks_and_all_stays_readable(monkeypatch, capsys):
    buf = _terminal(monkeypatch, 80)
    assert _run(["hardware", "list", "--columns", "developer,w_per_synapse,library"]) == 0
    header = next(ln for ln in buf.getvalue().splitlines() if ln.startswith("┃"))
    assert [c.strip() for c in header.strip("┃").split("┃")] == ["name", "developer", "w_per_synapse", "library"]
    buf = _terminal(monkeypatch, 80)
    assert _run(["hardware", "list", "--columns", "all", "--where", "name=Loihi-2"]) == 0
    text = buf.getvalue()  # too wide for 80 columns: one block of "field value" lines per row
    assert max(len(ln) for ln in text.splitlines()) <= 80 and "…" not in text
    for key, value in platforms()[7].as_dict().items():
        assert "".join(f"{key}{hw_cli._fmt(value)}".split()) in "".join(text.split()), key
    assert _run(["hardware", "list", "--columns", "name,speed"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--columns: unknown column 'speed'" in err


def test_piped_tables_are_complete_at_80_columns():
    """Written to a pipe (COLUMNS=80 set), every cell of every column is there in full on its row's line."""
    r = _subprocess(["hardware", "list"], COLUMNS="80")
    assert r.returncode == 0, r.stderr
    assert "…" not in r.stdout
    for chip in platforms():
        cells = [c.strip() for c in _row_line(r.stdout, chip.name).strip("│").split("│")]
        assert cells == [hw_cli._fmt(chip.as_dict()[c]) for c in hw_cli.CHIP_COLUMNS]
    r = _subprocess(["hardware", "list", "--accelerators"], COLUMNS="80")
    assert r.returncode == 0 and "…" not in r.stdout
    rows = _body_rows(r.stdout)
    assert len(rows) == len(accelerators()) == 145
    for a, cells in zip(accelerators(), rows):
        assert cells == [hw_cli._fmt(a.as_dict()[c]) for c in hw_cli.ACCELERATOR_COLUMNS]
    assert len(r.stdout.splitlines()) == 145 + 6  # title, 3 header lines, rows, bottom line, sources
    r = _subprocess(["hardware", "fit", "--sizes", "700,256,256,20"], COLUMNS="80")
    assert r.returncode == 0 and "…" not in r.stdout and "fan-in 700 > 128 average synapses per neuron" in r.stdout
    r = _subprocess(["hardware", "show", "SNE"], COLUMNS="80")
    assert r.returncode == 0 and "https://www.research-collection.ethz.ch/handle/20.500.11850/543342" in r.stdout


@pytest.mark.skipif(shutil.which("script") is None, reason="util-linux 'script' (a pseudo-terminal) not installed")
def test_list_in_a_real_80_column_terminal():
    cmd = f"{sys.executable} -m spikeforge.cli.main hardware list"
    r = subprocess.run(["script", "-qec", cmd, "/dev/null"], capture_output=True, text=True, timeout=120,
                       env={**os.environ, "COLUMNS": "80", "TERM": "xterm"}, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stdout + r.stderr
    text = _ANSI.sub("", r.stdout).replace("\r", "")
    assert "Neuromorphic chips: 15 rows" in text
    assert max(len(ln) for ln in text.splitlines()) <= 80 and "…" not in text
    for chip in platforms():
        assert chip.release.isoformat() in _row_line(text, chip.name)


# ------------------------------------------------------------- issue 10: --where refuses what it cannot read
@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("neurons>=abc", "--where 'neurons>=abc': expected a number after '>=' (column neurons holds numbers), "
                         "got 'abc'"),
        ("neurons>>1e5", "--where 'neurons>>1e5': expected a number after '>' (column neurons holds numbers), "
                         "got '>1e5'"),
        ("neurons=many", "--where 'neurons=many': expected a number after '='"),
        ("release>=soon", "--where 'release>=soon': expected a date YYYY, YYYY-MM or YYYY-MM-DD after '>='"),
        ("name>5", "--where 'name>5': column name holds text; use = != or ~ with it"),
        ("neurons>=", "--where 'neurons>=': expected a value after '>=', got nothing"),
    ],
)
def test_where_errors_are_one_line_naming_where(capsys, expr, message):
    assert _run(["hardware", "list", "--where", expr]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # no empty table
    assert captured.err.count("\n") == 1 and captured.err.startswith("spikeforge hardware list: --where")
    assert message in captured.err


def test_where_on_dates_and_flags(capsys):
    assert _run(["hardware", "list", "--where", "release>=2022", "--where", "release<2023"]) == 0
    out = capsys.readouterr().out
    assert "4 rows" in out  # the year's precision: every chip of 2022, none of 2021 or 2023
    assert [r[0] for r in _body_rows(out)] == ["ReckOn", "BrainScaleS-2", "SNE", "THOR"]
    assert _run(["hardware", "list", "--where", "release<=2021-08"]) == 0
    assert [r[0] for r in _body_rows(capsys.readouterr().out)][-2:] == ["µBrain", "SpiNNaker-2"]
    assert _run(["hardware", "list", "--where", "programmable_neurons=yes", "--where", "training_rules~*"]) == 0
    assert "4 rows" in capsys.readouterr().out  # SpiNNaker-1, SpiNNaker-2, Loihi-2, Darwin-3


# --------------------------------------------------------------- issue 10: no internal words, named sources
def test_list_and_show_name_published_sources(capsys):
    internal = re.compile(r"\bseed\b|caller|supplied|review table", re.I)
    for argv in (["hardware", "list"], *(["hardware", "show", p.name] for p in platforms())):
        assert _run(argv) == 0
        out = capsys.readouterr().out
        assert not internal.search(out), (argv, internal.search(out))
    assert _run(["hardware", "list"]) == 0
    flat = " ".join(capsys.readouterr().out.split())
    assert 'Values from the table of neuromorphic platforms in the essay "Spikes are the next digits" (Digica).' in flat
    assert "disagree with it for TrueNorth (release year), ODIN (J/SOP), ANP-I (release year)" in flat
    assert _run(["hardware", "show", "ODIN"]) == 0
    flat = " ".join(capsys.readouterr().out.split())
    assert "[1] the table of neuromorphic platforms in the essay" in flat
    assert "Where published sources disagree: - J/SOP: the Digica table gives 8.4 pJ/SOP" in flat
    assert "12.7 pJ/SOP" in flat
    assert _run(["hardware", "show", "Loihi-2"]) == 0
    flat = " ".join(capsys.readouterr().out.split())
    assert "Where published sources disagree: nowhere found" in flat and "matzavreview.com" in flat


def test_chart_now_option(tmp_path, capsys):
    out = tmp_path / "c.png"
    assert _run(["hardware", "chart", "--out", str(out), "--now", "2024"]) == 0
    assert "now = 2024" in capsys.readouterr().out
    assert _run(["hardware", "chart", "--out", str(out)]) == 0
    from spikeforge.hardware.chart import current_year, now_label

    assert f"now = {now_label(current_year())}" in " ".join(capsys.readouterr().out.split())
    with pytest.raises(SystemExit):
        _run(["hardware", "chart", "--now", "soon"])
    assert "--now: expected a year such as 2026" in capsys.readouterr().err

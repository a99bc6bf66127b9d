"""``spikeforge codes compare`` and ``spikeforge codes probe``."""

from __future__ import annotations

import json
import math

import pytest

from spikeforge.cli.main import main


def test_compare_writes_json_and_png(tmp_path, capsys):
    js, png = tmp_path / "c.json", tmp_path / "c.png"
    rc = main(["codes", "compare", "--codes", "rate,latency,current", "--steps", "10", "--levels", "4",
               "--samples", "1000", "--window-samples", "200", "--drop", "0.5", "--jitter", "2",
               "--json", str(js), "--plot", str(png), "--markdown", str(tmp_path / "c.md")])
    assert rc == 0
    data = json.loads(js.read_text())  # strict JSON: no NaN or Infinity
    assert set(data["codes"]) == {"rate", "latency"} and "current" in data["skipped"]
    row = data["codes"]["latency"]["sources"]["uniform"]
    assert row["bits_plugin"] == pytest.approx(2.0, abs=0.01)  # 4 levels, 10 steps: every level its own time
    assert row["bound_budget_bits"] == pytest.approx(math.log2(11))
    assert [d["p"] for d in row["drop"]] == [0.5] and [d["k"] for d in row["jitter"]] == [2]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| latency | one spike per value in 10 slots |" in (tmp_path / "c.md").read_text()
    out = capsys.readouterr().out
    assert "latency" in out and "skipped current" in out


def test_compare_bad_option(capsys):
    assert main(["codes", "compare", "--codes", "nope"]) == 2
    assert "unknown codes" in capsys.readouterr().err
    assert main(["codes"]) == 2


def test_probe_cli_writes_json_and_the_report_shows_it(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--dataset", "digits", "--hidden", "8", "--epochs", "1", "--out", str(run)]) == 0
    capsys.readouterr()
    js = tmp_path / "p.json"
    assert main(["codes", "probe", str(run), "--shuffles", "1", "--json", str(js)]) == 0
    data = json.loads(js.read_text())
    assert data == json.loads((run / "probe.json").read_text())
    layer = data["layers"]["1"]
    assert {"counts_accuracy", "timing_accuracy", "both_accuracy", "shuffle_drop"} <= set(layer)
    assert "counts acc" in capsys.readouterr().out
    assert "Counts or timing" in (run / "report.html").read_text()
    assert main(["codes", "probe", str(tmp_path / "missing")]) == 2
    assert "not a folder" in capsys.readouterr().err


def test_docs_tables_are_the_saved_results():
    """docs/codes.md shows the tables of benchmarks/results/codes_compare.json and encoder_table.json."""
    import importlib.util
    import sys
    from pathlib import Path

    from spikeforge.encode.compare import CodeComparison, comparison_markdown

    root = Path(__file__).resolve().parents[2]
    doc = (root / "docs" / "codes.md").read_text()
    data = json.loads((root / "benchmarks" / "results" / "codes_compare.json").read_text())
    result = CodeComparison(data["settings"], data["codes"], data["skipped"])
    for source in data["settings"]["sources"]:
        assert comparison_markdown(result, source) in doc, source
    spec = importlib.util.spec_from_file_location("encoder_table", root / "benchmarks" / "encoder_table.py")
    module = importlib.util.module_from_spec(spec)
    saved = list(sys.path)
    try:
        spec.loader.exec_module(module)  # it puts benchmarks/ on sys.path (for _quiet)
    finally:
        sys.path[:] = saved
    rows = json.loads((root / "benchmarks" / "results" / "encoder_table.json").read_text())["rows"]
    assert module.table(rows) in doc

"""The ``hardware`` CLI verb, on our own argparse parser (the main parser lists verbs separately)."""

from __future__ import annotations

import argparse

import pytest

from spikeforge.cli import hardware as hw_cli


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
    assert "532 neurons" in out and "fan-in 700 > 128" in out
    assert _run(["hardware", "fit", "--sizes", "10,5", "--platform", "ODIN", "--rule", "e-prop"]) == 0
    assert "ODIN: no" in capsys.readouterr().out
    assert _run(["hardware", "fit", "--sizes", "10"]) == 2
    assert "--sizes: expected at least two" in capsys.readouterr().err
    assert _run(["hardware", "fit", "--sizes", "10,5", "--neuron", "Izhikevich"]) == 2
    assert "neuron: expected one of" in capsys.readouterr().err

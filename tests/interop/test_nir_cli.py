"""The ``export`` and ``import`` verbs, registered on a parser of our own."""

import argparse
import json
import sys
import types

import nir
import pytest
import torch

from spikeforge.cli import export as export_verb
from spikeforge.cli import import_ as import_verb
from spikeforge.cli.export import load_run_model
from spikeforge.nets import Sequential
from spikeforge.neuron import LIF
from spikeforge.synapse import Linear, Recurrent


def _main(argv):
    parser = argparse.ArgumentParser(prog="spikeforge")
    sub = parser.add_subparsers(dest="verb")
    export_verb.register(sub)
    import_verb.register(sub)
    args = parser.parse_args(argv)
    return args.func(args)


def _model():
    torch.manual_seed(0)
    return Sequential(Linear(4, 6), Recurrent(6, LIF(reset="hard")), Linear(6, 3), LIF(reset="hard", threshold=0.4))


def _same(m1, m2):
    x = torch.rand(20, 2, 4) * 2
    with torch.no_grad():
        return torch.equal(m1(x), m2(x))


def test_export_model_file_then_import(tmp_path, capsys):
    m = _model()
    torch.save(m, tmp_path / "model.pt")
    out = tmp_path / "model.nir"
    assert _main(["export", str(tmp_path / "model.pt"), "--nir", str(out), "--discretization", "euler",
                  "--dt", "0.001"]) == 0
    assert "wrote" in capsys.readouterr().out
    g = nir.read(out)
    assert g.metadata["dt"] == 0.001 and type(g.nodes["1"]).__name__ == "NIRGraph"
    saved = tmp_path / "back.pt"
    assert _main(["import", str(out), "--save", str(saved)]) == 0
    text = capsys.readouterr().out
    assert "1: NIRGraph" in text and "lif: LIF" in text and "input->0" in text
    assert "spikeforge.discretization=euler" in text and "Recurrent(" in text
    assert _same(m, torch.load(saved, weights_only=False))


def test_export_run_folder_with_model_file(tmp_path):
    m = _model()
    (tmp_path / "config.json").write_text(json.dumps({"model": "rsnn"}))
    torch.save(m, tmp_path / "model.pt")
    assert _same(m, load_run_model(tmp_path))


def test_export_uses_the_trainers_run_loader_when_present(tmp_path, monkeypatch):
    m = _model()
    (tmp_path / "config.json").write_text("{}")
    calls = []

    def load_run(run_dir):
        calls.append(run_dir)
        return m

    learn = types.ModuleType("spikeforge.learn")
    trainer = types.ModuleType("spikeforge.learn.trainer")
    trainer.load_run = load_run
    monkeypatch.setitem(sys.modules, "spikeforge.learn", learn)
    monkeypatch.setitem(sys.modules, "spikeforge.learn.trainer", trainer)
    assert load_run_model(tmp_path) is m and calls == [tmp_path]
    assert _main(["export", str(tmp_path), "--nir", str(tmp_path / "run.nir")]) == 0


def test_incomplete_run_folder_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match=r"run\.json"):
        load_run_model(tmp_path)
    assert _main(["export", str(tmp_path), "--nir", str(tmp_path / "x.nir")]) == 2
    assert "spikeforge export: error:" in capsys.readouterr().err
    assert not (tmp_path / "x.nir").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="neither a training run"):
        load_run_model(empty)


def test_export_errors(tmp_path, capsys):
    with pytest.raises(FileNotFoundError, match="RUN: no run folder or model file"):
        load_run_model(tmp_path / "nope")
    torch.save({"weight": torch.zeros(2)}, tmp_path / "w.pt")
    with pytest.raises(ValueError, match=r"whole model saved with torch\.save"):
        load_run_model(tmp_path / "w.pt")
    (tmp_path / "m.txt").write_text("x")
    with pytest.raises(ValueError, match=r"model file \(.pt, .pth\)"):
        load_run_model(tmp_path / "m.txt")
    torch.save(Sequential(Linear(3, 3), LIF()), tmp_path / "soft.pt")  # soft reset: not expressible
    assert _main(["export", str(tmp_path / "soft.pt"), "--nir", str(tmp_path / "s.nir")]) == 2
    assert "layer '1' (LIF): NIR cannot express" in capsys.readouterr().err
    assert _main(["export", str(tmp_path / "soft.pt"), "--nir", str(tmp_path / "s.nir"), "--extensions"]) == 0
    with pytest.raises(SystemExit):
        _main(["export", str(tmp_path / "soft.pt"), "--nir", "x.nir", "--input-shape", "2,-1"])


def test_import_errors(tmp_path, capsys):
    assert _main(["import", str(tmp_path / "missing.nir")]) == 2
    assert "spikeforge import: error: path: no NIR file" in capsys.readouterr().err
    g = nir.NIRGraph.from_list(nir.Linear(weight=torch.eye(3).numpy()))
    nir.write(tmp_path / "foreign.nir", g)
    assert _main(["import", str(tmp_path / "foreign.nir")]) == 2
    assert "dt: the graph has no 'dt'" in capsys.readouterr().err
    assert _main(["import", str(tmp_path / "foreign.nir"), "--dt", "0.001"]) == 0
    assert "Linear(in_features=3, out_features=3, bias=False)" in capsys.readouterr().out

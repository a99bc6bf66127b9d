"""The ``export`` and ``import`` verbs, registered on a parser of our own."""

import argparse
import json
import math
import sys
import types

import h5py
import nir
import numpy as np
import pytest
import torch

from spikeforge.cli import export as export_verb
from spikeforge.cli import import_ as import_verb
from spikeforge.cli.export import load_run_model, model_file_classes
from spikeforge.interop import layers
from spikeforge.nets import Sequential
from spikeforge.neuron import IF, LI, LIF, AdaptiveLIF, CuBaLIF, Gaussian, GradedLIF, ResonateAndFire
from spikeforge.synapse import Conv1d, Conv2d, EventLinear, Flatten, Linear, Recurrent


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
    assert _same(m, load_run_model(saved))  # what import --save writes, export reads back safely


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
    assert "spikeforge import: error: FILE: no NIR file" in capsys.readouterr().err
    g = nir.NIRGraph.from_list(nir.Linear(weight=torch.eye(3).numpy()))
    nir.write(tmp_path / "foreign.nir", g)
    assert _main(["import", str(tmp_path / "foreign.nir")]) == 2
    assert "dt: the graph has no 'dt'" in capsys.readouterr().err
    assert _main(["import", str(tmp_path / "foreign.nir"), "--dt", "0.001"]) == 0
    assert "Linear(in_features=3, out_features=3, bias=False)" in capsys.readouterr().out


def _one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


def test_import_of_an_hdf5_file_that_is_not_nir(tmp_path, capsys):
    with h5py.File(tmp_path / "data.h5", "w") as f:
        f.create_dataset("spikes", data=[0.0, 1.0])
    assert _main(["import", str(tmp_path / "data.h5")]) == 2
    err = _one_line(capsys.readouterr().err)
    assert err.startswith("spikeforge import: error: FILE: ") and "is an HDF5 file but not a NIR graph" in err
    assert "KeyError" not in err and "'spikes'" in err


def test_cli_errors_name_the_options_typed(tmp_path, capsys):
    torch.save(_model(), tmp_path / "model.pt")
    assert _main(["export", str(tmp_path / "model.pt"), "--nir", str(tmp_path / "no" / "m.nir")]) == 2
    assert _one_line(capsys.readouterr().err).startswith("spikeforge export: error: --nir: the folder ")
    write = ["export", str(tmp_path / "model.pt"), "--nir", str(tmp_path / "m.nir")]
    assert _main(write) == 0
    capsys.readouterr()
    assert _main(["import", str(tmp_path / "m.nir"), "--dt", "0.5"]) == 2
    assert _one_line(capsys.readouterr().err).startswith("spikeforge import: error: --dt: the graph records dt=1")
    assert _main(["import", str(tmp_path / "m.nir"), "--save", str(tmp_path / "no" / "m.pt")]) == 2
    assert _one_line(capsys.readouterr().err).startswith("spikeforge import: error: --save: the folder ")


class _Payload:
    """Unpickling this runs ``exec``: what a hostile model file would do."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('ran')",))


@pytest.mark.parametrize("where", ["alone", "inside a model"])
def test_a_model_file_carrying_code_is_refused_without_running_it(where, tmp_path, capsys):
    marker = tmp_path / "marker"
    payload = _Payload(marker)
    if where == "inside a model":
        model = _model()
        model[0].hook = payload  # an attribute of a layer: pickled with the model
        payload = model
    torch.save(payload, tmp_path / "evil.pt")
    with pytest.raises(ValueError, match=r"RUN: refusing to load .*evil\.pt: it names .*exec") as e:
        load_run_model(tmp_path / "evil.pt")
    assert "\n" not in str(e.value)
    assert _main(["export", str(tmp_path / "evil.pt"), "--nir", str(tmp_path / "x.nir")]) == 2
    assert "refusing to load" in _one_line(capsys.readouterr().err)
    assert not marker.exists() and not (tmp_path / "x.nir").exists()


class _MyNet(torch.nn.Module):  # a user's own class: not on the allow-list
    def __init__(self):
        super().__init__()
        self.fc = Linear(2, 2)


def test_a_users_own_class_is_named_in_the_refusal(tmp_path):
    torch.save(_MyNet(), tmp_path / "mine.pt")
    with pytest.raises(ValueError, match=r"it names \S*_MyNet, which is not spikeforge or torch\.nn layer"):
        load_run_model(tmp_path / "mine.pt")


def _zoo():
    torch.manual_seed(0)
    with pytest.warns(DeprecationWarning, match="EventLinear"):  # (deprecated; exported as a Linear)
        event = EventLinear(4, 3)
    return {
        "mlp": Sequential(Linear(4, 6), LIF(reset="hard"), Linear(6, 3, bias=False), IF(reset="hard")),
        "recurrent": _model(),
        "cuba and LI": Sequential(Linear(4, 5), CuBaLIF(reset="hard", firing=Gaussian(0.3)), Linear(5, 2), LI()),
        "extensions": Sequential(Linear(4, 5), AdaptiveLIF(), Linear(5, 5), GradedLIF(), Linear(5, 3),
                                 ResonateAndFire()),
        "event": Sequential(event, LIF()),
        "conv": Sequential(Conv2d(2, 3, 3, padding=1), LIF(reset="hard"), layers.SumPool2d(2, 2, 0),
                           layers.AvgPool2d(1, 1, 0), Flatten(), Linear(12, 2), LIF()),
        "conv1d": Sequential(Conv1d(2, 3, 3), layers.Scale(torch.tensor(2.0)), layers.Integrator(torch.tensor(0.5)),
                             layers.CubaIntegrator(torch.tensor(0.5), torch.tensor(0.7)),
                             layers.Delay(torch.tensor(2)), layers.Threshold(torch.tensor(0.3))),
        "torch.nn": torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Dropout(0.0), Linear(4, 2), LIF()),
    }


@pytest.mark.parametrize("name", sorted(_zoo()))
def test_model_files_of_spikeforge_layers_load_safely_and_the_allow_list_is_restored(name, tmp_path):
    model = _zoo()[name].eval()
    torch.save(model, tmp_path / "m.pt")
    # a set: torch keeps the allow-list in one, so its order after a restore is hash order
    before = set(torch.serialization.get_safe_globals())
    loaded = load_run_model(tmp_path / "m.pt")
    assert set(torch.serialization.get_safe_globals()) == before
    shape = {"conv": (2, 4, 4), "conv1d": (2, 6)}.get(name, (4,))
    torch.manual_seed(1)
    x = torch.rand(12, 2, *shape) * 2
    with torch.no_grad():
        torch.manual_seed(2)
        want = model(x)
        torch.manual_seed(2)
        got = loaded(x)
    assert torch.equal(want, got)


def test_the_allow_list_holds_classes_only():
    classes = model_file_classes()
    assert all(isinstance(c, type) for c in classes)
    names = {f"{c.__module__}.{c.__qualname__}" for c in classes}
    assert {"spikeforge.nets.sequential.Sequential", "spikeforge.neuron.dynamics.NeuronSpec",
            "spikeforge.neuron.firing.Heaviside", "torch.nn.modules.linear.Linear"} <= names
    assert not any(n.startswith(("builtins.", "os.", "subprocess.")) for n in names)


def test_export_fold_r(tmp_path, capsys):
    m = Sequential(Linear(4, 6), LIF(reset="hard", tau=4.0), Linear(6, 3), LIF(reset="hard", threshold=0.4))
    torch.save(m, tmp_path / "model.pt")
    out = tmp_path / "folded.nir"
    argv = ["export", str(tmp_path / "model.pt"), "--nir", str(out), "--discretization", "euler", "--dt", "1e-3"]
    assert _main([*argv, "--fold-r"]) == 0
    assert "r folded into the weights" in capsys.readouterr().out
    g = nir.read(out)
    assert (g.nodes["1"].r == 1).all() and (g.nodes["3"].r == 1).all()
    r = 1 / (1 - math.exp(-1 / 4))  # R = 1/(1 − λ) of τ = 4 steps
    assert np.isclose(g.nodes["0"].weight[0, 0], float(m[0].weight[0, 0].detach()) * r, rtol=1e-6, atol=0)
    first = Sequential(LIF(reset="hard", shape=(3,)))
    torch.save(first, tmp_path / "first.pt")
    assert _main(["export", str(tmp_path / "first.pt"), "--nir", str(out), "--fold-r"]) == 2
    assert "error: --fold-r: layer '0' (LIF) follows the input" in _one_line(capsys.readouterr().err)

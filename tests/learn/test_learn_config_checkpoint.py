"""TrainConfig validation and round trips; atomic safetensors checkpoints."""

import json
import os

import pytest
import torch

from spikeforge.learn.checkpoint import atomic_write_text, load_checkpoint, save_checkpoint
from spikeforge.learn.config import TrainConfig, load_config
from spikeforge.learn.models import build_model


def test_default_neuron_parameters_depend_on_the_preset():
    assert TrainConfig().neuron_params == {"tau": 5.0, "reset": "hard"}
    assert TrainConfig(neuron="IF").neuron_params == {}
    assert TrainConfig(neuron_params={"tau": 3.0}).neuron_params == {"tau": 3.0}
    lif = build_model(TrainConfig(hidden=[4]), 3, 2)[1]
    assert lif.spec.reset == "hard" and float(lif.tau) == 5.0


def test_config_round_trip(tmp_path):
    cfg = TrainConfig(hidden=[32, 16], neuron="CuBaLIF", neuron_params={"tau": 5.0}, learnable=["tau"], epochs=3)
    cfg.save(tmp_path / "config.json")
    back = load_config(tmp_path)
    assert back == cfg
    assert json.loads((tmp_path / "config.json").read_text())["hidden"] == [32, 16]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("epochs", 0, "config epochs: expected an integer >= 1, got 0"),
        ("hidden", [], "config hidden: expected a non-empty list"),
        ("neuron", "HodgkinHuxley", "config neuron: expected one of"),
        ("loss", "median", "config loss: expected one of"),
        ("lr", -1.0, "config lr: expected a number > 0, got -1.0"),
        ("method", "nonesuch", "config method: expected one of"),
        ("model", "transformer", "config model: expected one of"),
        ("device", "tpu", "config device: expected"),
        ("refit", "yes", "config refit: expected true or false, got 'yes'"),
    ],
)
def test_config_errors(field, value, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**{field: value})


def test_unknown_field_and_bad_file(tmp_path):
    with pytest.raises(ValueError, match=r"unknown field\(s\) \['epoch'\]"):
        TrainConfig.from_dict({"epoch": 3})
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"config\.json: not valid JSON"):
        load_config(tmp_path / "config.json")
    with pytest.raises(FileNotFoundError, match="config file not found"):
        load_config(tmp_path / "missing.json")


def test_neuron_params_checked_against_the_preset():
    cfg = TrainConfig(neuron_params={"tau_sin": 3.0})
    with pytest.raises(ValueError, match=r"neuron_params: \['tau_sin'\] are not parameters of LIF"):
        build_model(cfg, 4, 2)
    with pytest.raises(ValueError, match="ResonateAndFire has a complex potential"):
        build_model(TrainConfig(neuron="ResonateAndFire"), 4, 2)


def test_build_model_shapes_and_per_neuron():
    model = build_model(TrainConfig(hidden=[8, 5], per_neuron=True, learnable=["tau", "threshold"]), 4, 3)
    out = model(torch.rand(7, 2, 4))
    assert out.shape == (7, 2, 3)
    taus = [p for n, p in model.named_parameters() if n.endswith("tau")]
    assert [tuple(t.shape) for t in taus] == [(8,), (5,)]
    rec = build_model(TrainConfig(model="recurrent", hidden=[6]), 4, 3)
    assert any(n.endswith("weight") and p.shape == (6, 6) for n, p in rec.named_parameters())


def test_checkpoint_round_trip_with_optimizer_and_rng(tmp_path):
    torch.manual_seed(0)
    model = build_model(TrainConfig(hidden=[8]), 4, 3)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    model(torch.rand(5, 2, 4)).sum().backward()
    opt.step()
    gen = torch.Generator().manual_seed(3)
    path = save_checkpoint(tmp_path / "c.safetensors", model, optimizer=opt,
                           rng={"torch": torch.get_rng_state(), "data": gen.get_state()}, record={"epoch": 4})
    assert [p.name for p in tmp_path.iterdir()] == ["c.safetensors"]  # no temporary file left behind
    ck = load_checkpoint(path)
    assert ck["record"] == {"epoch": 4}
    for k, v in model.state_dict().items():
        assert torch.equal(ck["model"][k], v)
    opt2 = torch.optim.Adam(build_model(TrainConfig(hidden=[8]), 4, 3).parameters(), lr=5.0)
    opt2.load_state_dict(ck["optimizer"])
    s1, s2 = opt.state_dict(), opt2.state_dict()
    assert s2["param_groups"][0]["lr"] == 1e-2
    for idx in s1["state"]:
        for name, value in s1["state"][idx].items():
            assert torch.equal(torch.as_tensor(value), torch.as_tensor(s2["state"][idx][name]))
    gen2 = torch.Generator()
    gen2.set_state(ck["rng"]["data"])
    assert torch.equal(torch.rand(3, generator=gen), torch.rand(3, generator=gen2))


def test_checkpoint_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x00garbage")
    with pytest.raises(ValueError, match=r"bad.safetensors: not a readable safetensors checkpoint"):
        load_checkpoint(bad)
    with pytest.raises(FileNotFoundError, match=r"missing\.safetensors: checkpoint not found"):
        load_checkpoint(tmp_path / "missing.safetensors")


def test_atomic_write_replaces_and_cleans_up(tmp_path, monkeypatch):
    target = tmp_path / "f.txt"
    atomic_write_text(target, "old")

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_text(target, "new")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.txt"]

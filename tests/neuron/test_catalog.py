"""Neurons are discovered from their declarations (spikeforge.neuron.catalog): the presets, every model file
of spikeforge.neuron.models, and plug-ins declared as entry points; config, CLI and hardware fit ask it."""

from importlib.metadata import EntryPoint
from typing import NamedTuple

import pytest
import torch

import spikeforge as sf
from spikeforge import _plugins
from spikeforge.hardware.fit import mlp as fit_mlp
from spikeforge.learn.config import ConfigError, TrainConfig
from spikeforge.learn.models import make_neuron_factory
from spikeforge.neuron import catalog
from spikeforge.neuron.models import ModelNeuron, NeuronModel, Param, fire


def test_presets_and_every_model_file_are_found():
    found = catalog.neuron_classes()
    assert list(found)[:6] == ["IF", "LIF", "CuBaLIF", "AdaptiveLIF", "ResonateAndFire", "GradedLIF"]
    assert {"ExpIF", "AdEx", "Izhikevich"} <= set(found)
    assert found["AdEx"] is sf.AdEx and "Neuron" not in found and "ModelNeuron" not in found


class _ToyState(NamedTuple):
    v: torch.Tensor


def _toy_step(x_t, state, params, config):
    v = params.leak * state.v + x_t
    s = fire(v - params.theta, config.firing)
    return s, _ToyState(v=v * (1 - s.detach()))


def _toy_rest(params, zeros):
    return _ToyState(v=zeros)


class PluginNeuron(ModelNeuron):
    """A model from another package, declared as an entry point."""

    model = NeuronModel(
        name="PluginNeuron", state=_ToyState,
        params=(Param("leak", 0.9, "positive", learnable=True), Param("theta", 1.0, "positive")),
        features=frozenset({"real", "binary", "deterministic", "reset:hard"}), neuron_type="LIF",
        step=_toy_step, rest=_toy_rest,
    )


def _with_plugin(monkeypatch):
    ep = EntryPoint(name="PluginNeuron", value=f"{__name__}:PluginNeuron", group=catalog.ENTRY_POINT_GROUP)
    monkeypatch.setattr(_plugins, "entry_points", lambda group: [ep] if group == catalog.ENTRY_POINT_GROUP else [])


def test_a_plugin_model_is_accepted_by_config_training_and_fit(monkeypatch):
    _with_plugin(monkeypatch)
    assert catalog.neuron_classes()["PluginNeuron"] is PluginNeuron
    cfg = TrainConfig(neuron="PluginNeuron", neuron_params={"leak": 0.8})
    neuron = make_neuron_factory(cfg)(5)
    assert isinstance(neuron, PluginNeuron) and float(neuron.leak) == pytest.approx(0.8)
    net = fit_mlp([4, 3, 2], neuron="PluginNeuron")
    assert sum(isinstance(m, PluginNeuron) for m in net.modules()) == 2
    with pytest.raises(ConfigError, match="neuron"):
        TrainConfig(neuron="NoSuchNeuron")


def test_a_broken_plugin_is_named_and_skipped(monkeypatch):
    eps = [EntryPoint(name="Bad", value="math:pi", group=catalog.ENTRY_POINT_GROUP),
           EntryPoint(name="Gone", value="no_such_package_xyz:Neuron", group=catalog.ENTRY_POINT_GROUP)]
    monkeypatch.setattr(_plugins, "entry_points", lambda group: eps if group == catalog.ENTRY_POINT_GROUP else [])
    with pytest.warns(RuntimeWarning, match=r"entry point 'Bad'.*expected a neuron class"), \
            pytest.warns(RuntimeWarning, match=r"entry point 'Gone'.*failed to load"):
        found = catalog.neuron_classes()
    assert "Bad" not in found and "Gone" not in found and "LIF" in found


def test_declared_models_train_through_the_config():
    cfg = TrainConfig(neuron="AdEx", firing="gaussian", sigma=2.0)
    neuron = make_neuron_factory(cfg)(4)
    assert isinstance(neuron, sf.AdEx) and neuron.firing == sf.Gaussian(2.0)

"""The general neuron's declaration (spikeforge.neuron.general): Neuron.__init__ checks against it, and every
neuron module answers features / neuron_type / runs_on."""

import inspect

import pytest
from torch import nn

import spikeforge as sf
from spikeforge.neuron import general
from spikeforge.neuron.models.base import Param


def test_the_declaration_names_the_neurons_arguments():
    args = inspect.signature(sf.Neuron).parameters
    assert [p.name for p in general.PARAMS] == ["tau", "decay", "omega", "threshold", "tau_syn", "tau_adapt",
                                                "adapt_scale"]
    for p in general.PARAMS:
        assert isinstance(p, Param) and p.doc and p.name in args
        assert args[p.name].default == p.default  # the declared default is the constructor's
    assert general.LEARNABLE == ("tau", "decay", "omega", "threshold", "tau_syn", "tau_adapt")
    assert {p.name for p in general.PARAMS if p.constraint == "positive"} == {"tau", "threshold", "tau_syn",
                                                                                "tau_adapt"}
    assert general.param("adapt_scale").constraint == "nonnegative"
    with pytest.raises(KeyError):
        general.param("dt")
    with pytest.raises(ValueError, match=r"Param\.constraint"):
        general.OptionalParam("tau", None, "odd")


@pytest.mark.parametrize("name", ["tau", "threshold", "tau_syn", "tau_adapt"])
def test_positive_parameters_are_checked(name):
    with pytest.raises(ValueError, match=rf"^{name}: expected positive finite value\(s\), got -1.0$"):
        sf.Neuron(**{name: -1.0})


def test_nonnegative_and_learnable_follow_the_declaration(monkeypatch):
    with pytest.raises(ValueError, match=r"^adapt_scale: expected >= 0, got -0.5$"):
        sf.Neuron(tau_adapt=5.0, adapt_scale=-0.5)
    with pytest.raises(ValueError, match=r"learnable: expected names among .*'tau_adapt'\), got \['adapt_scale'\]"):
        sf.Neuron(tau_adapt=5.0, adapt_scale=0.5, learnable=["adapt_scale"])
    assert isinstance(sf.Neuron(tau=2.0, omega=1.0, learnable=["omega"]).omega, nn.Parameter)
    # the constructor asks the declaration, not a list of its own
    monkeypatch.setattr(general, "LEARNABLE", ("tau", "threshold"))
    with pytest.raises(ValueError, match=r"learnable: expected names among \('tau', 'threshold'\), got \['omega'\]"):
        sf.Neuron(tau=2.0, omega=1.0, learnable=["omega"])
    positive_omega = tuple(general.OptionalParam("omega", None, "positive", True) if p.name == "omega" else p
                           for p in general.PARAMS)
    monkeypatch.setattr(general, "PARAMS", positive_omega)
    with pytest.raises(ValueError, match=r"^omega: expected positive finite value\(s\), got -1.0$"):
        sf.Neuron(tau=2.0, omega=-1.0)

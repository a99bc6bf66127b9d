"""The general neuron's declaration (spikeforge.neuron.general): Neuron.__init__ checks against it, and every
neuron module answers features / neuron_type / runs_on."""

import inspect

import pytest
import torch
from torch import nn

import spikeforge as sf
from spikeforge.neuron import general
from spikeforge.neuron.dynamics import draw_noise, draw_orders
from spikeforge.neuron.features import required_features
from spikeforge.neuron.firing import Cauchy, Gaussian
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


_CONFIGS = {
    "LIF": dict(tau=5.0),
    "IF": dict(),
    "CuBa": dict(tau=5.0, tau_syn=2.0),
    "graded": dict(tau=5.0, max_spikes=3),
    "complex": dict(tau=5.0, omega=0.5),
    "adaptive": dict(tau=5.0, tau_adapt=20.0, adapt_scale=0.2),
    "stochastic": dict(tau=5.0, stochastic=True, firing=Gaussian(0.3)),
    "hard, fire-first": dict(tau=5.0, reset="hard", order="fire-first", detach_reset=True),
    "refractory": dict(tau=5.0, reset="refractory", firing=Cauchy(0.5)),
}


@pytest.mark.parametrize("name", sorted(_CONFIGS))
def test_features_are_what_a_call_requires(name):
    """Neuron.features = the features a call of it requires (neuron.features.required_features on the state,
    parameters and draws of a real call) plus its hardware words."""
    n = sf.Neuron(**_CONFIGS[name])
    x = torch.rand(4, 2, 3)
    state = n.initial_state(x)
    params = n.params(x.dtype, x.device)
    noise = draw_noise(n.spec, tuple(x.shape), dtype=x.dtype, device=x.device, generator=None)
    orders = draw_orders(n.spec, x.shape[0], None)
    call = required_features(x, state, params, n.spec, noise, orders, None)
    words = n.features - call
    assert call <= n.features and words == general.hardware_features(call) and "LIF" in words
    assert n.neuron_type == "LIF"
    special = words & set(general.PROGRAMMABLE_ONLY)
    assert n.runs_on == (frozenset() if special else general.LIF_TYPES)


def test_hardware_words_and_runs_on_of_the_presets():
    def words(n):
        return n.features & {"LIF", "CuBa", *general.PROGRAMMABLE_ONLY}

    assert words(sf.LIF()) == {"LIF"} and sf.LIF().runs_on == {"LIF", "exp-LIF", "AdEx-IF"}
    assert words(sf.CuBaLIF()) == {"LIF", "CuBa"} and sf.CuBaLIF().runs_on == general.LIF_TYPES
    assert words(sf.GradedLIF()) == {"LIF", "graded spikes"} and sf.GradedLIF().runs_on == frozenset()
    assert words(sf.ResonateAndFire()) == {"LIF", "complex state"} and not sf.ResonateAndFire().runs_on
    assert words(sf.AdaptiveLIF()) == {"LIF", "adaptive threshold"} and not sf.AdaptiveLIF().runs_on
    assert "complex" in sf.Neuron(decay=0.9 + 0.1j).features and "real" in sf.Neuron(decay=0.9).features


def test_declared_models_answer_from_their_declaration():
    for cls in (sf.ExpIF, sf.AdEx, sf.Izhikevich):
        m = cls()
        assert m.features == cls.model.features and f"model:{cls.model.name}" in m.features
        assert m.neuron_type == cls.model.neuron_type and m.runs_on == cls.model.runs_on
    assert sf.AdEx().neuron_type == "AdEx-IF" and sf.ExpIF().runs_on == {"exp-LIF", "AdEx-IF"}

"""hardware fit asks any neuron module what it is (features, neuron_type, runs_on), not its class or spec."""

from torch import nn

import spikeforge as sf
from spikeforge.hardware.fit import fit, model_needs
from spikeforge.synapse import Linear


class ToyNeuron(nn.Module):
    """A neuron module fit.py has never heard of: it only says what it is."""

    def __init__(self, features=frozenset({"real", "binary"}), neuron_type="toy-IF",
                 runs_on=frozenset({"LIF", "exp-LIF"})):
        super().__init__()
        self._declared = (frozenset(features), neuron_type, frozenset(runs_on))

    @property
    def features(self) -> frozenset[str]:
        return self._declared[0]

    @property
    def neuron_type(self) -> str:
        return self._declared[1]

    @property
    def runs_on(self) -> frozenset[str]:
        return self._declared[2]

    def forward(self, x):
        return (x > 0).to(x.dtype)


def _net(*neurons):
    layers = []
    for k, n in enumerate(neurons):
        layers += [Linear(8 if k == 0 else 4, 4), n]
    return nn.Sequential(*layers)


def test_a_toy_neuron_is_fitted_by_what_it_declares():
    net = _net(ToyNeuron())
    needs = model_needs(net)
    assert needs.features == ("toy-IF",) and needs.runs_on == (("toy-IF", frozenset({"LIF", "exp-LIF"})),)
    # its runs_on: Loihi-1 (LIF) and TrueNorth (exp-LIF) yes, BrainScaleS-2 (AdEx-IF) no, Loihi-2 programmable
    assert fit(net, "Loihi-1").neuron_model == "yes" and fit(net, "TrueNorth").neuron_model == "yes"
    v = fit(net, "BrainScaleS-2")
    assert v.neuron_model == "no"
    assert "neuron type AdEx-IF cannot run toy-IF (needs LIF, exp-LIF)" in v.reasons[0]
    assert fit(net, "Loihi-2").neuron_model == "yes"
    # with the general neuron: LIF first, and the chip must run both
    mixed = _net(sf.LIF(), ToyNeuron())
    assert model_needs(mixed).features == ("LIF", "toy-IF")
    assert fit(mixed, "Loihi-1").neuron_model == "yes" and fit(mixed, "BrainScaleS-2").neuron_model == "no"


def test_a_toy_neurons_hardware_words_decide():
    cuba = _net(ToyNeuron(features={"real", "CuBa"}))
    assert model_needs(cuba).features == ("CuBa", "toy-IF")
    assert fit(cuba, "Loihi-1").neuron_model == "yes"  # CuBa synapses listed
    assert fit(cuba, "ODIN").neuron_model == "unknown"  # LIF, synapse type blank
    graded = _net(ToyNeuron(features={"graded spikes"}))
    v = fit(graded, "Loihi-1")
    assert v.neuron_model == "no" and "graded spikes need programmable neurons (chip: LIF)" in v.reasons[0]
    assert fit(graded, "Loihi-2").neuron_model == "yes"
    nowhere = _net(ToyNeuron(runs_on=frozenset()))
    v = fit(nowhere, "Loihi-1")
    assert v.neuron_model == "no" and "toy-IF needs programmable neurons (chip: LIF)" in v.reasons[0]
    assert fit(nowhere, "SpiNNaker-1").neuron_model == "yes"


def test_fit_asks_the_general_neurons_properties_not_its_spec():
    class ClaimsGraded(sf.LIF):
        @property
        def features(self):
            return super().features | {"graded spikes"}

    assert fit(_net(sf.LIF()), "Loihi-1").neuron_model == "yes"
    v = fit(_net(ClaimsGraded()), "Loihi-1")
    assert v.neuron_model == "no" and "graded spikes need programmable" in v.reasons[0]
    assert model_needs(_net(ClaimsGraded())).features == ("LIF", "graded spikes")


def test_modules_that_are_not_neurons_are_ignored():
    # synapse.Recurrent has an int ``features`` (and no neuron_type): only its neuron is asked
    rec = sf.synapse.Recurrent(4, sf.GradedLIF())
    assert isinstance(rec.features, int)
    net = nn.Sequential(Linear(8, 4), rec, nn.ReLU())
    assert model_needs(net).features == ("LIF", "graded spikes")
    assert model_needs(nn.Sequential(Linear(8, 4), nn.ReLU())).features == ("LIF",)

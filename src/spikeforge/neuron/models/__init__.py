"""Neuron models as one-file plug-ins (the declaration interface: :mod:`spikeforge.neuron.models.base`)."""

from spikeforge.neuron.models.adex import ADEX, AdEx, AdExState
from spikeforge.neuron.models.adlif import ADLIF, AdLIF, AdLIFState
from spikeforge.neuron.models.base import ModelNeuron, NeuronModel, Param, StepConfig, check_model_state, fire
from spikeforge.neuron.models.expif import EXPIF, ExpIF, ExpIFState
from spikeforge.neuron.models.izhikevich import IZHIKEVICH, Izhikevich, IzhikevichState

__all__ = [
    "ADEX",
    "ADLIF",
    "EXPIF",
    "IZHIKEVICH",
    "AdEx",
    "AdExState",
    "AdLIF",
    "AdLIFState",
    "ExpIF",
    "ExpIFState",
    "Izhikevich",
    "IzhikevichState",
    "ModelNeuron",
    "NeuronModel",
    "Param",
    "StepConfig",
    "check_model_state",
    "fire",
]

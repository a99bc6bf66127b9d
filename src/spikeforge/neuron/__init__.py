"""The general spiking neuron: firing models, dynamics (pure functions) and modules."""

from spikeforge.neuron import firing
from spikeforge.neuron.dynamics import (
    NeuronParams,
    NeuronSpec,
    NeuronState,
    StepTrace,
    neuron_step,
    reference_scan,
    traced_step,
)
from spikeforge.neuron.firing import Cauchy, FiringModel, Gaussian, Heaviside, Logistic
from spikeforge.neuron.models import AdEx, AdLIF, ExpIF, Izhikevich, ModelNeuron, NeuronModel
from spikeforge.neuron.modules import (
    IF,
    LI,
    LIF,
    AdaptiveLIF,
    CuBaLIF,
    GradedLIF,
    LIState,
    Neuron,
    ResonateAndFire,
)
from spikeforge.neuron.primitives import CubaIntegrator, CubaLIState, Integrator, Threshold
from spikeforge.neuron.stepping import Recording, record, step

__all__ = [
    "IF",
    "LI",
    "LIF",
    "AdEx",
    "AdLIF",
    "AdaptiveLIF",
    "Cauchy",
    "CuBaLIF",
    "CubaIntegrator",
    "CubaLIState",
    "ExpIF",
    "FiringModel",
    "Gaussian",
    "GradedLIF",
    "Heaviside",
    "Integrator",
    "Izhikevich",
    "LIState",
    "Logistic",
    "ModelNeuron",
    "Neuron",
    "NeuronModel",
    "NeuronParams",
    "NeuronSpec",
    "NeuronState",
    "Recording",
    "ResonateAndFire",
    "StepTrace",
    "Threshold",
    "firing",
    "neuron_step",
    "record",
    "reference_scan",
    "step",
    "traced_step",
]

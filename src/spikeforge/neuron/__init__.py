"""The general spiking neuron: firing models, dynamics (pure functions) and modules."""

from spikeforge.neuron import firing
from spikeforge.neuron.dynamics import NeuronParams, NeuronSpec, NeuronState, reference_scan
from spikeforge.neuron.firing import Cauchy, FiringModel, Gaussian, Heaviside, Logistic
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

__all__ = [
    "IF",
    "LI",
    "LIF",
    "AdaptiveLIF",
    "Cauchy",
    "CuBaLIF",
    "CubaIntegrator",
    "CubaLIState",
    "FiringModel",
    "Gaussian",
    "GradedLIF",
    "Heaviside",
    "Integrator",
    "LIState",
    "Logistic",
    "Neuron",
    "NeuronParams",
    "NeuronSpec",
    "NeuronState",
    "ResonateAndFire",
    "Threshold",
    "firing",
    "reference_scan",
]

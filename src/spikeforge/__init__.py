"""spikeforge: build, train, measure and deploy spiking neural networks for neuromorphic hardware."""

from spikeforge import kernels, nets, neuron, synapse
from spikeforge._version import __version__
from spikeforge.neuron import (
    IF,
    LI,
    LIF,
    AdaptiveLIF,
    Cauchy,
    CuBaLIF,
    Gaussian,
    GradedLIF,
    Heaviside,
    Logistic,
    Neuron,
    NeuronState,
    ResonateAndFire,
)

__all__ = [
    "IF",
    "LI",
    "LIF",
    "AdaptiveLIF",
    "Cauchy",
    "CuBaLIF",
    "Gaussian",
    "GradedLIF",
    "Heaviside",
    "Logistic",
    "Neuron",
    "NeuronState",
    "ResonateAndFire",
    "__version__",
    "kernels",
    "nets",
    "neuron",
    "synapse",
]

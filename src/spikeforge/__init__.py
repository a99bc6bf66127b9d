"""spikeforge: build, train, measure and deploy spiking neural networks for neuromorphic hardware."""

# _interrupt first: a Ctrl-C while the spikeforge command imports torch ends it quietly (see that module).
from spikeforge import _interrupt, kernels, nets, neuron, synapse  # noqa: F401
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
    LIState,
    Logistic,
    Neuron,
    NeuronState,
    Recording,
    ResonateAndFire,
    record,
    step,
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
    "LIState",
    "Logistic",
    "Neuron",
    "NeuronState",
    "Recording",
    "ResonateAndFire",
    "__version__",
    "kernels",
    "nets",
    "neuron",
    "record",
    "step",
    "synapse",
]

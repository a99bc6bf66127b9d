"""The NIR primitives' layers, re-exported from the core where they live."""

from spikeforge.neuron.primitives import CubaIntegrator, Integrator, Threshold
from spikeforge.synapse.delay import Delay
from spikeforge.synapse.pool import AvgPool2d, Scale, SumPool2d

__all__ = ["AvgPool2d", "CubaIntegrator", "Delay", "Integrator", "Scale", "SumPool2d", "Threshold"]

"""Synapses. Feed-forward ones act on whole sequences ``[T, B, ...]`` at once (one GEMM / convolution over
all ``T·B`` rows); the recurrent one runs inside the neuron scan. :class:`EventLinear` is the event-driven
linear synapse (its kernels live in :mod:`spikeforge.kernels.event`)."""

from spikeforge.kernels.event import EventLinear
from spikeforge.synapse.delay import Delay
from spikeforge.synapse.layers import Conv1d, Conv2d, Flatten, Linear, Recurrent
from spikeforge.synapse.pool import AvgPool2d, Scale, SumPool2d

__all__ = [
    "AvgPool2d",
    "Conv1d",
    "Conv2d",
    "Delay",
    "EventLinear",
    "Flatten",
    "Linear",
    "Recurrent",
    "Scale",
    "SumPool2d",
]

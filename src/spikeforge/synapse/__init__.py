"""Synapses. Feed-forward ones act on whole sequences ``[T, B, ...]`` at once (one GEMM / convolution over
all ``T·B`` rows); the recurrent one runs inside the neuron scan. :class:`Linear` takes the event-driven path
for sparse input (its kernels live in :mod:`spikeforge.kernels.event`); synaptic operations are counted by
:func:`spikeforge.hardware.count_ops` (:class:`EventLinear`, which stored them on the module, is deprecated)."""

from spikeforge.synapse.delay import Delay, DelayedLinear
from spikeforge.synapse.kernel_bank import KernelBank
from spikeforge.synapse.layers import Conv1d, Conv2d, EventLinear, Flatten, Linear, Recurrent, RecurrentModelState
from spikeforge.synapse.pool import AvgPool2d, Scale, SumPool2d
from spikeforge.synapse.temporal import TemporalConv

__all__ = [
    "AvgPool2d",
    "Conv1d",
    "Conv2d",
    "Delay",
    "DelayedLinear",
    "EventLinear",
    "Flatten",
    "KernelBank",
    "Linear",
    "Recurrent",
    "RecurrentModelState",
    "Scale",
    "SumPool2d",
    "TemporalConv",
]

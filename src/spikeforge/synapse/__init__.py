"""Synapses. Feed-forward ones act on whole sequences ``[T, B, ...]`` at once (one GEMM / convolution over
all ``T·B`` rows); the recurrent one runs inside the neuron scan."""

from spikeforge.synapse.layers import Conv1d, Conv2d, Flatten, Linear, Recurrent

__all__ = ["Conv1d", "Conv2d", "Flatten", "Linear", "Recurrent"]

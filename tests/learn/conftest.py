"""Fixtures of the training-method tests."""

import pytest
from torch import nn
from torch.nn import functional as F

import spikeforge as sf


def _step_window(layers, x, t0, t1, states):
    """Steps ``t0 .. t1 - 1`` of ``x [T, B, C]`` through ``layers`` by hand, one step at a time (a linear layer
    as ``F.linear``, a neuron with :func:`spikeforge.step`), from ``states`` detached (the window's start);
    returns the outputs per step and the states after the window."""
    states = [None if s is None else type(s)(*(None if v is None else v.detach() for v in s)) for s in states]
    outs = []
    for t in range(t0, t1):
        h = x[t]
        for j, layer in enumerate(layers):
            if isinstance(layer, nn.Linear):
                h = F.linear(h, layer.weight, layer.bias)
            else:
                h, states[j] = sf.step(layer, h, states[j])
        outs.append(h)
    return outs, states


@pytest.fixture
def step_window():
    """:func:`_step_window`: a reference for the window-by-window methods (tbptt, fptt)."""
    return _step_window

"""``Sequential`` for time-major spiking networks, and builders for the usual ones."""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

import torch
from torch import nn

from spikeforge.neuron.firing import Gaussian
from spikeforge.neuron.modules import LI, LIF, Neuron
from spikeforge.synapse.layers import Linear, Recurrent

__all__ = ["Sequential", "mlp", "rsnn"]

_STATEFUL = (Neuron, LI, Recurrent)


def _stateful(m: nn.Module) -> bool:
    return isinstance(m, _STATEFUL) or getattr(m, "stateful", False)


class Sequential(nn.Sequential):
    """Layers applied in turn to a whole sequence ``[T, B, ...]``.

    ``net(x)`` starts every stateful layer (neurons, readouts) from rest. ``net(x, state,
    return_state=True)`` takes and returns a tuple with one entry per layer, for streaming a long
    sequence in chunks: each stateful layer's own state type (a :class:`~spikeforge.neuron.NeuronState`
    for neurons, :class:`~spikeforge.neuron.LIState` for ``LI``/``Integrator``,
    :class:`~spikeforge.neuron.CubaLIState` for ``CubaIntegrator``), ``None`` for stateless layers.
    """

    def forward(self, x: torch.Tensor, state: tuple | None = None, return_state: bool = False):
        layers = list(self)
        if state is not None and (not isinstance(state, tuple) or len(state) != len(layers)):
            got = f"a tuple of {len(state)}" if isinstance(state, tuple) else type(state).__name__
            raise ValueError(f"state: expected a tuple with one entry per layer ({len(layers)}), got {got}")
        new_state = []
        for k, layer in enumerate(layers):
            if _stateful(layer):
                x, st = layer(x, None if state is None else state[k], return_state=True)
                new_state.append(st)
            else:
                x = layer(x)
                new_state.append(None)
        return (x, tuple(new_state)) if return_state else x


def _neuron_factory(neuron: Neuron | Callable[[], nn.Module] | None) -> Callable[[], nn.Module]:
    if neuron is None:
        template: nn.Module = LIF(firing=Gaussian(0.5))
        return lambda: copy.deepcopy(template)
    if isinstance(neuron, nn.Module):
        return lambda: copy.deepcopy(neuron)
    if callable(neuron):
        return neuron
    raise TypeError(f"neuron: expected a Neuron module (used as a template) or a factory, got {neuron!r}")


def _check_sizes(sizes: Sequence[int]) -> list[int]:
    sizes = list(sizes)
    if len(sizes) < 2 or any(not isinstance(s, int) or isinstance(s, bool) or s < 1 for s in sizes):
        raise ValueError(f"sizes: expected at least two positive integers [in, ..., out], got {sizes!r}")
    return sizes


def _readout(readout: str, make: Callable[[], nn.Module], tau: float) -> list[nn.Module]:
    if readout == "li":
        return [LI(tau=tau)]
    if readout == "spikes":
        return [make()]
    if readout == "none":
        return []
    raise ValueError(f"readout: expected 'li', 'spikes' or 'none', got {readout!r}")


def _synapse_factory(synapse: str) -> Callable[[int, int, bool], nn.Module]:
    if synapse in ("auto", "dense", "event"):
        return lambda n_in, n_out, bias: Linear(n_in, n_out, bias=bias, mode=synapse)
    raise ValueError(f"synapse: expected 'auto', 'dense' or 'event', got {synapse!r}")


def _stack(sizes, neuron, readout, bias, readout_tau, recurrent: bool, synapse: str) -> Sequential:
    sizes = _check_sizes(sizes)
    make = _neuron_factory(neuron)
    make_synapse = _synapse_factory(synapse)
    layers: list[nn.Module] = []
    for k in range(len(sizes) - 1):
        layers.append(make_synapse(sizes[k], sizes[k + 1], bias))
        if k < len(sizes) - 2:
            layers.append(Recurrent(sizes[k + 1], make()) if recurrent else make())
    layers += _readout(readout, make, readout_tau)
    return Sequential(*layers)


def mlp(
    sizes: Sequence[int],
    neuron: Neuron | Callable[[], nn.Module] | None = None,
    readout: str = "li",
    *,
    bias: bool = True,
    readout_tau: float = 10.0,
    synapse: str = "auto",
) -> Sequential:
    """A feed-forward SNN ``Linear -> neuron -> ... -> Linear -> readout``.

    Args:
        sizes: ``[in, hidden..., out]``, e.g. ``[700, 256, 256, 20]``.
        neuron: a neuron module used as a template (deep-copied for each layer) or a factory; default
            ``LIF(firing=Gaussian(0.5))``.
        readout: ``"li"`` (non-spiking leaky integrator, outputs its potential), ``"spikes"`` (a spiking
            output layer) or ``"none"`` (the last linear layer's current).
        synapse: the :class:`spikeforge.synapse.Linear` ``mode``: ``"auto"`` (the event-driven path, which
            gathers the weights of active inputs, when the measured activity is below the crossover),
            ``"dense"`` (one GEMM per layer) or ``"event"`` (always event-driven).
    """
    return _stack(sizes, neuron, readout, bias, readout_tau, recurrent=False, synapse=synapse)


def rsnn(
    sizes: Sequence[int],
    neuron: Neuron | Callable[[], nn.Module] | None = None,
    readout: str = "li",
    *,
    bias: bool = True,
    readout_tau: float = 10.0,
    synapse: str = "auto",
) -> Sequential:
    """A recurrent SNN: like :func:`mlp`, each hidden population with recurrent synapses
    (:class:`spikeforge.synapse.Recurrent`)."""
    return _stack(sizes, neuron, readout, bias, readout_tau, recurrent=True, synapse=synapse)

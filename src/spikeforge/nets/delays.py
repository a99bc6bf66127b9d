"""The feed-forward SNN with learnable synaptic delays of Hammouamri, Khalfaoui-Hassani & Masquelier (ICLR 2024):
every hidden layer's synapses are :class:`spikeforge.synapse.DelayedLinear` (a weight and a real delay each)."""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

from torch import nn

from spikeforge.nets.sequential import Sequential, _check_sizes, _neuron_factory, _readout
from spikeforge.neuron.modules import Neuron
from spikeforge.synapse.delay import DelayedLinear
from spikeforge.synapse.layers import Linear

__all__ = ["delayed_mlp", "round_delays"]


def delayed_mlp(
    sizes: Sequence[int],
    neuron: Neuron | Callable[[], nn.Module] | None = None,
    readout: str = "li",
    *,
    max_delay: int = 10,
    interpolation: str = "linear",
    sigma: float = 1.0,
    delayed_readout: bool = False,
    readout_tau: float = 10.0,
) -> Sequential:
    """``DelayedLinear -> neuron -> ... -> Linear -> readout`` with ``sizes = [in, hidden..., out]``.

    Args:
        neuron: a template (deep-copied per layer) or a factory called once per hidden layer, in order.
        max_delay, interpolation, sigma: of every :class:`~spikeforge.synapse.DelayedLinear`.
        delayed_readout: the readout's synapses have delays too (the paper's networks delay every layer;
            default: a plain :class:`~spikeforge.synapse.Linear` readout).
        readout: ``"li"``, ``"spikes"`` or ``"none"`` (as :func:`spikeforge.nets.mlp`).
    """
    sizes = _check_sizes(sizes)
    make = _neuron_factory(neuron)
    layers: list[nn.Module] = []
    for k in range(len(sizes) - 1):
        last = k == len(sizes) - 2
        if last and not delayed_readout:
            layers.append(Linear(sizes[k], sizes[k + 1]))
        else:
            layers.append(DelayedLinear(sizes[k], sizes[k + 1], max_delay, interpolation=interpolation, sigma=sigma))
        if not last:
            layers.append(make())
    layers += _readout(readout, make, readout_tau)
    return Sequential(*layers)


def round_delays(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with every :class:`~spikeforge.synapse.DelayedLinear` replaced by its
    :meth:`~spikeforge.synapse.DelayedLinear.rounded` form (whole-step delays, as a chip runs them)."""
    new = copy.deepcopy(model)
    for module in list(new.modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, DelayedLinear):
                setattr(module, child_name, child.rounded())
    return new

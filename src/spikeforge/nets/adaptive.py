"""The recurrent network of adaptive LIF neurons of Baronig et al. (2025): layers of SE-adLIF neurons
(:class:`spikeforge.neuron.models.adlif.AdLIF`) with input and recurrent synapses, and an LI readout."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from spikeforge.nets.sequential import Sequential, _check_sizes, _readout
from spikeforge.neuron.firing import FiringModel, Gaussian
from spikeforge.neuron.models.adlif import RANGES, AdLIF
from spikeforge.synapse.layers import Linear, Recurrent

__all__ = ["adlif", "adlif_neuron"]


def adlif_neuron(size: int, *, firing: FiringModel | None = None, ranges: dict | None = None,
                 learnable: Sequence[str] = ("tau_u", "tau_w", "a", "b"), detach_reset: bool = True,
                 **fixed: float) -> AdLIF:
    """A population of ``size`` AdLIF neurons whose ``tau_u``, ``tau_w``, ``a`` and ``b`` are drawn uniformly
    (torch's global RNG) from ``ranges`` (default the paper's :data:`~spikeforge.neuron.models.adlif.RANGES`;
    a range given here must lie within it), per neuron, as in the paper's initialisation; ``fixed`` sets
    other parameters (``q``, ``theta``) or fixes one of the four to a value instead.
    ``detach_reset`` as the paper (the reset passes no gradient)."""
    ranges = {**RANGES, **(ranges or {})}
    values: dict[str, torch.Tensor | float] = {}
    for name in ("tau_u", "tau_w", "a", "b"):
        low, high = _range(name, ranges[name])
        if name not in fixed:
            values[name] = torch.empty(size).uniform_(low, high)
    values.update(fixed)
    return AdLIF(shape=size, firing=firing or Gaussian(0.5), learnable=tuple(learnable), detach_reset=detach_reset,
                 **values)


def _range(name: str, value) -> tuple[float, float]:
    lo, hi = RANGES[name]
    try:
        low, high = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected a range [low, high] within [{lo:g}, {hi:g}], got {value!r}") from None
    if not lo <= low <= high <= hi:
        raise ValueError(f"{name}: expected a range [low, high] within [{lo:g}, {hi:g}], got {value!r}")
    return low, high


def adlif(
    sizes: Sequence[int],
    *,
    recurrent: bool = True,
    firing: FiringModel | None = None,
    ranges: dict | None = None,
    readout: str = "li",
    readout_tau: float = 10.0,
    **fixed: float,
) -> Sequential:
    """``Linear -> [Recurrent] AdLIF -> ... -> Linear -> readout`` with ``sizes = [in, hidden..., out]``.

    Each hidden population is :func:`adlif_neuron` (per-neuron parameters drawn in ``ranges``); with
    ``recurrent`` (default, as the paper) it has recurrent synapses (:class:`spikeforge.synapse.Recurrent`,
    ``I_t = W·x_t + W_rec·s_{t-1}``). ``readout``: ``"li"``, ``"spikes"`` or ``"none"`` (as
    :func:`spikeforge.nets.mlp`); ``fixed``: values of other AdLIF parameters (``q``, ``theta``).
    """
    sizes = _check_sizes(sizes)
    layers: list[nn.Module] = []
    for k in range(len(sizes) - 1):
        layers.append(Linear(sizes[k], sizes[k + 1]))
        if k < len(sizes) - 2:
            neuron = adlif_neuron(sizes[k + 1], firing=firing, ranges=ranges, **fixed)
            layers.append(Recurrent(sizes[k + 1], neuron) if recurrent else neuron)
    layers += _readout(readout, lambda: adlif_neuron(sizes[-1], firing=firing, ranges=ranges, **fixed),
                       readout_tau)
    return Sequential(*layers)

"""The temporal convolutional SNN: the shape of FCN (Wang, Yan & Oates 2017, "Time series classification from
scratch with deep neural networks: a strong baseline", IJCNN), with spiking neurons.

Each block is a causal convolution over time (:class:`spikeforge.synapse.TemporalConv`), a normalisation of
its channels and a population of spiking neurons; a :class:`~spikeforge.synapse.Linear` readout follows,
into a leaky integrator (``readout="li"``) or not (``"linear"``). Trained with the ``"mean"`` reduction over
time (:func:`spikeforge.learn.losses.readout_logits`), the logits are the readout averaged over time:
FCN's global average pooling, moved behind the (linear) readout.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from spikeforge.nets.sequential import Sequential, _check_sizes, _neuron_factory, _readout
from spikeforge.neuron.modules import Neuron, check_sequence
from spikeforge.synapse.layers import Linear
from spikeforge.synapse.temporal import TemporalConv

__all__ = ["FCN_KERNELS", "TimeBatchNorm", "receptive_field", "tcn", "tcn_layout"]

#: FCN's kernel sizes of its three blocks.
FCN_KERNELS = (8, 5, 3)
NORMS = ("batch", "none")


class TimeBatchNorm(nn.BatchNorm1d):
    """:class:`torch.nn.BatchNorm1d` over the channels of ``[T, B, C]``: in training each channel is normalised
    by its mean and variance over all ``T·B`` steps of the batch (so, during training only, a step's
    normalisation sees the batch's later steps; evaluation uses the running statistics and is causal). At
    inference it is a per-channel affine map, which folds into the preceding convolution's weights."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        check_sequence(x, allow_complex=False)
        if x.dim() != 3:
            raise ValueError(f"x: expected [T, B, C] (time, batch, channels), got {tuple(x.shape)}")
        t, b, c = x.shape
        return super().forward(x.reshape(t * b, c)).reshape(t, b, c)


def tcn(
    sizes: Sequence[int],
    neuron: Neuron | Callable[[], nn.Module] | None = None,
    readout: str = "li",
    *,
    kernel_sizes: Sequence[int] | None = None,
    dilations: Sequence[int] | None = None,
    norm: str = "batch",
    readout_tau: float = 10.0,
) -> Sequential:
    """A temporal convolutional SNN ``[TemporalConv -> norm -> neuron] × blocks -> Linear -> readout``.

    Args:
        sizes: ``[in_channels, channels of each block..., classes]``, e.g. FCN's ``[C, 128, 256, 128, k]``.
        neuron: a neuron module used as a template (deep-copied per block) or a factory called once per block
            in order; default ``LIF(firing=Gaussian(0.5))``.
        readout: ``"li"`` (leaky-integrator potential), ``"linear"`` (the readout's current itself; its mean
            over time is exactly FCN's global average pooling followed by the linear layer) or ``"spikes"``.
        kernel_sizes: taps of each block's convolution; default FCN's ``(8, 5, 3)``, continued with 3 for more
            blocks.
        dilations: of each block (default 1).
        norm: ``"batch"`` (:class:`TimeBatchNorm` after each convolution, as FCN) or ``"none"``.
    """
    sizes = _check_sizes(sizes)
    blocks = len(sizes) - 2
    if blocks < 1:
        raise ValueError(f"sizes: expected [in, channels of at least one block, classes], got {sizes!r}")
    kernels, dil = tcn_layout(blocks, kernel_sizes, dilations)
    if norm not in NORMS:
        raise ValueError(f"norm: expected one of {NORMS}, got {norm!r}")
    if readout not in ("li", "linear", "spikes"):
        raise ValueError(f"readout: expected 'li', 'linear' or 'spikes', got {readout!r}")
    make = _neuron_factory(neuron)
    layers: list[nn.Module] = []
    for k in range(blocks):
        layers.append(TemporalConv(sizes[k], sizes[k + 1], kernels[k], dilation=dil[k], bias=norm == "none"))
        if norm == "batch":
            layers.append(TimeBatchNorm(sizes[k + 1]))
        layers.append(make())
    layers.append(Linear(sizes[-2], sizes[-1]))
    if readout != "linear":
        layers += _readout(readout, make, readout_tau)
    return Sequential(*layers)


def tcn_layout(blocks: int, kernel_sizes: Sequence[int] | int | None = None,
               dilations: Sequence[int] | int | None = None) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """``(kernel sizes, dilations)`` of :func:`tcn`'s ``blocks`` blocks, defaults filled in (FCN's kernels
    continued with 3; dilation 1), checked: a positive integer per block (an int: the same for every block)."""
    kernels = _per_block("kernel_sizes", kernel_sizes, blocks, (*FCN_KERNELS, *(3,) * blocks)[:blocks])
    return kernels, _per_block("dilations", dilations, blocks, (1,) * blocks)


def receptive_field(kernel_sizes: Sequence[int], dilations: Sequence[int]) -> int:
    """Input steps that one output step of stacked causal convolutions sees: each block's
    :attr:`TemporalConv.receptive_field` ``r = (k − 1)·d + 1`` adds ``r − 1`` past steps, ``1 + Σ (k − 1)·d``
    in all (FCN's kernels 8, 5, 3: 14 undilated, 24 at dilations 1, 2, 4)."""
    return 1 + sum((int(k) - 1) * int(d) for k, d in zip(kernel_sizes, dilations, strict=True))


def _per_block(name: str, value: Sequence[int] | None, blocks: int, default: Sequence[int]) -> tuple[int, ...]:
    if value is None:
        return tuple(default)
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value,) * blocks
    try:
        out = tuple(value)
    except TypeError:
        raise TypeError(f"{name}: expected a sequence of {blocks} positive integers, got {value!r}") from None
    if len(out) != blocks or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in out):
        raise ValueError(f"{name}: expected {blocks} positive integers (one per block), got {value!r}")
    return out

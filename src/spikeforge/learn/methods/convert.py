"""``convert``: train a ReLU network (an ANN), then convert it to integrate-and-fire neurons (ANN -> SNN
conversion; Diehl et al. 2015, Rueckauer et al. 2017). The equations (IF neurons with reset by subtraction,
the percentile weight normalisation, the readout) are in :mod:`spikeforge.learn.conversion`.

The model (:class:`ConvertNet`, :func:`build_model`; ``model="mlp"``, sizes ``[in, *hidden, classes]``) is one
network in two modes, with the same parameters and buffers (so a run folder's weights reload either way):

* **ANN** (before :func:`finalize`): the input averaged over time, ``x̄ = (1/T) Σ_t x_t``, through
  ``Linear -> ReLU -> ... -> Linear``; the logits are repeated over the ``T`` steps, so the readout is
  ``[T, B, classes]`` like any other model's and every reduction of it gives the logits. A training step is
  BPTT's (:func:`~spikeforge.learn.methods.bptt.bptt_step`), plain backpropagation here. (For series data
  the mean runs over all ``T`` steps of the batch, padding included: conversion is meant for static data,
  rate- or current-coded.)
* **SNN** (after): ``Linear -> IF -> ... -> Linear -> MeanReadout``, the ``x_t`` as input currents, weights
  normalised in place by the ``percentile`` (option, default 99.9) of each layer's ReLU activations on the
  **training** split (encoded as it trains, the mean over time as the ANN saw it).

:func:`finalize` converts once (buffer ``converted``; a second call does nothing: idempotent) and keeps the
``λ_l`` in buffer ``scales``. The ANN's accuracy is the last epoch's ``valid_accuracy`` of ``metrics.csv``
(evaluated before the conversion); ``metrics.json`` has the SNN's. The neuron options of the config
(``neuron``, ``neuron_params``, ...) do not apply: the neurons are IF with threshold 1 and soft reset.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import nn
from torch.nn import functional as F

from spikeforge.learn.conversion import DEFAULT_PERCENTILE, MeanReadout, _check_percentile, layer_scale
from spikeforge.learn.methods import Method, StepResult
from spikeforge.learn.methods.bptt import bptt_step
from spikeforge.nets import Sequential

if TYPE_CHECKING:
    from spikeforge.learn.config import TrainConfig
    from spikeforge.learn.loop import Objective

__all__ = ["METHOD", "ConvertNet", "build_model", "convert_step", "finalize"]


class ConvertNet(Sequential):
    """``[Linear, IF, ..., Linear, MeanReadout]`` for sizes ``[in, *hidden, classes]``: a ReLU MLP on the
    time-averaged input until :func:`finalize` sets buffer ``converted``, an IF network after (the module
    docstring)."""

    def __init__(self, sizes: list[int]) -> None:
        from spikeforge.neuron import IF, Heaviside
        from spikeforge.synapse import Linear

        layers: list[nn.Module] = []
        for k in range(len(sizes) - 1):
            layers.append(Linear(sizes[k], sizes[k + 1]))
            if k < len(sizes) - 2:
                layers.append(IF(threshold=1.0, reset="soft", firing=Heaviside()))
        layers.append(MeanReadout())
        super().__init__(*layers)
        self.register_buffer("converted", torch.tensor(False))
        self.register_buffer("scales", torch.ones(len(sizes) - 2))

    def linears(self) -> list[nn.Linear]:
        return [m for m in self if isinstance(m, nn.Linear)]

    def ann(self, x: torch.Tensor, record: list[torch.Tensor] | None = None) -> torch.Tensor:
        """The ANN's logits ``[1, B, classes]`` of the time-averaged input (``record`` gets each ReLU's output)."""
        h = x.mean(0, keepdim=True)
        linears = self.linears()
        for k, lin in enumerate(linears):
            h = lin(h)
            if k < len(linears) - 1:
                h = F.relu(h)
                if record is not None:
                    record.append(h)
        return h

    def forward(self, x: torch.Tensor, state: tuple | None = None, return_state: bool = False):
        if bool(self.converted):
            return super().forward(x, state, return_state)
        out = self.ann(x).expand(x.shape[0], -1, -1)
        return (out, (None,) * len(self)) if return_state else out


def build_model(config: TrainConfig, in_channels: int, num_classes: int) -> ConvertNet:
    """The :class:`ConvertNet` of ``config`` (family ``mlp`` only; no ``model_params``)."""
    from spikeforge.learn.config import ConfigError

    if config.model != "mlp":
        raise ConfigError("model", f"expected 'mlp' with method 'convert' (it trains a ReLU MLP and converts it), "
                                   f"got {config.model!r}")
    if config.model_params:
        raise ConfigError("model_params", f"expected none with method 'convert' (its MLP has ReLUs, then IF neurons "
                                          f"and a mean readout), got {config.model_params}")
    return ConvertNet([in_channels, *config.hidden, num_classes])


def convert_step(model: nn.Module, batch: Any, optimizer: torch.optim.Optimizer, objective: Objective) -> StepResult:
    """One backpropagation step of the ANN (:func:`~spikeforge.learn.methods.bptt.bptt_step` on its readout)."""
    net = getattr(model, "module", model)  # (under DistributedDataParallel)
    if isinstance(net, ConvertNet) and bool(net.converted):
        raise ValueError("model: expected the ANN before conversion; this ConvertNet is converted already "
                         "(convert's finalize runs once, after the last epoch)")
    if float(getattr(objective, "rate_reg", 0.0)) > 0:
        raise ValueError("rate_reg: expected 0 with method 'convert' (the ANN it trains has no spikes), got "
                         f"{objective.rate_reg}")
    return bptt_step(model, batch, optimizer, objective)


@torch.no_grad()
def finalize(model: nn.Module, train_split: Any, config: TrainConfig, device: torch.device | str) -> None:
    """Convert ``model`` in place: ``λ_l`` from the ANN's ReLU activations on ``train_split``, weights
    ``W_l ← W_l·λ_{l-1}/λ_l``, biases ``b_l ← b_l/λ_l`` (``λ_0 = λ_L = 1``), then the SNN mode. Idempotent."""
    from spikeforge.data import batches

    net = getattr(model, "module", model)
    if not isinstance(net, ConvertNet):
        raise TypeError(f"model: expected the ConvertNet of method 'convert', got {type(net).__name__}")
    if bool(net.converted):
        return
    params = METHOD.params(config.method_params)
    was_training = net.training
    net.eval()
    acts: list[list[torch.Tensor]] = [[] for _ in range(len(net.scales))]
    try:
        gen = torch.Generator().manual_seed(config.seed)  # a random encoder draws from it, not the global RNG
        for batch in batches(train_split, config.eval_batch_size, generator=gen):
            record: list[torch.Tensor] = []
            net.ann(batch.x.to(device), record)
            for k, h in enumerate(record):
                acts[k].append(h[h > 0].cpu())
    finally:
        net.train(was_training)
    lam = [1.0] + [layer_scale(torch.cat(a), params["percentile"]) if a else 1.0 for a in acts] + [1.0]
    for k, lin in enumerate(net.linears()):
        lin.weight.mul_(lam[k] / lam[k + 1])
        if lin.bias is not None:
            lin.bias.div_(lam[k + 1])
    net.scales.copy_(torch.tensor(lam[1:-1], dtype=net.scales.dtype))
    net.converted.fill_(True)


def _check(params: dict[str, Any]) -> None:
    _check_percentile(params["percentile"])


METHOD = Method(
    "convert", convert_step,
    "ANN -> SNN conversion: train a ReLU MLP, then IF neurons (soft reset) with percentile weight normalisation",
    reference="Diehl et al. 2015 (data-based normalisation); Rueckauer et al. 2017 (reset by subtraction, "
              "99.9th percentile)",
    options=(("percentile", DEFAULT_PERCENTILE),), check=_check, build_model=build_model, finalize=finalize)

"""Synapse layers (see :mod:`spikeforge.synapse`)."""

from __future__ import annotations

import math
import warnings
from typing import Any, NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

from spikeforge import _counting
from spikeforge.kernels.event import _check_min_out, _check_threshold, linear_product, transposed_weight
from spikeforge.neuron.dynamics import NeuronState
from spikeforge.neuron.models.base import ModelNeuron
from spikeforge.neuron.modules import Neuron, check_sequence

__all__ = ["Conv1d", "Conv2d", "EventLinear", "Flatten", "Linear", "Recurrent", "RecurrentModelState"]


class Linear(nn.Linear):
    """``y = W·s + b`` on ``[T, B, in_features]`` -> ``[T, B, out_features]``, over all ``T·B`` rows at once.

    Two paths compute the same product (:mod:`spikeforge.kernels.event`): one dense GEMM, or the
    event-driven gather of the weight rows of active inputs (``nnz·N`` additions instead of ``T·B·K·N``
    multiply-adds, and a weight gradient over active inputs only). ``mode="auto"`` (default) measures the
    input's activity and takes the event path below the measured crossover (CPU, compiled kernels, at
    least ``min_out`` outputs); ``"dense"`` and ``"event"`` force one. The crossover is the layer's own
    configuration, fixed at construction: ``threshold`` (inference; also training unless ``train_threshold``
    is given), ``train_threshold`` (when gradients are needed) and ``min_out``, each ``None`` for the
    measured defaults (:data:`~spikeforge.kernels.event.EVENT_CROSSOVER`,
    :data:`~spikeforge.kernels.event.EVENT_CROSSOVER_TRAIN`, :data:`~spikeforge.kernels.event.EVENT_MIN_OUT`;
    see :func:`spikeforge.kernels.event.event_linear`). The weight is stored transposed in memory
    (``weight.t()`` is contiguous), which both paths read without a copy.

    Complex spikes (resonate-and-fire, ``s = n·v*/|v*|``) are accepted (dense path): the real weights act on
    both parts, so the phase travels on to the next population's complex current.
    """

    mode: str = "auto"  # (class defaults: modules pickled before these attributes existed still load)
    threshold: float | None = None
    train_threshold: float | None = None
    min_out: int | None = None

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *, mode: str = "auto",
                 threshold: float | None = None, train_threshold: float | None = None, min_out: int | None = None,
                 device=None, dtype=None) -> None:
        if mode not in ("auto", "event", "dense"):
            raise ValueError(f"mode: expected 'auto', 'event' or 'dense', got {mode!r}")
        threshold = _check_threshold("threshold", threshold)
        train_threshold = _check_threshold("train_threshold", train_threshold)
        min_out = _check_min_out(min_out)
        super().__init__(in_features, out_features, bias=bias, device=device, dtype=dtype)
        init = self.weight.detach()  # (nn.Linear's initialisation: a seed gives the same weights)
        self.weight = transposed_weight(out_features, in_features, device=device, dtype=dtype)
        with torch.no_grad():
            self.weight.copy_(init)
        self.mode = mode
        self.threshold = threshold
        self.train_threshold = train_threshold
        self.min_out = min_out

    def _product(self, x: torch.Tensor) -> tuple[torch.Tensor, int | None, str]:
        """``(out, nnz(x) or None, path)`` (:func:`spikeforge.kernels.event.linear_product`)."""
        check_sequence(x)
        if x.shape[-1] != self.in_features:
            raise ValueError(f"x: expected [T, B, {self.in_features}], got {tuple(x.shape)}")
        _counting.report(self, "synapse", x)
        if x.is_complex():
            bias = None if self.bias is None else self.bias.to(x.dtype)
            return F.linear(x, self.weight.to(x.dtype), bias), None, "dense"
        return linear_product(x, self.weight, self.bias, mode=self.mode, threshold=self.threshold,
                              train_threshold=self.train_threshold, min_out=self.min_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._product(x)[0]

    def extra_repr(self) -> str:
        extra = "" if self.mode == "auto" else f", mode={self.mode!r}"
        for name in ("threshold", "train_threshold", "min_out"):
            if getattr(self, name) is not None:
                extra += f", {name}={getattr(self, name)!r}"
        return super().extra_repr() + extra


class EventLinear(Linear):
    """Deprecated: :class:`Linear` that also stores, after each call, the exact synaptic operation count
    (``self.synops = nnz(s)·N``) and the path taken (``self.last_path``) on the module.

    Statistics stored on a module between calls go stale and are wrong under concurrent calls; ask for them
    instead: :func:`spikeforge.hardware.count_ops` (or a counting context, :mod:`spikeforge._counting`) counts
    every layer exactly, and :func:`spikeforge.kernels.event.event_linear` returns ``(out, synops, path)``
    of one product. Kept, with a :class:`DeprecationWarning`, so that existing code runs."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *, mode: str = "auto",
                 threshold: float | None = None, device=None, dtype=None) -> None:
        warnings.warn("EventLinear stores per-call statistics on the module and is deprecated: use "
                      "spikeforge.synapse.Linear, and spikeforge.hardware.count_ops or "
                      "spikeforge.kernels.event.event_linear for synaptic operation counts",
                      DeprecationWarning, stacklevel=2)
        super().__init__(in_features, out_features, bias, mode=mode, threshold=threshold, device=device,
                         dtype=dtype)
        self.synops = 0
        self.last_path = ""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, nnz, self.last_path = self._product(x)
        self.synops = (int(torch.count_nonzero(x)) if nnz is None else nnz) * self.out_features
        return out


class _TimeFolded:
    """Mixin: run a batch-first layer on ``[T, B, ...]`` by folding time into the batch."""

    _spatial: int

    def _fold(self, x: torch.Tensor, call) -> torch.Tensor:
        check_sequence(x, allow_complex=False)
        if x.dim() != 3 + self._spatial:
            raise ValueError(f"x: expected [T, B, C, {', '.join('HW'[:self._spatial] or 'L')}] "
                             f"({3 + self._spatial} dims), got {tuple(x.shape)}")
        _counting.report(self, "synapse", x)
        t, b = x.shape[:2]
        y = call(x.reshape(t * b, *x.shape[2:]))
        return y.reshape(t, b, *y.shape[1:])


class Conv2d(_TimeFolded, nn.Conv2d):
    """2-d convolution on ``[T, B, C, H, W]``, one convolution call over ``T·B`` images."""

    _spatial = 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._fold(x, super().forward)


class Conv1d(_TimeFolded, nn.Conv1d):
    """1-d convolution on ``[T, B, C, L]``, one convolution call over ``T·B`` signals."""

    _spatial = 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._fold(x, super().forward)


class Flatten(nn.Module):
    """``[T, B, ...] -> [T, B, prod(...)]``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_sequence(x)
        return x.reshape(x.shape[0], x.shape[1], -1)


class RecurrentModelState(NamedTuple):
    """State of a :class:`Recurrent` population of a declared model (:class:`~spikeforge.neuron.ModelNeuron`):
    the model's own state and the last step's spikes ``s`` ``[B, N]`` (what the recurrent synapses carry)."""

    neuron: Any
    s: torch.Tensor


class Recurrent(nn.Module):
    """A population with recurrent synapses: ``I_t = x_t + W_rec·s_{t-1}``, run inside the neuron's scan.

    A declared model (:class:`~spikeforge.neuron.ModelNeuron`) runs as a loop of its steps (autograd
    backward); its state is a :class:`RecurrentModelState`, and ``generator`` is not used (the declared models
    are deterministic).

    Args:
        features: number of neurons ``N`` (input ``[T, B, N]``).
        neuron: the neuron of the population.
    """

    def __init__(self, features: int, neuron: Neuron | ModelNeuron, *, gain: float = 1.0) -> None:
        super().__init__()
        if not isinstance(neuron, (Neuron, ModelNeuron)):
            raise TypeError(f"neuron: expected a spikeforge.Neuron or a declared ModelNeuron, got "
                            f"{type(neuron).__name__}")
        self.features = int(features)
        self.neuron = neuron
        self.weight = nn.Parameter(torch.empty(self.features, self.features))
        bound = gain / math.sqrt(self.features)
        nn.init.uniform_(self.weight, -bound, bound)

    def forward(self, x: torch.Tensor, state: NeuronState | None = None, return_state: bool = False, *,
                generator: torch.Generator | None = None):
        if isinstance(self.neuron, ModelNeuron):
            spikes, new_state = self._model_scan(x, state)
        else:
            spikes, new_state = self.neuron(x, state, True, generator=generator, recurrent_weight=self.weight)
        if _counting.active():  # step t receives s_{t-1}: the carried (or resting) state's spike first
            first = (torch.zeros_like(spikes[:1]) if state is None else state.s.unsqueeze(0).to(spikes.dtype))
            _counting.report(self, "recurrent", torch.cat([first, spikes[:-1]]))
        return (spikes, new_state) if return_state else spikes

    def _model_scan(self, x: torch.Tensor, state: RecurrentModelState | None):
        n = self.neuron
        check_sequence(x, allow_complex=False)
        if x.dim() != 3 or x.shape[-1] != self.features:
            raise ValueError(f"x: expected [T, B, {self.features}], got {tuple(x.shape)}")
        if state is not None and not isinstance(state, RecurrentModelState):
            raise TypeError(f"state: expected a RecurrentModelState (or None for a fresh state), got "
                            f"{type(state).__name__}")
        params, st = n._start(x, None if state is None else state.neuron, 2, "x", "[T, B, ...]")
        prev = torch.zeros_like(x[0]) if state is None else state.s.to(x.dtype)
        if tuple(prev.shape) != tuple(x.shape[1:]):
            raise ValueError(f"state.s: expected shape {tuple(x.shape[1:])}, got {tuple(prev.shape)}")
        w, out = self.weight.to(x.dtype), []
        for t in range(x.shape[0]):
            prev, st = n.model.step(x[t] + F.linear(prev, w), st, params, n.config)
            out.append(prev)
        spikes = torch.stack(out)
        _counting.report(n, "neuron", spikes)
        return spikes, RecurrentModelState(neuron=st, s=prev)

    def extra_repr(self) -> str:
        return f"features={self.features}"

"""Delays: the axonal ``y_t = x_{t-d}`` per feature (NIR ``Delay``), and synapses with learnable delays."""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from spikeforge import _counting
from spikeforge._checks import check_features, per_neuron
from spikeforge.neuron.modules import check_sequence

__all__ = ["INTERPOLATIONS", "Delay", "DelayedLinear"]

#: How :class:`DelayedLinear` spreads a real-valued delay over the integer lags.
INTERPOLATIONS = ("linear", "gaussian")


class Delay(nn.Module):
    """``y_t = x_{t-d}`` with an integer delay ``d ≥ 0`` in steps, per feature (NIR ``Delay``).

    The state is the last ``max(d)`` inputs (zeros at rest), so a long sequence may be streamed in chunks.
    """

    stateful = True

    def __init__(self, steps, shape: Sequence[int] | None = None) -> None:
        super().__init__()
        t = torch.as_tensor(steps)
        if t.is_floating_point():
            if not bool(torch.all(t == torch.round(t))):
                raise ValueError(f"steps: expected whole numbers of steps, got {steps!r}")
            t = t.round()
        t = per_neuron("steps", t.to(torch.int64), shape, dtype=torch.int64)
        if bool(torch.any(t < 0)):
            raise ValueError(f"steps: expected delays >= 0, got min {int(t.min())}")
        self.register_buffer("steps", t)

    @property
    def max_steps(self) -> int:
        return int(self.steps.max()) if self.steps.numel() else 0

    def forward(self, x: torch.Tensor, state: torch.Tensor | None = None, return_state: bool = False):
        check_sequence(x)
        check_features(x, tuple(self.steps.shape), "Delay")
        d = self.max_steps
        if state is None:
            state = x.new_zeros((d, *x.shape[1:]))
        elif tuple(state.shape) != (d, *x.shape[1:]):
            raise ValueError(f"state: expected the last {d} inputs, shape {(d, *x.shape[1:])}, got "
                             f"{tuple(state.shape)}")
        full = torch.cat([state, x], 0)
        steps = x.shape[0]
        out = torch.zeros_like(x)
        for k in torch.unique(self.steps).tolist():
            mask = self.steps == k
            out = torch.where(mask, full[d - k:d - k + steps], out)
        new_state = full[full.shape[0] - d:] if d else full[:0]
        return (out, new_state) if return_state else out

    def extra_repr(self) -> str:
        return f"shape={tuple(self.steps.shape)}, max_steps={self.max_steps}"


class DelayedLinear(nn.Module):
    r"""A linear synapse layer whose every synapse ``i -> j`` has a weight ``w_ij`` and a learnable real delay
    ``d_ij ∈ [0, D]`` steps (Hammouamri, Khalfaoui-Hassani & Masquelier, ICLR 2024, "Learning delays in SNNs
    using dilated convolutions with learnable spacings"):

    .. math:: y_t[j] = b_j + \sum_i w_{ij} \sum_{k=0}^{D} h_k(d_{ij})\, x_{t-k}[i]

    a causal convolution over time whose kernel for synapse ``ij`` is ``w_ij`` times a bump ``h(d_ij)`` over
    the lags ``k = 0 … D``:

    * ``interpolation="linear"`` (default): ``h_k = 1 − |k − d|`` on the two lags next to ``d`` (``⌊d⌋`` and
      ``⌊d⌋ + 1``), 0 elsewhere -- an integer delay is exactly the shift ``x_{t−d}``, and ``∂y/∂d`` is the
      difference of the two neighbouring inputs;
    * ``"gaussian"``: ``h_k ∝ exp(−(k − d)²/(2σ²))`` normalised to sum 1 over the lags (the paper's kernel;
      it anneals ``σ`` towards 0 during training, which this layer leaves to the caller: ``sigma`` is fixed
      at construction).

    The delays are kept in ``[0, D]``: the kernel uses them clamped, with the gradient passed straight
    through. :meth:`rounded` gives the layer with the delays rounded to whole steps -- then it is exactly
    :class:`Delay` followed by a linear layer (per synapse), and it is what a chip with integer synaptic delays
    runs. The layer streams: its state is the last ``D`` inputs (zeros at rest).

    Cost: one ``conv1d`` with ``D + 1`` taps, ``(D + 1)·in·out`` multiply-adds per step and sample. Counted
    (:func:`spikeforge.hardware.count_ops`) as its linear layer ``self.linear`` (each input event reaches each
    target once, after its delay): exact for whole-step delays.

    Args:
        in_features, out_features: sizes of ``x: [T, B, in]`` and the output.
        max_delay: ``D``, the longest delay in steps (``>= 1``).
        bias: a learned bias ``b``.
        interpolation: one of :data:`INTERPOLATIONS`; ``sigma``: the Gaussian's width in steps.
        learn_delays: the delays are an ``nn.Parameter`` (else a buffer).
        init_delays: the initial delays ``[out, in]`` (default: uniform in ``[0, D]``, torch's global RNG).
    """

    stateful = True  # spikeforge.nets.Sequential threads the past inputs

    def __init__(self, in_features: int, out_features: int, max_delay: int, *, bias: bool = True,
                 interpolation: str = "linear", sigma: float = 1.0, learn_delays: bool = True,
                 init_delays: torch.Tensor | None = None) -> None:
        super().__init__()
        for name, value, low in (("in_features", in_features, 1), ("out_features", out_features, 1),
                                 ("max_delay", max_delay, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name}: expected an integer >= {low}, got {value!r}")
        if interpolation not in INTERPOLATIONS:
            raise ValueError(f"interpolation: expected one of {INTERPOLATIONS}, got {interpolation!r}")
        if isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or not math.isfinite(sigma) or sigma <= 0:
            raise ValueError(f"sigma: expected a positive number of steps, got {sigma!r}")
        self.max_delay, self.interpolation, self.sigma = int(max_delay), interpolation, float(sigma)
        self.linear = nn.Linear(in_features, out_features, bias=bias)
        if init_delays is None:
            d = torch.empty(out_features, in_features).uniform_(0.0, float(max_delay))
        else:
            d = per_neuron("init_delays", init_delays, (out_features, in_features))
            if bool(torch.any(d < 0)) or bool(torch.any(d > max_delay)):
                raise ValueError(f"init_delays: expected delays in [0, {max_delay}], got "
                                 f"[{float(d.min()):g}, {float(d.max()):g}]")
        if learn_delays:
            self.delay = nn.Parameter(d)
        else:
            self.register_buffer("delay", d)

    @property
    def in_features(self) -> int:
        return self.linear.in_features

    @property
    def out_features(self) -> int:
        return self.linear.out_features

    def delays(self) -> torch.Tensor:
        """The delays in use ``[out, in]`` (clamped to ``[0, D]``, straight-through gradient)."""
        d = self.delay
        return d + (d.clamp(0.0, float(self.max_delay)) - d).detach()

    def kernel(self) -> torch.Tensor:
        """``[out, in, D + 1]``: entry ``k`` multiplies ``x_{t−k}`` (the equation in the class docstring)."""
        d = self.delays().unsqueeze(-1)
        lags = torch.arange(self.max_delay + 1, dtype=d.dtype, device=d.device)
        if self.interpolation == "linear":
            low = torch.floor(d.detach()).clamp(max=self.max_delay - 1)
            frac = d - low  # in [0, 1]; differentiable in d
            h = (lags == low) * (1 - frac) + (lags == low + 1) * frac
        else:
            h = torch.exp(-((lags - d) ** 2) / (2 * self.sigma ** 2))
            h = h / h.sum(-1, keepdim=True)
        return self.linear.weight.unsqueeze(-1) * h

    def forward(self, x: torch.Tensor, state: torch.Tensor | None = None, return_state: bool = False):
        check_sequence(x, allow_complex=False)
        if x.dim() != 3 or x.shape[-1] != self.in_features:
            raise ValueError(f"x: expected [T, B, {self.in_features}], got {tuple(x.shape)}")
        d = self.max_delay
        want = (d, *x.shape[1:])
        if state is None:
            state = x.new_zeros(want)
        elif not isinstance(state, torch.Tensor) or tuple(state.shape) != want:
            got = tuple(state.shape) if isinstance(state, torch.Tensor) else type(state).__name__
            raise ValueError(f"state: expected the last {d} inputs, a tensor of shape {want}, got {got}")
        _counting.report(self.linear, "synapse", x)
        full = torch.cat([state.to(x.dtype), x], 0)
        bias = None if self.linear.bias is None else self.linear.bias.to(x.dtype)
        # conv1d correlates forward in time: flip the lags so that entry k meets x_{t-k}
        y = F.conv1d(full.permute(1, 2, 0), self.kernel().flip(-1).to(x.dtype), bias)
        out = y.permute(2, 0, 1)
        return (out, full[full.shape[0] - d:]) if return_state else out

    def rounded(self) -> DelayedLinear:
        """A copy with the delays rounded to whole steps (fixed: a buffer), ``interpolation="linear"``: exactly
        :class:`Delay` + linear per synapse."""
        new = copy.deepcopy(self)
        d = torch.round(self.delays().detach()).clamp(0, self.max_delay)
        del new.delay
        new.register_buffer("delay", d)
        new.interpolation = "linear"
        return new

    def extra_repr(self) -> str:
        extra = f", sigma={self.sigma:g}" if self.interpolation == "gaussian" else ""
        learned = ", learn_delays=False" if not isinstance(self.delay, nn.Parameter) else ""
        return (f"{self.in_features}, {self.out_features}, max_delay={self.max_delay}, "
                f"interpolation={self.interpolation!r}{extra}{learned}")

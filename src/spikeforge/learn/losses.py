"""Losses on a network's readout, and the firing-rate regulariser.

Padded steps (``t >= lengths[b]``) never enter a loss, so a sample's logits do not depend on the length of
the longest sample in its batch. The names ``TrainConfig.loss`` / ``--loss`` accept are :data:`LOSSES`.

**Reductions of a leaky readout** (``reduce=``; the readout potential ``u_t [B, K]`` of an LI layer is
reduced over the valid steps to logits, then cross-entropy):

* ``"last"`` -- ``u_{L_b}``, the readout at the sample's last valid step (the leaky integrator has then
  seen the whole sample; default, the best on JapaneseVowels, see ``docs/training.md``);
* ``"mean"`` -- mean-membrane cross-entropy, logits ``(1/L_b) Σ_t u_t``;
* ``"max"`` -- max-membrane cross-entropy, logits ``max_t u_t`` (the max-over-time readout of Cramer et
  al. 2020, SHD);
* ``"sum"`` -- ``Σ_t u_t``.

**Losses on a spiking output layer** (``s_t [B, K]`` the output spikes, 0/1 or graded counts; the mlp and
recurrent families give one with ``model_params={"readout": "spiking"}``, see
:mod:`spikeforge.learn.models`; an LI readout is refused):

* ``"rate"`` -- rate (count) cross-entropy: logits ``c_k = Σ_t s_{t,k}`` (snnTorch's ``ce_count_loss``;
  Eshraghian et al. 2023, "Training spiking neural networks using lessons from deep learning");
* ``"first_spike"`` -- temporal cross-entropy on first spike times (snnTorch's ``ce_temporal_loss`` with
  ``inverse="negate"``): logits ``-t̂_k``, with the first spike time written as

  ``t̂_k = 1 + Σ_{t=1}^{L} Π_{τ≤t} (1 - s_{τ,k})``  (``t̂ = L + 1`` for a neuron that never fires).

  For binary spikes ``t̂`` is the first spike's step (1-based). For spike probabilities ``s`` it is the
  expected first spike time of independent Bernoulli firing, so its derivative -- the gradient this loss
  sends into the neurons' surrogates -- is that of the expectation (spikeforge's surrogate *is* the
  derivative of the expected count, :mod:`spikeforge.neuron.firing`): at binary spikes with the first at
  ``t*`` and the next at ``t₂`` (``L+1`` if none), ``∂t̂/∂s_u = -(t* - u)`` for ``u < t*``,
  ``-(t₂ - t*)`` for ``u = t*`` and ``0`` after. Unlike snnTorch's gradient (``-1`` at ``t*`` only), a
  silent neuron gets a gradient (towards firing, and earlier).

**Regression**: ``"mse"``, the squared error of the readout at the sample's last valid step.

**Firing-rate regulariser** (``TrainConfig.rate_reg`` = ``w``, ``rate_target`` = ``r*``; the penalty of
Bellec et al. 2018, "Long short-term memory and learning-to-learn in networks of spiking neurons", averaged
instead of summed over neurons): with ``r_{l,j}`` the mean spikes per valid step of neuron ``j`` of spiking
population ``l`` over the batch,

  ``P = w · (1/L) Σ_l (1/N_l) Σ_j (r_{l,j} - r*)²``

over every spiking population of the model (the hidden layers and a spiking readout), collected with
:func:`recording_spikes` (forward hooks for one forward pass, removed after). Methods that apply it are listed
in :data:`spikeforge.learn.config.RATE_REG_METHODS` (``bptt``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["LOSSES", "REDUCTIONS", "REGRESSION_LOSSES", "SPIKE_LOSSES", "SpikeRecording", "classification_loss",
           "first_spike_times", "model_loss", "rate_penalty", "readout_logits", "recording_spikes", "valid_mask"]

REDUCTIONS = ("last", "mean", "max", "sum")
#: Losses on a spiking output layer (the readout are spikes): ``"rate"`` and ``"first_spike"``.
SPIKE_LOSSES = ("rate", "first_spike")
#: Regression losses (targets ``y`` real, one readout unit): ``"mse"``, the squared error of the readout at
#: the sample's last valid step.
REGRESSION_LOSSES = ("mse",)
#: The names ``TrainConfig.loss`` / ``--loss`` accept.
LOSSES = REDUCTIONS + SPIKE_LOSSES + REGRESSION_LOSSES
_CLASSIFICATION = REDUCTIONS + SPIKE_LOSSES


def valid_mask(lengths: torch.Tensor | None, steps: int, batch: int, device: torch.device) -> torch.Tensor:
    """Float ``[T, B]``: 1 where ``t < lengths[b]`` (all ones when ``lengths`` is ``None``)."""
    if lengths is None:
        return torch.ones(steps, batch, device=device)
    lengths = torch.as_tensor(lengths, device=device)
    if lengths.shape != (batch,):
        raise ValueError(f"lengths: expected shape [B] = ({batch},), got {tuple(lengths.shape)}")
    if bool((lengths < 1).any()) or bool((lengths > steps).any()):
        raise ValueError(f"lengths: expected values in [1, T={steps}], got min {int(lengths.min())}, "
                         f"max {int(lengths.max())}")
    return (torch.arange(steps, device=device)[:, None] < lengths[None, :]).to(torch.float32)


def _check_spikes(out: torch.Tensor, loss: str) -> None:
    """A spike loss needs spikes (non-negative whole counts), not a potential."""
    with torch.no_grad():
        ok = bool((out >= 0).all()) and bool((out == torch.round(out)).all())
    if not ok:
        raise ValueError(f"loss {loss!r}: expected the output layer's spikes (non-negative whole counts), got a "
                         "readout with other values (a leaky LI readout?); build the model with a spiking readout "
                         "(model_params={'readout': 'spiking'} for the mlp and recurrent families)")


def first_spike_times(spikes: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
    """``t̂ [B, K] = 1 + Σ_{t<L_b} Π_{τ≤t} (1 - s_τ)`` of spikes ``[T, B, K]`` (1-based step of the first spike,
    ``L_b + 1`` when none; differentiable, see the module docstring). Padded steps count as silent and are
    not counted."""
    steps, batch = spikes.shape[:2]
    mask = valid_mask(lengths, steps, batch, spikes.device).to(spikes.dtype)
    mask = mask.reshape(mask.shape + (1,) * (spikes.dim() - 2))
    survive = torch.cumprod(1 - spikes.clamp(max=1) * mask, dim=0)  # graded counts >= 1 fire like one spike
    return 1 + (survive * mask).sum(0)


def readout_logits(out: torch.Tensor, lengths: torch.Tensor | None = None, reduce: str = "last") -> torch.Tensor:
    """Logits ``[B, K]`` of the readout ``out: [T, B, K]`` over its valid steps: a reduction of a leaky readout
    (:data:`REDUCTIONS`) or the logits of a spike loss (``"rate"``: spike counts; ``"first_spike"``: minus the
    first spike times)."""
    if not isinstance(out, torch.Tensor) or out.dim() != 3:
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(f"out: expected the readout [T, B, classes], got {shape}")
    if reduce not in _CLASSIFICATION:
        raise ValueError(f"reduce: expected one of {_CLASSIFICATION}, got {reduce!r}")
    steps, batch, _ = out.shape
    if reduce in SPIKE_LOSSES:
        _check_spikes(out, reduce)
        if reduce == "first_spike":
            return -first_spike_times(out, lengths)
        reduce = "sum"
    if reduce == "last":
        if lengths is None:
            return out[-1]
        valid_mask(lengths, steps, batch, out.device)  # validates
        idx = torch.as_tensor(lengths, device=out.device).long() - 1
        return out[idx, torch.arange(batch, device=out.device)]
    mask = valid_mask(lengths, steps, batch, out.device).to(out.dtype).unsqueeze(-1)
    if reduce == "max":
        return out.masked_fill(mask == 0, float("-inf")).amax(0)
    total = (out * mask).sum(0)
    if reduce == "sum":
        return total
    return total / mask.sum(0)


def classification_loss(
    out: torch.Tensor,
    y: torch.Tensor,
    lengths: torch.Tensor | None = None,
    reduce: str = "last",
    label_smoothing: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-entropy of the logits of ``reduce`` (:func:`readout_logits`) against labels ``y [B]``. Returns
    ``(loss, logits)``.

    ``reduce="mse"``: regression, ``y [B]`` real, the readout ``[T, B, 1]``; the loss is the mean of
    ``(out[last valid step] - y)²`` and ``logits`` the predictions ``[B, 1]``."""
    if reduce in REGRESSION_LOSSES:
        pred = readout_logits(out, lengths, "last")
        if pred.shape[1] != 1 or y.shape != (pred.shape[0],):
            raise ValueError(f"mse: expected a readout [T, B, 1] and targets [B], got readout {tuple(out.shape)} "
                             f"and targets {tuple(y.shape)}")
        return F.mse_loss(pred[:, 0], y.to(pred.dtype)), pred
    return _cross_entropy(readout_logits(out, lengths, reduce), y, label_smoothing)


def _cross_entropy(logits: torch.Tensor, y: torch.Tensor, label_smoothing: float) -> tuple[torch.Tensor, torch.Tensor]:
    if y.shape != (logits.shape[0],):
        raise ValueError(f"y: expected labels of shape [B] = ({logits.shape[0]},), got {tuple(y.shape)}")
    return F.cross_entropy(logits, y, label_smoothing=label_smoothing), logits


def model_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor, lengths: torch.Tensor | None = None,
               reduce: str = "last", label_smoothing: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """``classification_loss(model(x), y, lengths, reduce, label_smoothing)``; a model that computes the logits
    of ``reduce`` without its per-step readout (a ``sequence_logits(x, lengths, reduce)`` method and ``reduce``
    among its ``REDUCTIONS``, e.g. :class:`spikeforge.nets.rocket.SpikingRocket`) is asked for them instead:
    the same logits, the same loss."""
    fast = getattr(model, "sequence_logits", None)
    if fast is None or reduce not in getattr(model, "REDUCTIONS", ()):
        return classification_loss(model(x), y, lengths, reduce, label_smoothing)
    return _cross_entropy(fast(x, lengths, reduce), y, label_smoothing)


# --------------------------------------------------------------------------------------------------
# the firing-rate regulariser
class SpikeRecording:
    """The spikes ``[T, B, ...]`` (with their graph) of each spiking population, in the order they fired
    during the recorded forward pass (:func:`recording_spikes`)."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.spikes: list[torch.Tensor] = []

    def _hook(self, name: str):
        def hook(_module: nn.Module, _args, output) -> None:
            s = output[0] if isinstance(output, tuple) else output
            if isinstance(s, torch.Tensor):
                self.names.append(name)
                self.spikes.append(s)
        return hook


def _spiking_populations(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The neuron modules (general and declared), and the recurrent layers that step a declared model
    themselves (their neuron's forward is not called)."""
    from spikeforge.neuron import ModelNeuron, Neuron
    from spikeforge.synapse import Recurrent

    stepped = {id(m.neuron) for m in model.modules() if isinstance(m, Recurrent) and isinstance(m.neuron, ModelNeuron)}
    found = []
    for name, m in model.named_modules():
        if isinstance(m, Recurrent) and id(m.neuron) in stepped:
            found.append((name, m))
        elif isinstance(m, (Neuron, ModelNeuron)) and id(m) not in stepped:
            found.append((name, m))
    return found


@contextlib.contextmanager
def recording_spikes(model: nn.Module) -> Iterator[SpikeRecording]:
    """``with recording_spikes(model) as rec: out = model(x)`` -- ``rec.spikes``: each spiking population's
    output of that forward pass, with its graph (forward hooks, removed when the block ends: nothing stays on
    the modules)."""
    rec = SpikeRecording()
    handles = [m.register_forward_hook(rec._hook(name)) for name, m in _spiking_populations(model)]
    try:
        yield rec
    finally:
        for h in handles:
            h.remove()


def rate_penalty(spikes: Sequence[torch.Tensor], lengths: torch.Tensor | None = None,
                 target: float = 0.0) -> torch.Tensor:
    """``(1/L) Σ_l (1/N_l) Σ_j (r_{l,j} - target)²`` (the module docstring's ``P`` without the weight), with
    ``r_{l,j}`` neuron ``j``'s mean spikes per valid step over the batch; ``spikes``: one ``[T, B, ...]`` per
    population."""
    if not spikes:
        raise ValueError("rate_reg: expected a model with spiking populations to regularise, got none (no "
                         "spikeforge neuron ran in the forward pass)")
    terms = []
    for s in spikes:
        mask = valid_mask(lengths, s.shape[0], s.shape[1], s.device).to(s.dtype)
        m = mask.reshape(mask.shape + (1,) * (s.dim() - 2))
        rate = (s * m).sum((0, 1)) / mask.sum()
        terms.append(((rate - target) ** 2).mean())
    return torch.stack(terms).mean()

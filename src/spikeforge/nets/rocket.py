"""The spiking random-kernel network: MiniRocket's transform (Dempster, Schmidt & Webb 2021) as spiking neurons.

A fixed :class:`~spikeforge.synapse.KernelBank` (84 kernels at each of several dilations, biases fitted to
the data) drives neurons without memory (``λ = 0``: each step's spike says whether a kernel's response
reaches its bias); a per-step standardisation of those spikes (:class:`~spikeforge.nets.TimeBatchNorm`
without learned scale) and a trained :class:`~spikeforge.synapse.Linear` readout follow. Trained with the
``"mean"`` reduction over time, the logits are the readout of each neuron's spike rate over the valid steps:
MiniRocket's PPV features and its linear classifier, with the features as spikes. Only the readout learns
(a reservoir, as a liquid state machine's), so training is cheap whatever the series' length.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from spikeforge import _counting
from spikeforge.nets.sequential import Sequential, _check_sizes
from spikeforge.nets.temporal import TimeBatchNorm
from spikeforge.neuron.firing import Heaviside
from spikeforge.neuron.modules import Neuron
from spikeforge.synapse.kernel_bank import KERNELS, KernelBank, check_lengths
from spikeforge.synapse.layers import Linear

__all__ = ["NORM_EPS", "SpikingRocket", "rocket"]

#: The floor of the standardisation's variance: a neuron that (almost) never fires in a batch is scaled by at
#: most ``1/√NORM_EPS`` rather than by ``1/√1e-5``.
NORM_EPS = 1e-2


class SpikingRocket(Sequential):
    """The network :func:`rocket` builds: ``self[0]`` the bank, ``self[1]`` the neurons, ``self[2]`` the
    standardisation, ``self[3]`` the readout. ``forward`` runs them step by step as any
    :class:`~spikeforge.nets.Sequential`; :meth:`sequence_logits` computes the logits of the ``"mean"``
    reduction from each neuron's spike count, never forming the per-step spikes and readout (``T·B·features``
    values each): what training and evaluation ask for (:func:`spikeforge.learn.losses.model_loss`)."""

    #: The loss reductions :meth:`sequence_logits` computes.
    REDUCTIONS = ("mean",)

    def sequence_logits(self, x: torch.Tensor, lengths: torch.Tensor | None = None,
                        reduce: str = "mean") -> torch.Tensor:
        """``readout_logits(self(x), lengths, "mean")`` (:func:`spikeforge.learn.losses.readout_logits`), and
        in training mode the same update of the standardisation's running statistics, computed per dilation
        slot from the spike counts: over each sample's valid steps for the readout (the mean of the
        standardised spikes is the standardised rate), over all ``T·B`` steps for the batch statistics (as
        :class:`~spikeforge.nets.TimeBatchNorm` takes them; the spikes are 0 or 1, so their variance is
        ``μ(1 − μ)``). Under a counting context the neurons report their counts (``"neuron_counts"``; the bank's
        operations are counted by the per-step forward, :func:`spikeforge.hardware.count_ops`). An unfitted bank
        is fitted here in training mode on the batch's valid steps (``lengths``)."""
        if reduce not in self.REDUCTIONS:
            raise ValueError(f"reduce: expected one of {self.REDUCTIONS}, got {reduce!r}")
        bank, neuron, norm, readout = self
        if x.dim() != 3 or x.shape[-1] != bank.in_channels:
            raise ValueError(f"x: expected [T, B, {bank.in_channels}] (time, batch, channels), got {tuple(x.shape)}")
        if not norm.track_running_stats:
            raise ValueError("sequence_logits: expected the standardisation to track running statistics")
        steps, batch = x.shape[0], x.shape[1]
        given = lengths is not None
        if lengths is None:
            lengths = torch.full((batch,), steps, dtype=torch.long, device=x.device)
        lengths = check_lengths(lengths, steps, batch, x.device)
        if not bool(bank.fitted):
            if not self.training:
                bank.check_fitted()
            # fitted on the first training batch, on its valid steps (the forward, without lengths, guesses them)
            bank.fit(x, lengths if given else None)
        valid = (torch.arange(steps, device=x.device)[None, :] < lengths[:, None]).to(x.dtype)  # [B, T]
        weights = torch.stack([valid, torch.ones_like(valid)], -1)  # [B, T, 2]: the valid steps, all steps
        theta = neuron.threshold.to(x.dtype)
        per = bank.features // bank.num_dilations
        parts = []
        with torch.no_grad():  # nothing before the readout is trained
            full = bank.padded(x)
            for j in range(bank.num_dilations):
                bias = bank.bias[j * per:(j + 1) * per].to(x.dtype)[:, None]
                # the bank's current (response - bias + θ, the forward's operations) and the neuron's spike at
                # λ = 0 without noise, H(v* − θ) with v* = I, in place: [B, 84P, T]
                spikes = bank.channel_responses(full, j, steps, count=False).sub_(bias).add_(bank.threshold).ge_(theta)
                parts.append(torch.bmm(spikes, weights))  # [B, 84P, 2]: counts over the valid and all steps
        both = torch.cat(parts, 1)
        counts = both[..., 0]  # [B, F]
        if _counting.active():
            _counting.report(neuron, "neuron_counts", counts)
        if norm.training:
            n = steps * batch
            mean = both[..., 1].to(torch.float64).sum(0) / n
            var = mean * (1 - mean)
            with torch.no_grad():
                norm.num_batches_tracked.add_(1)
                # torch's rule: the momentum, or the cumulative average (1 / batches seen) where it is None
                m = norm.momentum if norm.momentum is not None else 1.0 / float(norm.num_batches_tracked)
                norm.running_mean.mul_(1 - m).add_(m * mean.to(norm.running_mean.dtype))
                norm.running_var.mul_(1 - m).add_(m * (var * n / max(n - 1, 1)).to(norm.running_var.dtype))
            mean, var = mean.to(x.dtype), var.to(x.dtype)
        else:
            mean, var = norm.running_mean.to(x.dtype), norm.running_var.to(x.dtype)
        z = (counts / lengths[:, None].to(x.dtype) - mean) / torch.sqrt(var + norm.eps)
        return F.linear(z, readout.weight.to(x.dtype), None if readout.bias is None else readout.bias.to(x.dtype))


def rocket(sizes, *, dilations: int = 32, max_channels: int | None = None) -> SpikingRocket:
    """``[KernelBank -> Neuron(λ = 0) -> TimeBatchNorm -> Linear]``.

    Args:
        sizes: ``[in_channels, features, classes]``; ``features`` a multiple of ``84·dilations`` (the biases
            per kernel and dilation are ``features / (84·dilations)``).
        dilations: dilation slots of the bank.
        max_channels: most input channels a kernel sums (:class:`~spikeforge.synapse.KernelBank`).
    """
    sizes = _check_sizes(sizes)
    if len(sizes) != 3:
        raise ValueError(f"sizes: expected [in_channels, features, classes], got {sizes!r}")
    c, features, k = sizes
    per = KERNELS * int(dilations) if isinstance(dilations, int) and not isinstance(dilations, bool) else 0
    if per < 1 or features % per:
        raise ValueError(f"features: expected a multiple of 84 x dilations = {per or '?'} (dilations={dilations!r}), "
                         f"got {features}")
    bank = KernelBank(c, dilations=dilations, biases=features // per, threshold=1.0, max_channels=max_channels)
    neuron = Neuron(decay=0.0, threshold=1.0, reset="hard", firing=Heaviside())
    layers: list[nn.Module] = [bank, neuron, TimeBatchNorm(features, eps=NORM_EPS, affine=False), Linear(features, k)]
    return SpikingRocket(*layers)

r"""A fixed bank of dilated causal convolutions with MiniRocket's kernels (Dempster, Schmidt & Webb 2021,
"MINIROCKET: a very fast (almost) deterministic transform for time series classification", KDD), feeding
threshold neurons: the spiking front end of :func:`spikeforge.nets.rocket`.

Each of the 84 kernels has 9 taps, ``−1`` at six and ``2`` at three (the :math:`\binom93` choices), so its
weights sum to zero; it reads the sum of a random subset of the input channels. Feature ``f`` (kernel ``k``,
dilation slot ``j``, bias ``p``) is

.. math:: I_f(t) = \sum_{i<9} w_{k,i}\, x_{t - i\cdot d_j}[c \in C_k] - b_f + \theta,

so that a neuron of threshold ``θ`` and no memory (``λ = 0``, :class:`~spikeforge.neuron.Neuron` with
``decay=0``) spikes exactly at the steps where the kernel's response reaches ``b_f`` (``≥``; MiniRocket's PPV
counts ``>``, which differs only where a response ties with its bias); the rate of those spikes over a series is
MiniRocket's PPV feature. Nothing here is trained.

The dilations ``d_j`` and the biases ``b_f`` are fitted to data (:meth:`KernelBank.fit`): the dilations spread
exponentially from 1 to ``(T − 1) / 8`` (the kernel's span reaches the whole series), the biases are quantiles
(drawn per feature when the bank is built) of each feature's response to the fitted samples. A bank that was
not fitted fits itself on its first call in training mode, from that batch (as torch's lazy modules
initialise on their first call); both live in the ``state_dict``.
"""

from __future__ import annotations

import itertools
import math

import torch
from torch import nn
from torch.nn import functional as F

from spikeforge import _counting
from spikeforge.neuron.modules import check_sequence
from spikeforge.synapse.temporal import _past, _positive_int

__all__ = ["KERNELS", "KERNEL_LENGTH", "KernelBank", "check_lengths", "minirocket_kernels"]

#: Taps per kernel.
KERNEL_LENGTH = 9
#: Kernels per dilation: the choices of the three taps of weight 2 among nine.
KERNELS = math.comb(KERNEL_LENGTH, 3)


def minirocket_kernels(dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``[84, 9]``: MiniRocket's kernels, ``−1`` everywhere and ``2`` at three taps, in lexicographic order of
    those taps."""
    w = -torch.ones(KERNELS, KERNEL_LENGTH, dtype=dtype)
    for k, taps in enumerate(itertools.combinations(range(KERNEL_LENGTH), 3)):
        w[k, list(taps)] = 2.0
    return w


def check_lengths(lengths: torch.Tensor, steps: int, batch: int, device: torch.device) -> torch.Tensor:
    """``lengths`` as a long tensor on ``device``, checked: ``batch`` values in ``[1, steps]``."""
    lengths = torch.as_tensor(lengths, device=device).long()
    if lengths.shape != (batch,) or bool(torch.any((lengths < 1) | (lengths > steps))):
        raise ValueError(f"lengths: expected {batch} values in [1, {steps}], got {lengths.tolist()}")
    return lengths


class KernelBank(nn.Module):
    """``[T, B, C] -> [T, B, features]``: the currents of the module docstring's equation.

    Args:
        in_channels: ``C``.
        dilations: dilation slots ``S``; each holds all 84 kernels.
        biases: biases ``P`` per kernel and slot; ``features = 84·S·P``.
        threshold: ``θ`` of the neurons the currents feed (the offset that makes them spike above ``b_f``).
        max_channels: most input channels a kernel sums (default ``min(C, 9)``); the count per kernel is
            drawn as MiniRocket does, ``⌊2^u⌋`` with ``u`` uniform on ``[0, log2(max_channels + 1))``.

    The random choices (channels of each kernel, the quantile of each bias) are drawn from torch's global RNG
    when the bank is built. Each slot's weights live in a frozen :class:`torch.nn.Linear` ``slots[j]`` of
    ``C·9`` inputs (entry ``c·9 + i``: channel ``c`` at lag ``i·d_j``) and count
    (:func:`spikeforge.hardware.count_ops`) as that layer applied to each step's window, as
    :class:`~spikeforge.synapse.TemporalConv` counts.
    """

    stateful = True  # spikeforge.nets.Sequential threads the past inputs

    def __init__(self, in_channels: int, *, dilations: int = 32, biases: int = 1, threshold: float = 1.0,
                 max_channels: int | None = None) -> None:
        super().__init__()
        self.in_channels = _positive_int("in_channels", in_channels)
        self.num_dilations = _positive_int("dilations", dilations)
        self.biases_per_kernel = _positive_int("biases", biases)
        if not (isinstance(threshold, (int, float)) and not isinstance(threshold, bool) and math.isfinite(threshold)
                and threshold > 0):
            raise ValueError(f"threshold: expected a positive number, got {threshold!r}")
        self.threshold = float(threshold)
        most = min(self.in_channels, KERNEL_LENGTH) if max_channels is None else _positive_int("max_channels",
                                                                                              max_channels)
        if most > self.in_channels:
            raise ValueError(f"max_channels: expected at most in_channels={self.in_channels}, got {most}")
        per_slot = KERNELS * self.biases_per_kernel
        base = minirocket_kernels()
        self.slots = nn.ModuleList()
        for _ in range(self.num_dilations):
            mask = torch.zeros(KERNELS, self.in_channels)
            for k in range(KERNELS):
                count = int(2 ** (torch.rand(()) * math.log2(most + 1)))
                mask[k, torch.randperm(self.in_channels)[: max(1, min(count, most))]] = 1.0
            w = (mask[:, :, None] * base[:, None, :]).repeat_interleave(self.biases_per_kernel, 0)  # [84P, C, 9]
            lin = nn.Linear(self.in_channels * KERNEL_LENGTH, per_slot, bias=False)
            lin.weight.data.copy_(w.reshape(per_slot, -1))
            lin.weight.requires_grad_(False)
            self.slots.append(lin)
        self.register_buffer("quantiles", torch.rand(self.num_dilations * per_slot))
        self.register_buffer("dilation", torch.ones(self.num_dilations, dtype=torch.long))
        self.register_buffer("bias", torch.zeros(self.num_dilations * per_slot))
        self.register_buffer("fitted", torch.zeros((), dtype=torch.bool))

    @property
    def features(self) -> int:
        return self.num_dilations * KERNELS * self.biases_per_kernel

    @property
    def receptive_field(self) -> int:
        """Steps of input one output depends on: ``8·max(d) + 1``."""
        return (KERNEL_LENGTH - 1) * int(self.dilation.max()) + 1

    def weight_of(self, slot: int) -> torch.Tensor:
        """Slot ``slot``'s kernels ``[84·P, C, 9]``: ``[f, c, i]`` multiplies ``x_{t − i·d}[c]``."""
        return self.slots[slot].weight.view(-1, self.in_channels, KERNEL_LENGTH)

    def check_fitted(self) -> None:
        """Refuse to evaluate a bank whose dilations and biases were never fitted."""
        if not bool(self.fitted):
            raise RuntimeError("KernelBank: its dilations and biases are not fitted; call fit(x, lengths) on "
                               "training data, or call the bank once in training mode")

    def initial_state(self, x: torch.Tensor) -> torch.Tensor:
        return x.new_zeros((self.receptive_field - 1, *x.shape[1:]))

    def responses(self, x: torch.Tensor, slot: int, past: torch.Tensor | None = None) -> torch.Tensor:
        """``[T, B, 84·P]``: slot ``slot``'s kernel responses to ``x: [T, B, C]`` (no bias; the missing past
        is ``past``, default zeros)."""
        return self.channel_responses(self.padded(x, past), slot, x.shape[0]).permute(2, 0, 1)

    def padded(self, x: torch.Tensor, past: torch.Tensor | None = None) -> torch.Tensor:
        """``[B, C, pad + T]``: ``x: [T, B, C]`` after its past (``past``, default zeros) over the bank's
        receptive field, channels first (what :meth:`channel_responses` reads)."""
        pad = self.receptive_field - 1
        past = x.new_zeros((pad, *x.shape[1:])) if past is None else past[past.shape[0] - pad:] if pad else past[:0]
        return torch.cat([past, x], 0).permute(1, 2, 0)

    def channel_responses(self, full: torch.Tensor, slot: int, steps: int, *, count: bool = True) -> torch.Tensor:
        """``[B, 84·P, T]``: slot ``slot``'s responses to the last ``steps`` of ``full`` (:meth:`padded`).
        ``count=False``: not reported to a counting context (a caller that reports its own counts)."""
        d = int(self.dilation[slot])
        span = (KERNEL_LENGTH - 1) * d
        full = full[..., full.shape[-1] - steps - span:]
        if count and _counting.active():
            lags = [full[..., span - i * d:][..., :steps] for i in range(KERNEL_LENGTH)]  # [B, C, T] each
            windows = torch.stack(lags, -1).permute(2, 0, 1, 3).reshape(steps, full.shape[0], -1)
            _counting.report(self.slots[slot], "synapse", windows)
        w = self.weight_of(slot).flip(-1).to(full.dtype)  # conv1d correlates forward: tap i meets lag i·d
        return F.conv1d(full, w, dilation=d)

    @torch.no_grad()
    def fit(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> KernelBank:
        """Fit the dilations to the length of ``x: [T, B, C]`` and the biases to its responses over the valid
        steps (``lengths [B]``; default: all ``T`` steps but each sample's trailing steps at which every
        channel is exactly zero, the padding of a shorter series). Returns ``self``."""
        check_sequence(x, allow_complex=False)
        if x.dim() != 3 or x.shape[-1] != self.in_channels:
            raise ValueError(f"x: expected [T, B, {self.in_channels}] (time, batch, channels), got {tuple(x.shape)}")
        steps, batch = x.shape[0], x.shape[1]
        if lengths is None:
            nonzero = (x != 0).any(-1)  # [T, B]
            ones = torch.ones(batch, dtype=torch.long, device=x.device)
            lengths = torch.where(nonzero.any(0), steps - nonzero.flip(0).int().argmax(0), ones)
        lengths = check_lengths(lengths, steps, batch, x.device)
        span = max(float(lengths.max()) - 1.0, 1.0) / (KERNEL_LENGTH - 1)
        top = math.log2(max(span, 1.0))
        exps = torch.linspace(0.0, top, self.num_dilations, dtype=torch.float64)
        self.dilation.copy_(torch.floor(2.0 ** exps).long().clamp_min(1))
        valid = torch.arange(steps, device=x.device)[:, None] < lengths[None, :]  # [T, B]
        per_slot = KERNELS * self.biases_per_kernel
        full = self.padded(x)  # (after the dilations: their receptive field)
        for j in range(self.num_dilations):
            r = self.channel_responses(full, j, steps, count=False).permute(2, 0, 1)[valid]  # [n, 84P]
            q = self.quantiles[j * per_slot:(j + 1) * per_slot].to(r.dtype)
            srt = r.sort(0).values  # the quantile of each column, linear between order statistics
            pos = q * (srt.shape[0] - 1)
            lo = pos.floor().long()
            hi = (lo + 1).clamp_max(srt.shape[0] - 1)
            frac = pos - lo
            cols = torch.arange(per_slot, device=x.device)
            b = srt[lo, cols] * (1 - frac) + srt[hi, cols] * frac
            self.bias[j * per_slot:(j + 1) * per_slot] = b.to(self.bias.dtype)
        self.fitted.fill_(True)
        return self

    def forward(self, x: torch.Tensor, state: torch.Tensor | None = None, return_state: bool = False):
        check_sequence(x, allow_complex=False)
        if x.dim() != 3 or x.shape[-1] != self.in_channels:
            raise ValueError(f"x: expected [T, B, {self.in_channels}] (time, batch, channels), got {tuple(x.shape)}")
        if not bool(self.fitted):
            if not self.training:
                self.check_fitted()
            if state is not None:
                raise RuntimeError("KernelBank: fit it (fit(x, lengths)) before streaming a sequence in chunks")
            self.fit(x)
        pad = self.receptive_field - 1
        past = _past(state, x, pad)
        full = self.padded(x, past)
        out = torch.cat([self.channel_responses(full, j, x.shape[0]) for j in range(self.num_dilations)], 1)
        out = out.permute(2, 0, 1) - self.bias.to(x.dtype) + self.threshold
        if not return_state:
            return out
        return out, full.permute(2, 0, 1)[full.shape[-1] - pad:]  # the last `pad` inputs

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, features={self.features} ({self.num_dilations} dilations x {KERNELS} kernels "
                f"x {self.biases_per_kernel} biases), threshold={self.threshold:g}, fitted={bool(self.fitted)}")

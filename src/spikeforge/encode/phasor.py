r"""Phasor code: the value as the phase of a spike in an oscillation, for resonate-and-fire networks.

A value ``x`` in [0, 1] is the phase ``φ = π·x`` (half a turn, so that 0 and 1 stay apart). With an
oscillation of ``P = period`` steps (angular frequency ``ω = 2π/P`` per step, the ``omega`` of a
:class:`spikeforge.ResonateAndFire` neuron that should resonate with it):

* ``output="complex"``: a complex unit spike ``e^{iπx}`` at the start of every period (steps ``0, P, 2P, …``);
  for a series (``steps=None``) one such spike at every step, ``e^{iπ x_t}``.
* ``output="spikes"``: a real spike at the step of that phase in every period, ``t = k·P + round(x·P/2)``.

Both decode the same way, by the phasor angle of the spikes read against the oscillation,

.. math:: z = \sum_t s_t\, e^{iωt}, \qquad x̂ = \arg(z)/π,

(``arg`` taken in ``[0, 2π)``; an angle in ``(π, 2π)``, only reached by moved spikes, is mapped to the
nearer end, 1 below ``3π/2`` and 0 above; ``z = 0``, no spikes, decodes as 0). ``z`` is, up to the factor
``e^{iω(T−1)}``, the potential of a loss-free resonator ``v ← e^{−iω}·v + s`` after the window (checked in
the tests). Error: float rounding for complex spikes; ``1/P`` (the rounding of the spike time) for real ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from spikeforge.encode._checks import (
    as_float,
    check_int,
    check_lengths,
    check_ndim,
    check_steps,
    time_mask,
    unit_static,
)

__all__ = ["Phasor", "phasor_decode"]

OUTPUTS = ("spikes", "complex")


@dataclass(frozen=True)
class Phasor:
    """Phasor code (the equations in :mod:`spikeforge.encode.phasor`).

    ``steps=T`` (default 16): static input ``[B, ...]`` in [0, 1] (clamped), output ``[T, B, ...]``.
    ``steps=None`` (``output="complex"`` only): a time-major series ``[T, B, ...]`` in [0, 1] (clamped), one
    complex spike per step (``lengths`` zeroes padding). ``period``: ``P >= 2`` steps. ``output``:
    ``"spikes"`` (real, the default: what the data loaders and real-valued networks take) or ``"complex"``
    (a complex tensor, for complex neurons). :meth:`error_bound` is the promised round-trip error.
    """

    steps: int | None = 16
    period: int = 8
    output: Literal["spikes", "complex"] = "spikes"

    def __post_init__(self) -> None:
        check_steps(self.steps, "Phasor", allow_none=True)
        check_int(self.period, "Phasor", "period", minimum=2)
        if self.output not in OUTPUTS:
            raise ValueError(f"Phasor: output must be one of {OUTPUTS}; got {self.output!r}")
        if self.steps is None and self.output != "complex":
            raise ValueError("Phasor: steps=None (a series, one phase per step) needs output='complex'; got 'spikes'")
        if self.steps is not None and self.output == "spikes" and self.steps < self.period // 2 + 1:
            raise ValueError(
                f"Phasor: steps must cover half a period (steps >= period // 2 + 1 = {self.period // 2 + 1}) so that "
                f"x = 1 can fire; got steps={self.steps}"
            )

    @property
    def deterministic(self) -> bool:
        return True

    @property
    def input_kind(self) -> str:
        return "series" if self.steps is None else "static"

    def out_channels(self, channels: int) -> int:
        return channels

    @property
    def omega(self) -> float:
        """``ω = 2π / P``, the angular frequency (rad per step) of the oscillation."""
        return 2 * math.pi / self.period

    def error_bound(self, x: Tensor) -> Tensor:
        """For each value: ``1/P`` for real spikes; ``1e-6`` (float32 rounding of the angle) for complex ones."""
        x = unit_static(x, "Phasor.error_bound")
        return torch.full_like(x, 1.0 / self.period if self.output == "spikes" else 1e-6)

    def __call__(self, x: Tensor, *, lengths: Tensor | None = None, generator: torch.Generator | None = None) -> Tensor:
        if self.steps is None:
            x = as_float(x, "Phasor", "time-major [T, B, ...] in [0, 1]")
            check_ndim(x, "Phasor", "time-major [T, B, ...] in [0, 1]", at_least=2)
            z = torch.polar(torch.ones_like(x), math.pi * x.clamp(0.0, 1.0))
            lengths = check_lengths(lengths, "Phasor", x.shape[0], x.shape[1])
            if lengths is not None:
                mask = time_mask(lengths, x.shape[0], x.device)
                z = z * mask.reshape(mask.shape + (1,) * (x.dim() - 2)).to(x.dtype)
            return z
        x = unit_static(x, "Phasor")
        steps = torch.arange(self.steps, device=x.device).reshape(-1, *([1] * x.dim()))
        phase_step = torch.remainder(steps, self.period)
        if self.output == "complex":
            z = torch.polar(torch.ones_like(x), math.pi * x).unsqueeze(0)
            return torch.where(phase_step == 0, z, torch.zeros_like(z))
        t = torch.round(x * (self.period / 2)).long()
        return (phase_step == t.unsqueeze(0)).to(x.dtype)

    def decode(self, spikes: Tensor) -> Tensor:
        """``x̂``, the phasor angle (:func:`phasor_decode`); per step for a series (``steps=None``)."""
        if self.steps is None:
            # Each step on its own: a window of one step, the spike's own phase.
            return phasor_decode(torch.as_tensor(spikes).unsqueeze(0), period=self.period)
        return phasor_decode(spikes, period=self.period)


def phasor_decode(spikes: Tensor, *, period: int = 8) -> Tensor:
    """The phasor angle: ``x̂ = arg(Σ_t s_t e^{2πi·t/P}) / π`` over dim 0 of ``spikes [T, B, ...]`` (real
    non-negative or complex), ``arg`` in ``[0, 2π)``, angles in ``(π, 2π)`` mapped to the nearer end, 0 without
    spikes. Returns a real ``[B, ...]``."""
    check_int(period, "phasor_decode", "period", minimum=2)
    expected = "time-major [T, B, ...] (real non-negative or complex spikes)"
    if not isinstance(spikes, Tensor):
        spikes = torch.as_tensor(spikes)
    if spikes.dim() < 2:
        raise ValueError(f"phasor_decode: spikes must be {expected}; got shape {tuple(spikes.shape)}")
    if spikes.is_complex():
        z = spikes
        if z.numel() and not bool(torch.isfinite(torch.view_as_real(z)).all()):
            raise ValueError(f"phasor_decode: spikes must be finite {expected}; got NaN or infinite values")
    else:
        real = as_float(spikes, "phasor_decode", expected, name="spikes")
        if real.numel() and bool((real < 0).any()):
            raise ValueError(f"phasor_decode: spikes must be {expected}; got negative real values")
        dtype = torch.complex128 if real.dtype == torch.float64 else torch.complex64
        z = real.to(dtype)
    steps = torch.arange(z.shape[0], device=z.device, dtype=torch.float64)
    rot = torch.polar(torch.ones_like(steps), 2 * math.pi * torch.remainder(steps, period) / period)
    total = torch.tensordot(rot.to(z.dtype), z, dims=([0], [0]))
    angle = torch.remainder(torch.angle(total), 2 * math.pi)
    x = angle / math.pi
    x = torch.where(x > 1.0, torch.where(x < 1.5, torch.ones_like(x), torch.zeros_like(x)), x)
    # No spikes (z = 0), or spikes that cancel out to within rounding: no phase, decoded as 0.
    silent = total.abs() <= 1e-6 * z.abs().sum(dim=0).clamp(min=1e-30)
    return torch.where(silent, torch.zeros_like(x), x)

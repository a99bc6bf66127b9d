"""Pair-based spike-timing-dependent plasticity (STDP) with pre- and postsynaptic traces (Bi & Poo 1998;
the trace form of Morrison, Diesmann & Gerstner 2008), in steps of ``dt = 1``, without autograd.

Traces, per step ``t`` (first decay, then the step's spikes)::

    x_pre  <- exp(-1/τ_pre)·x_pre  + s_pre(t)           pairing "all"     (all-to-all pairs)
    x_pre  <- s_pre(t) ? 1 : exp(-1/τ_pre)·x_pre         pairing "nearest" (each spike pairs with the latest
                                                                           spike of the other side only)

and the same for ``x_post``. The weight change of synapse ``j -> i`` at step ``t``::

    Δw_ij = η_post·s_post_i(t)·x_pre_j(t)·f₊(w_ij) - η_pre·s_pre_j(t)·x_post_i(t⁻)·f₋(w_ij)

``x_pre(t)`` includes the presynaptic spike of step ``t`` (a simultaneous pair is causal: the input of step
``t`` drives step ``t``'s spike), ``x_post(t⁻)`` is the postsynaptic trace before step ``t``'s spike is added.
All-to-all, summed over the spike trains: potentiation ``η_post Σ_{t_post} Σ_{t_pre <= t_post}
exp(-(t_post - t_pre)/τ_pre)``, depression ``η_pre Σ_{t_pre} Σ_{t_post < t_pre} exp(-(t_pre - t_post)/τ_post)``.
Weight dependence: ``"additive"`` ``f₊ = f₋ = 1`` (weights then clipped to ``[w_min, w_max]``);
``"multiplicative"`` (soft bounds) ``f₊ = w_max - w``, ``f₋ = w - w_min``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch

__all__ = ["DEPENDENCES", "PAIRINGS", "PairSTDP", "STDPTraces"]

DEPENDENCES = ("additive", "multiplicative")
PAIRINGS = ("all", "nearest")


class STDPTraces(NamedTuple):
    """``pre [B, C]`` and ``post [B, N]`` traces."""

    pre: torch.Tensor
    post: torch.Tensor


@dataclass(frozen=True)
class PairSTDP:
    """The rule of the module docstring. ``nu_post`` (``η_post``, potentiation on a postsynaptic spike),
    ``nu_pre`` (``η_pre``, depression on a presynaptic spike), ``tau_pre``, ``tau_post`` (steps),
    ``dependence``, ``pairing``, ``w_min``, ``w_max``."""

    nu_post: float = 1e-2
    nu_pre: float = 1e-4
    tau_pre: float = 4.0
    tau_post: float = 4.0
    dependence: str = "additive"
    pairing: str = "all"
    w_min: float = 0.0
    w_max: float = 1.0

    def __post_init__(self) -> None:
        for name in ("nu_post", "nu_pre"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not v >= 0:
                raise ValueError(f"{name}: expected a number >= 0, got {v!r}")
        for name in ("tau_pre", "tau_post"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0:
                raise ValueError(f"{name}: expected a number > 0, got {v!r}")
        if self.dependence not in DEPENDENCES:
            raise ValueError(f"dependence: expected one of {DEPENDENCES}, got {self.dependence!r}")
        if self.pairing not in PAIRINGS:
            raise ValueError(f"pairing: expected one of {PAIRINGS}, got {self.pairing!r}")
        if not float(self.w_min) < float(self.w_max):
            raise ValueError(f"w_min, w_max: expected w_min < w_max, got {self.w_min!r}, {self.w_max!r}")

    def initial_traces(self, batch: int, n_pre: int, n_post: int, *, dtype: torch.dtype = torch.float32,
                       device: torch.device | str | None = None) -> STDPTraces:
        return STDPTraces(torch.zeros(batch, n_pre, dtype=dtype, device=device),
                          torch.zeros(batch, n_post, dtype=dtype, device=device))

    def _trace(self, x: torch.Tensor, s: torch.Tensor, tau: float) -> torch.Tensor:
        x = x * math.exp(-1.0 / tau)
        return x + s if self.pairing == "all" else torch.where(s > 0, torch.ones_like(x), x)

    @torch.no_grad()
    def update(self, w: torch.Tensor, traces: STDPTraces, s_pre: torch.Tensor,
               s_post: torch.Tensor) -> tuple[torch.Tensor, STDPTraces]:
        """One step: ``(Δw [N, C], new traces)`` for weights ``w [N, C]`` (post x pre), spikes ``s_pre [B, C]``,
        ``s_post [B, N]``; ``Δw`` is summed over the batch (the weights are not changed here)."""
        if w.dim() != 2 or s_pre.shape[-1] != w.shape[1] or s_post.shape[-1] != w.shape[0]:
            raise ValueError(f"s_pre, s_post: expected [B, {w.shape[1]}] and [B, {w.shape[0]}] for w "
                             f"{tuple(w.shape)}, got {tuple(s_pre.shape)} and {tuple(s_post.shape)}")
        pre = self._trace(traces.pre, s_pre, self.tau_pre)
        post_before = traces.post * math.exp(-1.0 / self.tau_post)
        depress = post_before.t() @ s_pre  # [N, C]: presynaptic spikes meet earlier postsynaptic ones
        potentiate = s_post.t() @ pre  # [N, C]: postsynaptic spikes meet earlier-or-simultaneous presynaptic ones
        if self.dependence == "multiplicative":
            potentiate = potentiate * (self.w_max - w)
            depress = depress * (w - self.w_min)
        post = self._trace(traces.post, s_post, self.tau_post)
        return self.nu_post * potentiate - self.nu_pre * depress, STDPTraces(pre, post)

    @torch.no_grad()
    def apply(self, w: torch.Tensor, dw: torch.Tensor) -> torch.Tensor:
        """``w <- clip(w + Δw, w_min, w_max)`` in place; returns ``w``."""
        return w.add_(dw).clamp_(self.w_min, self.w_max)

"""The unsupervised network of Diehl & Cook (2015), in steps of ``dt = 1``: rate-coded input spikes ``x_t``
reach ``N`` excitatory LIF neurons through plastic weights ``W ≥ 0``; each excitatory spike inhibits every
other excitatory neuron at the next step (the paper's inhibitory population, one inhibitory neuron per
excitatory one, folded into a direct all-but-self inhibition of strength ``w_inh``); adaptive thresholds
``θ`` make neurons that fire often harder to fire. Per step, for neuron ``i``::

    I_i = Σ_j W_ij x_j(t) - w_inh·(Σ_k s_k(t-1) - s_i(t-1))
    v_i <- λ·v_i + I_i                      (λ = exp(-1/τ); held at 0 while refractory)
    s_i = [v_i >= v_th + θ_i],  then v_i <- 0 and ``refractory`` steps without integration

Learning (the method :mod:`spikeforge.learn.methods.stdp`) changes ``W`` by STDP, ``θ`` (``θ <- θ +
θ_plus·s`` and its decay) and normalises ``W``'s rows; this module only runs the network (``θ`` as it is).
After training each neuron carries the class it responds to most (:attr:`DiehlCook.labels`, ``-1``: none);
the readout is the class vote: for class ``c`` the spikes of the neurons labelled ``c`` accumulated up to step
``t``, divided by their number, ``[T, B, classes]`` (0 for a class without neurons).

Spikes, the input synapses and the inhibition are reported to the counting context
(:mod:`spikeforge._counting`): the energy analysis counts them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import nn

from spikeforge import _counting

__all__ = ["DCState", "DiehlCook", "ExcitatoryLayer", "LateralInhibition"]


class DCState(NamedTuple):
    """``v`` membrane potentials, ``ref`` refractory steps left, ``s`` last step's spikes, ``n`` the spikes
    counted since rest (what the votes accumulate), each ``[B, N]``."""

    v: torch.Tensor
    ref: torch.Tensor
    s: torch.Tensor
    n: torch.Tensor


class LateralInhibition(nn.Module):
    """The all-but-self inhibition: ``weight = -w_inh·(1 - I)`` ``[N, N]`` (a buffer, not trained); counted as
    recurrent synapses."""

    def __init__(self, n: int, strength: float) -> None:
        super().__init__()
        self.strength = float(strength)
        self.register_buffer("weight", -self.strength * (1.0 - torch.eye(n)))

    def extra_repr(self) -> str:
        return f"{self.weight.shape[0]}, strength={self.strength:g}"


class ExcitatoryLayer(nn.Module):
    """The excitatory LIF population and its adaptive thresholds ``theta`` (a buffer: the state a training
    method keeps across batches)."""

    def __init__(self, n: int, tau: float, threshold: float, refractory: int) -> None:
        super().__init__()
        self.n, self.tau, self.threshold, self.refractory = int(n), float(tau), float(threshold), int(refractory)
        self.register_buffer("theta", torch.zeros(n))

    @property
    def decay(self) -> float:
        return math.exp(-1.0 / self.tau)

    def extra_repr(self) -> str:
        return f"{self.n}, tau={self.tau:g}, threshold={self.threshold:g}, refractory={self.refractory}"


def _positive(name: str, value, *, integer: bool = False, zero: bool = False) -> None:
    kinds = (int,) if integer else (int, float)
    ok = not isinstance(value, bool) and isinstance(value, kinds) and (value >= 0 if zero else value > 0)
    if not ok:
        what = "an integer" if integer else "a number"
        raise ValueError(f"{name}: expected {what} {'>= 0' if zero else '> 0'}, got {value!r}")


class DiehlCook(nn.Module):
    """The network of the module docstring: ``n_input`` inputs, ``n_neurons`` excitatory neurons, votes for
    ``n_classes`` classes.

    Args:
        tau: membrane time constant (steps); ``threshold``: ``v_th``; ``refractory``: steps.
        inhibition: ``w_inh``, in units of the potential (the threshold is 1 by default).
        norm: every row of ``W`` (a neuron's input weights) sums to ``norm`` (initially, and after each
            normalisation by the learning method).
        w_max: weights lie in ``[0, w_max]``; initial weights uniform in ``[0, w_max)`` (torch's global RNG),
            then normalised.
    """

    def __init__(self, n_input: int, n_neurons: int, n_classes: int, *, tau: float = 20.0, threshold: float = 1.0,
                 refractory: int = 2, inhibition: float = 2.0, norm: float = 4.0, w_max: float = 1.0) -> None:
        super().__init__()
        for name, value in (("n_input", n_input), ("n_neurons", n_neurons), ("n_classes", n_classes)):
            _positive(name, value, integer=True)
        for name, value in (("tau", tau), ("threshold", threshold), ("norm", norm), ("w_max", w_max)):
            _positive(name, value)
        _positive("inhibition", inhibition, zero=True)
        _positive("refractory", refractory, integer=True, zero=True)
        if norm > n_input * w_max:
            raise ValueError(f"norm: expected at most n_input·w_max = {n_input * w_max:g} (rows of weights in "
                             f"[0, w_max]), got {norm!r}")
        self.norm, self.w_max, self.n_classes = float(norm), float(w_max), int(n_classes)
        self.input = nn.Linear(n_input, n_neurons, bias=False)
        self.input.weight.requires_grad_(False)  # learnt by STDP, never by gradients
        with torch.no_grad():
            self.input.weight.uniform_(0.0, w_max)
        self.normalize()
        self.excitatory = ExcitatoryLayer(n_neurons, tau, threshold, refractory)
        self.inhibition = LateralInhibition(n_neurons, inhibition)
        self.register_buffer("labels", torch.full((n_neurons,), -1, dtype=torch.long))

    @property
    def n_neurons(self) -> int:
        return self.excitatory.n

    @torch.no_grad()
    def normalize(self) -> None:
        """Scale every row of ``W`` to sum ``norm`` (a row of zeros stays zero), then clip to ``[0, w_max]``."""
        w = self.input.weight
        sums = w.sum(1, keepdim=True)
        w.mul_(torch.where(sums > 0, self.norm / sums.clamp_min(1e-12), torch.zeros_like(sums))).clamp_(0.0,
                                                                                                       self.w_max)

    def initial_state(self, x: torch.Tensor) -> DCState:
        zeros = torch.zeros(x.shape[1], self.n_neurons, dtype=x.dtype, device=x.device)
        return DCState(zeros, zeros, zeros, zeros)

    def step(self, x_t: torch.Tensor, state: DCState) -> tuple[torch.Tensor, DCState]:
        """One step (module docstring) for ``x_t [B, n_input]``; returns ``(s_t [B, N], state)``."""
        exc = self.excitatory
        s_prev = state.s
        inh = self.inhibition.strength * (s_prev.sum(1, keepdim=True) - s_prev)
        current = x_t @ self.input.weight.t() - inh
        active = state.ref <= 0
        v = torch.where(active, exc.decay * state.v + current, torch.zeros_like(state.v))
        s = (active & (v >= exc.threshold + exc.theta)).to(v.dtype)
        v = v * (1.0 - s)
        ref = torch.where(s > 0, torch.full_like(state.ref, float(exc.refractory)), (state.ref - 1).clamp_min(0))
        return s, DCState(v, ref, s, state.n + s)

    def run(self, x: torch.Tensor, state: DCState | None = None,
            on_step: Callable[[int, torch.Tensor, torch.Tensor], None] | None = None) -> tuple[torch.Tensor, DCState]:
        """Spikes ``[T, B, N]`` over ``x [T, B, n_input]`` and the final state; ``on_step(t, x_t, s_t)`` after
        each step (a learning rule's hook: it may change ``W`` and ``θ``, which the next step uses)."""
        if not isinstance(x, torch.Tensor) or x.dim() != 3 or x.shape[-1] != self.input.in_features:
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"x: expected [T, B, {self.input.in_features}], got {got}")
        if state is None:
            state = self.initial_state(x)
        start = state.s
        spikes = []
        for t in range(x.shape[0]):
            s, state = self.step(x[t], state)
            spikes.append(s)
            if on_step is not None:
                on_step(t, x[t], s)
        out = torch.stack(spikes)
        if _counting.active():
            _counting.report(self.input, "synapse", x)
            _counting.report(self.inhibition, "recurrent", torch.cat([start[None], out[:-1]]))
            _counting.report(self.excitatory, "neuron", out)
        return out, state

    def votes(self, spikes: torch.Tensor, before: torch.Tensor | None = None) -> torch.Tensor:
        """The readout of the module docstring for spikes ``[T, B, N]``: ``[T, B, n_classes]``; ``before
        [B, N]``: the spikes counted before them (a stream continued from a state)."""
        known = self.labels >= 0
        onehot = torch.zeros(self.n_neurons, self.n_classes, dtype=spikes.dtype, device=spikes.device)
        onehot[known, self.labels[known]] = 1.0
        per_class = onehot.sum(0).clamp_min(1.0)
        counts = torch.cumsum(spikes, 0) if before is None else before + torch.cumsum(spikes, 0)
        return counts @ onehot / per_class

    def forward(self, x: torch.Tensor, state: DCState | None = None, return_state: bool = False):
        """Class votes ``[T, B, n_classes]`` for ``x [T, B, n_input]`` (no learning; ``θ`` as it is); from
        ``state`` the votes go on accumulating (chunks of a stream give the votes of the whole)."""
        before = None if state is None else state.n
        spikes, state = self.run(x, state)
        votes = self.votes(spikes, before)
        return (votes, state) if return_state else votes

    def extra_repr(self) -> str:
        return f"norm={self.norm:g}, w_max={self.w_max:g}, classes={self.n_classes}"

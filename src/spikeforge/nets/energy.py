"""A layered, convergent (Hopfield-like) energy network for equilibrium propagation, rate-based or spiking.

Layers ``u_0 = x`` (the input, clamped), ``u_1 .. u_L`` (hidden layers, then the output layer), one weight
``W_k`` between layers ``k-1`` and ``k`` used in both directions (symmetric connections), biases ``b_k``,
``ρ = clip(·, 0, 1)`` (the hard sigmoid). The energy (Scellier & Bengio 2017), on states ``u_k ∈ [0, 1]``::

    E(u) = ½ Σ_k |u_k|² - Σ_k ρ(u_k)ᵀ W_k ρ(u_{k-1}) - Σ_k b_kᵀ ρ(u_k)

and, with a target ``t`` for the output layer, the cost ``C = ½ |u_L - t|²`` and the total ``F = E + β·C``.
Every step moves the states down ``F`` (projected onto the box ``[0, 1]``, where ``ρ' = 1``), synchronously::

    d_k   = W_k a_{k-1} + W_{k+1}ᵀ a_{k+1} + b_k              (the second term for k < L only)
    u_k  <- clip((1 - ε)·u_k + ε·d_k, 0, 1)                     (k < L)
    u_L  <- clip((1 - ε)·u_L + ε·(d_L + β·(t - u_L)), 0, 1)

whose fixed point is ``u_k = ρ(d_k)`` (free phase, ``β = 0``: the minimum of ``E``). ``a_k`` is what layer
``k`` sends its neighbours:

* ``spiking=False`` -- its rate ``ρ(u_k)`` (the input layer sends ``x_t`` as it comes);
* ``spiking=True`` -- spikes of a first-order sigma-delta modulator (an integrate-and-fire neuron with a
  subtractive reset, O'Connor, Gavves & Welling 2019): ``φ_k <- φ_k + ρ(u_k)``, ``s_k = [φ_k >= 1]``,
  ``φ_k <- φ_k - s_k``; the spike count over any window differs from ``Σ ρ(u_k)`` by less than one spike,
  and the leaky update of ``u`` above low-pass filters the spikes it receives (the input layer sends the
  data's spikes).

The forward ``x [T, B, C] -> ρ(u_L) [T, B, classes]`` is the free phase over the ``T`` steps of ``x``, from
rest (``u = 0``) or from ``state``. Spikes (or rates) of every layer and the inputs of every weight, in both
directions, are reported to the counting context (:mod:`spikeforge._counting`), so the energy analysis counts
the feedback synapses too (:class:`TiedTranspose`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

from spikeforge import _counting

__all__ = ["EnergyNet", "EnergyState", "Phase", "SigmaDelta", "TiedTranspose", "hard_sigmoid"]


def hard_sigmoid(u: torch.Tensor) -> torch.Tensor:
    """``ρ(u) = clip(u, 0, 1)``."""
    return u.clamp(0.0, 1.0)


class EnergyState(NamedTuple):
    """The state of an :class:`EnergyNet`: ``u`` the states of layers ``1..L``, ``phi`` the sigma-delta
    residues of layers ``1..L`` (zeros and unused when rate-based), ``a`` what each layer ``1..L`` sent at the
    last step (its spikes or its rate; the neighbours' input of the next step)."""

    u: tuple[torch.Tensor, ...]
    phi: tuple[torch.Tensor, ...]
    a: tuple[torch.Tensor, ...]


class Phase(NamedTuple):
    """What :meth:`EnergyNet.relax` returns: ``readout [T, B, K]`` (``ρ(u_L)`` after each step), the final
    ``state``, and over the last ``window`` steps the mean rate ``ρ(u_k)`` (``rates``) and the mean of what
    each layer sent (``sent``: spike frequencies when spiking), for layers ``1..L``."""

    readout: torch.Tensor
    state: EnergyState
    rates: tuple[torch.Tensor, ...]
    sent: tuple[torch.Tensor, ...]


class TiedTranspose(nn.Linear):
    """The feedback direction of a :class:`torch.nn.Linear` ``W``: ``weight`` is ``Wᵀ`` (a view, no
    parameter of its own), so that counting (:func:`spikeforge.hardware.count_ops`) sees the synapses that
    carry layer ``k+1``'s signal back to layer ``k``. It is not trained; ``W`` is."""

    def __init__(self, forward: nn.Linear) -> None:
        nn.Module.__init__(self)
        self.in_features, self.out_features = forward.out_features, forward.in_features
        self.register_parameter("bias", None)
        object.__setattr__(self, "_tied", (forward,))  # not a submodule: W belongs to its own layer

    @property
    def weight(self) -> torch.Tensor:  # type: ignore[override]
        return self._tied[0].weight.t()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight)


class SigmaDelta(nn.Module):
    """A population of ``size`` units of an :class:`EnergyNet` layer (what the counting context names as the
    layer's neurons): spiking, the sigma-delta modulator of the module docstring; else rate units."""

    def __init__(self, size: int, spiking: bool) -> None:
        super().__init__()
        self.size, self.spiking = int(size), bool(spiking)

    def extra_repr(self) -> str:
        return f"{self.size}, spiking={self.spiking}"


def _check_positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name}: expected an integer >= 1, got {value!r}")
    return value


class EnergyNet(nn.Module):
    """The layered energy network of the module docstring, ``sizes = [in, hidden..., out]``.

    Args:
        sizes: layer sizes, at least ``[in, out]``.
        eps: the step ``ε ∈ (0, 1]`` of the state update.
        spiking: layers send sigma-delta spikes (``True``) or their rates.
        init_scale: weights drawn uniformly in ``±init_scale·sqrt(6 / (n_in + n_out))`` (Glorot; torch's
            global RNG), biases zero.
    """

    def __init__(self, sizes: Sequence[int], *, eps: float = 0.5, spiking: bool = True,
                 init_scale: float = 1.0) -> None:
        super().__init__()
        sizes = list(sizes)
        if len(sizes) < 2:
            raise ValueError(f"sizes: expected at least two layer sizes [in, ..., out], got {sizes!r}")
        for s in sizes:
            _check_positive_int("sizes", s)
        if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not 0.0 < eps <= 1.0:
            raise ValueError(f"eps: expected a number in (0, 1], got {eps!r}")
        if not isinstance(spiking, bool):
            raise TypeError(f"spiking: expected True or False, got {spiking!r}")
        if isinstance(init_scale, bool) or not isinstance(init_scale, (int, float)) or not init_scale > 0:
            raise ValueError(f"init_scale: expected a number > 0, got {init_scale!r}")
        self.sizes, self.eps, self.spiking = sizes, float(eps), spiking
        self.layers = nn.ModuleList()
        self.feedback = nn.ModuleList()
        self.units = nn.ModuleList()
        for k in range(len(sizes) - 1):
            lin = nn.Linear(sizes[k], sizes[k + 1])
            bound = init_scale * math.sqrt(6.0 / (sizes[k] + sizes[k + 1]))
            with torch.no_grad():
                lin.weight.uniform_(-bound, bound)
                lin.bias.zero_()
            self.layers.append(lin)
            self.units.append(SigmaDelta(sizes[k + 1], spiking))
        for k in range(1, len(sizes) - 1):
            self.feedback.append(TiedTranspose(self.layers[k]))

    @property
    def num_layers(self) -> int:
        """``L``: the layers that evolve (hidden and output)."""
        return len(self.sizes) - 1

    def initial_state(self, x: torch.Tensor) -> EnergyState:
        """Rest: ``u = 0``, ``φ = 0``, nothing sent; for input ``x [T, B, C]``."""
        b = x.shape[1]
        zeros = tuple(torch.zeros(b, n, dtype=x.dtype, device=x.device) for n in self.sizes[1:])
        return EnergyState(zeros, zeros, zeros)

    def _check(self, x: torch.Tensor, state: EnergyState | None) -> EnergyState:
        if not isinstance(x, torch.Tensor) or x.dim() != 3 or x.shape[-1] != self.sizes[0]:
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"x: expected [T, B, {self.sizes[0]}], got {got}")
        if state is None:
            return self.initial_state(x)
        if not isinstance(state, EnergyState) or len(state.u) != self.num_layers:
            raise ValueError(f"state: expected an EnergyState of {self.num_layers} layers (from this network), "
                             f"got {type(state).__name__}")
        return state

    def relax(self, x: torch.Tensor, state: EnergyState | None = None, *, beta: float = 0.0,
              target: torch.Tensor | None = None, window: int | None = None) -> Phase:
        """Run the dynamics over the steps of ``x [T, B, C]`` with nudging ``beta`` towards ``target
        [B, out]`` (needed when ``beta != 0``); ``window``: the last steps averaged into
        :attr:`Phase.rates` / :attr:`Phase.sent` (default: the second half, at least one)."""
        state = self._check(x, state)
        steps = x.shape[0]
        window = max(1, steps - steps // 2) if window is None else min(_check_positive_int("window", window), steps)
        if beta != 0.0 and (target is None or tuple(target.shape) != (x.shape[1], self.sizes[-1])):
            got = None if target is None else tuple(target.shape)
            raise ValueError(f"target: expected [B, {self.sizes[-1]}] = ({x.shape[1]}, {self.sizes[-1]}) when "
                             f"beta != 0, got {got}")
        eps, n = self.eps, self.num_layers
        u, phi, a = list(state.u), list(state.phi), list(state.a)
        weights = [lin.weight for lin in self.layers]
        biases = [lin.bias for lin in self.layers]
        readout = []
        sent_steps: list[list[torch.Tensor]] = [[] for _ in range(n)]
        rate_sum = [torch.zeros_like(v) for v in u]
        sent_sum = [torch.zeros_like(v) for v in u]
        for t in range(steps):
            below = [x[t], *a[:-1]]  # what layer k-1 sent at the previous step (the input: this step's x)
            new_u = []
            for k in range(n):
                d = F.linear(below[k], weights[k], biases[k])
                if k + 1 < n:
                    d = d + a[k + 1] @ weights[k + 1]
                if k == n - 1 and beta != 0.0:
                    d = d + beta * (target - u[k])
                new_u.append(((1.0 - eps) * u[k] + eps * d).clamp(0.0, 1.0))
            u = new_u
            for k in range(n):
                r = u[k]  # ρ(u) = u on the box
                if self.spiking:
                    p = phi[k] + r
                    s = (p >= 1.0).to(r.dtype)
                    phi[k], a[k] = p - s, s
                else:
                    a[k] = r
                sent_steps[k].append(a[k])
                if t >= steps - window:
                    rate_sum[k] = rate_sum[k] + r
                    sent_sum[k] = sent_sum[k] + a[k]
            readout.append(u[-1])
        if _counting.active():
            self._report(x, [torch.stack(s) for s in sent_steps], state.a)
        rates = tuple(v / window for v in rate_sum)
        sent = tuple(v / window for v in sent_sum)
        return Phase(torch.stack(readout), EnergyState(tuple(u), tuple(phi), tuple(a)), rates, sent)

    def _report(self, x: torch.Tensor, sent: list[torch.Tensor], before: tuple[torch.Tensor, ...]) -> None:
        """The counting context's view: layer ``k``'s weight receives what layer ``k-1`` sent (the input: ``x``),
        the feedback weight ``W_{k+1}ᵀ`` what layer ``k+1`` sent the step before."""
        for k, lin in enumerate(self.layers):
            _counting.report(lin, "synapse", x if k == 0 else torch.cat([before[k - 1][None], sent[k - 1][:-1]]))
        for k, back in enumerate(self.feedback):
            _counting.report(back, "synapse", torch.cat([before[k + 1][None], sent[k + 1][:-1]]))
        for k, pop in enumerate(self.units):
            _counting.report(pop, "neuron", sent[k], spiking=self.spiking)

    def forward(self, x: torch.Tensor, state: EnergyState | None = None, return_state: bool = False):
        """The free phase over ``x [T, B, C]``: ``ρ(u_L)`` after each step ``[T, B, out]``."""
        phase = self.relax(x, state)
        return (phase.readout, phase.state) if return_state else phase.readout

    def extra_repr(self) -> str:
        return f"sizes={self.sizes}, eps={self.eps:g}, spiking={self.spiking}"

r"""The general spiking neuron as pure functions: ``(input, state, params) -> (output, state)``.

This module states the neuron's equations once; every other docstring points here.

Per time step ``t`` three processes act on the potential ``v`` (real, or complex for resonate-and-fire):

* **integrate** -- ``v* = λ·v + I``, the decay ``λ = exp(-dt/τ + i·ω·dt)`` (``|λ| ≤ 1``) and the input
  current ``I``. ``I = x_t + W_rec·s_{t-1}`` (with a recurrent synapse), passed first through a synaptic
  current ``i ← λ_syn·i + I`` for current-based (CuBa) neurons. During a refractory period the input is
  ignored.
* **fire** -- the spike count ``n ∈ {0..n_max}`` is drawn with probability ``p_spike(v*, n)`` from the
  firing model (:mod:`spikeforge.neuron.firing`) on ``u = Re(v*)`` against the threshold
  ``θ_eff = θ + β·a`` (``a`` is the adaptation variable of adaptive neurons, ``a ← ρ·a + n``). Real
  neurons emit ``s = n``; complex ones emit ``s = n·v*/|v*|`` (the spike carries the phase). The
  *gate* ``h = [n ≥ 1]`` says whether the neuron spiked.
* **reset** -- ``v = r(v*, s)``: ``"soft"``: ``v* − θ·s`` (quantized discharge); ``"hard"``:
  ``(1−h)·v* + h·v_reset``; ``"refractory"``: as hard, to ``v_refractory`` (below rest), and input is
  then ignored for ``refractory_steps`` steps; ``"none"``: ``v*``.

Non-finite potentials get one behaviour in every backend: ``u = +inf`` fires ``n_max`` spikes, ``u = −inf``
and NaN fire none; the phase of a complex ``v*`` is exact for any finite size (no overflow in ``|v*|``),
points along the infinite components of an infinite ``v*`` and is 1 for ``v* = 0`` or a NaN component
(:func:`phase`); a hard or refractory reset after a spike gives ``v_reset`` (``v_refractory``) whatever
``v*`` was (:func:`hard_reset`); a soft reset keeps an infinite ``v*`` infinite. Later steps integrate an
infinite complex ``v`` with IEEE complex products (``λ·(inf+0j)`` has a NaN component where ``0·inf``
occurs). Gradients through a non-finite potential are not defined.

The order of the three processes is configurable (``order``). Each step runs them in that order; a reset
uses the most recent spike (this step's if ``fire`` came before it, else the previous step's), and the
step's output is the state's spike ``s`` at its end. Hence:

* ``integrate-fire-reset`` (default; Norse, SpikingJelly, Lava): the spike reacts to this step's input.
* ``fire-reset-integrate`` (alias ``fire-first``): fires on the previous potential; the same dynamics as
  the default delayed by one step (the output at ``t`` sees input up to ``t-1``).
* ``integrate-reset-fire``: the reset of a spike is applied one step late, after the next integration
  (snnTorch's ``Leaky`` with ``reset_mechanism="subtract"``: ``v_t = β·v_{t-1} + I_t − θ·s_{t-1}``);
  the reset is not decayed.
* the other permutations likewise; ``"random"`` draws one permutation per step from a seeded generator.

Surrogate gradients: the spike count's derivative is that of its expectation under the firing noise,
see :mod:`spikeforge.neuron.firing`. With ``detach_reset`` the reset does not pass gradient through
``s``/``h``.

This file is the *reference* backend: the naive per-step autograd implementation that the fused kernels
(:mod:`spikeforge.kernels`) are tested against.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import NamedTuple

import torch

from spikeforge.neuron.firing import FiringModel, Heaviside, spike_count, surrogate_terms

__all__ = [
    "ORDERS",
    "RESETS",
    "NeuronParams",
    "NeuronSpec",
    "NeuronState",
    "StepTrace",
    "check_state",
    "draw_noise",
    "draw_orders",
    "fresh_state",
    "hard_reset",
    "neuron_step",
    "parse_order",
    "phase",
    "reference_scan",
    "traced_step",
]

PROCESSES = ("integrate", "fire", "reset")
ORDERS: tuple[tuple[str, str, str], ...] = tuple(itertools.permutations(PROCESSES))  # type: ignore[assignment]
RESETS = ("soft", "hard", "refractory", "none")
_ALIASES = {"fire-first": "fire-reset-integrate", "default": "integrate-fire-reset"}


def parse_order(order: str | tuple[str, ...]) -> tuple[str, str, str] | str:
    """Normalise ``order`` to a tuple of the three process names, or ``"random"``."""
    if isinstance(order, str):
        if order == "random":
            return "random"
        key = _ALIASES.get(order, order)
        parts = tuple(key.split("-"))
    else:
        parts = tuple(order)
    if parts not in ORDERS:
        names = ", ".join("-".join(o) for o in ORDERS)
        raise ValueError(f"order: expected one of {names}, 'fire-first' or 'random', got {order!r}")
    return parts  # type: ignore[return-value]


@dataclass(frozen=True)
class NeuronSpec:
    """The discrete (non-tensor) configuration of a neuron: immutable and picklable. It computes the features
    its calls require once, when made (:func:`spikeforge.neuron.features.spec_features`)."""

    firing: FiringModel = Heaviside()
    stochastic: bool = False
    max_spikes: int = 1
    reset: str = "soft"
    order: tuple[str, str, str] | str = ("integrate", "fire", "reset")
    refractory_steps: int = 0
    v_reset: float = 0.0
    v_refractory: float = -0.5
    cuba: bool = False
    adaptive: bool = False
    detach_reset: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.firing, FiringModel):
            raise TypeError(f"firing: expected a FiringModel (Heaviside, Gaussian, ...), got {self.firing!r}")
        if isinstance(self.max_spikes, bool) or not isinstance(self.max_spikes, int) or self.max_spikes < 1:
            raise ValueError(f"max_spikes: expected an integer >= 1, got {self.max_spikes!r}")
        if self.reset not in RESETS:
            raise ValueError(f"reset: expected one of {RESETS}, got {self.reset!r}")
        object.__setattr__(self, "order", parse_order(self.order))
        if self.reset == "refractory" and (not isinstance(self.refractory_steps, int) or self.refractory_steps < 1):
            raise ValueError(
                f"refractory_steps: reset='refractory' needs an integer >= 1, got {self.refractory_steps!r}"
            )
        if self.stochastic and not self.firing.is_noisy:
            raise ValueError("stochastic=True needs a noisy firing model (Gaussian, Cauchy, Logistic), got Heaviside")
        self._derive()

    def _derive(self) -> None:
        # the features every call of this configuration requires, once (a spec is immutable); not a field
        from spikeforge.neuron.features import _compute_spec_features  # (features imports this module)

        object.__setattr__(self, "_features", _compute_spec_features(self))

    def __getstate__(self) -> dict:
        # the fields only: the features are derived again when loaded (and a model file holds no frozenset,
        # which torch.load(weights_only=True) refuses)
        return {k: v for k, v in self.__dict__.items() if k != "_features"}

    def __setstate__(self, state: dict) -> None:
        for k, v in state.items():
            object.__setattr__(self, k, v)
        self._derive()


class NeuronParams(NamedTuple):
    """Tensor parameters, each broadcastable to the neuron shape ``[B, *features]``.

    ``decay`` is λ (real, or complex for resonate-and-fire), ``threshold`` θ > 0, ``syn_decay`` λ_syn
    (CuBa), ``adapt_decay`` ρ and ``adapt_scale`` β (adaptive threshold). Absent ones are ``None``.
    """

    decay: torch.Tensor
    threshold: torch.Tensor
    syn_decay: torch.Tensor | None = None
    adapt_decay: torch.Tensor | None = None
    adapt_scale: torch.Tensor | None = None


class NeuronState(NamedTuple):
    """State of a population, each ``[B, *features]``: potential ``v``, last spike ``s``, its gate ``h``,
    synaptic current ``i`` (CuBa, else ``None``), adaptation ``a`` (else ``None``) and refractory
    counter ``ref`` (integer steps left; ``None`` unless ``reset="refractory"``)."""

    v: torch.Tensor
    s: torch.Tensor
    h: torch.Tensor
    i: torch.Tensor | None = None
    a: torch.Tensor | None = None
    ref: torch.Tensor | None = None


def fresh_state(
    shape: tuple[int, ...], spec: NeuronSpec, *, dtype: torch.dtype, device: torch.device, complex_: bool
) -> NeuronState:
    """The resting state for a population of ``shape = [B, *features]``."""
    real = dtype
    vdt = (torch.complex128 if real == torch.float64 else torch.complex64) if complex_ else real
    z = torch.zeros(shape, dtype=real, device=device)
    return NeuronState(
        v=torch.zeros(shape, dtype=vdt, device=device),
        s=torch.zeros(shape, dtype=vdt, device=device),
        h=z,
        i=torch.zeros(shape, dtype=vdt, device=device) if spec.cuba else None,
        a=z.clone() if spec.adaptive else None,
        ref=torch.zeros(shape, dtype=torch.int32, device=device) if spec.reset == "refractory" else None,
    )


def check_state(state: NeuronState, shape: tuple[int, ...], spec: NeuronSpec, complex_: bool) -> None:
    """Refuse a state that does not belong to this input and neuron (never rebuild it silently)."""
    if not isinstance(state, NeuronState):
        raise TypeError(f"state: expected a NeuronState (or None for a fresh state), got {type(state).__name__}")
    want = {
        "v": True, "s": True, "h": True, "i": spec.cuba, "a": spec.adaptive, "ref": spec.reset == "refractory"
    }
    for name, needed in want.items():
        t = getattr(state, name)
        if needed and t is None:
            raise ValueError(f"state.{name}: this neuron needs it, but the given state has None")
        if not needed and t is not None:
            raise ValueError(f"state.{name}: this neuron has no such variable, but the given state carries one")
        if t is not None and tuple(t.shape) != tuple(shape):
            raise ValueError(
                f"state.{name}: expected shape {tuple(shape)} (input without its time axis), got {tuple(t.shape)}"
            )
    if state.v.is_complex() != complex_:
        kind = "complex" if complex_ else "real"
        raise ValueError(f"state.v: this neuron's potential is {kind}, got dtype {state.v.dtype}")


def draw_noise(
    spec: NeuronSpec, shape: tuple[int, ...], *, dtype: torch.dtype, device: torch.device,
    generator: torch.Generator | None,
) -> torch.Tensor | None:
    """Pre-draw the threshold noise ``ξ`` for a whole sequence ``[T, B, ...]`` (``None`` if deterministic)."""
    if not spec.stochastic:
        return None
    from spikeforge.neuron.firing import sample_noise

    return sample_noise(spec.firing, shape, dtype=dtype, device=device, generator=generator)


def draw_orders(spec: NeuronSpec, steps: int, generator: torch.Generator | None) -> list[tuple[str, str, str]]:
    """The process order of each step; ``"random"`` draws uniformly among the six permutations."""
    if spec.order != "random":
        return [spec.order] * steps  # type: ignore[list-item]
    idx = torch.randint(len(ORDERS), (steps,), generator=generator)
    return [ORDERS[int(k)] for k in idx]


class _Fire(torch.autograd.Function):
    """Spike count and gate with the firing model's density as derivative (reference backend)."""

    @staticmethod
    def forward(ctx, u, theta, noise, firing, max_spikes):  # type: ignore[override]
        n = spike_count(u, theta, noise, max_spikes)
        h = n.clone() if max_spikes == 1 else (n >= 1).to(u.dtype)
        ctx.save_for_backward(u, theta)
        ctx.firing, ctx.max_spikes = firing, max_spikes
        return n, h

    @staticmethod
    def backward(ctx, gn, gh):  # type: ignore[override]
        u, theta = ctx.saved_tensors
        dn_du, k_dn, dh_du = surrogate_terms(ctx.firing, u, theta, ctx.max_spikes)
        gu = gn * dn_du + gh * dh_du
        gtheta = -(gn * k_dn + gh * dh_du)
        return gu, gtheta, None, None, None


def phase(v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The phase ``v*/|v*|`` of a complex potential and the modulus it was divided by (1 where none).

    Defined for every value, so that all backends agree (see "Non-finite potentials" above): ``|v*|``
    without overflow (``torch.abs`` is a hypot); an infinite ``v*`` points along its infinite components;
    ``v* = 0`` or a NaN component gives phase 1.
    """
    re, im = v.real, v.imag
    inf_re, inf_im = torch.isinf(re), torch.isinf(im)
    zero = torch.zeros_like(re)
    direction = torch.complex(torch.where(inf_re, torch.sign(re), zero), torch.where(inf_im, torch.sign(im), zero))
    d = torch.where(inf_re | inf_im, direction, v)
    r = d.abs()
    pos = r > 0  # False for NaN
    safe = torch.where(pos, r, torch.ones_like(r))
    return torch.where(pos, d / safe, torch.ones_like(v)), safe


def hard_reset(v: torch.Tensor, h: torch.Tensor, target: float) -> torch.Tensor:
    """``(1−h)·v* + h·v_reset`` for the autograd of the reference backend (the fused scans, with ``h`` 0 or 1,
    select instead). Written so that an infinite ``v*`` gives ``v_reset`` after a spike and stays itself
    without one (``0·inf`` and torch's complex ``1·(inf+1j)`` are NaN); the derivatives are those of the
    plain formula wherever ``v*`` is finite."""
    finite = torch.isfinite(v)
    keep = torch.where(finite, v, torch.zeros_like(v))
    rest = torch.where(h > 0, torch.zeros_like(v), v - keep)  # 0 unless v* is infinite and did not spike
    return rest + ((1 - h) * keep + h * target)  # the term that may be infinite first: torch scales the second


def _integrate(x_t, state: NeuronState, params: NeuronParams, spec: NeuronSpec, w_rec, s_prev) -> NeuronState:
    current = x_t
    if w_rec is not None:
        rec = s_prev @ w_rec.t().to(s_prev.dtype) if s_prev.is_complex() else s_prev @ w_rec.t()
        current = current + rec
    i = state.i
    if spec.cuba:
        i = current + params.syn_decay * i
        current = i
    ref = state.ref
    if ref is not None:
        current = current * (ref == 0).to(current.real.dtype)
        ref = torch.clamp(ref - 1, min=0)
    # the input first: torch adds a complex b as a + (1+0j)·b, which turns an infinite component into NaN
    v = current + params.decay * state.v
    return state._replace(v=v, i=i, ref=ref)


def _fire(state: NeuronState, params: NeuronParams, spec: NeuronSpec, noise_t) -> NeuronState:
    v = state.v
    u = v.real if v.is_complex() else v
    theta = params.threshold
    if spec.adaptive:
        theta = theta + params.adapt_scale * state.a
    theta = theta.expand_as(u) if theta.shape != u.shape else theta
    n, h = _Fire.apply(u, theta, noise_t, spec.firing, spec.max_spikes)
    s = n * phase(v)[0] if v.is_complex() else n
    a = params.adapt_decay * state.a + n if spec.adaptive else state.a
    return state._replace(s=s, h=h, a=a)


def _reset(state: NeuronState, params: NeuronParams, spec: NeuronSpec) -> NeuronState:
    if spec.reset == "none":
        return state
    s, h = state.s, state.h
    if spec.detach_reset:
        s, h = s.detach(), h.detach()
    v = state.v
    if spec.reset == "soft":
        v = v - params.threshold * s
        return state._replace(v=v)
    target = spec.v_reset if spec.reset == "hard" else spec.v_refractory
    v = hard_reset(v, h, target)
    ref = state.ref
    if spec.reset == "refractory":
        ref = torch.where(h > 0, torch.full_like(ref, spec.refractory_steps), ref)
    return state._replace(v=v, ref=ref)


def reference_scan(
    x: torch.Tensor,
    state: NeuronState,
    params: NeuronParams,
    spec: NeuronSpec,
    *,
    noise: torch.Tensor | None = None,
    orders: list[tuple[str, str, str]] | None = None,
    recurrent_weight: torch.Tensor | None = None,
) -> tuple[torch.Tensor, NeuronState]:
    """Run the neuron over ``x: [T, B, ...]`` step by step with plain autograd. Returns ``(s, state)``."""
    steps = x.shape[0]
    if orders is None:
        orders = draw_orders(spec, steps, None)
    out = []
    for t in range(steps):
        s_prev = state.s
        for process in orders[t]:
            if process == "integrate":
                state = _integrate(x[t], state, params, spec, recurrent_weight, s_prev)
            elif process == "fire":
                state = _fire(state, params, spec, None if noise is None else noise[t])
            else:
                state = _reset(state, params, spec)
        out.append(state.s)
    return torch.stack(out), state


class StepTrace(NamedTuple):
    """What one step computes besides its state, for recording (:func:`traced_step`), each ``[B, *features]``.

    ``v_star``: the potential right after this step's integration, ``v* = λ·v + I``. ``psi``: the surrogate
    derivative ``ψ = ∂E[n]/∂u`` (:func:`spikeforge.neuron.firing.surrogate_terms`' ``dn/du``) at the potential
    the firing process saw (``u = Re(v*)`` in the default order) against ``θ_eff``; real. ``current``: the
    input current ``I`` that was integrated (after recurrence, CuBa filtering and the refractory gate).
    """

    v_star: torch.Tensor
    psi: torch.Tensor
    current: torch.Tensor


def _step(x_t, state: NeuronState, params: NeuronParams, spec: NeuronSpec, noise_t, order, recurrent_weight,
          trace: bool):
    if order is None:
        if spec.order == "random":
            raise ValueError("order: this neuron draws its order per step (order='random'); pass the step's "
                             "order, e.g. draw_orders(spec, 1, generator)[0]")
        order = spec.order
    elif order not in ORDERS:
        raise ValueError(f"order: expected a permutation of {PROCESSES}, got {order!r}")
    if spec.stochastic and noise_t is None:
        raise ValueError("noise_t: this neuron is stochastic; pass the step's threshold noise [B, ...], e.g. "
                         "draw_noise(spec, x_t.shape, ...) (None would fire deterministically)")
    s_prev = state.s
    v_star = psi = current = None
    for process in order:
        if process == "integrate":
            before = state
            state = _integrate(x_t, state, params, spec, recurrent_weight, s_prev)
            if trace:
                v_star = state.v
                # the same integration from v = 0 gives I itself (v* = I + λ·0), with every gate and filter
                zero = before._replace(v=torch.zeros_like(before.v))
                current = _integrate(x_t, zero, params, spec, recurrent_weight, s_prev).v
        elif process == "fire":
            if trace:
                u = state.v.real if state.v.is_complex() else state.v
                theta = params.threshold + params.adapt_scale * state.a if spec.adaptive else params.threshold
                psi = surrogate_terms(spec.firing, u, theta, spec.max_spikes)[0].expand_as(u)
            state = _fire(state, params, spec, noise_t)
        else:
            state = _reset(state, params, spec)
    return state.s, state, (StepTrace(v_star, psi, current) if trace else None)


def neuron_step(
    x_t: torch.Tensor,
    state: NeuronState,
    params: NeuronParams,
    spec: NeuronSpec,
    *,
    noise_t: torch.Tensor | None = None,
    order: tuple[str, str, str] | None = None,
    recurrent_weight: torch.Tensor | None = None,
) -> tuple[torch.Tensor, NeuronState]:
    """One time step of the neuron, ``x_t: [B, ...] -> (s_t, state)``: the pure function that
    :func:`reference_scan` applies at every step (equations: this module's docstring), with plain autograd.

    ``noise_t`` is this step's threshold noise ``ξ`` (required when ``spec.stochastic``: one slice of
    :func:`draw_noise`), ``order`` this step's process order (required when ``spec.order == "random"``: one
    entry of :func:`draw_orders`; default ``spec.order``). A loop over ``t`` with ``noise[t]`` and
    ``orders[t]`` gives exactly :func:`reference_scan`'s spikes and state.
    """
    s, state, _ = _step(x_t, state, params, spec, noise_t, order, recurrent_weight, False)
    return s, state


def traced_step(
    x_t: torch.Tensor,
    state: NeuronState,
    params: NeuronParams,
    spec: NeuronSpec,
    *,
    noise_t: torch.Tensor | None = None,
    order: tuple[str, str, str] | None = None,
    recurrent_weight: torch.Tensor | None = None,
) -> tuple[torch.Tensor, NeuronState, StepTrace]:
    """:func:`neuron_step` (the same spikes and state) that also returns the step's :class:`StepTrace`."""
    return _step(x_t, state, params, spec, noise_t, order, recurrent_weight, True)

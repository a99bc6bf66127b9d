"""Thin ``nn.Module`` wrappers of the neuron dynamics (equations: :mod:`spikeforge.neuron.dynamics`).

Parameters live in ``state_dict`` (as ``nn.Parameter`` when learnable, buffers otherwise) and move with
``.to()``. Nothing persists between calls: ``neuron(x)`` starts from rest, ``neuron(x, state,
return_state=True)`` continues from ``state`` and returns the new one.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Sequence
from typing import Any, ClassVar, NamedTuple

import torch
from torch import nn

from spikeforge import _counting
from spikeforge.neuron import backends as _backends  # filled by spikeforge.kernels (the layer above)
from spikeforge.neuron import features as _features
from spikeforge.neuron import general as _general
from spikeforge.neuron.dynamics import (
    NeuronParams,
    NeuronSpec,
    NeuronState,
    check_state,
    draw_noise,
    draw_orders,
    fresh_state,
)
from spikeforge.neuron.firing import FiringModel, Heaviside
from spikeforge.neuron.models.base import NeuronModel

__all__ = ["IF", "LI", "LIF", "AdaptiveLIF", "CuBaLIF", "GradedLIF", "LIState", "Neuron", "ResonateAndFire",
           "check_named_state", "check_sequence"]

def check_sequence(x: object, name: str = "x", *, allow_complex: bool = True) -> torch.Tensor:
    """Validate a time-major sequence ``[T, B, ...]``."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor of shape [T, B, ...], got {type(x).__name__}")
    if x.dim() < 2:
        raise ValueError(f"{name}: expected a time-major tensor [T, B, ...] with at least 2 dims, got shape "
                         f"{tuple(x.shape)}")
    if x.shape[0] < 1:
        raise ValueError(f"{name}: expected at least one time step, got shape {tuple(x.shape)}")
    if not (x.is_floating_point() or (allow_complex and x.is_complex())):
        raise TypeError(f"{name}: expected a floating-point{' or complex' if allow_complex else ''} tensor, "
                        f"got dtype {x.dtype}")
    return x


def _as_shape(shape) -> tuple[int, ...]:
    if shape is None:
        return ()
    if isinstance(shape, int):
        return (shape,)
    return tuple(int(s) for s in shape)


def _positive(name: str, value, allow_none: bool = True):
    if value is None:
        if allow_none:
            return None
        raise ValueError(f"{name}: expected a positive number, got None")
    t = torch.as_tensor(value)
    if t.is_complex() or not bool(torch.all(t > 0)) or not bool(torch.all(torch.isfinite(t))):
        raise ValueError(f"{name}: expected positive finite value(s), got {value!r}")
    return value


class ScanInputs(NamedTuple):
    """What :meth:`Neuron.prepare` hands a scan: the checked state, the parameters cast to the input, the
    sequence's pre-drawn noise and orders, and the recurrent weight in the input's dtype."""

    state: NeuronState
    params: NeuronParams
    noise: torch.Tensor | None
    orders: list
    recurrent_weight: torch.Tensor | None


class Neuron(nn.Module):
    """The general spiking neuron of :mod:`spikeforge.neuron.dynamics`, the declared model
    :data:`spikeforge.neuron.general.GENERAL` (:attr:`model`, as every neuron module's declaration).

    Args:
        tau: membrane time constant; ``λ = exp(-dt/τ)``. ``None`` (and no ``decay``) gives ``λ = 1`` (IF).
        decay: ``λ`` given directly (real, or complex); excludes ``tau`` and ``omega``.
        omega: angular frequency (rad per unit time); makes ``λ = exp(-dt/τ + i·ω·dt)`` complex.
        threshold: ``θ > 0``.
        reset: ``"soft"``, ``"hard"``, ``"refractory"`` or ``"none"``.
        firing: threshold-noise model (:mod:`spikeforge.neuron.firing`); its density is the surrogate.
        stochastic: sample spikes from the noise (escape noise) instead of the Heaviside step.
        max_spikes: ``n_max``; 1 for binary spikes, more for graded spikes.
        order: process order, e.g. ``"integrate-fire-reset"``, ``"fire-first"`` or ``"random"``.
        dt: time step, in the unit of ``tau`` and ``1/omega``.
        tau_syn: synaptic current time constant (makes the neuron current-based, CuBa).
        tau_adapt, adapt_scale: adaptive threshold ``θ + β·a``, ``a ← exp(-dt/tau_adapt)·a + n``.
        refractory_steps, v_reset, v_refractory: reset targets and refractory length.
        detach_reset: stop gradients through the reset term.
        learnable: names among ``tau, decay, omega, threshold, tau_syn, tau_adapt`` to train.
        shape: feature shape for per-neuron parameters (default: one value shared by all neurons).
        backend: ``"auto"`` (Triton on CUDA tensors, else the compiled fast path where it supports the
            configuration, else the generic fused scan), ``"fast"``, ``"triton"``, ``"torch"`` (the generic
            fused scan) or ``"reference"`` (per-step autograd). See :mod:`spikeforge.kernels`.
        dtype: dtype of the parameters (default: torch's default dtype).
    """

    #: The declaration this module answers from (its parameters, state, features, step, scans, NIR export).
    model: ClassVar[NeuronModel] = _general.GENERAL

    def __init__(
        self,
        tau: float | None = None,
        decay: float | complex | None = None,
        omega: float | None = None,
        threshold: float = 1.0,
        reset: str = "soft",
        firing: FiringModel = Heaviside(),
        stochastic: bool = False,
        max_spikes: int = 1,
        order: str = "integrate-fire-reset",
        dt: float = 1.0,
        *,
        tau_syn: float | None = None,
        tau_adapt: float | None = None,
        adapt_scale: float = 0.0,
        refractory_steps: int = 2,
        v_reset: float = 0.0,
        v_refractory: float = -0.5,
        detach_reset: bool = False,
        learnable: Sequence[str] = (),
        shape: int | Sequence[int] | None = None,
        backend: str = "auto",
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        if dtype is not None and not dtype.is_floating_point:
            raise ValueError(f"dtype: expected a real floating dtype for the parameters, got {dtype}")
        real_dtype = dtype or torch.get_default_dtype()
        if tau is not None and decay is not None:
            raise ValueError(f"tau and decay: give one of them, got tau={tau!r} and decay={decay!r}")
        if decay is not None and omega is not None:
            raise ValueError("omega: with decay given directly, put the phase into decay (a complex λ)")
        _positive("dt", dt, allow_none=False)
        values = {"tau": tau, "decay": decay, "omega": omega, "threshold": threshold, "tau_syn": tau_syn,
                  "tau_adapt": tau_adapt, "adapt_scale": adapt_scale}
        for p in _general.PARAMS:  # the declaration's constraints (neuron/general.py)
            if p.constraint == "positive":
                _positive(p.name, values[p.name], allow_none=p.default is None)
        if isinstance(learnable, str):
            learnable = (learnable,)
        bad = [n for n in learnable if n not in _general.LEARNABLE]
        if bad:
            raise ValueError(f"learnable: expected names among {_general.LEARNABLE}, got {bad}")
        # the learnable parameters are the tensor ones (state_dict); the others are plain numbers
        given = {n: values[n] for n in _general.LEARNABLE}
        missing = [n for n in learnable if given[n] is None]
        if missing:
            raise ValueError(f"learnable: {missing} named learnable but not set")
        _backends.get_backend(backend)
        self.spec = NeuronSpec(
            firing=firing, stochastic=stochastic, max_spikes=max_spikes, reset=reset, order=order,
            refractory_steps=refractory_steps, v_reset=float(v_reset), v_refractory=float(v_refractory),
            cuba=tau_syn is not None, adaptive=tau_adapt is not None, detach_reset=detach_reset,
        )
        self.dt = float(dt)
        self.shape = _as_shape(shape)
        self.backend = backend
        for p in _general.PARAMS:
            if p.constraint == "nonnegative" and float(values[p.name]) < 0:
                raise ValueError(f"{p.name}: expected >= 0, got {values[p.name]!r}")
        self.adapt_scale = float(adapt_scale)
        self.learnable = tuple(learnable)
        for name, value in given.items():
            if value is None:
                setattr(self, name, None)
                continue
            pdt = real_dtype
            if isinstance(value, complex) or (isinstance(value, torch.Tensor) and value.is_complex()):
                pdt = torch.complex128 if real_dtype == torch.float64 else torch.complex64
            t = torch.as_tensor(value, dtype=pdt).clone()
            if self.shape and t.dim() == 0:
                t = t.expand(self.shape).clone()
            if name in learnable:
                setattr(self, name, nn.Parameter(t))
            else:
                self.register_buffer(name, t)
        self._check_decay()

    # -- parameters -------------------------------------------------------------------------------
    @property
    def is_complex(self) -> bool:
        return self.omega is not None or (self.decay is not None and self.decay.is_complex())

    # -- what the neuron is (asked as of every neuron module, e.g. by spikeforge.hardware.fit) --------------
    @property
    def features(self) -> frozenset[str]:
        """The features this neuron's calls need, in the words of :mod:`spikeforge.neuron.features` (those that
        do not depend on the input: no ``complex-input``, ``recurrent`` or the orders a random order draws), and
        its hardware words (:func:`spikeforge.neuron.general.hardware_features`: ``"LIF"``, ``"CuBa"``,
        ``"graded spikes"``, ``"complex state"``, ``"adaptive threshold"``, ``"stochastic firing"``)."""
        feats = _features.spec_features(self.spec)[self.is_complex]  # computed once, when the spec was made
        return feats | _general.hardware_features(feats)

    @property
    def neuron_type(self) -> str:
        """The chip catalog's neuron type of the general neuron (its declaration's: ``"LIF"``)."""
        return self.model.neuron_type

    @property
    def runs_on(self) -> frozenset[str]:
        """The catalog neuron types that run this neuron: its declaration's, the LIF-like ones
        (:data:`spikeforge.neuron.general.LIF_TYPES`), or none (programmable neurons only) when it has graded
        spikes, a complex state, an adaptive threshold or stochastic firing."""
        if self.features & set(_general.PROGRAMMABLE_ONLY):
            return frozenset()
        return self.model.runs_on

    def lam(self) -> torch.Tensor:
        """``λ`` as a (differentiable) tensor."""
        if self.tau is not None:
            log_mag = -self.dt / self.tau
            if self.omega is not None:
                return torch.exp(torch.complex(log_mag, self.omega * self.dt))
            return torch.exp(log_mag)
        if self.decay is not None:
            return self.decay
        ref = self.threshold
        if self.omega is not None:
            return torch.exp(torch.complex(torch.zeros_like(self.omega), self.omega * self.dt))
        return torch.ones((), dtype=ref.dtype, device=ref.device)

    def _check_decay(self) -> None:
        lam = self.lam().detach()
        if bool(torch.any(lam.abs() > 1 + 1e-7)):
            raise ValueError(f"decay: |λ| must be <= 1 for a stable neuron, got |λ| = {lam.abs().max().item():.6g}")
        for name in ("tau", "tau_syn", "tau_adapt", "threshold"):
            t = getattr(self, name)
            if t is not None and bool(torch.any(t.detach() <= 0)):
                raise ValueError(f"{name}: must stay positive, got min {t.detach().min().item():.6g}")

    def params(self, dtype: torch.dtype, device: torch.device) -> NeuronParams:
        """The tensor parameters of :class:`NeuronParams`, cast to the input's real ``dtype``."""
        if any(getattr(self, n) is not None and getattr(self, n).requires_grad for n in self.learnable):
            self._check_decay()
        cdt = torch.complex128 if dtype == torch.float64 else torch.complex64
        lam = self.lam()
        lam = lam.to(device=device, dtype=cdt if lam.is_complex() else dtype)
        theta = self.threshold.to(device=device, dtype=dtype)
        syn = torch.exp(-self.dt / self.tau_syn).to(device=device, dtype=dtype) if self.tau_syn is not None else None
        rho = beta = None
        if self.tau_adapt is not None:
            rho = torch.exp(-self.dt / self.tau_adapt).to(device=device, dtype=dtype)
            beta = torch.tensor(self.adapt_scale, dtype=dtype, device=device)
        return NeuronParams(decay=lam, threshold=theta, syn_decay=syn, adapt_decay=rho, adapt_scale=beta)

    # -- running ----------------------------------------------------------------------------------
    def initial_state(self, x: torch.Tensor) -> NeuronState:
        """The resting state for input ``x: [T, B, ...]``."""
        real = x.real.dtype if x.is_complex() else x.dtype
        return fresh_state(tuple(x.shape[1:]), self.spec, dtype=real, device=x.device,
                           complex_=self.is_complex or x.is_complex())

    def prepare(self, x: torch.Tensor, state: NeuronState | None, generator: torch.Generator | None = None,
                recurrent_weight: torch.Tensor | None = None) -> ScanInputs:
        """The checks and random draws of a sequence call, in :meth:`scan`'s order (noise, then orders), so that
        any loop over the steps (e.g. :func:`spikeforge.record`) sees what the scan sees."""
        check_sequence(x)
        complex_ = self.is_complex or x.is_complex()
        if self.shape and tuple(x.shape[2:]) != self.shape:
            raise ValueError(f"x: this neuron has per-neuron parameters of shape {self.shape}; expected input "
                             f"[T, B, {', '.join(map(str, self.shape))}], got {tuple(x.shape)}")
        if state is None:
            state = self.initial_state(x)
        else:
            check_state(state, tuple(x.shape[1:]), self.spec, complex_)
        real = x.real.dtype if x.is_complex() else x.dtype
        if recurrent_weight is not None:
            n = x.shape[-1]
            if x.dim() != 3 or tuple(recurrent_weight.shape) != (n, n):
                raise ValueError(f"recurrent_weight: expected [{n}, {n}] for input [T, B, {n}], got "
                                 f"{tuple(recurrent_weight.shape)} with input {tuple(x.shape)}")
            recurrent_weight = recurrent_weight.to(real)
        params = self.params(real, x.device)
        noise = draw_noise(self.spec, tuple(x.shape), dtype=real, device=x.device, generator=generator)
        orders = draw_orders(self.spec, x.shape[0], generator)
        return ScanInputs(state, params, noise, orders, recurrent_weight)

    def scan(
        self,
        x: torch.Tensor,
        state: NeuronState | None = None,
        *,
        generator: torch.Generator | None = None,
        recurrent_weight: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, NeuronState]:
        """Run over a whole sequence ``x: [T, B, ...]``; always returns ``(spikes, state)``."""
        state, params, noise, orders, recurrent_weight = self.prepare(x, state, generator, recurrent_weight)
        # the declaration's scan: the backend's, or the generic fused scan for a feature it does not declare
        spikes, new_state = self.model.scan(x, state, params, self.spec, backend=self.backend, noise=noise,
                                            orders=orders, recurrent_weight=recurrent_weight)
        _counting.report(self, "neuron", spikes)  # in scan, so that users' loops of spikeforge.step count too
        return spikes, new_state

    def forward(
        self,
        x: torch.Tensor,
        state: NeuronState | None = None,
        return_state: bool = False,
        *,
        generator: torch.Generator | None = None,
        recurrent_weight: torch.Tensor | None = None,
    ):
        """Spikes ``[T, B, ...]`` for input current ``x: [T, B, ...]``; with ``return_state`` also the state."""
        spikes, new_state = self.scan(x, state, generator=generator, recurrent_weight=recurrent_weight)
        return (spikes, new_state) if return_state else spikes

    def extra_repr(self) -> str:
        parts = []
        for n in ("tau", "decay", "omega", "threshold", "tau_syn", "tau_adapt"):
            t = getattr(self, n)
            if t is not None:
                parts.append(f"{n}={t.detach().item() if t.dim() == 0 else tuple(t.shape)}")
        s = self.spec
        parts += [f"reset={s.reset!r}", f"firing={s.firing!r}"]
        if s.stochastic:
            parts.append("stochastic=True")
        if s.max_spikes != 1:
            parts.append(f"max_spikes={s.max_spikes}")
        if s.order != ("integrate", "fire", "reset"):
            parts.append(f"order={s.order if isinstance(s.order, str) else '-'.join(s.order)!r}")
        return ", ".join(parts)


# Parameters that state the same quantity in another form: a preset's default of one form gives way when the
# user gives the other (``LIF(decay=0.9)`` drops the preset's ``tau``); two explicit values stay an error.
_ALTERNATIVES = {"decay": ("tau", "omega"), "tau": ("decay",), "omega": ("decay",)}


def _preset(name: str, doc: str, **defaults):
    base = inspect.signature(Neuron.__init__)
    params = [p.replace(default=defaults[p.name]) if p.name in defaults else p for p in base.parameters.values()]

    def __init__(self, *args, **kwargs):
        bound = inspect.signature(Neuron.__init__).bind_partial(self, *args, **kwargs).arguments
        bound.pop("self")
        kept = dict(defaults)
        for given, value in bound.items():
            for other in _ALTERNATIVES.get(given, ()) if value is not None else ():
                kept.pop(other, None)
        Neuron.__init__(self, **{**kept, **bound})

    __init__.__signature__ = base.replace(parameters=params)  # type: ignore[attr-defined]
    __init__.__qualname__ = f"{name}.__init__"
    return type(name, (Neuron,), {"__init__": __init__, "__doc__": doc, "__module__": __name__})


IF = _preset("IF", "Integrate-and-fire: ``λ = 1`` (no leak). A :class:`Neuron` with other defaults.")
LIF = _preset("LIF", "Leaky integrate-and-fire, default ``τ = 10·dt``. A :class:`Neuron` with other defaults.",
              tau=10.0)
CuBaLIF = _preset("CuBaLIF", "Current-based LIF: synaptic current ``i ← λ_syn·i + x`` feeds the membrane "
                  "(``τ = 10``, ``τ_syn = 5``). A :class:`Neuron` with other defaults.", tau=10.0, tau_syn=5.0)
AdaptiveLIF = _preset("AdaptiveLIF", "LIF with adaptive threshold ``θ + β·a`` (``τ = 20``, ``τ_a = 100``, "
                      "``β = 0.2``). A :class:`Neuron` with other defaults.", tau=20.0, tau_adapt=100.0,
                      adapt_scale=0.2)
ResonateAndFire = _preset("ResonateAndFire", "Complex resonate-and-fire, ``λ = exp(-dt/τ + iω·dt)`` (``τ = 10``, "
                          "``ω = 0.5``); spikes carry the phase. A :class:`Neuron` with other defaults.",
                          tau=10.0, omega=0.5)
GradedLIF = _preset("GradedLIF", "LIF emitting graded spikes ``n ∈ {0..4}``. A :class:`Neuron` with other defaults.",
                    tau=10.0, max_spikes=4)


class _LIScan(torch.autograd.Function):
    """``v_t = λ·v_{t-1} + x_t`` with its reverse scan as backward."""

    @staticmethod
    def forward(ctx, x, v0, lam):  # type: ignore[override]
        out = torch.empty_like(x)
        v = v0
        for t in range(x.shape[0]):
            v = lam * v + x[t]
            out[t] = v
        ctx.save_for_backward(out, v0, lam)
        return out

    @staticmethod
    def backward(ctx, g):  # type: ignore[override]
        out, v0, lam = ctx.saved_tensors
        gx = torch.empty_like(g)
        acc = torch.zeros_like(g[0])
        for t in range(g.shape[0] - 1, -1, -1):
            acc = g[t] + lam * acc
            gx[t] = acc
        g_lam = None
        if ctx.needs_input_grad[2]:
            prev = torch.cat([v0.unsqueeze(0), out[:-1]], 0)
            g_lam = (gx * prev).sum_to_size(lam.shape) if lam.dim() else (gx * prev).sum()
        return gx, lam * gx[0], g_lam


class LIState(NamedTuple):
    """State of a non-spiking integrator (:class:`LI`, :class:`spikeforge.neuron.Integrator`): the potential
    ``v``, ``[B, *features]``."""

    v: torch.Tensor


def check_named_state(state: object, cls: type, shape: tuple[int, ...]) -> Any:
    """``state`` as a ``cls`` (a NamedTuple of tensors) of ``shape``; anything else is refused (never rebuilt).

    The forms of earlier releases -- a bare tensor for a one-field state, a plain tuple of the fields in order
    -- are still taken, with a :class:`DeprecationWarning`."""
    fields = ", ".join(cls._fields)  # type: ignore[attr-defined]
    n = len(cls._fields)  # type: ignore[attr-defined]
    legacy = (n == 1 and isinstance(state, torch.Tensor)) or (type(state) is tuple and len(state) == n)
    if legacy:
        warnings.warn(f"state: a {'bare tensor' if n == 1 else 'plain tuple'} is deprecated; pass "
                      f"spikeforge.neuron.{cls.__name__}({', '.join(f + '=...' for f in cls._fields)})",  # type: ignore[attr-defined]
                      DeprecationWarning, stacklevel=3)
        state = cls(state) if n == 1 else cls(*state)
    if not isinstance(state, cls):
        raise TypeError(f"state: expected a {cls.__name__}({fields}) (or None for a fresh state), got "
                        f"{type(state).__name__}; build one with spikeforge.neuron.{cls.__name__}"
                        f"({', '.join(f + '=...' for f in cls._fields)})")  # type: ignore[attr-defined]
    for name, t in zip(cls._fields, state):  # type: ignore[attr-defined]
        if not isinstance(t, torch.Tensor) or tuple(t.shape) != tuple(shape):
            got = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
            raise ValueError(f"state.{name}: expected shape {tuple(shape)} (input without its time axis), got {got}")
    return state


class LI(nn.Module):
    """Non-spiking leaky integrator readout: ``v_t = λ·v_{t-1} + x_t``, ``λ = exp(-dt/τ)``; outputs ``v``.
    Its state is an :class:`LIState`."""

    def __init__(self, tau: float = 10.0, dt: float = 1.0, learnable: bool = False) -> None:
        super().__init__()
        _positive("tau", tau, allow_none=False)
        t = torch.tensor(float(tau))
        self.dt = float(dt)
        if learnable:
            self.tau = nn.Parameter(t)
        else:
            self.register_buffer("tau", t)

    def lam(self) -> torch.Tensor:
        return torch.exp(-self.dt / self.tau)

    def initial_state(self, x: torch.Tensor) -> LIState:
        """The resting state for input ``x: [T, B, ...]``."""
        return LIState(v=torch.zeros_like(x[0]))

    def forward(self, x: torch.Tensor, state: LIState | None = None, return_state: bool = False):
        check_sequence(x, allow_complex=False)
        if state is None:
            state = self.initial_state(x)
        else:
            state = check_named_state(state, LIState, tuple(x.shape[1:]))
        out = _LIScan.apply(x, state.v, self.lam().to(x.dtype))
        _counting.report(self, "neuron", out, spiking=False)
        return (out, LIState(v=out[-1])) if return_state else out

    def extra_repr(self) -> str:
        return f"tau={self.tau.detach().item():g}, dt={self.dt:g}"

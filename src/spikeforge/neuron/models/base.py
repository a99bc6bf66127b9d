r"""Neuron models as plug-ins: a model declares its state, parameters, features and step once.

A model is one :class:`NeuronModel` value in its own file (see :mod:`.expif`, :mod:`.adex`,
:mod:`.izhikevich`); :class:`ModelNeuron` turns any declaration into an ``nn.Module``. Everything else
(the module's constructor and its checks, ``state_dict``, ``.to()``, hardware fit, NIR export) asks the
declaration.

The declaration gives:

* ``state`` -- a ``NamedTuple`` type of the state fields, each a tensor ``[B, *features]``;
* ``params`` -- :class:`Param` values: name, default, constraint (``"real"``, ``"positive"``,
  ``"nonnegative"``), whether it may be learned, its unit;
* ``features`` -- a frozenset of feature names in the words of :mod:`spikeforge.neuron.features`
  (``"real"``, ``"binary"``, ``"deterministic"``, ``"reset:hard"``, ...) plus the model's own
  (``"exponential"``, ``"adaptive"``, ...); ``"model:<name>"`` is always added, so that no backend
  written for another model claims this one;
* ``neuron_type`` -- the chip catalog's ``neuron_type`` it corresponds to
  (``src/spikeforge/hardware/data/neuromorphic_platforms.csv``), and ``runs_on``, the catalog types
  whose neurons can run it;
* ``step(I_t, state, params, config) -> (s_t, state)`` -- a pure function; ``params`` is a
  ``NamedTuple`` of the parameter tensors (:attr:`NeuronModel.params_type`), ``config`` the
  :class:`StepConfig` (``dt``, firing model, ``detach_reset``);
* ``rest(params, zeros) -> state`` -- the resting state, ``zeros`` a zero tensor ``[B, *features]`` of the
  input's dtype and device (``rest(params, zeros, config)`` when the declaration sets ``rest_takes_config``:
  :meth:`NeuronModel.resting` passes it);

and optionally

* ``scan(x, state, params, config, **options) -> (spikes, state)`` -- the model's own sequence function,
  e.g. a fused scan with a hand-written backward; without one (``None``) the module loops ``step`` under
  autograd;
* ``to_nir(module, context) -> node`` -- how a module of the model exports to NIR
  (:func:`spikeforge.interop.to_nir` calls it with a :class:`spikeforge.interop.nir_export.NIRContext`: the layer's
  ``name``, feature ``shape``, the graph's ``dt``, ``discretization`` and ``extensions``), or a
  ``"package.module:function"`` string naming it, resolved when a graph is exported (so that a model of this
  layer may name an exporter of the interop layer above it). ``None``: not exportable, a one-line error
  naming the layer and its model;
* ``params_type`` -- the ``NamedTuple`` type of the parameters the step takes; by default one of the
  declared parameters, by name (a declaration that derives other quantities from its parameters, as the
  general neuron does, names its own type and its module builds them);
* ``record_fields`` -- names of derived quantities :func:`spikeforge.record` can give besides the state
  fields (the general neuron's ``v_star``, ``psi``, ``current``; for another model its module's
  ``record_step`` gives them).

The general neuron (:class:`spikeforge.Neuron` and its presets) is a declaration like these:
:data:`spikeforge.neuron.general.GENERAL`. Every neuron module answers ``module.model`` with its
declaration (:func:`declaration`).

Every step follows the seed's three processes (:mod:`spikeforge.neuron.dynamics`): **integrate** the
model's differential equations over one ``dt`` by forward Euler to ``v*``; **fire** ``s = n``,
``n ~ p_spike(v*)`` with a firing model (:func:`fire`: the Heaviside step ``H(v* − θ)`` forward, the
firing model's density ``f(v* − θ)`` backward -- the surrogate gradient, see
:mod:`spikeforge.neuron.firing`); **reset** ``v = r(v*, s)`` (a hard reset: ``(1 − s)·v* + s·v_reset``;
with ``detach_reset`` the reset takes ``s`` without its gradient).
Training runs plain autograd through the loop of steps, unless the declaration gives its own ``scan`` (with
its hand-written backward; the general neuron's are the fused scans of :mod:`spikeforge.kernels`).

Units: ``dt`` is in milliseconds; each :class:`Param` states its unit (``unit``), the input current's
unit is the model's ``input_unit``.
"""

from __future__ import annotations

import collections
import inspect
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn

from spikeforge import _counting
from spikeforge._checks import sum_to
from spikeforge.neuron.firing import FiringModel, Heaviside, spike_count

__all__ = ["CONSTRAINTS", "ModelNeuron", "NeuronModel", "Param", "StepConfig", "check_model_state", "declaration",
           "fire"]

#: Parameter constraints a declaration may name.
CONSTRAINTS = ("real", "positive", "nonnegative")
# A "package.module:function" reference (NeuronModel.to_nir).
_REFERENCE = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")
# Constructor arguments and attributes of every ModelNeuron: no parameter may take these names.
_RESERVED = frozenset({"dt", "firing", "detach_reset", "learnable", "shape", "dtype", "config", "model",
                       "features", "neuron_type", "runs_on", "stateful"})


def _meets(constraint: str, t: torch.Tensor) -> bool:
    if constraint == "positive":
        return bool(torch.all(t > 0))
    if constraint == "nonnegative":
        return bool(torch.all(t >= 0))
    return True


@dataclass(frozen=True)
class Param:
    """One parameter of a model: ``name``, ``default``, ``constraint`` (one of :data:`CONSTRAINTS`),
    ``learnable`` (whether it may be trained: then it is an ``nn.Parameter`` when named in the module's
    ``learnable``, else a buffer), ``unit`` and a short ``doc``."""

    name: str
    default: float
    constraint: str = "real"
    learnable: bool = True
    unit: str = ""
    doc: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.isidentifier() or self.name in _RESERVED:
            raise ValueError(f"Param.name: expected an identifier other than {sorted(_RESERVED)}, got {self.name!r}")
        if self.constraint not in CONSTRAINTS:
            raise ValueError(f"Param.constraint: expected one of {CONSTRAINTS}, got {self.constraint!r}")
        d = self.default
        if isinstance(d, bool) or not isinstance(d, (int, float)) or not math.isfinite(d):
            raise ValueError(f"Param.default of {self.name!r}: expected a finite number, got {d!r}")
        if not _meets(self.constraint, torch.tensor(float(d))):
            raise ValueError(f"Param.default of {self.name!r}: {d!r} is not {self.constraint}")
        object.__setattr__(self, "default", float(d))


@dataclass(frozen=True)
class StepConfig:
    """The non-tensor arguments of a step: the time step ``dt`` (ms), the firing model whose density is
    the surrogate gradient, and ``detach_reset`` (the reset does not pass gradient through ``s``, as the seed's
    ``detach_reset``). Immutable and picklable."""

    dt: float = 0.1
    firing: FiringModel = Heaviside()
    detach_reset: bool = False

    def __post_init__(self) -> None:
        dt = self.dt
        if isinstance(dt, bool) or not isinstance(dt, (int, float)) or not math.isfinite(dt) or dt <= 0:
            raise ValueError(f"dt: expected a positive finite time step in ms, got {dt!r}")
        object.__setattr__(self, "dt", float(dt))
        if not isinstance(self.firing, FiringModel):
            raise TypeError(f"firing: expected a FiringModel (Heaviside, Gaussian, ...), got {self.firing!r}")
        if not isinstance(self.detach_reset, bool):
            raise TypeError(f"detach_reset: expected True or False, got {self.detach_reset!r}")


@dataclass(frozen=True)
class NeuronModel:
    """The declaration of a neuron model (see the module docstring for each field)."""

    name: str
    state: type
    params: tuple[Param, ...]
    features: frozenset[str]
    neuron_type: str
    step: Callable[..., tuple[torch.Tensor, Any]]
    rest: Callable[..., Any]
    runs_on: frozenset[str] | None = None
    input_unit: str = ""
    params_type: type | None = field(default=None, repr=False, compare=False)
    rest_takes_config: bool = False
    scan: Callable[..., tuple[torch.Tensor, Any]] | None = None
    to_nir: Callable[..., Any] | str | None = None
    record_fields: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise ValueError(f"NeuronModel.name: expected an identifier, got {self.name!r}")
        fields = getattr(self.state, "_fields", None)
        if not (isinstance(self.state, type) and issubclass(self.state, tuple) and fields):
            raise TypeError(f"NeuronModel.state: expected a NamedTuple type with fields, got {self.state!r}")
        params = tuple(self.params)
        if not all(isinstance(p, Param) for p in params):
            raise TypeError(f"NeuronModel.params: expected Param values, got {params!r}")
        names = [p.name for p in params]
        if len(set(names)) != len(names):
            raise ValueError(f"NeuronModel.params: names must be unique, got {names}")
        feats = frozenset(self.features)
        if not all(isinstance(f, str) for f in feats):
            raise TypeError(f"NeuronModel.features: expected strings, got {sorted(map(repr, feats))}")
        if not callable(self.step) or not callable(self.rest):
            raise TypeError("NeuronModel.step and NeuronModel.rest: expected callables")
        if self.scan is not None and not callable(self.scan):
            raise TypeError(f"NeuronModel.scan: expected a callable or None, got {self.scan!r}")
        hook = self.to_nir
        if not (hook is None or callable(hook) or (isinstance(hook, str) and _REFERENCE.fullmatch(hook))):
            raise TypeError(f"NeuronModel.to_nir: expected a callable, a 'package.module:function' string or None, "
                            f"got {hook!r}")
        if not isinstance(self.rest_takes_config, bool):
            raise TypeError(f"NeuronModel.rest_takes_config: expected True or False, got {self.rest_takes_config!r}")
        record = tuple(self.record_fields)
        if not all(isinstance(f, str) and f.isidentifier() for f in record):
            raise TypeError(f"NeuronModel.record_fields: expected field names, got {record!r}")
        object.__setattr__(self, "record_fields", record)
        object.__setattr__(self, "params", params)
        object.__setattr__(self, "features", feats | {f"model:{self.name}"})
        object.__setattr__(self, "runs_on", frozenset(self.runs_on or {self.neuron_type}))
        given = self.params_type
        if given is not None:
            if not (isinstance(given, type) and issubclass(given, tuple) and getattr(given, "_fields", None)):
                raise TypeError(f"NeuronModel.params_type: expected a NamedTuple type or None, got {given!r}")
            object.__setattr__(self, "_own_params_type", True)
            return
        # named after the model and placed in the step's module, so that its values pickle when the model
        # file binds it to that name (``AdExParams = ADEX.params_type``)
        ptype = collections.namedtuple(f"{self.name}Params", names, module=self.step.__module__)
        object.__setattr__(self, "params_type", ptype)
        object.__setattr__(self, "_own_params_type", False)

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    def resting(self, params: Any, zeros: torch.Tensor, config: Any) -> Any:
        """The resting state: ``rest(params, zeros)``, or ``rest(params, zeros, config)`` when the declaration
        sets ``rest_takes_config``."""
        if self.rest_takes_config:
            return self.rest(params, zeros, config)
        return self.rest(params, zeros)

    def __reduce__(self):
        # the functions pickle by reference; a params_type the declaration did not name is rebuilt
        return (NeuronModel, (self.name, self.state, self.params, self.features - {f"model:{self.name}"},
                              self.neuron_type, self.step, self.rest, self.runs_on, self.input_unit,
                              self.params_type if self._own_params_type else None, self.rest_takes_config,
                              self.scan, self.to_nir, self.record_fields))


def declaration(module: object) -> NeuronModel | None:
    """The declaration of a neuron module or class (its ``model``: :class:`spikeforge.Neuron` answers
    :data:`spikeforge.neuron.general.GENERAL`, a :class:`ModelNeuron` its model's); ``None`` for anything
    else."""
    cls = module if isinstance(module, type) else type(module)
    decl = getattr(cls, "model", None)
    return decl if isinstance(decl, NeuronModel) else None


class _Fire(torch.autograd.Function):
    """``n = H(u − θ)`` forward; ``∂n/∂u = f(u − θ) = −∂n/∂θ`` backward (``f``: the firing model's density)."""

    @staticmethod
    def forward(ctx, u, theta, firing):  # type: ignore[override]
        ctx.save_for_backward(u, theta)
        ctx.firing = firing
        return spike_count(u, theta, None, 1)

    @staticmethod
    def backward(ctx, g):  # type: ignore[override]
        u, theta = ctx.saved_tensors
        f = g * ctx.firing.pdf(u - theta)
        gu = f if ctx.needs_input_grad[0] else None
        gt = sum_to(-f, theta) if ctx.needs_input_grad[1] else None
        return gu, gt, None


def fire(u: torch.Tensor, theta: torch.Tensor, firing: FiringModel) -> torch.Tensor:
    r"""The seed's *fire* for a deterministic binary neuron: ``s = H(u − θ)`` (``H(0) = 1``, the one
    :func:`~spikeforge.neuron.firing.spike_count` of every backend), whose derivative is the firing model's
    density ``f(u − θ)`` -- the derivative of :math:`p_\text{spike} = F(u − θ)` (the surrogate gradient)."""
    return _Fire.apply(u, theta, firing)


def check_model_state(model: NeuronModel, state: object, like: torch.Tensor) -> None:
    """Refuse a state that does not belong to this model and input step ``like: [B, *features]`` (never
    rebuild it silently): its type, and each field's shape, dtype and device."""
    if type(state) is not model.state:
        raise TypeError(f"state: expected a {model.state.__name__} (or None for a fresh state), got "
                        f"{type(state).__name__}")
    for name in model.state._fields:
        t = getattr(state, name)
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"state.{name}: expected a tensor, got {type(t).__name__}")
        if tuple(t.shape) != tuple(like.shape):
            raise ValueError(f"state.{name}: expected shape {tuple(like.shape)} (input without its time axis), got "
                             f"{tuple(t.shape)}")
        if t.dtype != like.dtype:
            raise ValueError(f"state.{name}: expected dtype {like.dtype} (the input's), got {t.dtype}")
        if t.device != like.device:
            raise ValueError(f"state.{name}: expected device {like.device} (the input's), got {t.device}")


def _check_input(x: object, name: str, min_dim: int, form: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor of shape {form}, got {type(x).__name__}")
    if x.dim() < min_dim or (min_dim == 2 and x.shape[0] < 1):
        raise ValueError(f"{name}: expected a tensor of shape {form}, got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"{name}: expected a real floating-point tensor, got dtype {x.dtype}")
    return x


class ModelNeuron(nn.Module):
    """A neuron module for the declaration :attr:`model` (a subclass sets it as a class attribute).

    Keyword arguments: every declared parameter (a number, or a tensor of per-neuron values of the feature
    shape), and

    * ``dt`` -- the time step in ms (integration is forward Euler over ``dt``);
    * ``firing`` -- the firing model whose density is the surrogate gradient (``Heaviside()``: no gradient
      through spikes; pick ``Gaussian``/``Cauchy``/``Logistic`` with ``sigma`` in the potential's unit to
      train);
    * ``detach_reset`` -- the reset passes no gradient through the spike (the seed's ``detach_reset``);
    * ``learnable`` -- names of parameters to train (``nn.Parameter``; the others are buffers);
    * ``shape`` -- the feature shape for per-neuron parameters (scalars are expanded to it); without it the
      shape of the per-neuron values given, if any;
    * ``dtype`` -- the parameters' dtype (default: torch's default dtype); they are cast to the input's.

    Input current ``x: [T, B, *features]`` in the model's ``input_unit``; output spikes of the same shape.
    Nothing is kept between calls: ``state=None`` starts from rest (:meth:`initial_state`).
    """

    model: ClassVar[NeuronModel]
    stateful: ClassVar[bool] = True  # spikeforge.nets.Sequential threads its state

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        decl = cls.__dict__.get("model")
        if decl is None:
            return
        if not isinstance(decl, NeuronModel):
            raise TypeError(f"{cls.__name__}.model: expected a NeuronModel, got {type(decl).__name__}")
        kw = inspect.Parameter.KEYWORD_ONLY
        sig = [inspect.Parameter(p.name, kw, default=p.default) for p in decl.params]
        sig += [
            inspect.Parameter("dt", kw, default=0.1), inspect.Parameter("firing", kw, default=Heaviside()),
            inspect.Parameter("detach_reset", kw, default=False),
            inspect.Parameter("learnable", kw, default=()), inspect.Parameter("shape", kw, default=None),
            inspect.Parameter("dtype", kw, default=None),
        ]
        cls.__signature__ = inspect.Signature(sig)  # type: ignore[attr-defined]

    def __init__(
        self,
        *,
        dt: float = 0.1,
        firing: FiringModel = Heaviside(),
        detach_reset: bool = False,
        learnable: Sequence[str] = (),
        shape: int | Sequence[int] | None = None,
        dtype: torch.dtype | None = None,
        **values: Any,
    ) -> None:
        super().__init__()
        decl = getattr(type(self), "model", None)
        who = type(self).__name__
        if not isinstance(decl, NeuronModel):
            raise TypeError(f"{who}: a ModelNeuron subclass must set the class attribute model = NeuronModel(...)")
        names = [p.name for p in decl.params]
        unknown = sorted(set(values) - set(names))
        if unknown:
            raise TypeError(f"{who}: unknown parameter(s) {unknown}; expected names among {names}")
        if dtype is not None and not dtype.is_floating_point:
            raise ValueError(f"dtype: expected a real floating dtype for the parameters, got {dtype}")
        dtype = dtype or torch.get_default_dtype()
        self.config = StepConfig(dt=dt, firing=firing, detach_reset=detach_reset)
        if isinstance(learnable, str):
            learnable = (learnable,)
        learnable = tuple(learnable)
        allowed = [p.name for p in decl.params if p.learnable]
        bad = [n for n in learnable if n not in allowed]
        if bad:
            raise ValueError(f"learnable: expected names among {allowed}, got {bad}")
        self.learnable = learnable
        if shape is None:
            shapes = {tuple(torch.as_tensor(v).shape) for v in values.values()} - {()}
            if len(shapes) > 1:
                raise ValueError(f"{who}: per-neuron parameters must share one shape, got shapes {sorted(shapes)}")
            self.shape: tuple[int, ...] = shapes.pop() if shapes else ()
        else:
            self.shape = (int(shape),) if isinstance(shape, int) else tuple(int(s) for s in shape)
        for p in decl.params:
            value = values.get(p.name, p.default)
            t = torch.as_tensor(value, dtype=dtype).clone() if not isinstance(value, bool) else None
            if t is None or t.is_complex() or not bool(torch.all(torch.isfinite(t))):
                raise ValueError(f"{p.name}: expected finite real value(s), got {value!r}")
            if t.dim() == 0 and self.shape:
                t = t.expand(self.shape).clone()
            elif t.dim() and tuple(t.shape) != self.shape:
                raise ValueError(f"{p.name}: expected a scalar or shape {self.shape}, got shape {tuple(t.shape)}")
            if not _meets(p.constraint, t):
                raise ValueError(f"{p.name}: expected {p.constraint} value(s), got {value!r}")
            if p.name in learnable:
                setattr(self, p.name, nn.Parameter(t))
            else:
                self.register_buffer(p.name, t)

    # -- parameters -------------------------------------------------------------------------------
    @property
    def dt(self) -> float:
        """The time step in ms."""
        return self.config.dt

    @property
    def firing(self) -> FiringModel:
        return self.config.firing

    # -- what the neuron is (asked as of every neuron module, e.g. by spikeforge.hardware.fit) --------------
    @property
    def features(self) -> frozenset[str]:
        """The declaration's features (:attr:`NeuronModel.features`)."""
        return self.model.features

    @property
    def neuron_type(self) -> str:
        """The chip catalog's neuron type the declaration names (:attr:`NeuronModel.neuron_type`)."""
        return self.model.neuron_type

    @property
    def runs_on(self) -> frozenset[str]:
        """The catalog neuron types that run this model (:attr:`NeuronModel.runs_on`)."""
        return self.model.runs_on

    def params(self, dtype: torch.dtype, device: torch.device) -> Any:
        """The parameter tensors as the model's ``params_type`` (differentiable, cast to ``dtype``/``device``).
        A learned parameter that left its constraint is an error."""
        out = {}
        for p in self.model.params:
            t = getattr(self, p.name)
            if p.name in self.learnable and not _meets(p.constraint, t.detach()):
                raise ValueError(f"{p.name}: must stay {p.constraint}, got min {t.detach().min().item():.6g}")
            out[p.name] = t.to(dtype=dtype, device=device)
        return self.model.params_type(**out)

    def _check_features(self, x: torch.Tensor, lead: int) -> None:
        if self.shape and tuple(x.shape[lead:]) != self.shape:
            form = "[T, B, " if lead == 2 else "[B, "
            raise ValueError(f"x: {type(self).__name__} has per-neuron parameters of shape {self.shape}; expected "
                             f"input {form}{', '.join(map(str, self.shape))}], got {tuple(x.shape)}")

    # -- running ----------------------------------------------------------------------------------
    def initial_state(self, x: torch.Tensor) -> Any:
        """The resting state for input ``x: [T, B, ...]`` (the model's ``rest``), of ``x``'s dtype and device."""
        _check_input(x, "x", 2, "[T, B, ...]")
        self._check_features(x, 2)
        params = self.params(x.dtype, x.device)
        return self.model.resting(params, x.new_zeros(x.shape[1:]), self.config)

    def _start(self, x: torch.Tensor, state: Any, lead: int, name: str, form: str):
        """The checks, parameters and state a step (``lead=1``, ``x: [B, ...]``) or a scan (``lead=2``) starts
        with."""
        _check_input(x, name, lead, form)
        self._check_features(x, lead)
        one_step = x if lead == 1 else x[0]
        params = self.params(x.dtype, x.device)
        if state is None:
            return params, self.model.resting(params, torch.zeros_like(one_step), self.config)
        check_model_state(self.model, state, one_step)
        return params, state

    def step(self, x_t: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        """One time step: input current ``x_t: [B, ...]`` -> ``(s_t, state)``. A loop of steps gives exactly
        :meth:`scan`'s spikes."""
        params, state = self._start(x_t, state, 1, "x_t", "[B, ...]")
        s_t, state = self.model.step(x_t, state, params, self.config)
        _counting.report(self, "neuron", s_t.unsqueeze(0))
        return s_t, state

    def scan(self, x: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        """Run over ``x: [T, B, ...]`` (time-major); always returns ``(spikes [T, B, ...], state)``: the
        declaration's own ``scan`` where it has one, else a loop of its ``step`` under autograd."""
        params, state = self._start(x, state, 2, "x", "[T, B, ...]")
        if self.model.scan is not None:
            spikes, state = self.model.scan(x, state, params, self.config)
            _counting.report(self, "neuron", spikes)
            return spikes, state
        step, config = self.model.step, self.config
        out = []
        for t in range(x.shape[0]):
            s, state = step(x[t], state, params, config)
            out.append(s)
        spikes = torch.stack(out)
        _counting.report(self, "neuron", spikes)
        return spikes, state

    def forward(self, x: torch.Tensor, state: Any = None, return_state: bool = False):
        """Spikes ``[T, B, ...]`` for input current ``x: [T, B, ...]``; with ``return_state`` also the state
        (as :class:`spikeforge.Neuron`; :meth:`scan` always returns the pair)."""
        spikes, new_state = self.scan(x, state)
        return (spikes, new_state) if return_state else spikes

    def extra_repr(self) -> str:
        parts = [f"dt={self.dt:g}"]
        for p in self.model.params:
            t = getattr(self, p.name).detach()
            parts.append(f"{p.name}={t.item():g}" if t.dim() == 0 else f"{p.name}={tuple(t.shape)}")
        if not isinstance(self.firing, Heaviside):
            parts.append(f"firing={self.firing!r}")
        if self.config.detach_reset:
            parts.append("detach_reset=True")
        if self.learnable:
            parts.append(f"learnable={self.learnable}")
        return ", ".join(parts)

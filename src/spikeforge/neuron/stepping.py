r"""Your own time loop: :func:`step` runs one time step of a neuron module, :func:`record` runs a sequence
and returns the per-step traces of its state fields and derived quantities (``v*``, ``ψ``, ``I``).

The neuron-module protocol
--------------------------
Both functions take any *neuron module*: a :class:`~spikeforge.neuron.Neuron` (the presets ``LIF``,
``CuBaLIF``, …, any backend) or any other module that offers, for input ``x: [T, B, ...]``,

* ``initial_state(x) -> state`` -- the resting state (a NamedTuple of the model's declared fields);
* ``scan(x, state=None) -> (spikes [T, B, ...], state)`` -- the whole sequence;
* optionally ``step(x_t, state=None) -> (s_t, state)`` for one step ``x_t: [B, ...]`` (the same dynamics);
* optionally, for recording derived quantities, ``record_fields`` (a tuple of names) and
  ``record_step(x_t, state) -> (s_t, state, {name: tensor [B, ...]})`` giving those of one step (the same
  ``s_t`` and state as ``step``).

Keyword arguments ``generator`` and ``recurrent_weight`` are passed on only when given. :func:`step` calls the
module's ``step`` when it has one, else its ``scan`` on a length-1 sequence, else (a stateful module such
as ``LI``, ``Integrator`` or :class:`spikeforge.synapse.Recurrent`) ``module(x_t[None], state,
return_state=True)``.

Exactness of a loop of steps
----------------------------
A loop ``for t: s[t], state = step(neuron, x[t], state)`` gives bit for bit the spikes and final state of
``neuron(x, return_state=True)`` on the same backend for every deterministic configuration: any firing model,
reset, fixed order, graded, complex, CuBa, adaptive, refractory, recurrent. Random draws happen where the
call makes them: a step draws its threshold noise ``ξ`` (``stochastic=True``) and then its order
(``order="random"``) from ``generator``; the sequence call draws all of the sequence's noise first, then all
its orders. torch's CPU generator yields the same numbers for one draw of ``T·M`` as for ``T`` draws of
``M``, so with a CPU generator seeded alike the loop is exact when the neuron makes only one kind of draw;
with both kinds (or a CUDA generator) the loop is an equally distributed but different sample. For an exact
loop in every case, draw the sequence's randomness up front, as the sequence call does, and step the pure
function :func:`spikeforge.neuron.dynamics.neuron_step`::

    noise = draw_noise(n.spec, tuple(x.shape), dtype=x.dtype, device=x.device, generator=g)
    orders = draw_orders(n.spec, x.shape[0], g)
    params = n.params(x.dtype, x.device)
    for t in range(T):
        s_t, state = neuron_step(x[t], state, params, n.spec, noise_t=None if noise is None else noise[t],
                                 order=orders[t])

:func:`record` does exactly this, so its spikes and state equal the sequence call's with a generator seeded
alike, for every configuration.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any, NamedTuple

import torch

from spikeforge import _counting
from spikeforge.neuron.dynamics import neuron_step, traced_step
from spikeforge.neuron.general import GENERAL
from spikeforge.neuron.modules import Neuron, check_sequence

__all__ = ["DERIVED_FIELDS", "Recording", "record", "step"]

#: Derived quantities :func:`record` computes for a :class:`~spikeforge.neuron.Neuron`: its declaration's
#: ``record_fields`` (:data:`spikeforge.neuron.general.GENERAL`; see :class:`spikeforge.neuron.dynamics.StepTrace`).
DERIVED_FIELDS = GENERAL.record_fields


class Recording(NamedTuple):
    """What :func:`record` returns: the spikes ``[T, B, ...]``, the final state (the model's state type) and
    ``traces``, a dict from each requested field to its values at every step, ``[T, B, ...]``."""

    spikes: torch.Tensor
    state: Any
    traces: dict[str, torch.Tensor]


def _kwargs(generator, recurrent_weight) -> dict:
    kw: dict[str, Any] = {}
    if generator is not None:
        kw["generator"] = generator
    if recurrent_weight is not None:
        kw["recurrent_weight"] = recurrent_weight
    return kw


def _check_step_input(x_t: object) -> torch.Tensor:
    if not isinstance(x_t, torch.Tensor):
        raise TypeError(f"x_t: expected a torch.Tensor [B, ...] (one time step), got {type(x_t).__name__}")
    if x_t.dim() < 1:
        raise ValueError(f"x_t: expected one time step [B, ...] with at least 1 dim, got shape {tuple(x_t.shape)}")
    return x_t


def _takes_state(module) -> bool:
    try:
        return "return_state" in inspect.signature(module.forward).parameters
    except (TypeError, ValueError):
        return False


def step(
    neuron,
    x_t: torch.Tensor,
    state=None,
    *,
    generator: torch.Generator | None = None,
    recurrent_weight: torch.Tensor | None = None,
):
    """One time step of ``neuron`` for ``x_t: [B, ...]`` (no time axis); returns ``(s_t [B, ...], state)``.

    ``neuron`` is a neuron module (see the protocol in :mod:`spikeforge.neuron.stepping`), e.g. ``sf.LIF()``;
    ``state=None`` starts from rest, else it continues from ``state`` (the model's state type, as returned
    by the previous step or by ``neuron(x, return_state=True)``). A loop of steps gives exactly the sequence
    call's spikes and final state; for random draws (``stochastic``, ``order="random"``) see "Exactness" in
    :mod:`spikeforge.neuron.stepping`. ``recurrent_weight`` as in :meth:`spikeforge.neuron.Neuron.scan`.
    """
    _check_step_input(x_t)
    kw = _kwargs(generator, recurrent_weight)
    own = getattr(neuron, "step", None)
    if callable(own):
        return own(x_t, state, **kw)
    x = x_t.unsqueeze(0)
    scan = getattr(neuron, "scan", None)
    if callable(scan):
        s, new_state = scan(x, state, **kw)
    elif isinstance(neuron, torch.nn.Module) and _takes_state(neuron):
        accepted = inspect.signature(neuron.forward).parameters
        unknown = [k for k in kw if k not in accepted]
        if unknown:  # e.g. a Recurrent holds its own weight
            raise TypeError(f"{unknown[0]}: {type(neuron).__name__} takes no {unknown[0]} (its forward accepts "
                            f"{', '.join(accepted)})")
        s, new_state = neuron(x, state, return_state=True, **kw)
    else:
        raise TypeError(f"neuron: expected a neuron module with step(x_t, state) or scan(x, state) (e.g. "
                        f"spikeforge.LIF()), got {type(neuron).__name__}")
    return s[0], new_state


def _fields(fields: Sequence[str] | str) -> tuple[str, ...]:
    if isinstance(fields, str):
        fields = (fields,)
    if not isinstance(fields, Sequence) or not all(isinstance(f, str) for f in fields):
        raise TypeError(f"fields: expected a sequence of field names, got {fields!r}")
    return tuple(dict.fromkeys(fields))


def _state_fields(state) -> tuple[str, ...]:
    names = getattr(state, "_fields", None)
    if names is None:
        return ()
    return tuple(n for n in names if isinstance(getattr(state, n), torch.Tensor))


def _check_fields(wanted: tuple[str, ...], available: tuple[str, ...], neuron) -> None:
    unknown = [f for f in wanted if f not in available]
    if unknown:
        raise ValueError(f"fields: {type(neuron).__name__} has no field {', '.join(map(repr, unknown))}; "
                         f"available: {', '.join(available)}")


def _record_neuron(neuron: Neuron, x, state, fields, generator, recurrent_weight) -> Recording:
    # the checks and draws of Neuron.scan, in its order, so that a generator seeded alike gives the same spikes
    state, params, noise, orders, recurrent_weight = neuron.prepare(x, state, generator, recurrent_weight)
    _check_fields(fields, _state_fields(state) + DERIVED_FIELDS, neuron)
    derived = any(f in DERIVED_FIELDS for f in fields)
    spikes, traces = [], {f: [] for f in fields}
    for t in range(x.shape[0]):
        kw = dict(noise_t=None if noise is None else noise[t], order=orders[t], recurrent_weight=recurrent_weight)
        if derived:
            s, state, trace = traced_step(x[t], state, params, neuron.spec, **kw)
        else:
            (s, state), trace = neuron_step(x[t], state, params, neuron.spec, **kw), None
        spikes.append(s)
        for f in fields:
            traces[f].append(getattr(trace, f) if f in DERIVED_FIELDS else getattr(state, f))
    out = torch.stack(spikes)
    _counting.report(neuron, "neuron", out)  # a recorded run is counted as the sequence call
    return Recording(out, state, {f: torch.stack(v) for f, v in traces.items()})


def _record_module(neuron, x, state, fields, generator, recurrent_weight) -> Recording:
    check_sequence(x)
    kw = _kwargs(generator, recurrent_weight)
    declared = tuple(getattr(neuron, "record_fields", ()))
    has_record_step = callable(getattr(neuron, "record_step", None))
    derived = declared if has_record_step else ()
    if state is None and callable(getattr(neuron, "initial_state", None)):
        state = neuron.initial_state(x)
    if state is not None:
        _check_fields(fields, _state_fields(state) + derived, neuron)
    use_record_step = any(f in derived for f in fields)
    spikes, traces = [], {f: [] for f in fields}
    for t in range(x.shape[0]):
        if use_record_step:
            s, state, extra = neuron.record_step(x[t], state, **kw)
        else:
            (s, state), extra = step(neuron, x[t], state, **kw), {}
        if t == 0:
            _check_fields(fields, _state_fields(state) + derived, neuron)
        spikes.append(s)
        for f in fields:
            traces[f].append(extra[f] if f in derived else getattr(state, f))
    return Recording(torch.stack(spikes), state, {f: torch.stack(v) for f, v in traces.items()})


def record(
    neuron,
    x: torch.Tensor,
    state=None,
    fields: Sequence[str] | str = ("v",),
    *,
    generator: torch.Generator | None = None,
    recurrent_weight: torch.Tensor | None = None,
) -> Recording:
    """Run ``neuron`` over ``x: [T, B, ...]`` one step at a time and record ``fields`` at every step.

    Returns a :class:`Recording` ``(spikes, state, traces)``; ``traces[f]`` is ``[T, B, ...]``, field ``f``
    at the end of each step. ``fields`` are names among the model's declared state fields (the general
    neuron: ``v``, ``s``, ``h`` and, where the neuron has them, ``i`` (CuBa), ``a`` (adaptive), ``ref``
    (refractory)) and its derived quantities (the general neuron: ``v_star``, ``psi``, ``current``, see
    :class:`spikeforge.neuron.dynamics.StepTrace`; other models: their ``record_fields``). An unknown name
    is a ``ValueError`` that lists the available ones.

    For a :class:`~spikeforge.neuron.Neuron` the steps are those of
    :func:`spikeforge.neuron.dynamics.traced_step` (the reference dynamics, whatever the neuron's backend:
    every backend is tested to give its spikes), with the sequence call's random draws; so ``spikes`` and
    ``state`` equal ``neuron(x, state, return_state=True)``'s for a generator seeded alike, and the traces
    are what the step function gives. Traces are differentiable (plain autograd). Other modules are stepped
    with :func:`step` (or their ``record_step``). For a :class:`spikeforge.synapse.Recurrent` population pass
    its ``neuron`` and ``recurrent_weight=rec.weight``.
    """
    fields = _fields(fields)
    if isinstance(neuron, Neuron):
        return _record_neuron(neuron, x, state, fields, generator, recurrent_weight)
    if not isinstance(neuron, torch.nn.Module):
        raise TypeError(f"neuron: expected a neuron module (e.g. spikeforge.LIF()), got {type(neuron).__name__}")
    return _record_module(neuron, x, state, fields, generator, recurrent_weight)

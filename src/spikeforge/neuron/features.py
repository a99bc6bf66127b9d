"""The features a configuration of the general neuron (:mod:`spikeforge.neuron.dynamics`) asks of a scan.

A backend declares the features it implements (a frozenset of the names below) and runs a configuration
only when :func:`required_features` is a subset of them; everything else goes to the generic fused scan.
Features are derived from *every* field of :class:`~spikeforge.neuron.dynamics.NeuronSpec`: a field this
module does not know (a flag added later, or by a subclass) becomes the feature ``"name=value"`` whenever
it differs from its default, which no backend declares -- so a new flag can never run on a backend written
before it existed.

Names: ``real`` / ``complex`` (the potential), ``complex-input``, ``binary`` / ``graded``
(``max_spikes``), ``deterministic`` / ``stochastic``, ``reset:<soft|hard|refractory|none>``,
``detach-reset``, ``order:<a-b-c>`` for each process order that occurs (``order:random`` for a random
order), ``firing:<Heaviside|Gaussian|Cauchy|Logistic>`` or ``firing:custom``, ``cuba``, ``adaptive``,
``recurrent``.
"""

from __future__ import annotations

import dataclasses

import torch

from spikeforge.neuron.dynamics import ORDERS, NeuronParams, NeuronSpec, NeuronState
from spikeforge.neuron.firing import Cauchy, Gaussian, Heaviside, Logistic

__all__ = ["BUILTIN_FIRING", "KNOWN_FEATURES", "required_features", "spec_features"]

BUILTIN_FIRING = (Heaviside, Gaussian, Cauchy, Logistic)

# Spec fields that are values of a feature named elsewhere (not features themselves).
_VALUES = {"v_reset", "refractory_steps", "v_refractory"}
# Spec fields mapped to features below.
_MAPPED = {"firing", "stochastic", "max_spikes", "reset", "order", "cuba", "adaptive", "detach_reset"}


def _order_name(order) -> str:
    return "order:" + (order if isinstance(order, str) else "-".join(order))


def spec_features(spec: NeuronSpec) -> tuple[frozenset[str], frozenset[str]]:
    """The features every call of a neuron with this ``spec`` requires, for a real and for a complex potential
    (``(real, complex)``): all of :func:`required_features` but what depends on the call's tensors and draws.

    Computed once per spec, when it is made (:class:`~spikeforge.neuron.dynamics.NeuronSpec` keeps the pair,
    which this returns): a spec is immutable, so its features never change."""
    known = spec.__dict__.get("_features")
    return known if known is not None else _compute_spec_features(spec)


def _compute_spec_features(spec: NeuronSpec) -> tuple[frozenset[str], frozenset[str]]:
    f = {"binary" if spec.max_spikes == 1 else "graded", "stochastic" if spec.stochastic else "deterministic",
         f"reset:{spec.reset}", _order_name(spec.order),
         f"firing:{type(spec.firing).__name__}" if type(spec.firing) in BUILTIN_FIRING else "firing:custom"}
    if spec.detach_reset:
        f.add("detach-reset")
    if spec.cuba:
        f.add("cuba")
    if spec.adaptive:
        f.add("adaptive")
    for field in dataclasses.fields(spec):
        if field.name in _MAPPED or field.name in _VALUES:
            continue
        value = getattr(spec, field.name)
        default = field.default if field.default is not dataclasses.MISSING else None
        if value != default:
            f.add(f"{field.name}={value!r}")
    return frozenset(f | {"real"}), frozenset(f | {"complex"})


def required_features(
    x: torch.Tensor,
    state: NeuronState,
    params: NeuronParams,
    spec: NeuronSpec,
    noise: torch.Tensor | None,
    orders,
    recurrent_weight: torch.Tensor | None,
) -> frozenset[str]:
    """The features a scan must implement to compute this call exactly: the spec's (:func:`spec_features`)
    and the call's (a complex input, potential or decay; noise given to a deterministic spec; orders other
    than the spec's; a recurrent weight)."""
    f = spec_features(spec)[x.is_complex() or state.v.is_complex() or params.decay.is_complex()]
    extra = []
    if x.is_complex():
        extra.append("complex-input")
    if recurrent_weight is not None:
        extra.append("recurrent")
    # list.count is one C loop (identity first): the common case of every step in the spec's own order
    if orders.count(spec.order) != len(orders):
        extra.extend(_order_name(o) for o in set(map(tuple, orders)))
    if noise is not None and not spec.stochastic:
        return (f - {"deterministic"}).union(extra, ("stochastic",))
    return f.union(extra) if extra else f


KNOWN_FEATURES: frozenset[str] = frozenset(
    {"real", "complex", "complex-input", "binary", "graded", "deterministic", "stochastic", "detach-reset",
     "cuba", "adaptive", "recurrent", "firing:custom", "order:random"}
    | {f"reset:{r}" for r in ("soft", "hard", "refractory", "none")}
    | {f"firing:{c.__name__}" for c in BUILTIN_FIRING}
    | {_order_name(o) for o in ORDERS}
)
"""Every feature the general neuron has: what the generic fused scan and the reference implement."""

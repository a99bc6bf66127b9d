"""The scan backends by name, for the neuron modules.

A neuron module runs its sequence through a backend: a function with the signature::

    scan(x, state, params, spec, *, noise, orders, recurrent_weight) -> (spikes, final_state)

The registry lives here, in the neuron layer, so that :mod:`spikeforge.neuron` needs nothing above it:
:mod:`spikeforge.kernels` (the layer above, which holds the backends) registers ``reference``, ``torch``,
``fast``, ``triton`` and ``auto`` when it is imported, and importing any part of spikeforge imports it first
(``spikeforge/__init__.py``). The backends themselves are described in :mod:`spikeforge.kernels`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

__all__ = ["backend_features", "get_backend", "register_backend", "registered_backends", "unregister_backend"]

_REGISTRY: dict[str, Callable] = {}
_VIEW = MappingProxyType(_REGISTRY)
_FEATURES: dict[str, frozenset[str] | None] = {}


def register_backend(name: str, fn: Callable, *, replace: bool = False,
                     features: frozenset[str] | None = None) -> None:
    """Make the scan function ``fn`` the backend ``name`` (``Neuron(backend=name)``).

    ``features`` declares what ``fn`` implements (names of :mod:`spikeforge.neuron.features`): a call whose
    required features are not all among them runs on the generic fused scan (backend ``"torch"``) instead,
    never on ``fn``. ``None`` means that ``fn`` takes every configuration, checking and handing off by itself
    (as the built-in backends do). A name already taken by another function is refused unless ``replace``
    (registering the same function again is a no-op)."""
    if not isinstance(name, str) or not name:
        raise TypeError(f"name: expected a non-empty string, got {name!r}")
    if not callable(fn):
        raise TypeError(f"fn: expected a scan function (x, state, params, spec, *, noise, orders, recurrent_weight),"
                        f" got {type(fn).__name__}")
    old = _REGISTRY.get(name)
    if old is not None and old is not fn and not replace:
        raise ValueError(f"name: backend {name!r} is already registered ({getattr(old, '__qualname__', old)}); "
                         f"pass replace=True to replace it")
    if features is not None:
        features = frozenset(features)
        if not all(isinstance(f, str) for f in features):
            raise TypeError(f"features: expected feature names (strings), got {sorted(map(repr, features))}")
    _REGISTRY[name] = fn
    _FEATURES[name] = features


def unregister_backend(name: str) -> None:
    """Remove the backend ``name`` (e.g. one a test registered)."""
    if name not in _REGISTRY:
        raise ValueError(f"name: expected one of the registered backends {list(_REGISTRY)}, got {name!r}")
    del _REGISTRY[name]
    _FEATURES.pop(name, None)


def get_backend(name: str) -> Callable:
    """The scan function of backend ``name``."""
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise ValueError(f"backend: expected one of {list(_REGISTRY)}, got {name!r}") from None


def registered_backends() -> Mapping[str, Callable]:
    """A read-only, live view of the registered backends by name."""
    return _VIEW


def backend_features(name: str) -> frozenset[str] | None:
    """The features backend ``name`` declared (``None``: it takes every configuration itself)."""
    get_backend(name)
    return _FEATURES.get(name)

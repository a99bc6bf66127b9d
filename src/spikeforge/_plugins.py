"""Plug-ins of other packages, found through entry points (neuron models, training methods)."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from importlib.metadata import entry_points
from typing import Any

__all__ = ["entry_point_objects"]


def entry_point_objects(group: str, accept: Callable[[Any], bool], expected: str) -> Iterator[tuple[str, Any]]:
    """``(name, object)`` of every entry point of ``group`` whose object ``accept`` takes. Another package's
    broken plug-in must not break spikeforge: one that fails to load, or is not ``expected``, is named in a
    ``RuntimeWarning`` and skipped."""
    for ep in entry_points(group=group):
        try:
            obj = ep.load()
        except Exception as exc:
            warnings.warn(f"entry point {ep.name!r} of group {group!r} ({ep.value}) failed to load and is skipped: "
                          f"{type(exc).__name__}: {exc}", RuntimeWarning, stacklevel=3)
            continue
        if not accept(obj):
            warnings.warn(f"entry point {ep.name!r} of group {group!r}: expected {expected}, got {obj!r}; skipped",
                          RuntimeWarning, stacklevel=3)
            continue
        yield ep.name, obj

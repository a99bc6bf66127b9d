"""Which compiled CPU kernels serve the fast LIF scan and the event-driven synapses.

Two implementations of the same kernels exist, tried in this order: ``"c"`` (:mod:`spikeforge.kernels._clib`,
built at install time; the fastest and leanest, see ``benchmarks/kernel_tech.py``) and ``"numba"`` (compiled
on first use; ≈ 130 MB of resident memory for numba and LLVM). Without either, the callers use pure torch.

The environment variable ``SPIKEFORGE_KERNELS`` (``auto``, ``c``, ``numba`` or ``torch``) restricts the
choice, and ``SPIKEFORGE_NO_NUMBA=1`` removes numba from it. Both are read **once**, at the first use of
the kernels in the process (:func:`preference`), and kept as an immutable tuple: set them before the
program starts; changing ``os.environ`` later has no effect. Inside a program (and in tests) choose with the
context manager :func:`using`, which applies to the current thread (or ``asyncio`` task) and restores the
previous choice on exit; :func:`parse` is the pure reading of an environment mapping.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterator, Mapping
from contextvars import ContextVar

__all__ = ["CHOICES", "available", "kernels", "parse", "preference", "using"]

IMPLS = ("c", "numba")
#: The values of ``SPIKEFORGE_KERNELS`` and of :func:`using`.
CHOICES = ("auto", "c", "numba", "torch")
_FAILED: set[tuple[str, str]] = set()  # (family, impl) whose import failed: not retried at every call
_CHOSEN: ContextVar[tuple[str, ...] | None] = ContextVar("spikeforge_kernels", default=None)


def _order(choice: str, name: str) -> tuple[str, ...]:
    if choice == "auto":
        return IMPLS
    if choice in IMPLS:
        return (choice,)
    if choice == "torch":
        return ()
    raise ValueError(f"{name}: expected 'auto', 'c', 'numba' or 'torch', got {choice!r}")


def parse(environ: Mapping[str, str]) -> tuple[str, ...]:
    """The compiled implementations, best first, that ``SPIKEFORGE_KERNELS`` and ``SPIKEFORGE_NO_NUMBA`` in
    ``environ`` allow (a pure function of ``environ``)."""
    order = _order(environ.get("SPIKEFORGE_KERNELS", "auto").strip().lower() or "auto", "SPIKEFORGE_KERNELS")
    if environ.get("SPIKEFORGE_NO_NUMBA", "") not in ("", "0"):
        order = tuple(o for o in order if o != "numba")
    return order


@functools.cache
def _environment() -> tuple[str, ...] | ValueError:
    """:func:`parse` of ``os.environ``, read at the first call only (a bad value: the error, kept too)."""
    try:
        return parse(os.environ)
    except ValueError as exc:
        return exc


def preference() -> tuple[str, ...]:
    """The compiled implementations allowed here, best first: those of the innermost :func:`using`, else
    those of the environment as read at the first call."""
    chosen = _CHOSEN.get()
    if chosen is not None:
        return chosen
    env = _environment()
    if isinstance(env, ValueError):
        raise ValueError(str(env))
    return env


@contextlib.contextmanager
def using(choice: str) -> Iterator[tuple[str, ...]]:
    """Choose the kernels inside the block, as ``SPIKEFORGE_KERNELS=choice`` would (``"auto"``: C, then
    numba; ``"torch"``: none, the pure-torch paths), for the current thread or task; the previous choice is
    restored on exit. ``SPIKEFORGE_NO_NUMBA`` does not apply to an explicit choice. Each backward pass uses
    the kernels its forward pass used."""
    token = _CHOSEN.set(_order(choice.strip().lower() if isinstance(choice, str) else choice, "choice"))
    try:
        yield _CHOSEN.get()  # type: ignore[misc]
    finally:
        _CHOSEN.reset(token)


def _load(family: str, impl: str):
    if impl == "c":
        from spikeforge.kernels import _clib

        if not _clib.available():
            return None
        return _clib.LIF if family == "lif" else _clib.EVENT
    if impl == "numba":
        if (family, impl) in _FAILED:
            return None
        try:
            if family == "lif":
                from spikeforge.kernels import _numba_lif as mod
            else:
                from spikeforge.kernels import _numba_event as mod
        except Exception:  # numba missing or broken: the next implementation serves
            _FAILED.add((family, impl))
            return None
        return mod
    raise ValueError(f"impl: expected one of {IMPLS}, got {impl!r}")


def kernels(family: str, impl: str | None = None):
    """``(impl, module)`` of the ``family`` (``"lif"`` or ``"event"``) kernels: the given ``impl`` (``None``
    when it is unavailable), or the best available one allowed by the environment (``(None, None)``: none)."""
    if impl is not None:
        mod = _load(family, impl)
        return (impl, mod) if mod is not None else (None, None)
    for name in preference():
        mod = _load(family, name)
        if mod is not None:
            return name, mod
    return None, None


def available(impl: str, family: str = "lif") -> bool:
    """Whether ``impl`` (``"c"`` or ``"numba"``) loads, regardless of the environment's preference."""
    return _load(family, impl) is not None

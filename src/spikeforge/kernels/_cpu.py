"""Which compiled CPU kernels serve the fast LIF scan and the event-driven synapses.

Two implementations of the same kernels exist, tried in this order: ``"c"`` (:mod:`spikeforge.kernels._clib`,
built at install time; the fastest and leanest, see ``benchmarks/kernel_tech.py``) and ``"numba"`` (compiled
on first use; ≈ 130 MB of resident memory for numba and LLVM). Without either, the callers use pure torch.
The environment variable ``SPIKEFORGE_KERNELS`` (``auto``, ``c``, ``numba`` or ``torch``) restricts the
choice, and ``SPIKEFORGE_NO_NUMBA=1`` removes numba from it; both are read at every call.
"""

from __future__ import annotations

import os

__all__ = ["available", "kernels", "preference"]

IMPLS = ("c", "numba")
_FAILED: set[tuple[str, str]] = set()  # (family, impl) whose import failed: not retried at every call


def preference() -> tuple[str, ...]:
    """The compiled implementations allowed by the environment, best first."""
    env = os.environ.get("SPIKEFORGE_KERNELS", "auto").strip().lower() or "auto"
    if env == "auto":
        order = IMPLS
    elif env in IMPLS:
        order = (env,)
    elif env == "torch":
        order = ()
    else:
        raise ValueError(f"SPIKEFORGE_KERNELS: expected 'auto', 'c', 'numba' or 'torch', got {env!r}")
    if os.environ.get("SPIKEFORGE_NO_NUMBA", "") not in ("", "0"):
        order = tuple(o for o in order if o != "numba")
    return order


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

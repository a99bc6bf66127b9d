"""The worker threads of the compiled CPU kernels, and the splitting of a kernel's range over them.

The C kernels (:mod:`spikeforge.kernels._clib`; ctypes releases the GIL) and the numba kernels (``nogil``)
each compute a range ``[lo, hi)`` of rows, columns or neurons; :meth:`Workers.split` cuts the whole range
into ``torch.get_num_threads()`` blocks, hands all but the last to pool threads and computes the last on the
calling thread. A :class:`Workers` object owns its ``ThreadPoolExecutor``: the pool is made at the first
split that needs threads, replaced by a larger one (the old one shut down: its threads finish the work
already handed to them, then exit) when more threads are asked for, and shut down by :meth:`Workers.close`
(or leaving a ``with`` block). The kernels use :func:`current`: the :class:`Workers` made active by
:func:`using` in this thread (or ``asyncio`` task), else one default object, made on first use, that lives
as long as the process (``concurrent.futures`` joins its threads at exit).

Nothing here is configured by mutating a module global: :data:`PARALLEL_MIN_WORK` is the default of
``Workers(min_work=...)``.
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from typing import TypeVar

import numpy as np
import torch

__all__ = ["PARALLEL_MIN_WORK", "Workers", "current", "using"]

R = TypeVar("R")

#: Work (elements touched) below which a kernel runs on the calling thread: handing a block to a pool
#: thread costs tens of microseconds, and much more when other processes load the cores.
PARALLEL_MIN_WORK = 1 << 18


class Workers:
    """Worker threads for the compiled kernels, owned by this object (see the module docstring).

    Args:
        min_work: work (elements touched) below which :meth:`split` runs on the calling thread.
        name: prefix of the threads' names.
    """

    def __init__(self, *, min_work: int = PARALLEL_MIN_WORK, name: str = "spikeforge-kernels") -> None:
        if isinstance(min_work, bool) or not isinstance(min_work, int) or min_work < 0:
            raise ValueError(f"min_work: expected an integer >= 0, got {min_work!r}")
        self.min_work = min_work
        self.name = name
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None
        self._size = 0  # threads of self._executor (its own count, not the executor's private field)
        self._closed = False

    @property
    def size(self) -> int:
        """Threads of the current pool (0 before the first split that used threads, and after close)."""
        return self._size

    @property
    def closed(self) -> bool:
        return self._closed

    def _submit(self, n: int, calls: list[tuple[Callable[..., R], tuple]]) -> list:
        """Submit ``calls`` to a pool of at least ``n`` threads (made or grown here, under the lock: a pool
        being replaced by another thread is never handed new work)."""
        with self._lock:
            if self._closed:
                raise RuntimeError("Workers: closed; make a new Workers object")
            if self._executor is None or self._size < n:
                old = self._executor
                self._executor = ThreadPoolExecutor(max_workers=n, thread_name_prefix=self.name)
                self._size = n
                if old is not None:  # its threads finish what they were given, then exit
                    old.shutdown(wait=False)
            return [self._executor.submit(fn, *args) for fn, args in calls]

    def split(self, fn: Callable[[int, int], R], n_items: int, work: int,
              cumulative: np.ndarray | None = None) -> list[R]:
        """Run ``fn(lo, hi)`` over ``[0, n_items)``, split into ``torch.get_num_threads()`` blocks when the
        ``work`` is at least :attr:`min_work`: equal blocks, or blocks of equal work when the ``cumulative``
        work ``[n_items + 1]`` is given (e.g. the events per row or column). Returns the blocks' results in
        order."""
        n = max(1, min(torch.get_num_threads(), n_items))
        if n == 1 or work < self.min_work:
            return [fn(0, n_items)]
        if cumulative is None:
            bounds = np.linspace(0, n_items, n + 1).astype(np.int64)
        else:
            bounds = np.searchsorted(cumulative, np.linspace(0, cumulative[-1], n + 1)).astype(np.int64)
            bounds[0], bounds[-1] = 0, n_items
        # the calling thread takes the last block itself: one hand-off fewer, and no core left idle waiting
        futs = self._submit(n - 1, [(fn, (int(bounds[i]), int(bounds[i + 1]))) for i in range(n - 1)])
        last = fn(int(bounds[n - 1]), int(bounds[n]))
        return [*(f.result() for f in futs), last]

    def close(self, wait: bool = True) -> None:
        """Shut the pool down (``wait``: until its threads have finished); a closed object refuses work that
        needs threads."""
        with self._lock:
            executor, self._executor, self._size, self._closed = self._executor, None, 0, True
        if executor is not None:
            executor.shutdown(wait=wait)

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{self._size} threads"
        return f"Workers(min_work={self.min_work}, {state})"


_ACTIVE: ContextVar[Workers | None] = ContextVar("spikeforge_workers", default=None)


@functools.cache
def _default() -> Workers:
    """The default object, made on first use (it starts no thread until a split needs one)."""
    return Workers()


if hasattr(os, "register_at_fork"):  # a forked child (a DataLoader worker) has none of the parent's threads
    os.register_at_fork(after_in_child=_default.cache_clear)


def current() -> Workers:
    """The :class:`Workers` the kernels use here: the one made active by :func:`using`, else the default."""
    active = _ACTIVE.get()
    return _default() if active is None else active


@contextlib.contextmanager
def using(workers: Workers) -> Iterator[Workers]:
    """Make ``workers`` the kernels' threads inside the block (this thread or task only); the previous
    choice is restored after. The caller owns ``workers`` (closes it, e.g. ``with Workers() as w, using(w):``)."""
    if not isinstance(workers, Workers):
        raise TypeError(f"workers: expected a spikeforge.kernels._threads.Workers, got {type(workers).__name__}")
    token = _ACTIVE.set(workers)
    try:
        yield workers
    finally:
        _ACTIVE.reset(token)

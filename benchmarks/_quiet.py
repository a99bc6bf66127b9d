"""Measure only on a quiet machine, and record what else ran during each measurement.

The machine is shared: other processes' CPU use is the largest error term of every timing here. Before a
measurement :func:`wait_quiet` waits until the other processes have used less than ``max_cores`` of CPU over
a short window; :class:`OtherCPU` then records how much CPU the *other* processes used while it ran
(all CPU time the kernel counted as busy, from ``/proc/stat``, minus this process's and its waited-for
children's, from ``os.times``). A measurement whose others' CPU exceeds the quiet limit is marked as taken
under load. Linux only (``/proc/stat``); elsewhere nothing is waited for and nothing recorded.
"""

from __future__ import annotations

import os
import time

QUIET_CORES = 0.15  # other processes' CPU, in cores, below which the machine counts as quiet


def _busy_seconds() -> float | None:
    """CPU seconds the kernel counted as busy on all cores since boot (user, nice, system, irq, softirq,
    steal), or None where /proc/stat is missing."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _own_seconds() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


class OtherCPU:
    """Context manager: ``.cores`` is the other processes' average CPU use (in cores) while it ran."""

    def __enter__(self) -> OtherCPU:
        self._busy, self._own, self._t = _busy_seconds(), _own_seconds(), time.perf_counter()
        self.cores: float | None = None
        return self

    def __exit__(self, *exc) -> None:
        busy = _busy_seconds()
        if busy is None or self._busy is None:
            return
        wall = max(time.perf_counter() - self._t, 1e-9)
        self.cores = max(0.0, (busy - self._busy) - (_own_seconds() - self._own)) / wall


def others_now(window: float = 1.0) -> float | None:
    """Other processes' CPU use (cores) over the next ``window`` seconds."""
    with OtherCPU() as o:
        time.sleep(window)
    return o.cores


def wait_quiet(max_cores: float = QUIET_CORES, timeout: float = 600.0, window: float = 1.0) -> float | None:
    """Wait until other processes use less than ``max_cores`` of CPU over ``window`` s (at most ``timeout``
    s); returns the last reading (None where it cannot be read)."""
    end = time.monotonic() + timeout
    while True:
        cores = others_now(window)
        if cores is None or cores < max_cores or time.monotonic() > end:
            return cores
        time.sleep(window)


def describe(readings: list[float | None], max_cores: float = QUIET_CORES) -> str:
    """One sentence on the others' CPU use over a run's measurements."""
    vals = sorted(r for r in readings if r is not None)
    if not vals:
        return "other processes' CPU use was not recorded (no /proc/stat)"
    loud = sum(v >= max_cores for v in vals)
    return (f"other processes' CPU use during the {len(vals)} measurements: median {vals[len(vals) // 2]:.2f} cores, "
            f"max {vals[-1]:.2f}; {loud} measurement(s) at or above the quiet limit of {max_cores} cores"
            + (" (taken under load)" if loud else " (all quiet)"))

"""Ctrl-C while the ``spikeforge`` command starts: one line and exit status 130, not a traceback.

Importing spikeforge takes seconds (torch), and a Ctrl-C then would end in a long ``KeyboardInterrupt``
traceback from inside torch, before any of the command's code runs. ``spikeforge/__init__.py`` imports this
module first; when the running program is the ``spikeforge`` console script (and only then), it installs a
SIGINT handler that prints ``spikeforge: interrupted while starting; nothing was written`` and exits with
130. :func:`spikeforge.cli.main.main` puts Python's own handler back (:func:`release`) as soon as it runs,
and turns ``KeyboardInterrupt`` into such a line itself from there on. Library users are not affected.
"""

from __future__ import annotations

import os
import signal
import sys
import threading

__all__ = ["release"]

_SCRIPT_NAMES = ("spikeforge", "spikeforge.exe", "spikeforge-script.py", "spikeforge-script.pyw")


def _quit(signum: int, frame: object) -> None:
    sys.stderr.write("spikeforge: interrupted while starting; nothing was written\n")
    sys.stderr.flush()
    # end at once: an exception raised into the initialisation of a native extension (torch._dynamo pulls in
    # triton, whose nanobind aborts on it) would turn Ctrl-C into an abort; nothing needs cleaning up yet
    os._exit(130)


def _install() -> None:
    name = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    if name not in _SCRIPT_NAMES or threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # not when Ctrl-C is ignored
        signal.signal(signal.SIGINT, _quit)


def release() -> None:
    """Python's own Ctrl-C handler again (``KeyboardInterrupt``), if this module had replaced it."""
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGINT) is _quit:
        signal.signal(signal.SIGINT, signal.default_int_handler)


_install()

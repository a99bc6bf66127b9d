"""Errors raised by the data loaders: each names the file or dataset and what is wrong with it."""

from __future__ import annotations

from typing import TypeVar

__all__ = ["DatasetError", "DatasetNotFoundError", "about"]

E = TypeVar("E", bound=BaseException)


class DatasetError(ValueError):
    """A dataset could not be loaded: bad name, unreadable or corrupt file, or a file of the wrong layout."""


class DatasetNotFoundError(DatasetError, FileNotFoundError):
    """The named dataset, file or folder does not exist (nothing is ever downloaded)."""


def about(argument: str, exc: E, detail: str | None = None, *, key: str | None = None) -> E:
    """Mark ``exc`` as a complaint about ``argument`` and return it (its type and message stay as they are).

    ``argument`` is the parameter of the call the value came in (``"steps"``, ``"encoder"``, ...); ``detail``
    is the message without the function's or argument's own name (default: the message). A front end that
    took the value under another name reads ``exc.argument`` and ``exc.detail`` and names its own option:
    the command line prints ``--steps: <detail>``. ``key`` names the entry of a mapping argument (``"tau"``
    of ``neuron_params``). A mark already there is kept (the innermost knows best).
    """
    if getattr(exc, "argument", None) is None:
        exc.argument = argument  # type: ignore[attr-defined]
        exc.detail = str(exc) if detail is None else detail  # type: ignore[attr-defined]
        exc.key = key  # type: ignore[attr-defined]
    return exc

"""Errors raised by the data loaders: each names the file or dataset and what is wrong with it."""

from __future__ import annotations

__all__ = ["DatasetError", "DatasetNotFoundError"]


class DatasetError(ValueError):
    """A dataset could not be loaded: bad name, unreadable or corrupt file, or a file of the wrong layout."""


class DatasetNotFoundError(DatasetError, FileNotFoundError):
    """The named dataset, file or folder does not exist (nothing is ever downloaded)."""

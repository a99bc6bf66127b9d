"""Atomic file writes: a temporary file in the target's folder, then ``os.replace``.

A crash or an exception mid-write leaves the previous file (or none) in place, never a half-written one.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_path", "atomic_write_bytes", "atomic_write_text"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path: str | Path, *, make_parents: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; when the block ends without error, the file written there
    is flushed to disk and moved onto ``path``; otherwise it is removed."""
    path = Path(path)
    if make_parents:
        path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual permissions
        yield Path(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def check_output_file(path: str | Path, option: str, what: str) -> Path:
    """``path`` as a file to write ``what`` to, in an existing folder: else a one-line error naming ``option``."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{option}: expected a file name for {what}, got the directory {path}")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise FileNotFoundError(f"{option}: the folder {parent} does not exist")
    return path

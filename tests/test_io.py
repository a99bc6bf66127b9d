"""Atomic writes: the previous file survives a failed write, and no temporary file is left behind."""

import pytest

from spikeforge._io import atomic_path, atomic_write_text


def test_atomic_write_replaces(tmp_path):
    p = tmp_path / "sub" / "f.txt"
    atomic_write_text(p, "one")
    atomic_write_text(p, "two")
    assert p.read_text() == "two"
    assert sorted(x.name for x in p.parent.iterdir()) == ["f.txt"]


def test_failed_write_keeps_the_old_file(tmp_path):
    p = tmp_path / "f.txt"
    atomic_write_text(p, "saved")
    with pytest.raises(RuntimeError, match="crash"), atomic_path(p) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash")
    assert p.read_text() == "saved"
    assert [x.name for x in tmp_path.iterdir()] == ["f.txt"]

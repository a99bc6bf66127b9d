"""SHD/SSC HDF5 spike files: a small file written in the real layout, binning, and bad files."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from spikeforge.data import DatasetError, DatasetNotFoundError, EventTensor, batches, load_dataset, read_shd


def write_shd(path: Path, samples: list[tuple[list[float], list[int], int]], keys: list[str] | None = None) -> Path:
    """Write ``(times_s, units, label)`` samples in the Spiking Heidelberg Digits layout."""
    with h5py.File(path, "w") as f:
        times = f.create_dataset("spikes/times", (len(samples),), dtype=h5py.vlen_dtype(np.float32))
        units = f.create_dataset("spikes/units", (len(samples),), dtype=h5py.vlen_dtype(np.uint16))
        for i, (t, u, _) in enumerate(samples):
            times[i] = np.asarray(t, dtype=np.float32)
            units[i] = np.asarray(u, dtype=np.uint16)
        f.create_dataset("labels", data=np.array([s[2] for s in samples], dtype=np.uint16))
        if keys is not None:
            f.create_dataset("extra/keys", data=np.array([k.encode() for k in keys]))
            f.create_dataset("extra/speaker", data=np.zeros(len(samples), dtype=np.uint16))
    return path


TRAIN = [
    ([0.05, 0.15, 0.151, 0.95], [0, 3, 3, 699], 0),
    ([0.5], [10], 1),
    ([], [], 2),
]
TEST = [([0.25, 1.5], [1, 2], 2)]  # the spike at 1.5 s lies beyond the duration and is dropped


@pytest.fixture
def shd_dir(tmp_path: Path) -> Path:
    write_shd(tmp_path / "shd_train.h5", TRAIN, keys=["zero", "one", "two"])
    write_shd(tmp_path / "shd_test.h5", TEST, keys=["zero", "one", "two"])
    return tmp_path


def test_binning_in_the_shd_layout(shd_dir):
    split = read_shd(shd_dir / "shd_train.h5", steps=10, duration=1.0)
    assert split.kind == "spikes" and split.classes == ("zero", "one", "two")
    assert isinstance(split.x, EventTensor) and split.x.shape == (3, 10, 700)
    dense = split.x.to_dense()
    assert dense[0, 0, 0] == 1 and dense[0, 1, 3] == 1 and dense[0, 9, 699] == 1  # two spikes, one bin: binary
    assert dense[1, 5, 10] == 1 and dense[2].sum() == 0 and dense.sum() == 4
    counts = read_shd(shd_dir / "shd_train.h5", steps=10, duration=1.0, binary=False).x.to_dense()
    assert counts[0, 1, 3] == 2 and counts.sum() == 5
    assert split.y.tolist() == [0, 1, 2]


def test_load_dataset_folder_and_file_forms(shd_dir):
    ds = load_dataset(f"shd:{shd_dir}", steps=20)
    assert ds.name == "SHD" and (len(ds.train), len(ds.test)) == (3, 1)
    assert ds.steps == 20 and ds.in_channels == 700 and ds.encoder is None
    # Duration from the training file (last spike 0.95 s), shared with the test file.
    assert ds.test.meta["duration_s"] == pytest.approx(ds.train.meta["duration_s"])
    assert ds.test.meta["spikes_dropped_after_duration"] == 1
    batch = next(iter(batches(ds.train, batch_size=2)))
    assert batch.x.shape == (20, 2, 700) and batch.y.tolist() == [0, 1]
    assert torch.equal(batch.x, ds.train.x.time_major(torch.tensor([0, 1])))
    same = load_dataset(str(shd_dir / "shd_train.h5"), steps=20)
    assert torch.equal(same.test.encode(), ds.test.encode())


def test_ssc_with_validation_split(tmp_path):
    for which in ("train", "valid", "test"):
        write_shd(tmp_path / f"ssc_{which}.h5", TRAIN)
    ds = load_dataset(f"ssc:{tmp_path / 'ssc_train.h5'}", steps=5)
    assert ds.name == "SSC" and ds.valid is not None and len(ds.valid) == 3
    assert ds.classes == ("0", "1", "2")


def test_event_tensor_gathers_any_rows():
    rng = np.random.default_rng(0)
    dense = torch.from_numpy((rng.random((6, 4, 5)) < 0.3).astype(np.float32))
    n, t, u = torch.nonzero(dense, as_tuple=True)
    offsets = torch.searchsorted(n, torch.arange(7))
    ev = EventTensor(offsets, t.int(), u.int(), torch.ones(len(t)), 4, 5)
    idx = torch.tensor([5, 0, 3, 3])
    assert torch.equal(ev.time_major(idx), dense[idx].transpose(0, 1))
    assert torch.equal(ev.to_dense(), dense)


def test_missing_truncated_garbage_and_wrong_layout_files(shd_dir, tmp_path):
    with pytest.raises(DatasetNotFoundError, match=r"missing\.h5: file not found .*zenkelab"):
        read_shd(tmp_path / "missing.h5")
    good = (shd_dir / "shd_train.h5").read_bytes()
    truncated = tmp_path / "trunc.h5"
    truncated.write_bytes(good[: len(good) // 3])
    with pytest.raises(DatasetError, match=r"trunc\.h5: not a readable HDF5 file"):
        read_shd(truncated)
    garbage = tmp_path / "garbage.h5"
    garbage.write_bytes(b"definitely not hdf5" * 100)
    with pytest.raises(DatasetError, match=r"garbage\.h5: not a readable HDF5 file"):
        read_shd(garbage)
    wrong = tmp_path / "wrong.h5"
    with h5py.File(wrong, "w") as f:
        f.create_dataset("images", data=np.zeros((2, 3)))
    message = r"wrong\.h5: wrong layout, missing \['spikes/times'.*found top-level keys \['images'\]"
    with pytest.raises(DatasetError, match=message):
        read_shd(wrong)
    bad_units = write_shd(tmp_path / "units.h5", [([0.1], [900], 0)])
    with pytest.raises(DatasetError, match=r"units\.h5: 'spikes/units' must be integer channel ids in \[0, 700\)"):
        read_shd(bad_units)
    mismatch = write_shd(tmp_path / "mismatch.h5", [([0.1, 0.2], [1, 2], 0)])
    with h5py.File(mismatch, "a") as f:
        del f["labels"]
        f.create_dataset("labels", data=np.array([0, 1], dtype=np.uint16))
    with pytest.raises(DatasetError, match="must have one entry per sample; got 1, 1 and 2"):
        read_shd(mismatch)
    lonely = write_shd(tmp_path / "lonely_train.h5", TRAIN)
    with pytest.raises(DatasetNotFoundError, match=r"lonely_train\.h5: cannot find the matching test file"):
        load_dataset(str(lonely))


@pytest.mark.skipif(importlib.util.find_spec("tonic") is None, reason="tonic (optional) is not installed")
def test_tonic_shd_from_local_files(tmp_path):
    # tonic's SHD reads save_to/SHD/shd_{train,test}.h5 and only checks that the archive is present.
    folder = tmp_path / "SHD"
    folder.mkdir()
    for which, samples in (("train", TRAIN), ("test", TEST)):
        write_shd(folder / f"shd_{which}.h5", samples, keys=["zero", "one", "two"])
        (folder / f"shd_{which}.h5.zip").write_bytes(b"")
    ds = load_dataset("tonic:SHD", data_dir=tmp_path, steps=4)
    assert ds.name == "tonic:SHD" and (len(ds.train), len(ds.test)) == (3, 1)
    assert ds.classes == ("zero", "one", "two") and ds.in_channels == 700 and ds.steps == 4
    x = ds.train.encode()
    assert x.shape == (4, 3, 700)
    # Binary frames (tonic's ToFrame decides the bin edges): unit 3's two close spikes give one.
    assert x.max() == 1 and x[:, 0, 0].sum() == 1 and x[:, 0, 3].sum() == 1 and x[:, 2].sum() == 0

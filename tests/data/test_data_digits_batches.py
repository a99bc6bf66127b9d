"""scikit-learn digits (rate and latency codes), the batching iterator, splits and optional tonic sets."""

from __future__ import annotations

import importlib.util
import pickle

import pytest
import torch

from spikeforge.data import DatasetError, Split, batches, load_dataset, load_digits
from spikeforge.encode import Delta, Latency, Rate


@pytest.fixture(scope="module")
def digits():
    return load_digits(seed=0)


def test_digits_split_and_default_rate_code(digits):
    assert (len(digits.train), len(digits.test)) == (1347, 450)
    assert digits.train.x.shape == (1347, 64) and float(digits.train.x.max()) == 1.0
    assert torch.bincount(digits.test.y).min() >= 43  # stratified: 25% of each class (174 eights: 43)
    assert isinstance(digits.encoder, Rate) and digits.steps == 25 and digits.in_channels == 64
    batch = next(iter(batches(digits.train, 32, shuffle=True, generator=1)))
    assert batch.x.shape == (25, 32, 64) and batch.lengths.tolist() == [25] * 32
    # Rate: spikes per step estimate the pixel values.
    assert (batch.x.mean(0) - digits.train.x[batch.index]).abs().mean() < 0.15


def test_digits_seed_fixes_split_and_latency_by_name():
    a, b, c = load_digits(seed=3), load_digits(seed=3), load_digits(seed=4)
    assert torch.equal(a.test.x, b.test.x) and not torch.equal(a.test.x, c.test.x)
    lat = load_dataset("digits", encoder="latency", steps=12)
    assert lat.encoder == Latency(steps=12) and lat.steps == 12
    x = lat.test.encode(torch.arange(5))
    assert x.shape == (12, 5, 64) and x.sum(0).max() == 1  # at most one spike per pixel


def test_batches_are_deterministic_and_cover_the_split(digits):
    def run(seed):
        return [(b.x, b.y) for b in batches(digits.test, 100, shuffle=True, generator=seed)]

    first, again, other = run(5), run(5), run(6)
    assert all(torch.equal(x1, x2) and torch.equal(y1, y2) for (x1, y1), (x2, y2) in zip(first, again))
    assert not torch.equal(first[0][1], other[0][1])
    index = torch.cat([b.index for b in batches(digits.test, 100, shuffle=True, generator=5)])
    assert sorted(index.tolist()) == list(range(450))
    sizes = [len(b.y) for b in batches(digits.test, 100, drop_last=True)]
    assert sizes == [100] * 4
    # A generator object moves on between epochs; the sequence of epochs is reproducible.
    g1, g2 = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
    e1 = [next(iter(batches(digits.test, 8, True, g1))).y for _ in range(2)]
    e2 = [next(iter(batches(digits.test, 8, True, g2))).y for _ in range(2)]
    assert torch.equal(e1[0], e2[0]) and torch.equal(e1[1], e2[1]) and not torch.equal(e1[0], e1[1])


def test_batches_and_split_errors(digits):
    with pytest.raises(ValueError, match="batch_size must be an int >= 1; got 0"):
        next(batches(digits.train, 0))
    with pytest.raises(TypeError, match=r"split must be a spikeforge\.data\.Split; got SpikeDataset"):
        next(batches(digits, 4))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"Delta\(.*\) takes series input, but this static data needs a static"):
        digits.train.with_encoder(Delta())
    with pytest.raises(ValueError, match="static data needs an encoder"):
        digits.train.with_encoder(None)
    with pytest.raises(ValueError, match=r"y and lengths must be \[N\] with N=2"):
        Split(torch.zeros(2, 3, 1), torch.zeros(3, dtype=torch.long), torch.ones(2, dtype=torch.long), ("a",), "series")
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 1\)"):
        Split(torch.zeros(1, 3, 1), torch.ones(1, dtype=torch.long), torch.ones(1, dtype=torch.long), ("a",), "series")
    with pytest.raises(TypeError, match="options \\['test_fraction'\\] are not used by dataset 'JapaneseVowels'"):
        load_dataset("JapaneseVowels", test_fraction=0.5)


def test_datasets_pickle_for_worker_processes(digits):
    again = pickle.loads(pickle.dumps(digits))
    assert torch.equal(again.test.x, digits.test.x) and again.encoder == digits.encoder
    assert "digits: 1347 train / 450 test, batches [T=25, B, C=64]" in digits.summary()


@pytest.mark.skipif(importlib.util.find_spec("tonic") is not None, reason="tonic is installed; tested below")
def test_tonic_missing_gives_a_clear_error(tmp_path):
    with pytest.raises(DatasetError, match=r"needs the optional package 'tonic' \(pip install tonic\)"):
        load_dataset("tonic:NMNIST", data_dir=tmp_path)


@pytest.mark.skipif(importlib.util.find_spec("tonic") is None, reason="tonic (optional) is not installed")
def test_tonic_without_local_files_does_not_download(tmp_path):
    with pytest.raises(DatasetError, match=r"not found or empty\. Nothing is downloaded"):
        load_dataset("tonic:NMNIST", data_dir=tmp_path)


def test_deterministic_codes_are_cached_and_match_direct_encoding():
    ds = load_dataset("digits", encoder="latency", steps=10)
    idx = torch.tensor([4, 1, 9])
    direct = ds.test.encoder(ds.test.x[idx])
    assert torch.equal(ds.test.encode(idx), direct)
    assert "_cache" in ds.test.__dict__  # built once for the whole split
    assert torch.equal(ds.test.encode(idx), direct)
    again = pickle.loads(pickle.dumps(ds.test))
    assert "_cache" not in again.__dict__ and torch.equal(again.encode(idx), direct)
    assert not Rate().deterministic and Latency().deterministic and Delta().deterministic


@pytest.mark.parametrize("name", ["rate", "latency", "ttfs", "isi", "phase", "burst", "phasor", "poisson"])
def test_every_static_code_named_bare_gets_the_steps_asked_for(name):
    from spikeforge.data import load_dataset

    ds = load_dataset("digits", encoder=name, steps=12)
    assert ds.train.steps == 12 and ds.train.encode(torch.arange(3)).shape[0] == 12

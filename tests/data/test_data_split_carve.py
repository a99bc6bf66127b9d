"""carve_validation: a stratified validation split carved from the training data, a pure function of the seed;
Split.take / EventTensor.take."""

import pytest
import torch

from spikeforge.data import EventTensor, Split, carve_validation, load_dataset


def _split(counts):
    """A series split whose x holds each row's number, with ``counts[c]`` samples of class c."""
    y = torch.cat([torch.full((n,), c, dtype=torch.long) for c, n in enumerate(counts)])
    y = y[torch.randperm(len(y), generator=torch.Generator().manual_seed(0))]
    n = len(y)
    x = torch.arange(n, dtype=torch.float32).reshape(n, 1, 1).expand(n, 3, 1).contiguous()
    lengths = torch.full((n,), 3, dtype=torch.long)
    return Split(x, y, lengths, tuple(f"c{k}" for k in range(len(counts))), "series", name="toy")


def _rows(split):
    return [int(v) for v in split.x[:, 0, 0]]


@pytest.mark.parametrize("fraction", [0.05, 0.2, 0.5, 0.9])
def test_stratified_every_class_in_both_parts_and_nothing_lost(fraction):
    counts = [1, 2, 3, 10, 40]
    split = _split(counts)
    train, valid = carve_validation(split, fraction, seed=4)
    rows_t, rows_v = _rows(train), _rows(valid)
    assert sorted(rows_t + rows_v) == list(range(len(split)))  # a partition of the rows
    assert rows_t == sorted(rows_t) and rows_v == sorted(rows_v)  # in their original order
    assert torch.equal(train.y, split.y[rows_t]) and torch.equal(valid.y, split.y[rows_v])
    for c, n in enumerate(counts):
        in_valid = int((valid.y == c).sum())
        if n == 1:
            assert in_valid == 0  # a single sample stays in training
        else:
            assert 1 <= in_valid <= n - 1
            assert in_valid == min(n - 1, max(1, int(fraction * n + 0.5)))  # the stated rule
    assert valid.meta["validation_carve"]["part"] == "valid" and train.classes == split.classes


def test_a_pure_function_of_the_seed():
    split = _split([5, 7, 30])
    a = carve_validation(split, 0.3, seed=1)
    b = carve_validation(split, 0.3, seed=1)
    c = carve_validation(split, 0.3, seed=2)
    assert _rows(a[1]) == _rows(b[1]) and _rows(a[0]) == _rows(b[0])
    assert _rows(a[1]) != _rows(c[1])
    before = torch.get_rng_state()
    carve_validation(split, 0.3, seed=1)
    assert torch.equal(before, torch.get_rng_state())  # torch's global RNG is not touched


def test_on_a_shipped_data_set():
    ds = load_dataset("JapaneseVowels")
    train, valid = carve_validation(ds.train, 0.2, seed=0)
    assert len(train) + len(valid) == len(ds.train) == 270
    assert len(valid) == 9 * round(0.2 * 30)  # 9 speakers of 30 samples
    assert valid.encoder is ds.train.encoder and valid.kind == ds.train.kind
    whole = ds.train.x.flatten(1).sum(1).sort().values
    parts = torch.cat([train.x.flatten(1).sum(1), valid.x.flatten(1).sum(1)]).sort().values
    assert torch.equal(whole, parts)  # the same samples, none lost or repeated
    assert valid.encode(torch.arange(4)).shape[1] == 4


def test_errors_name_the_argument():
    split = _split([3, 3])
    for bad in (0, 1, 1.5, -0.1, True):
        with pytest.raises(ValueError, match=r"fraction: expected a number in \(0, 1\)"):
            carve_validation(split, bad, 0)
    with pytest.raises(TypeError, match=r"split: expected a spikeforge\.data\.Split"):
        carve_validation("train", 0.2, 0)
    with pytest.raises(ValueError, match="valid_fraction: no class of toy has 2 samples or more") as e:
        carve_validation(_split([1, 1]), 0.2, 0)
    assert e.value.argument == "valid_fraction"


def test_event_tensor_take_gives_the_chosen_samples():
    gen = torch.Generator().manual_seed(0)
    n, steps, channels = 6, 5, 4
    sizes = torch.randint(0, 5, (n,), generator=gen)
    offsets = torch.cat([torch.zeros(1, dtype=torch.long), torch.cumsum(sizes, 0)])
    e = int(offsets[-1])
    ev = EventTensor(offsets, torch.randint(0, steps, (e,), generator=gen), torch.randint(0, channels, (e,),
                     generator=gen), torch.ones(e), steps, channels)
    index = torch.tensor([4, 0, 2])
    assert torch.equal(ev.take(index).to_dense(), ev.to_dense()[index])
    split = Split(ev, torch.tensor([0, 1, 0, 1, 0, 1]), torch.full((n,), steps), ("a", "b"), "spikes")
    train, valid = carve_validation(split, 0.34, seed=0)
    assert len(train) == 4 and len(valid) == 2
    assert torch.equal(torch.cat([train.x.to_dense(), valid.x.to_dense()]).sum(), ev.to_dense().sum())

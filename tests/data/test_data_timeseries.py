"""UCR/UEA time-series loading: JapaneseVowels from aeon's files, other shipped sets, local .ts/.arff files."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import torch

from spikeforge.data import (
    DatasetError,
    DatasetNotFoundError,
    aeon_data_dir,
    batches,
    load_dataset,
    load_japanese_vowels,
    load_timeseries,
    shipped_datasets,
)
from spikeforge.encode import Current, Delta

pytestmark = pytest.mark.skipif(aeon_data_dir() is None, reason="aeon is not installed (its data files are used)")

HEADER = """# a small test problem
@problemName Tiny
@timeStamps false
@missing true
@univariate false
@dimensions 2
@equalLength false
@classLabel true 1 2 10
@data
"""


def write_pair(folder: Path, name: str = "Tiny", test_rows: str | None = None) -> Path:
    train = folder / f"{name}_TRAIN.ts"
    train.write_text(
        HEADER
        + "1,2,3,4:0,0,1,1:2\n"  # length 4
        + "5,?,7:1,1,1:10\n"  # length 3, a missing value (filled forward)
        + "0,0:2,2:1\n"  # length 2
    )
    (folder / f"{name}_TEST.ts").write_text(HEADER + (test_rows or "1,1,1,1,1:0,0,0,0,0:1\n"))
    return train


def test_japanese_vowels_default_from_aeon_files():
    t0 = time.perf_counter()
    ds = load_dataset()
    elapsed = time.perf_counter() - t0
    assert elapsed < 10
    assert ds.name == "JapaneseVowels"
    assert (len(ds.train), len(ds.test)) == (270, 370)
    assert ds.train.x.shape == (270, 29, 12) and ds.test.x.shape == (370, 29, 12)
    assert ds.classes == tuple(str(i) for i in range(1, 10))
    assert torch.bincount(ds.train.y).tolist() == [30] * 9
    lengths = torch.cat([ds.train.lengths, ds.test.lengths])
    assert int(lengths.min()) == 7 and int(lengths.max()) == 29
    assert "aeon" in ds.meta["train_file"] and ds.meta["train_file"].endswith("JapaneseVowels_TRAIN.ts")
    # Per-channel standardisation from the training set's valid frames; padding stays 0.
    mask = torch.arange(29).unsqueeze(0) < ds.train.lengths.unsqueeze(1)
    frames = ds.train.x[mask]
    assert torch.allclose(frames.mean(0), torch.zeros(12), atol=1e-4)
    assert torch.allclose(frames.std(0, unbiased=False), torch.ones(12), atol=1e-4)
    assert ds.train.x[~mask].abs().sum() == 0
    # Default encoder: delta code with up and down channels, time-major batches.
    assert isinstance(ds.encoder, Delta) and ds.in_channels == 24 and ds.steps == 29
    batch = next(iter(batches(ds.train, 16)))
    assert batch.x.shape == (29, 16, 24) and batch.y.shape == (16,) and batch.x.dtype == torch.float32
    assert set(batch.x.unique().tolist()) <= {0.0, 1.0}
    # No spikes after a sample's end.
    valid = torch.arange(29).unsqueeze(1) < batch.lengths.unsqueeze(0)
    assert batch.x[~valid].sum() == 0
    assert load_dataset("uea:JapaneseVowels").train.x.equal(ds.train.x)


def test_japanese_vowels_with_current_encoder_and_no_normalisation():
    ds = load_japanese_vowels(encoder="current", normalize="none")
    assert isinstance(ds.encoder, Current) and ds.in_channels == 12
    x = ds.train.encode(torch.tensor([0]))
    assert x.shape == (29, 1, 12)
    assert x[0, 0, 0] == pytest.approx(1.860936)  # first value of the shipped file


def test_other_shipped_univariate_set():
    assert "ItalyPowerDemand" in shipped_datasets()
    ds = load_dataset("ucr:ItalyPowerDemand", encoder={"name": "delta", "threshold": 0.5})
    assert (len(ds.train), len(ds.test)) == (67, 1029)
    assert ds.train.x.shape == (67, 24, 1) and ds.num_classes == 2
    assert ds.encoder == Delta(threshold=0.5)


def test_percent_comment_lines_before_the_header():
    # aeon's UnitTest_TRAIN.ts opens with '%' comment lines
    ds = load_dataset("ucr:UnitTest", encoder=None)
    assert (len(ds.train), len(ds.test)) == (20, 22) and ds.train.x.shape == (20, 24, 1)


def test_arff_file_matches_ts_file():
    root = aeon_data_dir() / "GunPoint"
    arff = load_timeseries(root / "GunPoint_TRAIN.arff", root / "GunPoint_TEST.ts", normalize="none")
    ts = load_dataset(str(root / "GunPoint_TRAIN.ts"), normalize="none")
    assert torch.allclose(arff.train.x, ts.train.x, atol=1e-6)
    assert torch.equal(arff.train.y, ts.train.y)


def test_local_variable_length_file(tmp_path):
    train = write_pair(tmp_path)
    ds = load_dataset(str(train), normalize="none", encoder=None)
    assert ds.name == "Tiny"
    assert ds.classes == ("1", "2", "10")  # natural order of numeric labels
    assert ds.train.lengths.tolist() == [4, 3, 2] and ds.test.lengths.tolist() == [5]
    assert ds.train.x.shape == (3, 5, 2)  # padded to the longest series of either split
    assert ds.train.x[1, :, 0].tolist() == [5, 5, 7, 0, 0]  # missing value filled forward, then padding
    assert ds.train.y.tolist() == [1, 2, 0]
    # The folder form and a minmax normalisation.
    ds2 = load_dataset(str(tmp_path), normalize="minmax", encoder=None)
    assert float(ds2.train.x.max()) == pytest.approx(1.0) and float(ds2.train.x.min()) == 0.0


def test_data_dir_lookup(tmp_path):
    sub = tmp_path / "Tiny"
    sub.mkdir()
    write_pair(sub)
    ds = load_dataset("uea:Tiny", data_dir=tmp_path)
    assert len(ds.train) == 3


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("this is not a time series\n", "line 1: expected a '@tag' header line"),
        ("@problemName X\n@classLabel true 1\n", "no '@data' line"),
        ("@problemName X\n@classLabel false\n@data\n1,2,3\n", "expected a classification problem"),
        ("@classLabel true 1\n@data\n1,2,abc:1\n", "line 3: expected comma-separated numbers, got 'abc'"),
        ("@classLabel true 1\n@data\n1,2:1\n1,2:3,4:1\n", "line 4: 2 channels, but earlier cases have 1"),
        ("@classLabel true 1\n@data\n1,2:3:1\n", "channels of one case have different lengths"),
        ("@classLabel true 1\n@data\n", "no cases after '@data'"),
    ],
)
def test_garbage_ts_files_name_file_and_problem(tmp_path, content, message):
    bad = tmp_path / "Bad_TRAIN.ts"
    bad.write_text(content)
    (tmp_path / "Bad_TEST.ts").write_text(HEADER + "1,1:1,1:1\n")
    with pytest.raises(DatasetError, match=message) as info:
        load_dataset(str(bad))
    assert str(bad) in str(info.value)


def test_binary_garbage_and_mismatched_test_file(tmp_path):
    bad = tmp_path / "Bin_TRAIN.ts"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00garbage")
    (tmp_path / "Bin_TEST.ts").write_text(HEADER + "1:1:1\n")
    with pytest.raises(DatasetError, match=r"cannot read as a UTF-8 \.ts text file"):
        load_dataset(str(bad))
    train = write_pair(tmp_path, "Odd", test_rows="1,2,3:7\n")
    with pytest.raises(DatasetError, match=r"Odd_TEST\.ts: has 1 channels but .*Odd_TRAIN\.ts has 2"):
        load_dataset(str(train))
    train = write_pair(tmp_path, "Lab", test_rows="1,2:3,4:99\n")
    with pytest.raises(DatasetError, match=r"Lab_TEST.ts: labels \['99'\] do not occur in"):
        load_dataset(str(train))


def test_missing_paths_and_names(tmp_path):
    with pytest.raises(DatasetNotFoundError, match=r"nope_TRAIN\.ts: file not found"):
        load_dataset(str(tmp_path / "nope_TRAIN.ts"))
    lonely = tmp_path / "Lonely_TRAIN.ts"
    lonely.write_text(HEADER + "1:1:1\n")
    with pytest.raises(DatasetNotFoundError, match=r"Lonely_TEST\.ts: file not found"):
        load_dataset(str(lonely))
    with pytest.raises(DatasetNotFoundError, match=r"'NoSuchSet': no NoSuchSet_TRAIN\.ts.*shipped: .*JapaneseVowels"):
        load_dataset("ucr:NoSuchSet")
    with pytest.raises(DatasetNotFoundError, match="dataset 'whatever': no such file or folder, and not a known name"):
        load_dataset("whatever")
    odd = tmp_path / "data.csv"
    odd.write_text("1,2,3\n")
    with pytest.raises(DatasetError, match=r"data\.csv: unknown file type '\.csv'"):
        load_dataset(str(odd))
    with pytest.raises(ValueError, match="normalize must be one of 'standard', 'minmax', 'instance', 'none'; got 'zsc"):
        load_dataset("JapaneseVowels", normalize="zscore")
    with pytest.raises(ValueError, match=r"Latency\(.*\) takes static input, but this series data needs a series"):
        load_dataset("JapaneseVowels", encoder="latency")


def test_bare_shipped_name_path_objects_and_steps_misuse():
    ds = load_dataset("ItalyPowerDemand")
    assert ds.name == "ItalyPowerDemand" and len(ds.test) == 1029
    ds2 = load_dataset(aeon_data_dir() / "ItalyPowerDemand" / "ItalyPowerDemand_TRAIN.ts")
    assert torch.equal(ds.train.x, ds2.train.x)
    with pytest.raises(ValueError, match="steps=50 applies to digits, SHD/SSC and tonic sets"):
        load_dataset("JapaneseVowels", steps=50)


def test_data_dir_falls_back_to_shipped_sets(tmp_path):
    assert len(load_dataset("uea:JapaneseVowels", data_dir=tmp_path).train) == 270
    with pytest.raises(DatasetNotFoundError, match=r"'Nope': .* found in .*, .*/Nope or aeon's data \(shipped: "):
        load_dataset("ucr:Nope", data_dir=tmp_path)


@pytest.mark.parametrize(
    ("kwargs", "argument", "detail"),
    [
        ({"name_or_path": "JapaneseVowels", "steps": 5}, "steps", "applies to digits, SHD/SSC and tonic sets only"),
        ({"name_or_path": "JapaneseVowels", "normalize": "zscore"}, "normalize",
         "expected one of 'standard', 'minmax', 'instance', 'none', got 'zscore'"),
        ({"name_or_path": "whatever"}, "dataset", "'whatever': no such file or folder"),
        ({"name_or_path": "digits", "encoder": None}, "encoder", "the digits are images: they need an encoder"),
        ({"name_or_path": "digits", "encoder": "delta"}, "encoder", "Delta(threshold=0.3"),
        ({"name_or_path": "JapaneseVowels", "encoder": "bogus"}, "encoder", "unknown encoder 'bogus'"),
        ({"name_or_path": "JapaneseVowels", "downsample": 0}, "downsample", "expected an integer >= 1, got 0"),
        ({"name_or_path": "digits", "downsample": 2}, "downsample", "averages steps of UCR/UEA time series only"),
    ],
)
def test_errors_say_which_argument_they_are_about(kwargs, argument, detail):
    # a front end (the command line) names its own option from exc.argument and prints exc.detail after it
    with pytest.raises((ValueError, TypeError)) as e:
        load_dataset(**kwargs)
    assert e.value.argument == argument and e.value.detail.startswith(detail), (e.value.argument, e.value.detail)


def test_instance_normalisation_uses_each_series_own_steps(tmp_path):
    # the closed form: per series and channel, (x - mean) / std over its own valid steps; padding stays 0; the
    # test series by their own statistics (none of the training set's)
    rows = "1,2,3,4:0,0,1,1:2\n50,70,90:5,5,5:10\n0,2:2,4:1\n"
    (tmp_path / "Scaled_TRAIN.ts").write_text(HEADER + rows)
    (tmp_path / "Scaled_TEST.ts").write_text(HEADER + "1000,3000,2000,1000,1000:0,0,0,0,1:1\n")
    ds = load_dataset(str(tmp_path / "Scaled_TRAIN.ts"), normalize="instance", encoder=None)
    raw = load_dataset(str(tmp_path / "Scaled_TRAIN.ts"), normalize="none", encoder=None)
    assert ds.meta["normalize"] == "instance"
    for split, ref in ((ds.train, raw.train), (ds.test, raw.test)):
        for i, n in enumerate(split.lengths.tolist()):
            x = ref.x[i, :n].double()
            std = x.std(0, unbiased=False)
            want = (x - x.mean(0)) / torch.where(std > 1e-12, std, torch.ones_like(std))
            torch.testing.assert_close(split.x[i, :n].double(), want, atol=1e-6, rtol=0)
            assert (split.x[i, n:] == 0).all()
    # a constant channel becomes 0, not NaN
    assert (ds.train.x[1, :3, 1] == 0).all() and torch.isfinite(ds.train.x).all()
    # the series' scale is gone: the 50-90 series and a 0.5-0.9 one would look alike
    assert ds.train.x[1, :3, 0].tolist() == pytest.approx([-1.2247, 0.0, 1.2247], abs=1e-4)


def test_downsample_averages_windows_of_each_series_before_normalising(tmp_path):
    # the closed form: step j of the downsampled series is the mean of raw steps [jK, min((j+1)K, L)); the last
    # window averages only the steps it holds; lengths become ceil(L / K); padding stays 0; then the
    # normalisation uses the downsampled training steps
    rows = "1,2,3,4,5:0,0,1,1,7:2\n50,70,90:5,5,5:10\n0,2:2,4:1\n"
    (tmp_path / "Down_TRAIN.ts").write_text(HEADER + rows)
    (tmp_path / "Down_TEST.ts").write_text(HEADER + "1,3,2,1,1,6,6:0,0,0,0,1,2,3:1\n")
    raw = load_dataset(str(tmp_path / "Down_TRAIN.ts"), normalize="none", encoder=None)
    for k in (1, 2, 3, 7):
        ds = load_dataset(str(tmp_path / "Down_TRAIN.ts"), normalize="none", encoder=None, downsample=k)
        assert ds.meta["downsample"] == k
        for split, ref in ((ds.train, raw.train), (ds.test, raw.test)):
            for i, n in enumerate(ref.lengths.tolist()):
                m = -(-n // k)
                assert int(split.lengths[i]) == m
                want = torch.stack([ref.x[i, j * k: min((j + 1) * k, n)].double().mean(0) for j in range(m)])
                torch.testing.assert_close(split.x[i, :m].double(), want, atol=1e-6, rtol=0)
                assert (split.x[i, m:] == 0).all()
    std = load_dataset(str(tmp_path / "Down_TRAIN.ts"), encoder=None, downsample=2)
    steps = torch.cat([std.train.x[i, :n] for i, n in enumerate(std.train.lengths.tolist())]).double()
    torch.testing.assert_close(steps.mean(0), torch.zeros(2, dtype=torch.float64), atol=1e-5, rtol=0)
    torch.testing.assert_close(steps.std(0, unbiased=False), torch.ones(2, dtype=torch.float64), atol=1e-5, rtol=0)

"""spikeforge.encode.compare: the MI estimator on closed forms, the bounds by enumeration, noise, the window."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from spikeforge.encode import ENCODERS
from spikeforge.encode.compare import (
    binary_capacity_bits,
    compare_codes,
    drop_spikes,
    jitter_spikes,
    mean_budget_bits,
    mutual_information,
)


def test_mi_of_a_noiseless_code_of_l_levels_is_log2_l():
    g = torch.Generator().manual_seed(0)
    x = torch.arange(8).repeat(500)  # every level equally often: the plug-in value is exact
    assert mutual_information(x, 3 * x + 1, correction="none") == pytest.approx(3.0, abs=1e-12)
    x = torch.randint(0, 16, (50000,), generator=g)
    assert mutual_information(x, x) == pytest.approx(4.0, abs=0.01)


def test_mi_of_independent_variables_is_near_zero_and_corrected_bias_is_smaller():
    g = torch.Generator().manual_seed(1)
    x, y = torch.randint(0, 10, (4000,), generator=g), torch.randint(0, 10, (4000,), generator=g)
    plug = mutual_information(x, y, correction="none")
    mm = mutual_information(x, y)
    assert 0.0 < plug < 0.03  # plug-in bias ≈ (10 - 1)² / (2 N ln 2) = 0.0146
    assert abs(mm) < abs(plug) and abs(mm) < 0.01


def test_mi_of_a_binary_symmetric_channel_is_one_minus_h2():
    g = torch.Generator().manual_seed(2)
    e = 0.1
    x = torch.randint(0, 2, (200000,), generator=g)
    flips = (torch.rand(x.shape, generator=g) < e).long()
    y = x ^ flips

    def bsc(q):
        return 1 + q * math.log2(q) + (1 - q) * math.log2(1 - q)

    assert mutual_information(x, y) == pytest.approx(bsc(e), abs=0.01)  # the estimator's sd here: 0.002
    assert mutual_information(x, y) == pytest.approx(bsc(float(flips.double().mean())), abs=1e-3)


@pytest.mark.parametrize(("n", "m"), [(5, 0), (5, 1), (5, 2), (6, 6), (7, 3)])
def test_binary_capacity_counts_the_patterns(n, m):
    patterns = sum(1 for p in itertools.product((0, 1), repeat=n) if sum(p) <= m)
    assert binary_capacity_bits(n, m) == pytest.approx(math.log2(patterns))


def test_mean_budget_bits_is_n_h2():
    assert mean_budget_bits(10, 5) == pytest.approx(10.0)
    q = 0.2
    assert mean_budget_bits(25, 5) == pytest.approx(25 * -(q * math.log2(q) + (1 - q) * math.log2(1 - q)))
    assert mean_budget_bits(8, 0) == 0.0


def test_drop_and_jitter():
    g = torch.Generator().manual_seed(3)
    s = (torch.rand(20, 500, 3, generator=g) < 0.3).float()
    assert torch.equal(drop_spikes(s, 0.0, g), s)
    assert drop_spikes(s, 1.0, g).sum() == 0
    kept = drop_spikes(s, 0.25, g)
    assert bool((kept <= s).all())
    assert float(kept.sum() / s.sum()) == pytest.approx(0.75, abs=0.02)
    assert torch.equal(jitter_spikes(s, 0, g), s)
    one = torch.zeros(20, 400)  # one spike per column at step 10: jitter moves it at most k steps
    one[10] = 1.0
    moved = jitter_spikes(one, 3, g)
    t = moved.argmax(0)
    assert bool((moved.sum(0) == 1).all()) and int((t - 10).abs().max()) == 3
    assert set((t - 10).tolist()) == set(range(-3, 4))


@pytest.fixture(scope="module")
def result():
    return compare_codes(steps=16, levels=8, samples=2000, window_samples=200, drop=(0.2, 0.5), jitter=(1, 3))


def test_no_code_exceeds_its_bounds(result):
    assert result.codes, result.skipped
    for name, c in result.codes.items():
        for source, r in c["sources"].items():
            assert r["bits_plugin"] <= math.log2(r["levels"]) + 1e-9, (name, source)
            assert r["bits"] <= r["source_bits"] + 0.01, (name, source)
            if r["binary"]:
                assert r["bits_plugin"] <= r["bound_budget_bits"] + 1e-9, (name, source)
                assert r["bits_plugin"] <= r["bound_mean_bits"] + 1e-9, (name, source)
                assert r["max_spikes_per_value"] <= r["slots"]


def test_dropping_spikes_does_not_add_information(result):
    for name, c in result.codes.items():
        for source, r in c["sources"].items():
            for d in r["drop"]:
                assert d["bits"] <= r["bits"] + 0.05, (name, source, d)
            assert r["drop"][-1]["bits"] <= r["drop"][0]["bits"] + 0.05, (name, source)


def test_current_is_skipped_as_not_a_spike_code_and_every_other_name_is_accounted_for(result):
    assert "current" in result.skipped and "not a spike code" in result.skipped["current"]
    assert set(result.codes) | set(result.skipped) == set(ENCODERS)


def test_latency_measures_against_a_plain_computation():
    steps, levels, n = 16, 8, 2000
    before = torch.get_num_threads()
    r = compare_codes(["latency"], steps=steps, levels=levels, samples=n, window_samples=n, sources=["uniform"],
                      drop=(), jitter=())
    assert torch.get_num_threads() == before  # restored
    row = r.codes["latency"]["sources"]["uniform"]
    lab = torch.randint(0, levels, (n,), generator=torch.Generator().manual_seed(1000))  # the draws of seed 0
    x = lab.double() / (levels - 1)
    fires = x >= 0.01
    t = torch.round((1 - x) * (steps - 1))
    assert row["spikes_per_value"] == pytest.approx(float(fires.double().mean()))
    assert row["bits_plugin"] == pytest.approx(mutual_information(lab, lab, correction="none"), abs=1e-9)
    # the running estimate reaches the final one the step after the spike (t + 1 steps read); never-firing: 1
    window = torch.where(fires, t + 1, torch.ones_like(t))
    assert row["window_mean"] == pytest.approx(float(window.mean()))
    assert row["bound_budget_bits"] == pytest.approx(math.log2(steps + 1))
    assert r.codes["latency"]["budget"].startswith("one spike per value")


def test_rate_window_and_bits_by_window_end_at_the_full_code():
    r = compare_codes(["rate"], steps=12, levels=4, samples=2000, window_samples=2000, sources=["uniform"],
                      drop=(), jitter=())
    row = r.codes["rate"]["sources"]["uniform"]
    assert row["bits_by_window"][-1][0] == 12
    assert row["bits_by_window"][-1][1] == pytest.approx(row["bits"], abs=1e-9)
    assert 1 <= row["window_mean"] <= 12


@pytest.mark.parametrize(("kwargs", "word"), [({"steps": 1}, "steps"), ({"names": ["nope"]}, "unknown"),
                                              ({"sources": ["mnist"]}, "sources"), ({"drop": (1.5,)}, "drop")])
def test_bad_arguments(kwargs, word):
    with pytest.raises(ValueError, match=word):
        compare_codes(**kwargs)

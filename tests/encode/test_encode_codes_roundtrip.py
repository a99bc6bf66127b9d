"""Deterministic codes of issue 14 (latency, TTFS, ISI, phase, burst, phasor, population): each encoder
against a plain reference written here, and each round trip within its promised bound, the bound checked
against the cells found by brute force (the grid values that give the same spikes) and tight."""

from __future__ import annotations

import math

import pytest
import torch

import spikeforge
from spikeforge.encode import (
    ISI,
    TTFS,
    Burst,
    Latency,
    Phase,
    Phasor,
    Population,
    burst_decode,
    isi_decode,
    phase_decode,
    phase_weights,
    phasor_decode,
    population_decode,
    ttfs_cells,
    ttfs_decode,
)

GRID = 100_001  # brute-force grid on [0, 1]: spacing 1e-5


def _values(n: int = 4000, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, generator=g, dtype=torch.float64)
    return torch.cat([x, torch.tensor([0.0, 1.0, 0.5], dtype=torch.float64)])


def _cells(enc, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """For each value of ``x``, the smallest and largest grid value whose spikes equal its spikes."""
    grid = torch.linspace(0.0, 1.0, GRID, dtype=torch.float64)
    weights = None

    def key(v):
        nonlocal weights
        s = enc(v)
        s = torch.view_as_real(s) if s.is_complex() else s
        flat = s.reshape(s.shape[0], v.shape[0], -1).permute(1, 0, 2).reshape(v.shape[0], -1).to(torch.float64)
        if weights is None:  # a random projection: equal patterns, equal keys (others collide with prob. ~0)
            weights = torch.rand(flat.shape[1], generator=torch.Generator().manual_seed(0), dtype=torch.float64)
        return flat @ weights

    keys, inverse = torch.unique(key(grid), return_inverse=True)
    lo = torch.full((len(keys),), math.inf, dtype=torch.float64).scatter_reduce(0, inverse, grid, "amin")
    hi = torch.full((len(keys),), -math.inf, dtype=torch.float64).scatter_reduce(0, inverse, grid, "amax")
    kx = key(x)
    index = torch.searchsorted(keys, kx).clamp(max=len(keys) - 1)
    assert torch.equal(keys[index], kx), "a value's spikes are not on the grid"
    return lo[index], hi[index]


def _check_cells(enc, x: torch.Tensor, *, in_cell: bool = True, slack: float = 2.0 / GRID) -> torch.Tensor:
    """Decoding returns a point of the value's cell (the grid values with the same spikes), with error at
    most the promised bound, and no value of the cell is decoded worse than that bound. Returns the errors."""
    xh = enc.decode(enc(x)).reshape(x.shape)
    lo, hi = _cells(enc, x)
    err = (xh - x).abs()
    bound = enc.error_bound(x).reshape(x.shape)
    if in_cell:
        assert bool((xh >= lo - slack).all()) and bool((xh <= hi + slack).all())
    assert bool((err <= bound + 1e-9).all()), float((err - bound).max())
    # the cells' ends (grid values) are decoded within their bounds too
    for end in (lo, hi):
        assert bool(((enc.decode(enc(end)).reshape(x.shape) - end).abs() <= enc.error_bound(end) + 1e-9).all())
    return err


# --------------------------------------------------------------------------------------------------
# Latency (existing linear and log) and RC time to first spike
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["linear", "log"])
def test_latency_round_trip_within_half_a_step(method):
    enc = Latency(steps=25, method=method, threshold=0.05)
    x = _values()
    # the cell just above the threshold is cut at it, and its decoded value (1 - t/(T-1)) lies below it
    err = _check_cells(enc, x, in_cell=False)
    fired = x >= enc.threshold
    bound = enc.error_bound(x)
    if method == "linear":
        assert float(err[fired].max()) == pytest.approx(1 / 48, rel=0.02)  # tight: half of 1/(T-1)
    else:
        assert float((err / bound)[fired].max()) > 0.9
    assert float(err[~fired].max()) <= enc.threshold


def test_ttfs_equals_a_leaky_neuron_charged_by_the_value():
    enc = TTFS(steps=30, tau=6.0, threshold=0.15)
    x = _values(600, seed=1)
    lam = math.exp(-1 / enc.tau)
    neuron = spikeforge.Neuron(decay=lam, threshold=enc.threshold, reset="none", dtype=torch.float64)
    current = ((1 - lam) * x).expand(enc.steps, -1).unsqueeze(-1)
    with torch.no_grad():
        spikes = neuron(current)[..., 0]
    first = torch.where(spikes.cumsum(0) == 1, spikes, torch.zeros_like(spikes))  # reset="none" keeps firing
    # Values within 1e-9 of a cell edge could round either way in the neuron's recursion.
    edges = ttfs_cells(enc.steps, enc.tau, enc.threshold, cap=False)
    clear = ((x.unsqueeze(-1) - edges).abs().amin(-1) > 1e-9)
    assert torch.equal(enc(x)[:, clear], first[:, clear])
    # closed form t = ceil(tau ln(x/(x - theta))) - 1
    t = enc.times(x)
    fires = x > enc.threshold / -math.expm1(-enc.steps / enc.tau)
    ref = torch.ceil(enc.tau * torch.log(x / (x - enc.threshold))) - 1
    assert torch.equal(t[fires & clear], ref[fires & clear]) and bool(torch.isinf(t[~fires & clear]).all())


def test_ttfs_round_trip_is_the_cell_midpoint():
    enc = TTFS()
    x = _values()
    err = _check_cells(enc, x)
    fired = torch.isfinite(enc.times(x))
    assert float((err / enc.error_bound(x))[fired].max()) > 0.99
    # compressive: every value above theta / (1 - e^{-1/tau}) fires at step 0
    strong = enc.threshold / -math.expm1(-1 / enc.tau)
    assert bool((enc.times(x)[x >= strong + 1e-9] == 0).all())
    assert float(ttfs_decode(torch.zeros(25, 3))[0]) == 0.0


# --------------------------------------------------------------------------------------------------
# Inter-spike interval
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("periodic", [False, True])
def test_isi_reference_and_round_trip(periodic):
    enc = ISI(steps=20, min_interval=2, max_interval=17, periodic=periodic)
    x = _values()
    s = enc(x)
    for i in range(0, len(x), 97):  # plain reference
        d = round(17 - float(x[i]) * 15)
        times = list(range(0, 20, d)) if periodic else [0, d]
        ref = torch.zeros(20, dtype=torch.float64)
        ref[times] = 1
        assert torch.equal(s[:, i], ref)
    err = _check_cells(enc, x)
    assert float(err.max()) <= 1 / 30 + 1e-12 and float(err.max()) > 0.95 / 30


def test_isi_decoder_defined_without_a_second_spike():
    s = torch.zeros(10, 2)
    s[3, 0] = 1
    assert torch.equal(isi_decode(s), torch.zeros(2))
    s[5, 1], s[9, 1] = 2.0, 1.0  # a graded spike counts as one spike time
    assert float(isi_decode(s)[1]) == pytest.approx((9 - 4) / (9 - 1))


# --------------------------------------------------------------------------------------------------
# Phase (weighted spikes)
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bits", [1, 4, 8])
def test_phase_matches_the_binary_expansion(bits):
    enc = Phase(steps=2 * bits + 1, bits=bits)
    x = _values(800, seed=2)
    s = enc(x)
    for i in range(len(x)):
        q = min(int(float(x[i]) * 2 ** bits), 2 ** bits - 1)
        code = [(q >> (bits - 1 - k)) & 1 for k in range(bits)]
        assert s[:, i].tolist() == code + code + code[:1]
    xh = enc.decode(s)
    err = x - xh
    assert bool((err >= -1e-12).all()) and bool((err <= 2.0 ** -bits + 1e-12).all())
    assert float(err.max()) > 0.98 * 2.0 ** -bits  # tight
    assert torch.allclose(xh, (phase_weights(bits, bits, dtype=torch.float64).unsqueeze(-1) * s[:bits]).sum(0))


def test_phase_round_trip_against_cells():
    _check_cells(Phase(steps=12, bits=6), _values())


def test_phase_decoder_on_damaged_spikes():
    enc = Phase(steps=16, bits=8)
    s = enc(torch.tensor([0.7, 0.2]))
    dropped = s.clone()
    dropped[0] = 0  # the most significant bit lost in the first period: 1/2 lost, averaged over 2 periods
    xh = phase_decode(dropped, bits=8)
    assert float(xh[0]) == pytest.approx(float(enc.decode(s)[0]) - 0.25)
    assert phase_decode(torch.zeros(16, 3), bits=8).tolist() == [0.0, 0.0, 0.0]
    # a truncated read (3 of 8 phases): the first 3 bits, 0 <= x - x̂ <= 2^-3
    x = torch.rand(500, dtype=torch.float64)
    err = x - phase_decode(Phase(steps=8, bits=8)(x)[:3], bits=8)
    assert bool((err >= 0).all()) and bool((err <= 2.0 ** -3).all())


# --------------------------------------------------------------------------------------------------
# Burst
# --------------------------------------------------------------------------------------------------


def test_burst_matches_a_plain_reference_and_round_trips():
    enc = Burst(steps=25, max_spikes=4, min_interval=2)  # d_max = 8
    assert enc.d_max == 8
    x = _values()
    s = enc(x)
    for i in range(0, len(x), 13):
        v = float(x[i])
        n = math.ceil(4 * v)
        d = math.ceil((8 - 2) * (1 - v) + 2) if n > 1 else 8
        ref = torch.zeros(25, dtype=torch.float64)
        ref[[k * d for k in range(n)]] = 1
        assert torch.equal(s[:, i], ref), v
    err = _check_cells(enc, x)
    bound = enc.error_bound(x)
    assert float(bound.max()) <= 1 / 8 + 1e-12
    assert float(bound[x > 0.25 + 1e-9].max()) <= 1 / 12 + 1e-12  # n > 1: the interval's cell, 1/(2A)
    assert float(err.max()) > 0.95 / 8


def test_burst_decoder_on_damaged_spikes():
    enc = Burst(steps=25, max_spikes=4, min_interval=2)
    s = enc(torch.tensor([0.9]))
    assert burst_decode(torch.zeros(25, 1), max_spikes=4, min_interval=2).item() == 0.0
    dropped = s.clone()
    dropped[s.nonzero()[-1, 0]] = 0  # the last of 4 spikes lost: 3 spikes 3 apart, no value sends that
    assert burst_decode(dropped, max_spikes=4, min_interval=2).item() == pytest.approx(2.5 / 4)  # count's cell
    # a truncated window (the first 5 steps) is read from the spikes it has
    assert 0.0 < enc.decode(s[:5]).item() <= 1.0
    with pytest.raises(ValueError, match="longest burst"):
        Burst(steps=10, max_spikes=5, max_interval=3)


# --------------------------------------------------------------------------------------------------
# Phasor
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("output", ["spikes", "complex"])
def test_phasor_round_trip(output):
    enc = Phasor(steps=16, period=8, output=output)
    x = _values()
    s = enc(x)
    assert s.is_complex() == (output == "complex")
    err = (enc.decode(s) - x).abs()
    assert bool((err <= enc.error_bound(x)).all())
    if output == "spikes":
        assert float(err.max()) > 0.99 / 8
        _check_cells(enc, x)
        assert torch.equal(s.sum(0), torch.full_like(x, 2.0))  # one spike per period
    else:
        assert torch.allclose(s[0], torch.polar(torch.ones_like(x), math.pi * x))


def test_phasor_angle_is_what_a_resonator_integrates():
    period = 8
    omega = 2 * math.pi / period
    x = _values(300, seed=3)
    for output in ("spikes", "complex"):
        s = Phasor(steps=16, period=period, output=output)(x).to(torch.complex128)
        neuron = spikeforge.Neuron(decay=complex(math.cos(-omega), math.sin(-omega)), threshold=1e9, reset="none",
                                   dtype=torch.float64)
        with torch.no_grad():
            rec = spikeforge.record(neuron, s.unsqueeze(-1), fields=("v",))
        v = rec.traces["v"][-1, :, 0] * complex(math.cos(omega * 15), math.sin(omega * 15))
        # the same point on the circle (an angle of 0 may come out as 2 pi - 1e-16)
        on_circle = torch.polar(torch.ones_like(x), math.pi * phasor_decode(s, period=period))
        assert torch.allclose(v / v.abs(), on_circle, atol=1e-9)


def test_phasor_series_and_decoder_edges():
    enc = Phasor(steps=None, output="complex")
    x = torch.rand(5, 2, 3, dtype=torch.float64)
    z = enc(x, lengths=torch.tensor([5, 3]))
    assert z.shape == (5, 2, 3) and z[3:, 1].abs().sum() == 0
    xh = enc.decode(z)
    assert torch.allclose(xh[:, 0], x[:, 0]) and torch.equal(xh[3:, 1], torch.zeros(2, 3, dtype=torch.float64))
    # an angle just past pi (a late spike) reads as 1; just below 2 pi (an early one) as 0
    s = torch.zeros(8, 2)
    s[5, 0], s[7, 1] = 1, 1
    assert phasor_decode(s, period=8).tolist() == [1.0, 0.0]
    assert phasor_decode(torch.zeros(8, 2), period=8).tolist() == [0.0, 0.0]
    with pytest.raises(ValueError, match="needs output='complex'"):
        Phasor(steps=None)


# --------------------------------------------------------------------------------------------------
# Population (Gaussian receptive fields) on static values
# --------------------------------------------------------------------------------------------------


def test_population_static_spikes_round_trip():
    enc = Population(neurons=8, low=0.0, high=1.0, output="spikes", steps=3)
    x = _values()
    s = enc(x)
    assert s.shape == (3, len(x), 8) and torch.equal(s[0], s[2])
    # the series encoder gives the same responses, step by step
    assert torch.equal(Population(neurons=8, low=0.0, high=1.0, output="spikes")(x.reshape(1, -1, 1))[0], s[0])
    err = _check_cells(enc, x)
    delta = 1 / 7
    assert float(err.max()) <= delta / 2 + 1e-12 and float(err.max()) > 0.95 * float(enc.error_bound(x).max())
    # inside the range the decoder is the population vector: the mean of the active centres
    inner = (x > 0.25) & (x < 0.75)
    centres = enc.centres(x)
    vector = (s[0] * centres).sum(-1) / s[0].sum(-1)
    assert torch.allclose(enc.decode(s)[inner].squeeze(-1), vector[inner], atol=1e-12)


def test_population_static_current_is_exact_and_shapes():
    enc = Population(neurons=6, low=0.0, high=1.0, steps=2)
    x = torch.rand(4, 5, 3, dtype=torch.float32) * 1.4 - 0.2  # beyond the range too
    s = enc(x)
    assert s.shape == (2, 4, 5, 18)
    assert enc.out_channels(3) == 18
    xh = enc.decode(s)
    assert xh.shape == x.shape
    assert bool(((xh - x).abs() <= enc.error_bound(x)).all())
    # the series decoder works step by step
    series = Population(neurons=6, low=0.0, high=1.0)
    y = torch.rand(7, 2, 3, dtype=torch.float64)
    assert torch.allclose(series.decode(series(y)), y, atol=1e-10)
    assert population_decode(torch.zeros(2, 6), low=0.0, high=1.0).tolist() == [0.5, 0.5]

"""Every registered encoder (issue 14): the Encoder protocol, a paired ``decode``, pickling, static values in
[0, 1] with ``steps``, series where it takes them, and decoders that take damaged spikes (dropped, moved,
extra) without error; the new names work through the data loaders and ``spikeforge train``."""

from __future__ import annotations

import json
import pickle

import pytest
import torch

from spikeforge.cli.main import main
from spikeforge.data import batches, load_dataset
from spikeforge.encode import (
    ENCODERS,
    Burst,
    Encoder,
    MultiDelta,
    burst_decode,
    encoder_config,
    first_spike_decode,
    isi_decode,
    make_encoder,
    phase_decode,
    phasor_decode,
    poisson_decode,
    population_decode,
    rate_decode,
    ttfs_decode,
)

SERIES_ONLY = {"delta", "multidelta"}
STATIC = sorted(set(ENCODERS) - SERIES_ONLY)
NEW = ["poisson", "ttfs", "isi", "phase", "park-burst", "phasor"]


def _static(name: str, steps: int = 16, **params):
    if name == "population":
        params.setdefault("low", 0.0)
        params.setdefault("high", 1.0)
    return make_encoder(name, steps=steps, **params)


@pytest.mark.parametrize("name", sorted(ENCODERS))
def test_every_encoder_has_the_protocol_and_a_decoder(name):
    enc = make_encoder(name)
    assert isinstance(enc, Encoder) and callable(getattr(enc, "decode", None))
    assert pickle.loads(pickle.dumps(enc)) == enc
    with pytest.raises(AttributeError):
        enc.steps = 3  # frozen
    cfg = json.loads(json.dumps(encoder_config(enc)))
    assert make_encoder(cfg.pop("name"), **cfg) == enc


@pytest.mark.parametrize("name", STATIC)
def test_static_values_with_steps_round_trip_in_shape(name):
    enc = _static(name)
    assert enc.input_kind == "static" and enc.steps == 16
    x = torch.rand(3, 2, 5, generator=torch.Generator().manual_seed(0))
    s = enc(x, generator=torch.Generator().manual_seed(1))
    k = enc.out_channels(5)
    assert s.shape == (16, 3, 2, k)
    xh = enc.decode(s)
    assert xh.shape == x.shape and bool(torch.isfinite(xh).all())
    # every static code recovers the values roughly at T = 16 (the loosest: rate's binomial error)
    assert float((xh - x).abs().mean()) < 0.15


def _damage(s: torch.Tensor, seed: int) -> list[torch.Tensor]:
    """Dropped (half the spikes), moved (every spike by up to 2 steps, kept in the window), extra spikes,
    and nothing at all."""
    g = torch.Generator().manual_seed(seed)
    dropped = s * (torch.rand(s.shape, generator=g) < 0.5)
    moved = torch.zeros_like(s)
    shift = torch.randint(-2, 3, s.shape, generator=g)
    t = (torch.arange(s.shape[0]).reshape(-1, *([1] * (s.dim() - 1))) + shift).clamp(0, s.shape[0] - 1)
    moved.scatter_add_(0, t, s)
    extra = s + (torch.rand(s.shape, generator=g) < 0.1).to(s.dtype)
    return [dropped, moved, extra, torch.zeros_like(s)]


@pytest.mark.parametrize("name", STATIC)
def test_decoders_take_damaged_spikes(name):
    enc = _static(name)
    x = torch.rand(64, 3, generator=torch.Generator().manual_seed(2))
    s = enc(x, generator=torch.Generator().manual_seed(3))
    for bad in _damage(s, 4):
        xh = enc.decode(bad)
        assert xh.shape == x.shape and bool(torch.isfinite(xh).all())
        if name in ("ttfs", "isi", "phase", "park-burst", "phasor", "latency"):
            assert bool((xh >= 0).all()) and bool((xh <= 1 + 1e-6).all())
    silent = enc.decode(torch.zeros_like(s))
    expected = 0.5 if name == "population" else 0.0  # the documented value without spikes
    if name != "current":
        assert torch.allclose(silent, torch.full_like(silent, expected))


def test_complex_phasor_takes_damaged_spikes():
    enc = make_encoder("phasor", output="complex")
    s = enc(torch.rand(32, 3))
    for bad in (s * (torch.rand(s.shape) < 0.5), torch.roll(s, 1, 0), torch.zeros_like(s)):
        xh = enc.decode(bad)
        assert xh.shape == (32, 3) and bool(((xh >= 0) & (xh <= 1)).all())


@pytest.mark.parametrize(
    ("name", "params"),
    [("rate", {"steps": None}), ("current", {}), ("poisson", {"steps": None}), ("population", {}),
     ("phasor", {"steps": None, "output": "complex"}), ("delta", {}), ("multidelta", {})],
)
def test_series_encoders_decode_step_by_step(name, params):
    enc = make_encoder(name, **params)
    assert enc.input_kind == "series"
    x = torch.rand(9, 2, 3, dtype=torch.float64)
    s = enc(x, lengths=torch.tensor([9, 4]))
    xh = enc.decode(s)
    assert xh.shape[-1] == 3 and bool(torch.isfinite(xh if not xh.is_complex() else xh.abs()).all())
    if name in ("current", "population", "phasor"):
        assert torch.allclose(xh[:, 0], x[:, 0], atol=1e-6)


def test_multidelta_decodes_its_finest_threshold_or_any():
    enc = MultiDelta(thresholds=(0.3, 0.1), max_per_step=None)
    x = torch.cumsum(torch.randn(50, 2, 3, dtype=torch.float64) * 0.2, 0)
    s = enc(x)
    assert bool(((enc.decode(s) - x).abs() <= 0.1 + 1e-9).all())
    assert bool(((enc.decode(s, which=0) - x).abs() <= 0.3 + 1e-9).all())
    with pytest.raises(ValueError, match="which must be an int in"):
        enc.decode(s, which=2)


def test_burst_alias_and_unknown_names():
    assert make_encoder("burst", max_spikes=3) == Burst(max_spikes=3)
    assert encoder_config(make_encoder("BURST"))["name"] == "park-burst"
    with pytest.raises(ValueError, match="unknown encoder 'morse'"):
        make_encoder("morse")


@pytest.mark.parametrize(
    "decoder",
    [poisson_decode, ttfs_decode, isi_decode, phase_decode, burst_decode, phasor_decode],
)
def test_decoder_functions_refuse_bad_spikes_in_one_line(decoder):
    with pytest.raises(ValueError, match="spikes must be time-major"):
        decoder(torch.zeros(3))
    with pytest.raises(ValueError, match="negative"):
        decoder(-torch.ones(8, 2))
    assert rate_decode(torch.zeros(4, 2)).shape == first_spike_decode(torch.zeros(4, 2)).shape == (2,)
    with pytest.raises(ValueError, match=r"responses must be \[\.\.\., K\]"):
        population_decode(torch.zeros(4, 1))


@pytest.mark.parametrize("name", [*NEW, "population"])
def test_new_names_work_through_the_digits_loader(name):
    spec = {"name": "population", "steps": 6, "low": 0.0, "high": 1.0} if name == "population" else name
    ds = load_dataset("digits", encoder=spec)
    b = next(iter(batches(ds.train, 16, generator=0)))
    steps = ds.train.encoder.steps
    assert b.x.shape == (steps, 16, ds.train.in_channels) and bool((b.lengths == steps).all())
    assert b.x.dtype == torch.float32


def test_spikeforge_train_with_a_new_encoder(tmp_path):
    out = tmp_path / "run"
    argv = ["train", "--dataset", "digits", "--encoder", "burst", "--encoder-param", "max_spikes=4",
            "--epochs", "1", "--hidden", "16", "--threads", "1", "--no-progress", "--no-plots", "--no-report",
            "--out", str(out)]
    assert main(argv) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["encoder"]["name"] == "park-burst" and config["encoder"]["max_spikes"] == 4
    assert 0.0 <= json.loads((out / "metrics.json").read_text())["test_accuracy"] <= 1.0

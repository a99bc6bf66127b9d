"""Encoders by name, their configs round trip, and code statistics."""

from __future__ import annotations

import json

import pytest
import torch

from spikeforge.encode import (
    ENCODERS,
    Current,
    Delta,
    Encoder,
    Rate,
    code_stats,
    encoder_config,
    firing_rate,
    make_encoder,
    spikes_per_bit,
    spikes_per_sample,
)


@pytest.mark.parametrize("name", sorted(ENCODERS))
def test_make_encoder_and_config_round_trip(name):
    enc = make_encoder(name)
    assert isinstance(enc, Encoder)
    cfg = json.loads(json.dumps(encoder_config(enc)))
    assert make_encoder(cfg.pop("name"), **cfg) == enc


def test_make_encoder_params_and_errors():
    assert make_encoder("Delta", threshold=0.5) == Delta(threshold=0.5)
    enc = Current()
    assert make_encoder(enc) is enc
    with pytest.raises(ValueError, match=r"unknown encoder 'morse'; expected one of \['current', 'delta'"):
        make_encoder("morse")
    with pytest.raises(ValueError, match="bad parameters \\['tau'\\] for 'rate'"):
        make_encoder("rate", tau=3)


def test_code_statistics():
    s = torch.zeros(10, 4, 3)
    s[0, :, 0] = 1
    s[5, :2, 1] = 1
    assert spikes_per_sample(s) == pytest.approx(1.5)
    assert firing_rate(s) == pytest.approx(6 / 120)
    assert spikes_per_bit(s, 4) == pytest.approx(0.75)
    stats = code_stats(s)
    # (sample, channel) pairs without a spike: channel 0 never, channel 1 in 2 of 4 samples, channel 2 always.
    assert stats["silent_channel_fraction"] == pytest.approx((0 + 2 + 4) / 12)
    assert stats["steps"] == 10 and stats["channels"] == 3
    with pytest.raises(ValueError, match="num_classes must be an int >= 2"):
        spikes_per_bit(s, 1)
    assert spikes_per_sample(Rate(steps=20, seed=0)(torch.ones(2, 3))) == 60

"""Delta (level-crossing) code: closed forms, masks, decode(encode(x)) and input errors."""

from __future__ import annotations

import pickle

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from spikeforge.encode import Delta, delta_decode


def ramp(steps: int, slope: float, channels: int = 1, batch: int = 1) -> torch.Tensor:
    t = torch.arange(steps, dtype=torch.float64)
    return (slope * t).reshape(steps, 1, 1).expand(steps, batch, channels).clone()


def test_ramp_spike_count_equals_change_over_threshold():
    # 0.125 per step, threshold 0.5, 33 steps: total change 4.0 -> exactly 8 up spikes, no down spikes.
    x = ramp(33, 0.125)
    s = Delta(threshold=0.5, initial="first")(x)
    assert s.shape == (33, 1, 2)
    assert s[..., 0].sum() == 8
    assert s[..., 1].sum() == 0
    # Spikes fall where the ramp crosses each level: every 4 steps.
    assert torch.nonzero(s[:, 0, 0]).flatten().tolist() == [4, 8, 12, 16, 20, 24, 28, 32]


def test_falling_ramp_uses_down_channels_and_per_channel_thresholds():
    x = torch.cat([ramp(17, -0.25), ramp(17, 0.25)], dim=2)  # channel 0 falls, channel 1 rises by 4
    s = Delta(threshold=(0.5, 1.0), initial="first")(x)
    assert s.shape == (17, 1, 4)
    up, down = s[..., :2], s[..., 2:]
    assert down[..., 0].sum() == 8 and up[..., 0].sum() == 0
    assert up[..., 1].sum() == 4 and down[..., 1].sum() == 0


@settings(max_examples=40, deadline=None)
@given(
    slope=st.floats(min_value=-0.9, max_value=0.9).filter(lambda v: abs(v) > 1e-3),
    steps=st.integers(min_value=2, max_value=60),
    thr=st.floats(min_value=0.05, max_value=2.0),
)
def test_ramp_count_is_floor_of_change_over_threshold(slope, steps, thr):
    # Slope below one threshold per step: the binary code never saturates.
    slope = slope * thr
    x = ramp(steps, slope)
    s = Delta(threshold=thr, initial="first")(x)
    expected = int(abs(slope) * (steps - 1) / thr + 1e-6)
    got = int(s.sum())
    assert abs(got - expected) <= 1  # float rounding at an exact level may shift one crossing
    assert s.max() <= 1


@settings(max_examples=30, deadline=None)
@given(
    data=st.lists(st.floats(min_value=-3, max_value=3), min_size=2, max_size=40),
    thr=st.floats(min_value=0.05, max_value=1.0),
)
def test_decode_tracks_input_within_one_threshold_with_graded_counts(data, thr):
    x = torch.tensor(data, dtype=torch.float64).reshape(-1, 1, 1)
    enc = Delta(threshold=thr, max_per_step=None, initial="first")
    s = enc(x)
    rebuilt = enc.decode(s, initial=x[0])
    assert torch.all((rebuilt - x).abs() < thr * (1 + 1e-5))


def test_initial_zero_codes_the_level_and_binary_code_catches_up():
    x = torch.full((10, 2, 1), 1.0)
    s = Delta(threshold=0.25)(x)  # defaults: initial="zero", max_per_step=1
    assert s[:4, :, 0].sum() == 8 and s[4:].sum() == 0  # four steps to climb to 1.0, then silence
    assert torch.allclose(delta_decode(s, 0.25)[-1], x[-1])


def test_lengths_mask_padding():
    x = ramp(20, 0.5, batch=2)
    lengths = torch.tensor([20, 5])
    s = Delta(threshold=0.5, initial="first")(x, lengths=lengths)
    assert s[5:, 1].sum() == 0
    assert s[:, 0].sum() == 19 and s[:, 1].sum() == 4


def test_frozen_picklable_and_validates():
    enc = Delta(threshold=[0.1, 0.2])
    assert enc.threshold == (0.1, 0.2)
    assert pickle.loads(pickle.dumps(enc)) == enc
    with pytest.raises(AttributeError):
        enc.threshold = 1.0  # type: ignore[misc]
    with pytest.raises(ValueError, match="threshold must be a finite number > 0; got -1"):
        Delta(threshold=-1)
    with pytest.raises(ValueError, match="max_per_step"):
        Delta(max_per_step=0)
    with pytest.raises(ValueError, match="initial must be 'first' or 'zero'"):
        Delta(initial="mean")  # type: ignore[arg-type]


def test_bad_inputs_name_the_expected_form():
    with pytest.raises(ValueError, match=r"Delta: x must be time-major \[T, B, C\].*got shape \(3, 4\)"):
        Delta()(torch.zeros(3, 4))
    with pytest.raises(ValueError, match="3 per-channel values but x has C=2"):
        Delta(threshold=(1.0, 1.0, 1.0))(torch.zeros(4, 1, 2))
    with pytest.raises(ValueError, match="finite"):
        Delta()(torch.tensor([[[float("nan")]]]))
    with pytest.raises(ValueError, match=r"lengths must lie in \[0, T=4\]"):
        Delta()(torch.zeros(4, 1, 1), lengths=torch.tensor([5]))
    with pytest.raises(ValueError, match=r"lengths must be an integer tensor \[B\] with B=1"):
        Delta()(torch.zeros(4, 1, 1), lengths=torch.tensor([1.5]))
    with pytest.raises(ValueError, match=r"delta_decode: spikes must be time-major \[T, B, 2C\]"):
        delta_decode(torch.zeros(3, 1, 3), 0.1)

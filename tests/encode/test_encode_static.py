"""Rate, latency and current codes: statistics, ordering, decoders and errors."""

from __future__ import annotations

import math
import pickle

import pytest
import torch

from spikeforge.encode import Current, Latency, Rate, first_spike_decode, first_spike_times, rate_decode


def test_rate_mean_within_four_standard_errors():
    p = torch.tensor([0.0, 0.05, 0.3, 0.5, 0.9, 1.0])
    steps = 4000
    s = Rate(steps=steps, seed=1)(p.unsqueeze(0))
    assert s.shape == (steps, 1, 6)
    est = rate_decode(s)[0]
    se = torch.sqrt(p * (1 - p) / steps)
    assert torch.all((est - p).abs() <= 4 * se + 1e-12)
    assert est[0] == 0 and est[-1] == 1


def test_rate_is_seeded_and_generator_driven():
    x = torch.rand(3, 5)
    assert torch.equal(Rate(steps=10, seed=7)(x), Rate(steps=10, seed=7)(x))
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    enc = Rate(steps=10)
    a, b = enc(x, generator=g1), enc(x, generator=g2)
    assert torch.equal(a, b)
    assert not torch.equal(enc(x, generator=g1), a)  # the generator moves on


def test_rate_series_mode_masks_padding_and_gain():
    x = torch.full((6, 2, 3), 0.5)
    s = Rate(steps=None, gain=2.0, seed=0)(x, lengths=torch.tensor([6, 2]))
    assert s.shape == (6, 2, 3)
    assert torch.all(s[:, 0] == 1) and torch.all(s[:2, 1] == 1) and s[2:, 1].sum() == 0
    assert torch.allclose(rate_decode(s, lengths=torch.tensor([6, 2])), torch.ones(2, 3))


@pytest.mark.parametrize("method", ["linear", "log"])
def test_latency_orders_spikes_by_strength_and_decodes(method):
    x = torch.tensor([[1.0, 0.8, 0.5, 0.2, 0.05, 0.0]])
    enc = Latency(steps=50, method=method, threshold=0.01)
    s = enc(x)
    assert s.shape == (50, 1, 6)
    assert torch.all(s.sum(0)[0, :5] == 1) and s[..., 5].sum() == 0  # one spike each; 0 never fires
    t = first_spike_times(s)[0]
    assert t[0] == 0 and torch.all(t[:5].diff() > 0) and math.isinf(t[5])
    back = enc.decode(s)[0]
    if method == "linear":
        assert torch.allclose(back, x[0], atol=0.5 / 49 + 1e-6)
    else:  # relative error of one rounding step in log space
        assert torch.allclose(back[:5].log(), x[0, :5].log(), atol=0.5 * math.log(100) / 49 + 1e-6)
    assert back[5] == 0


def test_latency_linear_closed_form():
    s = Latency(steps=11)(torch.tensor([[0.7]]))
    assert int(torch.nonzero(s[:, 0, 0])) == 3  # (1 - 0.7) * 10
    assert first_spike_decode(s)[0, 0] == pytest.approx(0.7)


def test_current_passes_and_repeats_values():
    x = torch.randn(5, 2, 3)
    out = Current(gain=2.0, bias=1.0)(x, lengths=torch.tensor([5, 3]))
    assert torch.allclose(out[:, 0], 2 * x[:, 0] + 1) and out[3:, 1].abs().sum() == 0
    img = torch.rand(4, 8)
    rep = Current(steps=7)(img)
    assert rep.shape == (7, 4, 8) and torch.equal(rep[3], img)
    assert torch.allclose(Current(steps=7, gain=0.5, bias=0.1).decode(Current(steps=7, gain=0.5, bias=0.1)(img)), img)


def test_encoders_are_frozen_picklable_and_validate():
    for enc in (Rate(steps=5, seed=2), Latency(steps=9, method="log"), Current(steps=3)):
        assert pickle.loads(pickle.dumps(enc)) == enc
        with pytest.raises(AttributeError):
            enc.steps = 4  # type: ignore[misc]
    with pytest.raises(ValueError, match="Rate: steps must be an int >= 1 or None; got 0"):
        Rate(steps=0)
    with pytest.raises(ValueError, match="Latency: steps must be an int >= 2"):
        Latency(steps=1)
    with pytest.raises(ValueError, match="Latency: method must be 'linear' or 'log'"):
        Latency(method="exp")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"threshold must lie in \(0, 1\)"):
        Latency(threshold=1.5)
    with pytest.raises(ValueError, match="Rate: gain must be a finite number > 0"):
        Rate(gain=0)
    with pytest.raises(TypeError, match="Rate: x must be a tensor"):
        Rate()(object())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"Current: x must be time-major \[T, B, \.\.\.\]; got shape \(3,\)"):
        Current()(torch.zeros(3))

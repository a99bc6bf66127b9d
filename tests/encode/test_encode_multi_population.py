"""Encodings chosen per data set (issue 12): level crossing at several thresholds and population coding by
Gaussian receptive fields, against closed forms; both by name through the registry and the loaders."""

import math

import pytest
import torch

from spikeforge.data import load_dataset
from spikeforge.encode import Current, Delta, MultiDelta, Population, encoder_config, make_encoder


def test_multidelta_counts_the_crossings_of_each_threshold():
    # a jump from 0 to 0.95 at step 3: floor(0.95 / thr) crossings, all at once without a per-step limit
    x = torch.zeros(6, 1, 2)
    x[3:, 0, 0] = 0.95
    x[3:, 0, 1] = -2.5
    out = MultiDelta((0.1, 0.3, 1.0), max_per_step=None)(x)
    assert out.shape == (6, 1, 12)
    up, down = {}, {}
    for k, thr in enumerate((0.1, 0.3, 1.0)):
        block = out[:, 0, 4 * k:4 * (k + 1)]  # [up c0, up c1, down c0, down c1]
        up[thr], down[thr] = block[:, 0], block[:, 3]
        assert block[:, 1].sum() == 0 and block[:, 2].sum() == 0
        assert torch.equal(up[thr][:3], torch.zeros(3)) and torch.equal(up[thr][4:], torch.zeros(2))
    assert [float(up[t][3]) for t in (0.1, 0.3, 1.0)] == [math.floor(0.95 / t + 1e-9) for t in (0.1, 0.3, 1.0)]
    assert [float(down[t][3]) for t in (0.1, 0.3, 1.0)] == [25.0, 8.0, 2.0]


def test_multidelta_is_the_deltas_side_by_side_and_masks_padding():
    torch.manual_seed(0)
    x = torch.randn(20, 3, 2).cumsum(0) * 0.3
    lengths = torch.tensor([20, 11, 4])
    enc = MultiDelta((0.2, 0.5))
    want = torch.cat([Delta(0.2)(x, lengths=lengths), Delta(0.5)(x, lengths=lengths)], -1)
    out = enc(x, lengths=lengths)
    assert torch.equal(out, want) and out[11:, 1].sum() == 0 and out[4:, 2].sum() == 0
    assert enc.out_channels(2) == 8 and enc.deterministic and enc.input_kind == "series"
    assert set(out.unique().tolist()) <= {0.0, 1.0}  # one crossing per step by default: binary
    with pytest.raises(ValueError, match="MultiDelta: each threshold must be a finite number > 0"):
        MultiDelta((0.1, -1.0))
    with pytest.raises(ValueError, match="Delta: max_per_step must be an int >= 1 or None"):
        MultiDelta(max_per_step=0)


def test_population_tuning_curves_are_gaussians_over_the_range():
    enc = Population(neurons=5, low=-2.0, high=2.0)
    assert enc.sigma == 1.0 and torch.equal(enc.centres(), torch.tensor([-2.0, -1.0, 0.0, 1.0, 2.0]))
    x = torch.tensor([[[0.0, 1.5]]])  # [T=1, B=1, C=2]
    out = enc(x)
    assert out.shape == (1, 1, 10)
    c0, c1 = out[0, 0, :5], out[0, 0, 5:]  # channel-major
    torch.testing.assert_close(c0, torch.exp(-torch.tensor([4.0, 1.0, 0.0, 1.0, 4.0]) / 2))
    torch.testing.assert_close(c1, torch.exp(-torch.tensor([3.5, 2.5, 1.5, 0.5, 0.5]) ** 2 / 2))
    assert float(c1[3]) == pytest.approx(math.exp(-1 / 8)) == pytest.approx(float(c1[4]))  # halfway: cross
    # beyond the range: the edge neuron responds most
    assert int(enc(torch.full((1, 1, 1), 7.0)).argmax()) == 4


def test_population_spikes_within_the_half_maximum_and_masks_padding():
    enc = Population(neurons=4, low=0.0, high=3.0, width=0.5, output="spikes")
    radius = enc.half_max_radius()
    assert radius == pytest.approx(0.5 * math.sqrt(2 * math.log(2)))
    values = torch.linspace(-0.5, 3.5, 81)
    out = enc(values.reshape(-1, 1, 1))
    want = ((values.reshape(-1, 1) - torch.arange(4.0)).abs() <= radius + 1e-6).float()
    assert torch.equal(out[:, 0], want)
    lengths = torch.tensor([50])
    assert out[:50].sum() > 0 and enc(values.reshape(-1, 1, 1), lengths=lengths)[50:].sum() == 0
    cur = Population(neurons=3)(torch.zeros(6, 2, 1), lengths=torch.tensor([6, 2]))
    assert cur[2:, 1].sum() == 0 and cur[:, 0].min() > 0
    for bad, match in (({"neurons": 1}, "neurons must be an int >= 2"), ({"low": 1.0, "high": 1.0}, "low must be"),
                       ({"width": 0}, "width must be a finite number > 0"), ({"output": "rate"}, "output must be")):
        with pytest.raises(ValueError, match=match):
            Population(**bad)
    with pytest.raises(ValueError, match=r"Population: x must be time-major \[T, B, C\]"):
        Population()(torch.zeros(3, 2))


def test_by_name_through_the_registry_and_the_series_loader():
    assert make_encoder("population", neurons=4) == Population(neurons=4)
    assert make_encoder("multidelta", thresholds=[0.2, 0.6]) == MultiDelta((0.2, 0.6))
    assert encoder_config(MultiDelta()) == {"name": "multidelta", "thresholds": [0.1, 0.3, 1.0], "max_per_step": 1,
                                            "initial": "zero"}
    for enc, channels in (({"name": "population", "neurons": 6}, 6), ({"name": "multidelta"}, 6),
                          ({"name": "current"}, 1)):
        ds = load_dataset("ucr:GunPoint", encoder=enc)
        assert ds.in_channels == channels
        # the loader standardises each channel over the training split
        assert abs(float(ds.train.x.mean())) < 1e-4 and abs(float(ds.train.x.std()) - 1) < 0.01
    # direct current injection passes a series through unchanged
    x = torch.randn(7, 2, 3)
    assert torch.equal(Current()(x), x)

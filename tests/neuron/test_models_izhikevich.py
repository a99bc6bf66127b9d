"""The four firing patterns of Izhikevich (2003), Fig. 2, reproduced by the presets: 1 s of the paper's step
current I = 10 at dt = 0.1 ms (forward Euler; the spike trains equal Brian2's, tests/neuron/test_models_brian2.py),
read from the inter-spike intervals (ISIs)."""

import numpy as np
import pytest
import torch

import spikeforge as sf
from spikeforge.neuron.models import Izhikevich
from spikeforge.neuron.models.izhikevich import PRESETS


def isis(neuron, current=10.0, ms=1000.0):
    """Inter-spike intervals (ms) of one neuron under a step current from t = 0."""
    x = torch.full((round(ms / neuron.dt), 1, 1), current, dtype=torch.float64)
    steps = np.nonzero(neuron.to(torch.float64)(x)[:, 0, 0].numpy())[0]
    return np.diff(steps) * neuron.dt


@pytest.fixture(scope="module")
def patterns():
    return {name: isis(Izhikevich.preset(name)) for name in PRESETS}


def test_presets_are_the_papers_parameters():
    assert dict(PRESETS["regular_spiking"]) == {"a": 0.02, "b": 0.2, "c": -65.0, "d": 8.0}
    assert dict(PRESETS["intrinsically_bursting"]) == {"a": 0.02, "b": 0.2, "c": -55.0, "d": 4.0}
    assert dict(PRESETS["chattering"]) == {"a": 0.02, "b": 0.2, "c": -50.0, "d": 2.0}
    assert dict(PRESETS["fast_spiking"]) == {"a": 0.1, "b": 0.2, "c": -65.0, "d": 2.0}
    for name, make in (("regular_spiking", Izhikevich.regular_spiking), ("fast_spiking", Izhikevich.fast_spiking),
                       ("intrinsically_bursting", Izhikevich.bursting), ("chattering", sf.Izhikevich.chattering)):
        m = make(dt=0.05)
        assert {k: getattr(m, k).item() for k in "abcd"} == pytest.approx(dict(PRESETS[name])) and m.dt == 0.05
    assert {k: Izhikevich().state_dict()[k].item() for k in "abcd"} == pytest.approx(dict(PRESETS["regular_spiking"]))
    assert Izhikevich.chattering(d=3.0).d.item() == 3.0
    with pytest.raises(ValueError, match="name: expected one of"):
        Izhikevich.preset("bursty")


def regular_spiking(isi):
    """Tonic spikes at tens of Hz whose frequency adapts: the first interval is the shortest and the
    intervals never shorten again (within one step); no bursts."""
    steady = np.median(isi[-5:])
    return bool(15 <= len(isi) + 1 <= 40 and isi.min() > 10.0 and isi[0] < 0.6 * steady
                and np.all(np.diff(isi) >= -0.11))


def intrinsically_bursting(isi):
    """A burst at the onset, then single spikes only, at a regular rate."""
    return bool(isi[0] < 5.0 and isi[1:].min() > 20.0 and np.ptp(isi[3:]) <= 0.11)


def chattering(isi):
    """Repeated bursts of several spikes: two kinds of interval (within a burst, < 10 ms; between bursts,
    > 30 ms), at least 10 bursts of at least 3 spikes."""
    short, long = isi < 10.0, isi > 30.0
    sizes = [int(np.sum(b < 10.0)) + 1 for b in np.split(isi, np.nonzero(long)[0] + 1)[:-1]]
    return bool(np.all(short | long) and len(sizes) >= 10 and min(sizes) >= 3)


def fast_spiking(isi):
    """A high-frequency (>= 100 Hz) periodic train: no bursts, and after the onset (3 spikes) no adaptation."""
    steady = isi[3:]
    return bool(len(isi) + 1 >= 100 and isi.min() > 4.0 and np.std(steady) / np.mean(steady) < 0.02)


SIGNATURES = {"regular_spiking": regular_spiking, "intrinsically_bursting": intrinsically_bursting,
              "chattering": chattering, "fast_spiking": fast_spiking}


@pytest.mark.parametrize("name", list(PRESETS))
def test_each_preset_shows_its_pattern_and_no_other(patterns, name):
    shown = {sig: SIGNATURES[sig](patterns[name]) for sig in SIGNATURES}
    assert shown == {sig: sig == name for sig in SIGNATURES}


def test_fast_spiking_adapts_less_than_regular_spiking(patterns):
    fs, rs = patterns["fast_spiking"], patterns["regular_spiking"]
    assert fs[-1] / fs[0] < 1.7 < 1.8 < rs[-1] / rs[0]

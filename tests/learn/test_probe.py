"""spikeforge.learn.probe: features against plain loops, the shuffle, synthetic codes, and a small trained run."""

from __future__ import annotations

import itertools
import json

import pytest
import torch

from spikeforge.learn.probe import decoder_accuracy, probe_run, shuffle_times, spike_features


def _plain_features(s, lengths):
    _, batch, n = s.shape
    counts = torch.zeros(batch, n, dtype=torch.float64)
    first = torch.ones(batch, n, dtype=torch.float64)
    isi = torch.ones(batch, n, dtype=torch.float64)
    for b in range(batch):
        L = int(lengths[b])
        for j in range(n):
            times = [t for t in range(L) if s[t, b, j] != 0]
            counts[b, j] = len(times)
            if times:
                first[b, j] = times[0] / L
            if len(times) > 1:
                isi[b, j] = sum(t2 - t1 for t1, t2 in itertools.pairwise(times)) / (len(times) - 1) / L
    return counts, torch.cat([first, isi], 1)


def test_features_equal_plain_loops():
    g = torch.Generator().manual_seed(0)
    s = (torch.rand(12, 6, 5, generator=g) < 0.25).float()
    lengths = torch.tensor([12, 7, 3, 12, 1, 9])
    f = spike_features(s, lengths)
    counts, timing = _plain_features(s, lengths)
    assert torch.equal(f["counts"], counts)
    assert torch.allclose(f["timing"], timing)
    with pytest.raises(ValueError, match="lengths"):
        spike_features(s, torch.tensor([13, 1, 1, 1, 1, 1]))


def test_shuffle_keeps_counts_stays_in_the_valid_steps_and_is_uniform():
    g = torch.Generator().manual_seed(1)
    s = (torch.rand(10, 4, 3, generator=g) < 0.4).float()
    lengths = torch.tensor([10, 6, 2, 8])
    s = s * (torch.arange(10).unsqueeze(1) < lengths).unsqueeze(-1)
    out = shuffle_times(s, lengths, g)
    assert torch.equal(out.sum(0), s.sum(0))
    assert float(out[~(torch.arange(10).unsqueeze(1) < lengths)].abs().sum()) == 0.0
    one = torch.zeros(8, 1, 1)
    one[0] = 1.0
    hist = torch.zeros(8)
    for _ in range(4000):
        hist += shuffle_times(one, torch.tensor([8]), g)[:, 0, 0]
    assert torch.allclose(hist / 4000, torch.full((8,), 1 / 8), atol=0.03)


def _burst(starts, count, interval, steps):
    """Spikes [T, B, N]: neuron n of sample b bursts ``count[b]`` spikes from ``starts[b, n]`` every ``interval[b]``."""
    batch, n = starts.shape
    s = torch.zeros(steps, batch, n)
    for b in range(batch):
        for j in range(n):
            for k in range(int(count[b])):
                s[int(starts[b, j]) + k * int(interval[b]), b, j] = 1.0
    return s


def _synthetic(kind, batch, g):
    y = torch.randint(0, 2, (batch,), generator=g)
    starts = torch.randint(0, 10, (batch, 6), generator=g)
    if kind == "timing":  # 3 spikes everywhere; the class sets the interval (1 or 3)
        return _burst(starts, torch.full((batch,), 3), 1 + 2 * y, 40), y
    return _burst(starts, 2 + 3 * y, torch.ones(batch, dtype=torch.long), 40), y  # class sets the count (2 or 5)


@pytest.mark.parametrize("kind", ["timing", "counts"])
def test_the_decoder_of_the_carrying_feature_wins(kind):
    g = torch.Generator().manual_seed(2)
    (s_tr, y_tr), (s_te, y_te) = _synthetic(kind, 300, g), _synthetic(kind, 300, g)
    f_tr, f_te = spike_features(s_tr), spike_features(s_te)
    acc = {k: decoder_accuracy(f_tr[k], y_tr, f_te[k], y_te) for k in ("counts", "timing")}
    other = "counts" if kind == "timing" else "timing"
    assert acc[kind] > 0.95 and acc[other] < 0.65, acc


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    from spikeforge.cli.main import main

    out = tmp_path_factory.mktemp("probe") / "run"
    assert main(["train", "--dataset", "digits", "--hidden", "16", "--epochs", "1", "--out", str(out)]) == 0
    return out


def test_probe_of_a_trained_run(run_dir):
    from spikeforge.data import batches
    from spikeforge.learn.config import load_config
    from spikeforge.learn.losses import classification_loss
    from spikeforge.learn.trainer import load_run, load_training_data

    r = probe_run(run_dir, shuffles=1, write=True)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert r["network_accuracy"] == pytest.approx(metrics["test_accuracy"])  # the run's own evaluation
    assert list(r["layers"]) == ["1"] and r["layers"]["1"]["neurons"] == 16
    assert json.loads((run_dir / "probe.json").read_text())["layers"]["1"]["counts_accuracy"] == \
        r["layers"]["1"]["counts_accuracy"]
    # the shuffled accuracy, computed by running the layers by hand with the same shuffles
    config = load_config(run_dir / "config.json")
    model = load_run(run_dir)
    dataset, config, _ = load_training_data(config)
    sgen = torch.Generator().manual_seed(0)
    correct = 0
    with torch.no_grad():
        for batch in batches(dataset.test, 256, generator=torch.Generator().manual_seed(config.seed + 1)):
            s = model[1](model[0](batch.x))
            out = model[3](model[2](shuffle_times(s, batch.lengths, sgen)))
            _, logits = classification_loss(out, batch.y, batch.lengths, config.loss)
            correct += int((logits.argmax(1) == batch.y).sum())
    assert r["layers"]["1"]["shuffled_network_accuracy"] == pytest.approx(correct / len(dataset.test))
    # the hook is gone: the model gives the unshuffled accuracy again
    assert probe_run(run_dir, shuffles=1)["network_accuracy"] == r["network_accuracy"]


def test_probe_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="shuffles"):
        probe_run(tmp_path, shuffles=0)
    with pytest.raises(FileNotFoundError, match="run"):
        probe_run(tmp_path)

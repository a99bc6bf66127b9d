"""Declared neuron models (ModelNeuron: Izhikevich here) in the run folder: counted per layer as count_ops counts
them, and drawn (raster, membrane potentials, firing rates)."""

import math

import pytest
import torch
from rich.console import Console

from spikeforge.learn import TrainConfig, Trainer


@pytest.mark.parametrize("model", ["mlp", "recurrent"])
def test_declared_model_neurons_are_counted_and_plotted(tmp_path, model):
    # An Izhikevich network (a declared ModelNeuron, run by Recurrent's own loop in the recurrent family): the
    # meter counts its spikes as count_ops does, per layer, and the raster and rates pictures show them.
    from spikeforge.learn.models import build_model
    from spikeforge.learn.plots import neuron_rates, record_sample

    def strong(config, in_channels, num_classes):  # synapses strong enough for currents in mV/ms to fire
        net = build_model(config, in_channels, num_classes)
        with torch.no_grad():
            for name, p in net.named_parameters():
                if name.endswith("weight"):
                    p.mul_(100.0)
        return net

    cfg = TrainConfig(neuron="Izhikevich", model=model, encoder="current", epochs=1, hidden=[24], batch_size=64,
                      threads=1, lr=1e-3)
    tr = Trainer(cfg, tmp_path, progress=False, console=Console(quiet=True), plots=True, model_factory=strong)
    tr.start()
    tr.fit()
    metrics = tr.finalize()
    assert len(metrics["layers"]) == 1 and metrics["spikes_per_sample"] > 0
    assert math.isclose(metrics["spikes_per_sample"], metrics["spike_events_per_sample"], rel_tol=1e-9)
    assert tr.history[0]["valid_spikes_per_sample"] > 0 and tr.history[0]["train_spikes_per_sample"] > 0
    for name in ("raster", "firing_rates", "learning_curves"):
        assert (tmp_path / "plots" / f"{name}.png").is_file(), name
    x = tr.dataset.test.encode(torch.arange(1))
    rec = record_sample(tr.model, x)
    assert [tuple(s.shape) for s in rec["spikes"]] == [(x.shape[0], 24)]
    assert [tuple(v.shape) for v in rec["v"]] == [(x.shape[0], 24)]
    with torch.no_grad():
        whole = tr.model.eval()(x)
    assert torch.allclose(rec["readout"], whole[:, 0], atol=1e-4)  # step by step = the sequence call
    assert sum(float(s.sum()) for s in rec["spikes"]) > 0
    assert not torch.equal(rec["v"][0], rec["spikes"][0])  # the potential, not a copy of the spikes
    rates, _ = neuron_rates(tr.model, tr.dataset.test)
    assert len(rates) == 1 and sum(float(r.sum()) for r in rates.values()) > 0

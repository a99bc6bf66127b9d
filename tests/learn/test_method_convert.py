"""The ``convert`` training method: a ReLU MLP trained on the time-averaged input, converted in ``finalize``."""

import json

import numpy as np
import pytest
import torch
from torch import nn

from spikeforge.learn.config import ConfigError, TrainConfig
from spikeforge.learn.conversion import convert
from spikeforge.learn.loop import evaluate, fit, make_optimizer
from spikeforge.learn.methods import method_named
from spikeforge.learn.methods.convert import ConvertNet, finalize
from spikeforge.learn.models import build_model


@pytest.fixture(scope="module")
def trained():
    from spikeforge.data import load_dataset

    cfg = TrainConfig(dataset="digits", encoder="current", steps=48, method="convert", hidden=[24, 16])
    ds = load_dataset("digits", encoder="current", steps=48)
    torch.manual_seed(0)
    net = build_model(cfg, 64, 10)
    fit(net, "convert", ds.train, make_optimizer("adam", net.parameters(), 1e-2), epochs=2, batch_size=64,
        objective=cfg, generator=torch.Generator().manual_seed(0))
    return cfg, ds, net


def test_the_ann_repeats_its_logits_over_time(trained):
    net = trained[2]
    x = torch.rand(7, 3, 64)
    out = net(x)
    assert out.shape == (7, 3, 10) and torch.equal(out[0], out[-1])
    assert not bool(net.converted)


def test_finalize_converts_in_place_idempotently_as_the_public_converter(trained):
    from spikeforge.data import batches

    cfg, ds, net = trained
    ann_acc = evaluate(net, ds.test, cfg)["accuracy"]
    before = {k: v.clone() for k, v in net.state_dict().items()}
    linears = net.linears()
    # the same ANN as plain torch, converted by spikeforge.learn.conversion.convert on the same inputs
    plain = nn.Sequential(*[m for lin in linears for m in (nn.Linear(lin.in_features, lin.out_features),
                                                           nn.ReLU())][:-1])
    with torch.no_grad():
        for dst, src in zip([m for m in plain if isinstance(m, nn.Linear)], linears):
            dst.weight.copy_(src.weight)
            dst.bias.copy_(src.bias)
    means = torch.cat([b.x.mean(0) for b in batches(ds.train, 256, generator=torch.Generator().manual_seed(0))])
    reference = convert(plain, means, steps=48)
    finalize(net, ds.train, cfg, "cpu")
    assert bool(net.converted)
    assert net.scales.tolist() == pytest.approx(list(reference.scales), rel=1e-6)
    # λ_1 by hand: numpy's 99.9th percentile of the positive first-layer activations
    with torch.no_grad():
        h = torch.relu(means @ before["0.weight"].T + before["0.bias"])
    assert net.scales[0].item() == pytest.approx(float(np.percentile(h[h > 0].double().numpy(), 99.9)), rel=1e-5)
    once = {k: v.clone() for k, v in net.state_dict().items()}
    finalize(net, ds.train, cfg, "cpu")  # idempotent
    assert all(torch.equal(once[k], v) for k, v in net.state_dict().items())
    x = ds.test.encode(torch.arange(40))
    with torch.no_grad():
        assert torch.allclose(net(x), reference(x), atol=1e-5)
    snn_acc = evaluate(net, ds.test, cfg)["accuracy"]
    assert ann_acc > 0.85 and abs(snn_acc - ann_acc) <= 0.03, (ann_acc, snn_acc)
    with pytest.raises(ValueError, match="model: expected the ANN before conversion"):
        method_named("convert").step(net, None, None, None)


def test_config_and_options_are_checked():
    with pytest.raises(ConfigError, match=r"config model: expected 'mlp' with method 'convert'"):
        build_model(TrainConfig(dataset="digits", method="convert", model="recurrent"), 4, 2)
    with pytest.raises(ConfigError, match="config model_params: expected none with method 'convert'"):
        build_model(TrainConfig(dataset="digits", method="convert", model_params={"readout": "li"}), 4, 2)
    with pytest.raises(ConfigError, match=r"percentile: expected a number in \(0, 100\]"):
        TrainConfig(dataset="digits", method="convert", method_params={"percentile": 0})
    with pytest.raises(ConfigError, match="config rate_reg: expected 0 with method 'convert'"):
        TrainConfig(dataset="digits", method="convert", rate_reg=1.0)
    with pytest.raises(TypeError, match="model: expected the ConvertNet"):
        finalize(nn.Linear(2, 2), None, TrainConfig(dataset="digits", method="convert"), "cpu")
    assert isinstance(build_model(TrainConfig(dataset="digits", method="convert", hidden=[8]), 4, 2), ConvertNet)


def test_cli_trains_converts_and_reloads(tmp_path):
    from spikeforge.cli.main import main
    from spikeforge.learn.trainer import load_run

    run = tmp_path / "run"
    assert main(["train", "--method", "convert", "--dataset", "digits", "--epochs", "2", "--hidden", "16",
                 "--threads", "1", "--no-progress", "--no-plots", "--no-report", "--out", str(run)]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test_accuracy"] > 0.5 and metrics["spikes_per_sample"] > 0
    model = load_run(run)
    assert isinstance(model, ConvertNet) and bool(model.converted)
    config = json.loads((run / "config.json").read_text())
    assert config["method"] == "convert" and config["method_params"] == {}

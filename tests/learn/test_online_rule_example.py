"""The toy online rule of docs/learning-rules.md (examples/online_rule.py) equals BPTT where it should."""

import importlib.util
from pathlib import Path

import pytest
import torch

import spikeforge as sf

_PATH = Path(__file__).resolve().parents[2] / "examples" / "online_rule.py"
_spec = importlib.util.spec_from_file_location("online_rule", _PATH)
rule = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(rule)


def _task(seed):
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(40, 4, 12, generator=g) < 0.25).double()
    y = (torch.rand(40, 4, 5, generator=g) < 0.1).double()
    w = torch.randn(5, 12, generator=g, dtype=torch.float64) * 0.4
    return x, y, w


@pytest.mark.parametrize("firing", [sf.Gaussian(0.3), sf.Cauchy(0.2), sf.Logistic(0.1)], ids=repr)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_online_rule_equals_bptt_with_a_detached_reset(firing, seed):
    x, y, w = _task(seed)
    neuron = sf.LIF(tau=5.0, threshold=0.5, firing=firing, detach_reset=True, dtype=torch.float64)
    online = rule.online_update(w, neuron, x, y)
    bptt = rule.bptt_gradient(w, neuron, x, y)
    assert online.abs().max() > 0
    torch.testing.assert_close(online, bptt, rtol=1e-10, atol=1e-12)


def test_online_rule_is_only_an_approximation_when_the_reset_passes_gradient():
    x, y, w = _task(3)
    neuron = sf.LIF(tau=5.0, threshold=0.5, firing=sf.Gaussian(0.3), dtype=torch.float64)
    online, bptt = rule.online_update(w, neuron, x, y), rule.bptt_gradient(w, neuron, x, y)
    assert not torch.allclose(online, bptt, rtol=1e-6)
    assert torch.nn.functional.cosine_similarity(online.flatten(), bptt.flatten(), dim=0) > 0.5


def test_online_rule_lowers_the_loss():
    x, y, w = _task(4)
    neuron = sf.LIF(tau=5.0, threshold=0.5, firing=sf.Gaussian(0.3), detach_reset=True, dtype=torch.float64)

    def loss(weight):
        with torch.no_grad():
            return 0.5 * ((neuron(x @ weight.t()) - y) ** 2).sum().item()

    start = loss(w)
    for _ in range(10):
        w = w - 0.02 * rule.online_update(w, neuron, x, y)
    assert loss(w) < 0.7 * start

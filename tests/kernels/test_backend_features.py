"""Backends declare the features they implement; a call runs on a compiled backend only when its required
features (derived from every field of the neuron's spec) are among them (issue 11, item 4)."""

import dataclasses
import importlib

import pytest
import torch

import spikeforge as sf
from spikeforge.kernels import _codes, fast_lif, fused_scan, reference_scan
from spikeforge.neuron.dynamics import NeuronSpec, draw_orders
from spikeforge.neuron.features import KNOWN_FEATURES, required_features

triton_scan = importlib.import_module("spikeforge.kernels.triton_scan")  # (the package re-exports the function)


@dataclasses.dataclass(frozen=True)
class _SpecWithANewFlag(NeuronSpec):
    """The general neuron with a flag added after the compiled backends were written."""

    leak_to_rest: float = 0.0


def _call(neuron, x, spec=None):
    st = neuron.initial_state(x)
    p = neuron.params(x.real.dtype if x.is_complex() else x.dtype, x.device)
    spec = spec or neuron.spec
    return x, st, p, spec, None, draw_orders(spec, x.shape[0], None), None


def test_declared_features_are_features_of_the_neuron():
    assert _codes.FAST_FEATURES <= KNOWN_FEATURES and _codes.TRITON_FEATURES <= KNOWN_FEATURES


@pytest.mark.parametrize(
    ("cfg", "fast", "triton"),
    [
        (dict(tau=5.0), True, True),
        (dict(tau=5.0, reset="hard", detach_reset=True), True, True),
        (dict(tau=5.0, max_spikes=3), False, True),
        (dict(tau=5.0, omega=0.3), False, True),
        (dict(tau=5.0, firing=sf.Gaussian(0.3), stochastic=True), False, True),
        (dict(tau=5.0, tau_syn=3.0), False, False),
        (dict(tau=5.0, tau_adapt=30.0, adapt_scale=0.1), False, False),
        (dict(tau=5.0, reset="refractory"), False, False),
        (dict(tau=5.0, order="fire-first"), False, False),
        (dict(tau=5.0, order="random"), False, False),
    ],
)
def test_dispatch_follows_the_declared_features(cfg, fast, triton):
    n = sf.Neuron(**cfg)
    args = _call(n, torch.rand(4, 2, 3))
    assert fast_lif.supports(*args) is fast
    assert triton_scan.supports(*args) is triton
    feats = required_features(*args)
    assert feats <= KNOWN_FEATURES  # the generic scan implements every feature of the general neuron


def test_a_new_flag_never_runs_on_a_compiled_backend(monkeypatch):
    n = sf.LIF(tau=5.0)
    base = {f.name: getattr(n.spec, f.name) for f in dataclasses.fields(NeuronSpec)}
    plain = _SpecWithANewFlag(**base)  # the new flag at its default: the plain LIF, compiled path allowed
    flagged = _SpecWithANewFlag(**base, leak_to_rest=0.5)
    x = torch.rand(6, 2, 3)
    assert fast_lif.supports(*_call(n, x, plain))
    args = _call(n, x, flagged)
    assert "leak_to_rest=0.5" in required_features(*args)
    assert not fast_lif.supports(*args) and not triton_scan.supports(*args)

    def refuse(*_a, **_k):
        raise AssertionError("a compiled kernel ran a configuration it does not implement")

    monkeypatch.setattr(fast_lif, "scan_forward", refuse)
    monkeypatch.setattr(fast_lif._FastLIF, "apply", refuse)
    out, _ = fast_lif.fast_scan(*args[:4], orders=args[5])
    ref, _ = fused_scan(*args[:4], orders=args[5])
    assert torch.equal(out, ref)


def test_a_custom_firing_model_runs_compiled_only_where_declared():
    class Triangle(sf.neuron.firing.FiringModel):
        def cdf(self, x):
            return torch.clamp(x + 0.5, 0, 1)

        def pdf(self, x):
            return (x.abs() < 0.5).to(x.dtype)

    n = sf.LIF(tau=5.0, firing=Triangle())
    args = _call(n, torch.rand(5, 2, 3))
    assert "firing:custom" in required_features(*args)
    assert fast_lif.supports(*args) and not triton_scan.supports(*args)
    out, _ = fast_lif.fast_scan(*args[:4], orders=args[5])
    ref, _ = reference_scan(*args[:4], orders=args[5])
    assert torch.equal(out, ref)


def test_one_place_holds_the_kernel_codes():
    assert _codes.firing_code(sf.Heaviside()) == (0, 1.0)
    assert _codes.firing_code(sf.Cauchy(0.3)) == (2, 0.3)
    assert _codes.RESET_CODE == {"none": 0, "soft": 1, "hard": 2}
    for mod in (fast_lif, triton_scan):  # no private copies of the tables
        assert not any(name in vars(mod) for name in ("_RESET_CODE", "_RESET", "_KIND", "_firing_code"))

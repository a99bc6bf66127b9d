"""The scan backends by name live in the neuron layer (spikeforge.neuron.backends), filled by kernels."""

import subprocess
import sys

import pytest
import torch

import spikeforge as sf
from spikeforge import kernels
from spikeforge.neuron import backends


def test_kernels_registers_its_backends():
    assert list(backends.registered_backends()) == ["reference", "torch", "fast", "triton", "auto"]
    for name in ("reference", "torch", "fast", "triton", "auto"):
        assert backends.get_backend(name) is kernels.get_backend(name) is kernels.BACKENDS[name]
    assert kernels.BACKENDS["fast"] is kernels.fast_scan and kernels.BACKENDS["auto"] is kernels.auto_scan
    with pytest.raises(TypeError):
        kernels.BACKENDS["mine"] = kernels.fused_scan  # read-only: register_backend adds one


def test_unknown_backend_names_the_registered_ones():
    with pytest.raises(ValueError, match=r"backend: expected one of \['reference', 'torch', 'fast', 'triton', "
                                         r"'auto'\], got 'cuda'"):
        sf.LIF(backend="cuda")
    with pytest.raises(ValueError, match="backend: expected one of"):
        kernels.get_backend("cuda")
    with pytest.raises(ValueError, match="backend: expected one of"):
        backends.get_backend(["fast"])


def test_a_registered_backend_runs_the_neuron():
    calls = []

    def mine(x, state, params, spec, *, noise, orders, recurrent_weight):
        calls.append(x.shape)
        return kernels.fused_scan(x, state, params, spec, noise=noise, orders=orders,
                                  recurrent_weight=recurrent_weight)

    backends.register_backend("mine", mine)
    try:
        backends.register_backend("mine", mine)  # the same function again: no-op
        with pytest.raises(ValueError, match="'mine' is already registered"):
            backends.register_backend("mine", kernels.fused_scan)
        x = torch.randn(6, 2, 3)
        out = sf.LIF(backend="mine")(x)
        assert calls == [x.shape]
        torch.testing.assert_close(out, sf.LIF(backend="torch")(x))
        assert "mine" in kernels.BACKENDS  # the live view
    finally:
        backends.unregister_backend("mine")
    assert "mine" not in kernels.BACKENDS
    with pytest.raises(ValueError, match="backend: expected one of"):
        sf.LIF(backend="mine")
    with pytest.raises(ValueError, match="name: expected one of the registered backends"):
        backends.unregister_backend("mine")
    with pytest.raises(TypeError, match="name: expected a non-empty string"):
        backends.register_backend("", mine)
    with pytest.raises(TypeError, match="fn: expected a scan function"):
        backends.register_backend("x", 3)
    backends.register_backend("fast", kernels.fast_scan)  # (already so)
    with pytest.raises(ValueError, match="already registered"):
        backends.register_backend("fast", kernels.fused_scan)


def test_importing_the_neuron_layer_alone_works():
    code = ("import torch, spikeforge.neuron as n\n"
            "print(sorted(n.backends.registered_backends()), n.LIF()(torch.ones(4, 1, 2)).shape[0])\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "['auto', 'fast', 'reference', 'torch', 'triton'] 4"


def test_a_backend_runs_only_the_features_it_declares():
    # a user's backend declares what it implements; anything else goes to the generic fused scan
    from spikeforge.kernels import fused_scan

    calls = []

    def plain_lif(x, state, params, spec, *, noise, orders, recurrent_weight):
        calls.append(spec)
        return fused_scan(x, state, params, spec, noise=noise, orders=orders, recurrent_weight=recurrent_weight)

    feats = {"real", "binary", "deterministic", "reset:soft", "order:integrate-fire-reset", "firing:Heaviside"}
    backends.register_backend("test-plain-lif", plain_lif, features=frozenset(feats))
    try:
        assert backends.backend_features("test-plain-lif") == frozenset(feats)
        x = torch.rand(5, 2, 3) * 2
        sf.LIF(backend="test-plain-lif")(x)
        assert len(calls) == 1
        cuba = sf.CuBaLIF(backend="test-plain-lif")
        out = cuba(x)
        assert len(calls) == 1  # not run on the backend that does not implement CuBa
        torch.testing.assert_close(out, sf.CuBaLIF(backend="torch")(x), rtol=0, atol=0)
        with pytest.raises(TypeError, match="features"):
            backends.register_backend("test-bad", plain_lif, features=frozenset({1}))
    finally:
        backends.unregister_backend("test-plain-lif")
    assert backends.backend_features("torch") is None  # the built-ins check and hand off themselves

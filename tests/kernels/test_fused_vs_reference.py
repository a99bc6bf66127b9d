"""The fused scan's hand-written BPTT equals naive per-step autograd (float64, 1e-6 relative)."""

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import spikeforge as sf
from spikeforge.kernels import fused_scan, reference_scan
from spikeforge.neuron.dynamics import ORDERS

FIRING = [sf.Heaviside(), sf.Gaussian(0.4), sf.Cauchy(0.3), sf.Logistic(0.2)]


@st.composite
def configs(draw):
    complex_ = draw(st.booleans())
    firing = draw(st.sampled_from(FIRING[1:] if draw(st.booleans()) else FIRING))
    cfg = dict(
        tau=draw(st.floats(2.0, 30.0)),
        omega=draw(st.floats(0.1, 2.0)) if complex_ else None,
        threshold=draw(st.floats(0.5, 1.5)),
        reset=draw(st.sampled_from(["soft", "hard", "refractory", "none"])),
        firing=firing,
        stochastic=firing.is_noisy and draw(st.booleans()),
        max_spikes=draw(st.sampled_from([1, 1, 2, 4])),
        order="-".join(draw(st.sampled_from(ORDERS))),
        tau_syn=draw(st.sampled_from([None, 4.0])),
        tau_adapt=None if complex_ else draw(st.sampled_from([None, 15.0])),
        adapt_scale=0.3,
        refractory_steps=draw(st.integers(1, 3)),
        v_reset=draw(st.sampled_from([0.0, -0.2])),
        detach_reset=draw(st.booleans()),
    )
    learn = ["tau", "threshold"] + (["omega"] if complex_ else [])
    if cfg["tau_syn"] is not None:
        learn.append("tau_syn")
    if cfg["tau_adapt"] is not None:
        learn.append("tau_adapt")
    cfg["learnable"] = tuple(learn)
    recurrent = draw(st.booleans())
    complex_input = complex_ and draw(st.booleans())
    steps = draw(st.integers(1, 25))
    batch = draw(st.integers(1, 3))
    feat = draw(st.integers(1, 5))
    seed = draw(st.integers(0, 2**16))
    return cfg, recurrent, complex_input, (steps, batch, feat), seed


def _run(backend, cfg, recurrent, complex_input, shape, seed):
    torch.manual_seed(seed)
    n = sf.Neuron(**cfg, backend=backend).double()
    x = torch.randn(*shape, dtype=torch.float64) * 0.9 + 0.4
    if complex_input:
        x = torch.complex(x, torch.randn(*shape, dtype=torch.float64) * 0.5)
    x.requires_grad_()
    w = (torch.randn(shape[2], shape[2], dtype=torch.float64) * 0.5).requires_grad_() if recurrent else None
    state = n.initial_state(x)
    # a non-resting initial state exercises the gradients w.r.t. the state
    v0 = (torch.randn(state.v.shape, dtype=torch.float64) * 0.3).to(state.v.dtype).requires_grad_()
    state = state._replace(v=v0)
    s, final = n(x, state, return_state=True, generator=torch.Generator().manual_seed(seed),
                 recurrent_weight=w)
    g = torch.Generator().manual_seed(seed + 1)
    ws = torch.randn(s.shape, dtype=torch.float64, generator=g)
    wv = torch.randn(final.v.shape, dtype=torch.float64, generator=g)
    loss = (ws * (s.real if s.is_complex() else s)).sum() + (s.abs() ** 2).sum() * 0.1
    loss = loss + (wv * (final.v.real if final.v.is_complex() else final.v)).sum()
    if final.v.is_complex():
        loss = loss + (final.v.imag * wv).sum()
    wrt = [x, v0] + [getattr(n, name) for name in cfg["learnable"]] + ([w] if recurrent else [])
    grads = torch.autograd.grad(loss, wrt, allow_unused=True)
    return s.detach(), final.v.detach(), grads


@given(configs())
def test_fused_gradients_equal_reference(c):
    cfg, recurrent, complex_input, shape, seed = c
    ref = _run("reference", cfg, recurrent, complex_input, shape, seed)
    fus = _run("torch", cfg, recurrent, complex_input, shape, seed)
    assert torch.equal(ref[0], fus[0]), "spikes differ"
    torch.testing.assert_close(fus[1], ref[1], rtol=1e-9, atol=1e-12)
    for gr, gf in zip(ref[2], fus[2]):
        if gr is None:
            assert gf is None or torch.count_nonzero(gf) == 0
            continue
        scale = gr.abs().max().clamp(min=1e-12)
        assert (gf - gr).abs().max() <= 1e-6 * scale + 1e-12, f"gradient mismatch: {gf} vs {gr}"


def test_random_order_gradients_equal_reference():
    torch.manual_seed(0)
    x = torch.rand(40, 2, 5, dtype=torch.float64, requires_grad=True)
    out = []
    for backend in ("reference", "torch"):
        n = sf.LIF(order="random", reset="hard", firing=sf.Gaussian(0.5), learnable=("tau",), backend=backend).double()
        s = n(x * 1.5, generator=torch.Generator().manual_seed(9))
        out.append((s, *torch.autograd.grad((s * torch.arange(5.0, dtype=torch.float64)).sum(), [x, n.tau])))
    for a, b in zip(*out):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)


def test_fused_equals_reference_in_float32():
    torch.manual_seed(0)
    x = (torch.rand(50, 8, 32) < 0.3).float() * 0.8
    ref = sf.LIF(firing=sf.Gaussian(0.5), backend="reference")(x)
    fus = sf.LIF(firing=sf.Gaussian(0.5), backend="torch")(x)
    assert torch.equal(ref, fus)


def test_backends_share_one_signature():
    import inspect

    assert inspect.signature(fused_scan).parameters.keys() == inspect.signature(reference_scan).parameters.keys()


def test_unknown_backend():
    with pytest.raises(ValueError, match="backend"):
        sf.LIF(backend="cuda-magic")

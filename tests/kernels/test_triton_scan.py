"""The Triton scan equals the torch path, run on the CPU under Triton's interpreter (TRITON_INTERPRET=1).

The interpreter flag is read when the kernels are first imported, so this module sets it before importing
them (and only the Triton kernels read it).
"""

import importlib
import importlib.util
import os

import pytest
import torch

if importlib.util.find_spec("triton") is None:  # pragma: no cover - depends on the environment
    pytest.skip("triton is not installed (pip install triton): the Triton scan cannot be checked",
                allow_module_level=True)
os.environ["TRITON_INTERPRET"] = "1"

import spikeforge as sf
from spikeforge.kernels import fused_scan, get_backend
from spikeforge.neuron.dynamics import draw_noise, draw_orders

ts = importlib.import_module("spikeforge.kernels.triton_scan")

if not ts.available("cpu"):  # pragma: no cover
    pytest.skip("triton is installed but its interpreter cannot run here", allow_module_level=True)

CASES = [
    ("real binary soft", dict(tau=5.0), False),
    ("real graded", dict(tau=6.0, max_spikes=3), False),
    ("real hard detached", dict(tau=5.0, reset="hard", v_reset=-0.2, detach_reset=True), False),
    ("real none stochastic", dict(tau=5.0, reset="none", stochastic=True), False),
    ("complex binary", dict(tau=5.0, omega=0.7), False),
    ("complex graded hard, complex input", dict(tau=6.0, omega=0.5, max_spikes=2, reset="hard"), True),
    ("complex stochastic graded", dict(tau=5.0, omega=0.4, stochastic=True, max_spikes=2), True),
]
FIRING = {"gauss": sf.Gaussian(0.4), "cauchy": sf.Cauchy(0.3), "logistic": sf.Logistic(0.2)}


def _run(fn, n, x, v0, noise, leaves):
    st = n.initial_state(x)._replace(v=v0)
    p = n.params(x.real.dtype if x.is_complex() else x.dtype, x.device)
    out, s2 = fn(x, st, p, n.spec, noise=noise, orders=draw_orders(n.spec, x.shape[0], None), recurrent_weight=None)
    w = torch.randn(out.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(5)).to(out.dtype)
    loss = (out * w).real.sum() + (s2.v.abs() ** 2).sum() + 0.3 * s2.s.real.sum() + 0.7 * s2.h.sum()
    return out, s2.v, torch.autograd.grad(loss, leaves)


@pytest.mark.parametrize("firing", list(FIRING))
@pytest.mark.parametrize(("name", "cfg", "complex_input"), CASES, ids=[c[0] for c in CASES])
def test_triton_equals_torch_float64(name, cfg, complex_input, firing):
    torch.manual_seed(0)
    learn = ("tau", "threshold") + (("omega",) if "omega" in cfg else ())
    n = sf.Neuron(**cfg, firing=FIRING[firing], learnable=learn, shape=(3,)).double()
    with torch.no_grad():
        n.tau.add_(torch.rand(3) * 3)
    x = torch.randn(9, 2, 3, dtype=torch.float64) * 0.9 + 0.4
    if complex_input:
        x = torch.complex(x, torch.randn_like(x) * 0.5)
    x.requires_grad_()
    st = n.initial_state(x)
    v0 = (torch.randn(st.v.shape, dtype=torch.float64) * 0.3).to(st.v.dtype).requires_grad_()
    noise = draw_noise(n.spec, tuple(x.shape), dtype=torch.float64, device=x.device,
                       generator=torch.Generator().manual_seed(1))
    leaves = [x, v0, n.tau, n.threshold] + ([n.omega] if "omega" in cfg else [])
    o1, v1, g1 = _run(fused_scan, n, x, v0, noise, leaves)
    o2, v2, g2 = _run(ts.triton_scan, n, x, v0, noise, leaves)
    torch.testing.assert_close(o1, o2, rtol=0, atol=1e-12)
    torch.testing.assert_close(v1, v2, rtol=1e-12, atol=1e-12)
    for a, b in zip(g1, g2):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-9)


def test_triton_float32_and_fallback():
    torch.manual_seed(1)
    n = sf.LIF(firing=sf.Cauchy(0.3))
    x = torch.randn(12, 4, 40) * 0.8 + 0.2
    st = n.initial_state(x)
    p = n.params(torch.float32, x.device)
    orders = draw_orders(n.spec, 12, None)
    a, sa = fused_scan(x, st, p, n.spec, orders=orders)
    b, sb = ts.triton_scan(x, st, p, n.spec, orders=orders)
    assert torch.equal(a, b)
    torch.testing.assert_close(sa.v, sb.v)
    m = sf.CuBaLIF()  # not covered by the kernels: handed to the torch scan
    st = m.initial_state(x)
    assert not ts.supports(x, st, m.params(torch.float32, x.device), m.spec, None, orders, None)
    c, _ = ts.triton_scan(x, st, m.params(torch.float32, x.device), m.spec, orders=orders)
    d, _ = fused_scan(x, st, m.params(torch.float32, x.device), m.spec, orders=orders)
    assert torch.equal(c, d)
    assert get_backend("triton") is ts.triton_scan


# the interpreter runs the kernels in NumPy, which warns on inf - inf and NaN compares (a GPU does not)
@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
@pytest.mark.parametrize("reset", ["soft", "hard", "none"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_triton_non_finite_and_boundary_potentials_as_the_reference(reset, dtype):
    # issue 10.3/10.4: v* = +inf gave a NaN spike, a complex float32 |v*| > 1.8e19 spike 0, a hard reset after
    # v* = inf a NaN potential; graded counts used floor(u/θ) instead of the staircase
    from spikeforge.kernels import reference_scan

    inf, nan = float("inf"), float("nan")
    cdt = torch.complex128 if dtype == torch.float64 else torch.complex64
    cases = [
        (dict(tau=5.0, threshold=0.39, max_spikes=5), torch.tensor([inf, -inf, nan, 1.17, 0.3, 1.95], dtype=dtype)),
        (dict(tau=5.0), torch.tensor([inf, -inf, nan, 1.2, 0.3], dtype=dtype)),
        (dict(tau=5.0, omega=0.5, max_spikes=2),
         torch.tensor([3e19 + 0j, 2e19 + 2e19j, complex(inf, 0), complex(-inf, 1), 0.2 + 0.1j, complex(inf, 1),
                       complex(1, -inf)], dtype=cdt)),
    ]
    for cfg, x0 in cases:
        n = sf.Neuron(**cfg, reset=reset, v_reset=-0.2, dtype=dtype)
        x = torch.full((3, 1, x0.numel()), 0.5, dtype=x0.dtype)
        x[0, 0] = x0
        st = n.initial_state(x)
        p = n.params(dtype, x.device)
        orders = draw_orders(n.spec, 3, None)
        a, sa = reference_scan(x, st, p, n.spec, orders=orders)
        b, sb = ts.triton_scan(x, st, p, n.spec, orders=orders)
        assert ts.supports(x, st, p, n.spec, None, orders, None)
        torch.testing.assert_close(b[0], a[0], rtol=2e-7 if x.is_complex() else 0, atol=0, equal_nan=True)
        assert not torch.isnan(torch.view_as_real(b) if b.is_complex() else b).any()
        if not x.is_complex():  # (later steps of an infinite complex v mix IEEE complex products: not compared)
            torch.testing.assert_close(b, a, rtol=0, atol=0, equal_nan=True)
            torch.testing.assert_close(sb.v, sa.v, rtol=0, atol=0, equal_nan=True)
        if reset == "hard":
            fired = a[0, 0] != 0
            _, sc = ts.triton_scan(x[:1], st, p, n.spec, orders=orders[:1])
            assert torch.equal(sc.v[0][fired], torch.full((int(fired.sum()),), -0.2, dtype=sc.v.dtype))

"""Non-finite potentials: one behaviour in every backend (spikeforge.neuron.dynamics, "Non-finite potentials").

Expected values come from a scalar simulation in plain Python floats (the staircase as a sum, the reset
written out), not from any backend. The Triton scan is checked against the same cases in test_triton_scan.
"""

import cmath
import math

import pytest
import torch

import spikeforge as sf
from spikeforge.kernels import fast_scan, fused_scan, reference_scan
from spikeforge.kernels.fast_lif import c_available, numba_available
from spikeforge.neuron.dynamics import draw_orders

INF, NAN = math.inf, math.nan
REAL_X0 = [INF, -INF, NAN, 1.2, 0.3, 2.999999]
COMPLEX_X0 = [3e19 + 0j, 2e19 + 2e19j, complex(INF, 0), complex(INF, INF), complex(-INF, 1), complex(1.5, NAN),
              0.2 + 0.1j, complex(2.5, -INF)]
V_RESET = -0.2
FAST = [("fast", impl) for impl in ["torch"] + (["numba"] if numba_available() else [])
        + (["c"] if c_available() else [])]
REAL_BACKENDS = [("reference", None), ("torch", None), *FAST]


def _count(u: float, theta: float, nmax: int) -> int:
    return sum(1 for k in range(1, nmax + 1) if u >= k * theta)  # NaN compares False: no spike


def _phase(v: complex) -> complex:
    re, im = v.real, v.imag
    if math.isinf(re) or math.isinf(im):
        v = complex(math.copysign(1, re) if math.isinf(re) else 0.0, math.copysign(1, im) if math.isinf(im) else 0.0)
    if math.isnan(v.real) or math.isnan(v.imag) or v == 0:
        return 1 + 0j
    return v / abs(v)


def _simulate(xs, lam, theta, reset, nmax):
    """Scalar IFR neuron from rest: spikes per step and the final potential."""
    v, out = 0.0, []
    for x in xs:
        vs = lam * v + x
        n = _count(vs.real if isinstance(vs, complex) else vs, theta, nmax)
        s = n * _phase(vs) if isinstance(vs, complex) else float(n)
        if reset == "soft":
            v = vs - theta * s
        elif reset == "hard":
            v = V_RESET if n >= 1 else vs
        else:
            v = vs
        out.append(s)
    return out, v


def _scan(backend, impl, neuron, x):
    st = neuron.initial_state(x)
    p = neuron.params(x.real.dtype if x.is_complex() else x.dtype, x.device)
    orders = draw_orders(neuron.spec, x.shape[0], None)
    fn = {"reference": reference_scan, "torch": fused_scan}.get(backend)
    if fn is None:
        return fast_scan(x, st, p, neuron.spec, orders=orders, impl=impl)
    return fn(x, st, p, neuron.spec, orders=orders)


def _expected(x0, lam, theta, reset, nmax, steps):
    spikes, final = [], []
    for x in x0:
        s, v = _simulate([x] + [0.5] * (steps - 1), lam, theta, reset, nmax)
        spikes.append(s)
        final.append(v)
    return spikes, final


def _assert_same(actual: torch.Tensor, expected: torch.Tensor) -> None:
    torch.testing.assert_close(actual, expected, rtol=0, atol=0, equal_nan=True)


# the fast path is binary only (graded spikes go to the generic scan)
REAL_CASES = [(b, i, nmax) for b, i in REAL_BACKENDS for nmax in (1, 3) if i is None or nmax == 1]


@pytest.mark.parametrize(("backend", "impl", "nmax"), REAL_CASES, ids=lambda v: str(v))
@pytest.mark.parametrize("reset", ["soft", "hard", "none"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_real_non_finite_potentials(backend, impl, reset, nmax, dtype):
    n = sf.Neuron(tau=5.0, threshold=1.0, reset=reset, v_reset=V_RESET, max_spikes=nmax, dtype=dtype)
    steps = 3
    x = torch.full((steps, 1, len(REAL_X0)), 0.5, dtype=dtype)
    x[0, 0] = torch.tensor(REAL_X0, dtype=dtype)
    out, st = _scan(backend, impl, n, x)
    lam = float(n.lam().to(dtype).item())
    xs = [float(torch.tensor(v, dtype=dtype)) for v in REAL_X0]
    spikes, final = _expected(xs, lam, 1.0, reset, nmax, steps)
    if dtype == torch.float64:
        _assert_same(out[:, 0].T, torch.tensor(spikes, dtype=dtype))
        _assert_same(st.v[0], torch.tensor(final, dtype=dtype))
    else:  # float32 arithmetic differs from Python's doubles past step 0: compare with the reference scan
        _assert_same(out[0, 0], torch.tensor([s[0] for s in spikes], dtype=dtype))
        ref_out, ref_st = _scan("reference", None, n, x)
        _assert_same(out, ref_out)
        _assert_same(st.v, ref_st.v)
    assert not torch.isnan(out).any()  # a spike is never NaN


@pytest.mark.parametrize("backend", ["reference", "torch", "fast"])
@pytest.mark.parametrize("reset", ["soft", "hard", "none"])
@pytest.mark.parametrize("nmax", [1, 2])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_complex_non_finite_and_huge_potentials(backend, reset, nmax, dtype):
    # issue 10.4: a complex float32 |v*| > ~1.8e19 must keep its phase (|v*|² overflows), v* = inf a defined one
    n = sf.Neuron(tau=5.0, omega=0.5, threshold=1.0, reset=reset, v_reset=V_RESET, max_spikes=nmax, dtype=dtype)
    cdt = torch.complex128 if dtype == torch.float64 else torch.complex64
    x = torch.tensor(COMPLEX_X0, dtype=cdt).view(1, 1, -1)
    out, st = _scan(backend, None, n, x)
    xs = [complex(v) for v in x.view(-1).tolist()]  # one step from rest: v* = x + λ·0 = x exactly
    spikes, final = _expected(xs, 1.0, 1.0, reset, nmax, 1)
    want_s = torch.tensor([s[0] for s in spikes], dtype=cdt)
    torch.testing.assert_close(out[0, 0], want_s, rtol=2e-7 if dtype == torch.float32 else 1e-15, atol=0,
                               equal_nan=True)
    assert not torch.isnan(out.real).any() and not torch.isnan(out.imag).any()
    torch.testing.assert_close(st.v[0], torch.tensor(final, dtype=cdt), rtol=2e-7, atol=0, equal_nan=True)
    if reset == "hard":
        fired = torch.tensor([abs(s[0]) > 0 for s in spikes])
        assert torch.equal(st.v[0][fired], torch.full((int(fired.sum()),), V_RESET, dtype=cdt))


def test_graded_counts_at_exact_staircase_boundaries():
    # issue 10.3: floor(u/θ) gave 2 at u = 1.17, θ = 0.39 (the staircase Σ_k H(u − kθ) gives 3), 3 at 1.95/0.65
    for theta, u in [(0.39, 1.17), (0.65, 1.95), (0.1, 0.3), (0.7, 2.1)]:
        want = _count(u, theta, 5)
        for backend in ("reference", "torch", "auto"):
            n = sf.Neuron(threshold=theta, max_spikes=5, reset="none", dtype=torch.float64, backend=backend)
            got = n(torch.tensor([[[u]]], dtype=torch.float64)).item()
            assert got == want, (theta, u, backend, got, want)
    assert _count(1.17, 0.39, 5) == 3 and _count(1.95, 0.65, 5) == 2


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_staircase_equals_the_sum_on_many_boundaries(dtype):
    # every k·θ for many θ: the count at u = k·θ (and its neighbours) is exactly the sum of steps
    from spikeforge.neuron.firing import spike_count

    g = torch.Generator().manual_seed(0)
    theta = torch.rand(2000, generator=g, dtype=dtype) * 2 + 0.01
    k = torch.randint(1, 7, (2000,), generator=g).to(dtype)
    u = k * theta
    for x in (u, torch.nextafter(u, torch.full_like(u, INF)), torch.nextafter(u, torch.full_like(u, -INF))):
        want = sum((x >= j * theta).to(dtype) for j in range(1, 7))
        assert torch.equal(spike_count(x, theta, None, 6), want)


def test_phase_of_every_kind_of_value():
    from spikeforge.neuron.dynamics import phase

    vals = [*COMPLEX_X0, complex(INF, NAN), complex(NAN, -INF), complex(NAN, NAN), 0j, 1e-300 + 1e-300j, -3 + 4j]
    for dt in (torch.complex128, torch.complex64):
        p, r = phase(torch.tensor(vals, dtype=dt))
        want = torch.tensor([_phase(complex(v)) for v in torch.tensor(vals, dtype=dt).tolist()], dtype=dt)
        torch.testing.assert_close(p, want, rtol=2e-7, atol=0)
        assert torch.all(r > 0) and not torch.isnan(r).any()
    assert cmath.isclose(_phase(complex(INF, INF)), (1 + 1j) / math.sqrt(2))

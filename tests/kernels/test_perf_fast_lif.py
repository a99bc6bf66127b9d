"""The specialised fast LIF path (numba and pure-torch implementations) equals the reference scan."""

import itertools
import math

import pytest
import torch

import spikeforge as sf
from spikeforge.kernels import fast_scan, fused_scan, get_backend, reference_scan
from spikeforge.kernels.fast_lif import c_available, numba_available, supports
from spikeforge.neuron.dynamics import draw_orders

IMPLS = ["torch"] + (["numba"] if numba_available() else []) + (["c"] if c_available() else [])
FIRING = [sf.Gaussian(0.4), sf.Cauchy(0.3), sf.Logistic(0.2), sf.Heaviside()]


class _Triangle(sf.neuron.firing.FiringModel):
    """A firing model the compiled kernels do not know (its pdf is evaluated with torch)."""

    def cdf(self, x):
        return torch.clamp(0.5 + x - x * x.abs() / 2, 0, 1) * (x.abs() < 1) + (x >= 1).to(x.dtype)

    def pdf(self, x):
        return torch.clamp(1 - x.abs(), min=0)


def _grads(fn, neuron, x, v0, extra=()):
    p = neuron.params(x.dtype, x.device)
    st = neuron.initial_state(x)._replace(v=v0)
    out, s2 = fn(x, st, p, neuron.spec, noise=None, orders=draw_orders(neuron.spec, x.shape[0], None),
                 recurrent_weight=None)
    w = torch.linspace(-1, 1, out.numel(), dtype=x.dtype).view_as(out)
    loss = (out * w).sum() + (s2.v ** 2).sum() + 0.3 * s2.s.sum() - 0.2 * s2.h.sum()
    leaves = [x, v0, *[t for t in (neuron.tau, neuron.threshold, *extra) if t is not None and t.requires_grad]]
    return out, s2.v, torch.autograd.grad(loss, leaves)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize(("reset", "detach", "firing"),
                         list(itertools.product(["soft", "hard", "none"], [False, True], [*FIRING, _Triangle()])))
def test_fast_equals_reference_float64(impl, reset, detach, firing):
    torch.manual_seed(7)
    n = sf.Neuron(tau=6.0, threshold=0.8, reset=reset, firing=firing, detach_reset=detach, v_reset=-0.1,
                  learnable=("tau", "threshold"), shape=(4,)).double()
    with torch.no_grad():
        n.tau.add_(torch.rand(4) * 5)
        n.threshold.add_(torch.rand(4) * 0.4)
    x = (torch.randn(23, 3, 4, dtype=torch.float64) * 0.9 + 0.4).requires_grad_()
    v0 = (torch.randn(3, 4, dtype=torch.float64) * 0.3).requires_grad_()
    o1, v1, g1 = _grads(reference_scan, n, x, v0)
    o2, v2, g2 = _grads(lambda *a, **k: fast_scan(*a, **k, impl=impl), n, x, v0)
    assert torch.equal(o1, o2)
    torch.testing.assert_close(v1, v2, rtol=1e-12, atol=1e-12)
    for a, b in zip(g1, g2):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("impl", IMPLS)
def test_fast_float32_spikes_identical_and_inference(impl):
    torch.manual_seed(3)
    n = sf.Neuron(decay=0.9, firing=sf.Cauchy(1 / math.pi))
    x = torch.randn(60, 8, 32) * 0.6 + 0.15
    st = n.initial_state(x)
    p = n.params(torch.float32, x.device)
    orders = draw_orders(n.spec, 60, None)
    ref, rs = reference_scan(x, st, p, n.spec, orders=orders)
    with torch.no_grad():
        out, s = fast_scan(x, st, p, n.spec, orders=orders, impl=impl)
    assert torch.equal(ref, out)
    assert torch.equal(rs.v, s.v)
    xg = x.clone().requires_grad_()
    out2, _ = fast_scan(xg, st, p, n.spec, orders=orders, impl=impl)
    assert torch.equal(ref, out2.detach())


def test_auto_is_fast_on_cpu_and_falls_back():
    from spikeforge.kernels import auto_scan

    assert get_backend("auto") is auto_scan
    y = torch.randn(4, 2, 3)
    lif = sf.LIF(firing=sf.Gaussian(0.4))
    st = lif.initial_state(y)
    p = lif.params(torch.float32, y.device)
    o = draw_orders(lif.spec, 4, None)
    assert torch.equal(auto_scan(y, st, p, lif.spec, orders=o)[0], fast_scan(y, st, p, lif.spec, orders=o)[0])
    n = sf.ResonateAndFire(firing=sf.Gaussian(0.4))
    x = torch.randn(5, 2, 3)
    st = n.initial_state(x)
    p = n.params(torch.float32, x.device)
    orders = draw_orders(n.spec, 5, None)
    assert not supports(x, st, p, n.spec, None, orders, None)
    a, _ = fast_scan(x, st, p, n.spec, orders=orders)
    b, _ = fused_scan(x, st, p, n.spec, orders=orders)
    torch.testing.assert_close(a, b)
    for kw in [dict(max_spikes=2), dict(order="fire-first"), dict(tau_syn=4.0), dict(reset="refractory")]:
        m = sf.LIF(**kw)
        assert not supports(x, m.initial_state(x), m.params(torch.float32, x.device), m.spec, None,
                            draw_orders(m.spec, 5, None), None)


def test_module_uses_fast_path_and_trains():
    torch.manual_seed(0)
    net = sf.nets.mlp([12, 16, 3], neuron=sf.LIF(firing=sf.Gaussian(0.5)))
    ref = sf.nets.mlp([12, 16, 3], neuron=sf.LIF(firing=sf.Gaussian(0.5), backend="reference"))
    ref.load_state_dict(net.state_dict())
    x = (torch.rand(30, 4, 12) < 0.3).float() * 2
    for m in (net, ref):
        m(x).pow(2).mean().backward()
    for a, b in zip(net.parameters(), ref.parameters()):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("impl", IMPLS)
def test_retained_graph_gives_the_same_gradients_twice(impl):
    """The backward writes the input gradient into v*'s memory only when the graph is not kept: a second
    backward over a retained graph, and one after it without retain_graph, see the original v*."""
    torch.manual_seed(3)
    n = sf.Neuron(tau=6.0, threshold=0.8, reset="soft", firing=sf.Cauchy(0.3), learnable=("tau", "threshold"),
                  shape=(5,)).double()
    x = (torch.randn(17, 2, 5, dtype=torch.float64) + 0.5).requires_grad_()
    p = n.params(x.dtype, x.device)
    st = n.initial_state(x)
    out, _ = fast_scan(x, st, p, n.spec, noise=None, orders=draw_orders(n.spec, 17, None), recurrent_weight=None,
                       impl=impl)
    w = torch.randn_like(out)
    leaves = [x, n.tau, n.threshold]
    first = torch.autograd.grad((out * w).sum(), leaves, retain_graph=True)
    second = torch.autograd.grad((out * w).sum(), leaves, retain_graph=True)
    third = torch.autograd.grad((out * w).sum(), leaves)
    for a, b, c in zip(first, second, third, strict=True):
        assert torch.equal(a, b) and torch.equal(a, c)
    with pytest.raises(RuntimeError, match=r"second time|freed"):
        torch.autograd.grad((out * w).sum(), leaves)


@pytest.mark.skipif(not c_available(), reason="the C kernels were not built (no C compiler at install time)")
def test_c_kernels_are_preferred_and_numba_stays_unloaded():
    """With the C library built, training a network imports no numba (its runtime costs ≈ 130 MB)."""
    import subprocess
    import sys

    code = (
        "import sys, torch, spikeforge as sf\n"
        "from spikeforge.kernels.fast_lif import resolve_impl\n"
        "net = sf.nets.mlp([40, 80, 5], neuron=sf.LIF(firing=sf.Cauchy(0.3)))\n"
        "x = (torch.rand(30, 4, 40) < 0.05).float()\n"
        "net(x).sum().backward()\n"
        "assert resolve_impl(x, None) == 'c', resolve_impl(x, None)\n"
        "assert net[0].weight.grad is not None\n"
        "print('numba' in sys.modules)\n"
    )
    env = {k: v for k, v in __import__("os").environ.items() if k not in ("SPIKEFORGE_KERNELS", "SPIKEFORGE_NO_NUMBA")}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "False"


_SEEN: list[bool] = []


class _Probe(torch.autograd.Function):
    """Records what ``_graph_kept`` answers inside its backward pass (into ``_SEEN``)."""

    @staticmethod
    def forward(ctx, x):  # type: ignore[override]
        return x * 2

    @staticmethod
    def backward(ctx, g):  # type: ignore[override]
        from spikeforge.kernels.fast_lif import _graph_kept

        _SEEN.append(_graph_kept())
        return g * 2


def _probe(**kw) -> bool:
    _SEEN.clear()
    x = torch.ones(3, requires_grad=True)
    torch.autograd.grad(_Probe.apply(x).sum(), x, **kw)
    return _SEEN[-1]


def test_graph_kept_query_and_its_fallback(monkeypatch):
    """With torch's (private) query: kept only under retain_graph/create_graph. Without it (a torch that does
    not have it) or when it fails: always kept, so v*'s memory is never reused, and gradients stay right."""
    if hasattr(torch._C._autograd, "_get_current_graph_task_keep_graph"):
        assert _probe() is False
        assert _probe(retain_graph=True) is True
        assert _probe(create_graph=True) is True

    def broken():
        raise RuntimeError("no graph task")

    monkeypatch.setattr(torch._C._autograd, "_get_current_graph_task_keep_graph", broken, raising=False)
    assert _probe() is True
    monkeypatch.delattr(torch._C._autograd, "_get_current_graph_task_keep_graph", raising=False)
    assert _probe() is True and _probe(retain_graph=True) is True
    for impl in IMPLS:  # the safe branch: a second backward over a retained graph still sees the original v*
        test_retained_graph_gives_the_same_gradients_twice(impl)

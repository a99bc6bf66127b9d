"""Event-driven synapses: same outputs and gradients as the dense product, exact synaptic-operation counts."""

import pytest
import torch

from spikeforge.kernels import event
from spikeforge.kernels.event import EventLinear, activity, event_linear

IMPLS = ["numba", "torch"]


@pytest.fixture(params=IMPLS)
def impl(request, monkeypatch):
    if request.param == "torch":
        monkeypatch.setattr(event, "_NUMBA", False)
    elif not event._numba():
        pytest.skip("numba is not installed: the torch implementation is the only one")
    return request.param


@pytest.mark.parametrize("graded", [False, True])
@pytest.mark.parametrize("p", [0.0, 0.02, 0.3])
def test_event_equals_dense_forward_and_gradients(impl, graded, p):
    g = torch.Generator().manual_seed(1)
    x = (torch.rand(7, 5, 40, generator=g) < p).double()
    if graded:
        x = x * torch.randint(1, 4, x.shape, generator=g)
    w = torch.randn(24, 40, generator=g, dtype=torch.float64).requires_grad_()
    b = torch.randn(24, generator=g, dtype=torch.float64).requires_grad_()
    xe = x.clone().requires_grad_()
    res = event_linear(xe, w, b, mode="event")
    assert res.path == "event"
    dense = torch.nn.functional.linear(x, w, b)
    torch.testing.assert_close(res.out, dense, rtol=1e-12, atol=1e-12)
    assert res.synops == int(torch.count_nonzero(x)) * 24
    gy = torch.randn_like(dense)
    gx, gw, gb = torch.autograd.grad(res.out, [xe, w, b], gy)
    xd = x.clone().requires_grad_()
    rx, rw, rb = torch.autograd.grad(torch.nn.functional.linear(xd, w, b), [xd, w, b], gy)
    torch.testing.assert_close(gx, rx)
    torch.testing.assert_close(gw, rw)
    torch.testing.assert_close(gb, rb)


def test_exact_synop_count_by_hand(impl):
    x = torch.zeros(2, 3, 5)
    x[0, 0, 1] = 1
    x[0, 2, 4] = 1
    x[1, 1, 0] = 2  # a graded spike still drives each synapse once
    w = torch.randn(7, 5)
    res = event_linear(x, w, None, mode="event")
    assert res.synops == 3 * 7
    torch.testing.assert_close(res.out, x @ w.t())
    with torch.inference_mode():
        assert event_linear(x, w, None, mode="event").synops == 21


def test_auto_mode_follows_activity(monkeypatch):
    w = torch.randn(8, 100)
    sparse = torch.zeros(4, 100)
    sparse[:, :3] = 1
    dense = torch.ones(4, 100)
    assert activity(sparse) == pytest.approx(0.03)
    assert event_linear(sparse, w, mode="auto").path == "event"
    assert event_linear(dense, w, mode="auto").path == "dense"
    assert event_linear(dense, w, mode="auto", threshold=1.01).path == "event"
    assert event_linear(dense, w, mode="auto").synops == 400 * 8
    monkeypatch.setattr(event, "EVENT_CROSSOVER", 0.01)
    assert event_linear(sparse, w, mode="auto").path == "dense"
    wg = w.clone().requires_grad_()  # with gradients the (lower) training crossover applies
    assert event_linear(sparse, wg, mode="auto").path == "dense"
    one_pct = torch.zeros(4, 100)
    one_pct[:, 0] = 1
    assert event_linear(one_pct, wg, mode="auto").path == "event"
    assert event_linear(sparse, wg, mode="auto", threshold=0.5).path == "event"


def test_module_and_errors(impl):
    torch.manual_seed(0)
    lin = EventLinear(30, 9, mode="event")
    x = (torch.rand(6, 2, 30) < 0.1).float()
    y = lin(x)
    torch.testing.assert_close(y, torch.nn.functional.linear(x, lin.weight, lin.bias), rtol=1e-5, atol=1e-5)
    assert lin.synops == int(x.count_nonzero()) * 9 and lin.last_path == "event"
    y.sum().backward()
    assert lin.weight.grad is not None and lin.weight.grad.shape == (9, 30)
    with pytest.raises(ValueError, match="mode"):
        EventLinear(3, 2, mode="sparse")
    with pytest.raises(ValueError, match="expected"):
        event_linear(torch.zeros(2, 4), torch.zeros(3, 5))


def test_cached_transpose_follows_weight_updates(impl):
    w = torch.randn(16, 32)
    x = (torch.rand(10, 32) < 0.2).float()
    a = event_linear(x, w, mode="event").out
    with torch.no_grad():
        w.mul_(2)
    b = event_linear(x, w, mode="event").out
    torch.testing.assert_close(b, 2 * a)

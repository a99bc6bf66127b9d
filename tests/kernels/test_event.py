"""Event-driven synapses: same outputs and gradients as the dense product, exact synaptic-operation counts."""

import pytest
import torch

from spikeforge.kernels import _cpu, _threads, event
from spikeforge.kernels.event import activity, event_linear
from spikeforge.synapse import EventLinear

IMPLS = ["c", "numba", "torch"]


@pytest.fixture(params=IMPLS)
def impl(request):
    """Each implementation of the kernels in turn (:func:`spikeforge.kernels._cpu.using`)."""
    if request.param != "torch" and not _cpu.available(request.param, "event"):
        pytest.skip(f"the {request.param} kernels are not available here (C: built at install time)")
    with _cpu.using(request.param):
        yield request.param


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


def test_auto_mode_follows_activity():
    if event._kernels() is None:
        pytest.skip("no compiled kernels: mode='auto' is dense without them")
    w = torch.randn(80, 100)
    sparse = torch.zeros(4, 100)
    sparse[:, :3] = 1
    dense = torch.ones(4, 100)
    assert activity(sparse) == pytest.approx(0.03)
    assert event_linear(sparse, w, mode="auto").path == "event"
    assert event_linear(dense, w, mode="auto").path == "dense"
    assert event_linear(dense, w, mode="auto", threshold=1.01).path == "event"
    assert event_linear(dense, w, mode="auto").synops == 400 * 80
    narrow = w[: event.EVENT_MIN_OUT - 1]  # too few outputs for the event path to pay: dense
    assert event_linear(sparse, narrow, mode="auto").path == "dense"
    assert event_linear(sparse, narrow, mode="event").path == "event"
    assert event_linear(sparse, narrow, mode="auto", min_out=narrow.shape[0]).path == "event"
    assert event_linear(sparse, w, mode="auto", min_out=w.shape[0] + 1).path == "dense"
    assert event_linear(sparse, w, mode="auto", threshold=0.01).path == "dense"
    wg = w.clone().requires_grad_()  # with gradients the training crossover applies
    assert event_linear(sparse, wg, mode="auto", train_threshold=0.02).path == "dense"
    assert event_linear(sparse, w, mode="auto", train_threshold=0.02).path == "event"  # (no gradients)
    one_pct = torch.zeros(4, 100)
    one_pct[:, 0] = 1
    assert event_linear(one_pct, wg, mode="auto", train_threshold=0.02).path == "event"
    assert event_linear(sparse, wg, mode="auto", threshold=0.5).path == "event"  # threshold: both, by default
    assert event_linear(sparse, wg, mode="auto", threshold=0.01).path == "dense"
    assert event_linear(sparse, wg, mode="auto", threshold=0.01, train_threshold=0.5).path == "event"
    assert event_linear(sparse, w, mode="auto", threshold=0.01, train_threshold=0.5).path == "dense"
    assert (event.EVENT_CROSSOVER, event.EVENT_CROSSOVER_TRAIN, event.EVENT_MIN_OUT) == (0.1, 0.1, 64)
    # a dtype mismatch is not silently converted by "auto": refused as on every path
    with pytest.raises(TypeError, match="weight's dtype"):
        event_linear(sparse.double(), w, mode="auto")


def test_module_and_errors(impl):
    torch.manual_seed(0)
    with pytest.warns(DeprecationWarning, match="EventLinear stores per-call statistics"):
        lin = EventLinear(30, 9, mode="event")
    x = (torch.rand(6, 2, 30) < 0.1).float()
    y = lin(x)
    torch.testing.assert_close(y, torch.nn.functional.linear(x, lin.weight, lin.bias), rtol=1e-5, atol=1e-5)
    assert lin.synops == int(x.count_nonzero()) * 9 and lin.last_path == "event"
    y.sum().backward()
    assert lin.weight.grad is not None and lin.weight.grad.shape == (9, 30)
    with pytest.raises(ValueError, match="mode"), pytest.warns(DeprecationWarning):
        EventLinear(3, 2, mode="sparse")
    with pytest.raises(ValueError, match="expected"):
        event_linear(torch.zeros(2, 4), torch.zeros(3, 5))


def test_weight_updates_are_seen(impl):
    w = torch.randn(16, 32)
    x = (torch.rand(10, 32) < 0.2).float()
    a = event_linear(x, w, mode="event").out
    with torch.no_grad():
        w.mul_(2)
    b = event_linear(x, w, mode="event").out
    torch.testing.assert_close(b, 2 * a)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("odd_col", [5, 35])  # in a 32-wide vector block, in the scalar tail
def test_compression_matches_nonzero(impl, dtype, odd_col):
    g = torch.Generator().manual_seed(3)
    x = (torch.rand(50, 37, generator=g) < 0.1).to(dtype)
    x[7] = 0  # an empty row
    x[9, odd_col] = -2.5  # a graded (non-binary) value
    csr = event._compress(x)
    r, k = x.nonzero(as_tuple=True)
    assert csr.nnz == r.numel() and not csr.binary and csr.cols == 37
    torch.testing.assert_close(csr.colidx.long(), k)
    torch.testing.assert_close(csr.rowptr.diff(), torch.bincount(r, minlength=50))
    torch.testing.assert_close(csr.values, x[r, k])
    binary = event._compress((x != 0).to(dtype))
    assert binary.binary and binary.values.numel() == 0
    if impl != "torch":  # the compiled pass stops early once the events exceed the budget
        assert event._compress(torch.ones(50, 37, dtype=dtype), max_activity=0.5) is None
        assert event._compress((x != 0).to(dtype), max_activity=0.5).nnz == binary.nnz


@pytest.mark.parametrize("threads", [1, 3])
def test_thread_split_is_exact_and_deterministic(impl, threads):
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:  # min_work=0: split even small products over the threads
        with _threads.Workers(min_work=0) as workers, _threads.using(workers):
            g = torch.Generator().manual_seed(4)
            x = (torch.rand(64, 30, generator=g) < 0.2).double()
            w = torch.randn(70, 30, generator=g, dtype=torch.float64, requires_grad=True)
            gy = torch.randn(64, 70, generator=g, dtype=torch.float64)
            grads = [torch.autograd.grad(event_linear(x, w, mode="event").out, w, gy)[0] for _ in range(2)]
            assert workers.size == (0 if threads == 1 or impl == "torch" else threads - 1)
        assert workers.closed and workers.size == 0
    finally:
        torch.set_num_threads(old)
    torch.testing.assert_close(grads[0], x.t().mm(gy).t(), rtol=1e-12, atol=1e-12)
    assert torch.equal(grads[0], grads[1])


def test_linear_stores_the_transpose_and_loads_plain_weights(impl):
    from spikeforge.synapse import Linear

    torch.manual_seed(0)
    plain = torch.nn.Linear(12, 70)
    torch.manual_seed(0)
    lin = Linear(12, 70)
    assert lin.weight.t().is_contiguous() and lin.weight.shape == (70, 12)
    torch.testing.assert_close(lin.weight, plain.weight)  # the same initialisation for a seed
    plain2 = torch.nn.Linear(12, 70)
    lin.load_state_dict(plain2.state_dict())
    assert lin.weight.t().is_contiguous()
    torch.testing.assert_close(lin.weight, plain2.weight)
    x = (torch.rand(5, 3, 12) < 0.1).float()
    torch.testing.assert_close(lin(x), plain2(x), rtol=1e-6, atol=1e-6)
    assert "mode" not in repr(lin) and "mode='dense'" in repr(Linear(2, 3, mode="dense"))
    with pytest.raises(ValueError, match="mode"):
        Linear(3, 2, mode="gather")


def test_linear_auto_trains_like_dense(impl):
    """Hidden layer on spikes: the default Linear (event path at low activity) gives the dense gradients,
    also through a second backward over a retained graph."""
    from spikeforge.synapse import Linear

    g = torch.Generator().manual_seed(5)
    x = (torch.rand(20, 4, 50, generator=g) < 0.03).double().requires_grad_()
    lin = Linear(50, 80, mode="event").double()
    ref = torch.nn.Linear(50, 80).double()
    ref.load_state_dict(lin.state_dict())
    gy = torch.randn(20, 4, 80, generator=g, dtype=torch.float64)
    y = lin(x)
    first = torch.autograd.grad(y, [x, lin.weight, lin.bias], gy, retain_graph=True)
    second = torch.autograd.grad(y, [x, lin.weight, lin.bias], gy)
    xr = x.detach().clone().requires_grad_()
    want = torch.autograd.grad(ref(xr), [xr, ref.weight, ref.bias], gy)
    for a, b, c in zip(first, second, want, strict=True):
        torch.testing.assert_close(a, c)
        torch.testing.assert_close(b, c)
    assert lin.weight.t().is_contiguous()


def test_event_linear_lives_in_synapse_only():
    """kernels is below synapse: it does not hand out the synapse module (no upward import)."""
    from spikeforge.synapse import layers

    assert EventLinear is layers.EventLinear
    assert not hasattr(event, "EventLinear")


def test_auto_is_dense_without_compiled_kernels():
    sparse = torch.zeros(4, 100)
    sparse[:, :3] = 1
    with _cpu.using("torch"):
        assert event_linear(sparse, torch.randn(80, 100), mode="auto").path == "dense"
    with pytest.raises(ValueError, match="SPIKEFORGE_KERNELS: expected 'auto', 'c', 'numba' or 'torch', got 'fortran'"):
        _cpu.parse({"SPIKEFORGE_KERNELS": "fortran"})
    with pytest.raises(ValueError, match="choice: expected"):
        _cpu.using("fortran").__enter__()


def test_non_finite_inputs_are_kept_as_values(impl):
    g = torch.Generator().manual_seed(6)
    w = torch.randn(8, 40, generator=g, dtype=torch.float64)
    b = torch.randn(8, generator=g, dtype=torch.float64)
    x = torch.zeros(5, 40, dtype=torch.float64)
    x[0, 3], x[1, 2], x[2, 39] = float("inf"), 1.0, float("nan")
    res = event_linear(x, w, b, mode="event")
    torch.testing.assert_close(res.out, torch.nn.functional.linear(x, w, b), equal_nan=True)


def test_fallback_does_not_write_into_the_bias():
    w, b = torch.randn(8, 4), torch.zeros(8)
    x = torch.tensor([[1.0, 0, 1, 0]])  # one row: an expanded bias would be a view of b
    with torch.no_grad(), _cpu.using("torch"):
        outs = [event_linear(x, w, b, mode="event").out for _ in range(3)]
    assert torch.equal(b, torch.zeros(8))
    torch.testing.assert_close(outs[2], torch.nn.functional.linear(x, w, b))


def test_double_backward_through_the_event_path(impl):
    from spikeforge.synapse import Linear

    torch.manual_seed(2)
    lin = Linear(50, 70, mode="event").double()
    ref = torch.nn.Linear(50, 70).double()
    ref.load_state_dict(lin.state_dict())
    x = (torch.rand(6, 3, 50, dtype=torch.float64) < 0.1).double().requires_grad_()
    (gw,) = torch.autograd.grad((lin(x) ** 2).sum(), [lin.weight], create_graph=True)
    (gwr,) = torch.autograd.grad((ref(x) ** 2).sum(), [ref.weight], create_graph=True)
    torch.testing.assert_close(gw, gwr)
    torch.testing.assert_close(torch.autograd.grad((gw ** 2).sum(), [x])[0],
                               torch.autograd.grad((gwr ** 2).sum(), [x])[0])


def test_torch_func_transforms_take_the_dense_path():
    from spikeforge.synapse import Linear

    torch.manual_seed(3)
    lin = Linear(90, 70)  # mode="auto"
    x = (torch.rand(4, 5, 2, 90) < 0.02).float()
    out = torch.func.vmap(lin)(x)
    torch.testing.assert_close(out, torch.nn.functional.linear(x, lin.weight, lin.bias), rtol=1e-5, atol=1e-6)
    params = dict(lin.named_parameters())
    g = torch.func.grad(lambda p: torch.func.functional_call(lin, p, (x[0],)).sum())(params)
    assert g["weight"].shape == (70, 90)
    with pytest.raises(TypeError, match=r"torch\.func"):
        torch.func.vmap(Linear(90, 70, mode="event"))(x)


def test_odd_thresholds_shapes_and_dtypes():
    torch.manual_seed(4)
    w, b = torch.randn(80, 30), torch.randn(80)
    x = (torch.rand(12, 30) < 0.05).float()
    want = torch.nn.functional.linear(x, w, b)
    for th in (float("inf"), 2.0, -1.0, 0.0):
        res = event_linear(x, w, b, mode="auto", threshold=th)
        torch.testing.assert_close(res.out, want, rtol=1e-5, atol=1e-5)
        assert res.path == ("dense" if th <= 0 or event._kernels() is None else "event")
    from spikeforge.synapse import Linear

    with pytest.warns(UserWarning, match="zero-element"):  # (torch's nn.Linear init says so too)
        empty = Linear(0, 64)
    assert empty(torch.zeros(3, 2, 0)).shape == (3, 2, 64)
    bf = event_linear(x.bfloat16(), w.bfloat16(), b.bfloat16(), mode="event")  # no compiled bf16: torch path
    torch.testing.assert_close(bf.out.float(), want, rtol=0.05, atol=0.1)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert Linear(30, 80)(x[None]).dtype == torch.bfloat16  # as the dense product under autocast


def test_module_pickled_before_the_mode_attribute_loads():
    import pickle

    from spikeforge.synapse import Linear

    lin = Linear(30, 70)
    del lin.__dict__["mode"], lin.__dict__["threshold"]  # what an older pickle holds
    back = pickle.loads(pickle.dumps(lin))
    x = (torch.rand(2, 3, 30) < 0.05).float()
    torch.testing.assert_close(back(x), torch.nn.functional.linear(x, back.weight, back.bias), rtol=1e-5, atol=1e-6)


def test_half_precision_event_path_trains():
    """Weights the compiled kernels do not take (bf16) go through the torch path, backward included."""
    torch.manual_seed(8)
    x = (torch.rand(10, 30) < 0.1).bfloat16()
    w = torch.randn(80, 30).bfloat16().requires_grad_()
    b = torch.zeros(80).bfloat16().requires_grad_()
    event_linear(x, w, b, mode="event").out.float().sum().backward()
    torch.testing.assert_close(b.grad.float(), torch.full((80,), 10.0))
    torch.testing.assert_close(w.grad.float(), x.float().sum(0).expand(80, 30))


@pytest.mark.parametrize("mode", ["dense", "event", "auto"])
def test_input_of_another_dtype_is_refused_on_every_path(mode):
    # issue 10.6: mode="event" took float64 input with float32 weights and silently returned float32
    from spikeforge.synapse import Linear

    layer = Linear(16, 64, mode=mode)
    x = (torch.rand(4, 3, 16, generator=torch.Generator().manual_seed(0)) < 0.05).double()
    with pytest.raises(TypeError, match=r"x: expected the weight's dtype torch.float32, got torch.float64"):
        layer(x)
    assert layer.double()(x).dtype == torch.float64
    with torch.autocast("cpu", dtype=torch.bfloat16):  # autocast decides the dtypes itself
        assert layer.float()(x.float()).dtype == torch.bfloat16


def test_linear_crossover_is_configuration_of_the_layer():
    """``threshold``, ``train_threshold`` and ``min_out`` are the layer's own: two layers, two crossovers, no
    module global involved."""
    from spikeforge.synapse import Linear

    if event._kernels() is None:
        pytest.skip("no compiled kernels: mode='auto' is dense without them")
    torch.manual_seed(9)
    x = torch.zeros(2, 2, 100)
    x[..., :3] = 1  # 3 % activity
    default, strict = Linear(100, 80), Linear(100, 80, threshold=0.01)
    assert default._product(x)[2] == "event" and strict._product(x)[2] == "dense"
    train = Linear(100, 80, train_threshold=0.02)  # gradients (the weight requires grad): 2 %
    assert train._product(x)[2] == "dense"
    with torch.no_grad():
        assert train._product(x)[2] == "event"
    narrow, wide_enough = Linear(100, 20), Linear(100, 20, min_out=16)
    assert narrow._product(x)[2] == "dense" and wide_enough._product(x)[2] == "event"
    assert (strict.threshold, strict.train_threshold, strict.min_out) == (0.01, None, None)
    assert "threshold=0.01" in repr(strict) and "min_out=16" in repr(wide_enough) and "threshold" not in repr(default)
    for lin in (strict, train, wide_enough):
        torch.testing.assert_close(lin(x), torch.nn.functional.linear(x, lin.weight, lin.bias), rtol=1e-5, atol=1e-6)
    with pytest.raises(TypeError, match=r"threshold: expected a number .* got str '0.1'"):
        Linear(4, 4, threshold="0.1")
    with pytest.raises(TypeError, match="train_threshold: expected a number"):
        Linear(4, 4, train_threshold=True)
    with pytest.raises(ValueError, match=r"min_out: expected an integer >= 0 .* got -1"):
        Linear(4, 4, min_out=-1)


def test_backward_uses_the_kernels_of_its_forward(monkeypatch):
    """A choice of kernels made for the forward pass holds for its backward pass, wherever that runs."""
    chosen = [i for i in ("c", "numba") if _cpu.available(i, "event")]
    if not chosen:
        pytest.skip("no compiled kernels")
    mod = _cpu.kernels("event", chosen[0])[1]
    calls = []
    real = mod.wgrad_cols
    monkeypatch.setattr(mod, "wgrad_cols", lambda *a: calls.append(1) or real(*a))
    x = (torch.rand(6, 40) < 0.1).double()
    w = torch.randn(70, 40, dtype=torch.float64, requires_grad=True)
    with _cpu.using(chosen[0]):
        out = event_linear(x, w, mode="event").out
    with _cpu.using("torch"):
        (gw,) = torch.autograd.grad(out.sum(), w)
    assert calls
    torch.testing.assert_close(gw, torch.ones(6, 70, dtype=torch.float64).t() @ x)
    with _cpu.using("torch"):
        out = event_linear(x, w, mode="event").out
    n = len(calls)
    with _cpu.using(chosen[0]):
        (gw2,) = torch.autograd.grad(out.sum(), w)
    assert len(calls) == n
    torch.testing.assert_close(gw2, gw)

"""The public step and recorded traces (issue 11, item 3): ``spikeforge.step`` in a user's loop gives exactly
the sequence call's spikes and state; ``spikeforge.record`` gives the scan's spikes and the step function's
traces (v*, ψ, I and the state fields)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import spikeforge as sf
from spikeforge.kernels import fast_lif
from spikeforge.neuron.dynamics import ORDERS, draw_noise, draw_orders, neuron_step, reference_scan, traced_step
from spikeforge.synapse import Recurrent

BACKENDS = ["reference", "torch", "fast", "auto"]
FIRING = {"heaviside": sf.Heaviside(), "gaussian": sf.Gaussian(0.4), "cauchy": sf.Cauchy(0.3),
          "logistic": sf.Logistic(0.2)}

CONFIGS = {
    **{f"{f}-{r}": dict(tau=8.0, firing=FIRING[f], reset=r) for f in FIRING
       for r in ("soft", "hard", "refractory", "none")},
    **{"order-" + "-".join(o): dict(tau=8.0, firing=sf.Gaussian(0.4), order="-".join(o), reset="hard")
       for o in ORDERS},
    "graded": dict(tau=8.0, max_spikes=3, threshold=0.5, firing=sf.Cauchy(0.3)),
    "complex": dict(tau=10.0, omega=0.7, firing=sf.Gaussian(0.4), reset="hard"),
    "cuba": dict(tau=8.0, tau_syn=4.0, firing=sf.Logistic(0.2)),
    "adaptive": dict(tau=8.0, tau_adapt=15.0, adapt_scale=0.4, firing=sf.Gaussian(0.4)),
    "refractory-cuba-adaptive": dict(tau=8.0, tau_syn=3.0, tau_adapt=12.0, adapt_scale=0.3, reset="refractory",
                                     refractory_steps=3, firing=sf.Cauchy(0.3)),
    "per-neuron-detach": dict(tau=8.0, shape=4, detach_reset=True, firing=sf.Gaussian(0.4)),
}


def _x(seed=0, steps=24, batch=3, feat=4, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(steps, batch, feat, generator=g, dtype=dtype) * 0.8 + 0.5


def _loop(neuron, x, state=None, **kw):
    out = []
    for t in range(x.shape[0]):
        s, state = sf.step(neuron, x[t], state, **kw)
        out.append(s)
    return torch.stack(out), state


def _equal_states(a, b):
    assert type(a) is type(b)
    for name, ta, tb in zip(a._fields, a, b):
        assert (ta is None) == (tb is None), name
        if ta is not None:
            assert torch.equal(ta, tb), name


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", list(CONFIGS))
def test_a_loop_of_steps_is_exactly_the_sequence_call(name, backend):
    n = sf.Neuron(**CONFIGS[name], backend=backend)
    x = _x()
    whole, final = n(x, return_state=True)
    spikes, state = _loop(n, x)
    assert torch.equal(spikes, whole)
    _equal_states(state, final)
    # continuing from a given state, half way
    half, st = n(x[:10], return_state=True)
    rest, state = _loop(n, x[10:], st)
    assert torch.equal(torch.cat([half, rest]), whole)
    _equal_states(state, final)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", ["random-order", "stochastic"])
def test_one_kind_of_draw_with_a_cpu_generator_is_exact(kind, backend):
    # the CPU generator gives the same numbers for one draw of T·M as for T draws of M (see stepping's doc)
    cfg = dict(order="random") if kind == "random-order" else dict(stochastic=True)
    n = sf.Neuron(tau=8.0, firing=sf.Gaussian(0.4), reset="hard", **cfg, backend=backend)
    x = _x(1)
    whole, final = n(x, return_state=True, generator=torch.Generator().manual_seed(7))
    spikes, state = _loop(n, x, generator=torch.Generator().manual_seed(7))
    assert torch.equal(spikes, whole)
    _equal_states(state, final)
    other, _ = _loop(n, x, generator=torch.Generator().manual_seed(8))
    assert not torch.equal(other, whole)  # the draws matter: the test can fail


def test_both_kinds_of_draw_are_exact_with_the_sequences_draws_up_front():
    n = sf.Neuron(tau=8.0, firing=sf.Cauchy(0.3), stochastic=True, order="random", reset="refractory",
                  tau_syn=4.0)
    x = _x(2)
    whole, final = n(x, return_state=True, generator=torch.Generator().manual_seed(3))
    g = torch.Generator().manual_seed(3)
    noise = draw_noise(n.spec, tuple(x.shape), dtype=x.dtype, device=x.device, generator=g)
    orders = draw_orders(n.spec, x.shape[0], g)
    params, state, out = n.params(x.dtype, x.device), n.initial_state(x), []
    for t in range(x.shape[0]):
        s, state = neuron_step(x[t], state, params, n.spec, noise_t=noise[t], order=orders[t])
        out.append(s)
    assert torch.equal(torch.stack(out), whole)
    _equal_states(state, final)
    rec = sf.record(n, x, generator=torch.Generator().manual_seed(3), fields=("v", "ref"))
    assert torch.equal(rec.spikes, whole)
    _equal_states(rec.state, final)


def test_neuron_step_needs_the_draws_of_a_random_neuron():
    x = _x()
    for cfg, match in ((dict(stochastic=True), "noise_t"), (dict(order="random"), "order")):
        n = sf.Neuron(firing=sf.Gaussian(0.4), **cfg)
        with pytest.raises(ValueError, match=match):
            neuron_step(x[0], n.initial_state(x), n.params(x.dtype, x.device), n.spec)
    with pytest.raises(ValueError, match="order: expected a permutation"):
        n = sf.LIF()
        neuron_step(x[0], n.initial_state(x), n.params(x.dtype, x.device), n.spec, order=("fire",))


@pytest.mark.parametrize("backend", BACKENDS)
def test_recurrent_population_steps_exactly(backend):
    torch.manual_seed(0)
    rec = Recurrent(4, sf.CuBaLIF(firing=sf.Gaussian(0.4), backend=backend))
    x = _x(3)
    whole, final = rec(x, return_state=True)
    spikes, state = _loop(rec, x)  # the stateful-module protocol
    assert torch.equal(spikes, whole)
    _equal_states(state, final)
    spikes, state = _loop(rec.neuron, x, recurrent_weight=rec.weight)
    assert torch.equal(spikes, whole)
    _equal_states(state, final)
    r = sf.record(rec.neuron, x, fields=("current",), recurrent_weight=rec.weight)
    assert torch.equal(r.spikes, whole)


def test_non_spiking_modules_step_too():
    x = _x()
    for m in (sf.LI(tau=4.0), sf.neuron.CubaIntegrator(torch.full((4,), 0.9), 0.5)):
        whole, final = m(x, return_state=True)
        out, state = _loop(m, x)
        assert torch.equal(out, whole)
        _equal_states(state, final)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", [*CONFIGS, "stochastic-random"])
def test_record_gives_the_scans_spikes_on_every_backend(name, backend):
    cfg = CONFIGS.get(name, dict(firing=sf.Gaussian(0.4), stochastic=True, order="random", tau_syn=3.0))
    n = sf.Neuron(**cfg, backend=backend)
    x = _x(4)
    whole, final = n(x, return_state=True, generator=torch.Generator().manual_seed(5))
    fields = ("v", "s", "v_star", "psi", "current")
    r = sf.record(n, x, fields=fields, generator=torch.Generator().manual_seed(5))
    assert isinstance(r, sf.Recording) and set(r.traces) == set(fields)
    assert torch.equal(r.spikes, whole)
    assert torch.equal(r.traces["s"], whole)
    for a, b in zip(r.state, final):
        if a is not None:
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert all(t.shape[:1] == (x.shape[0],) and t.shape[1:] == final.v.shape for t in r.traces.values())
    # the traces are what the step function gives
    params, state = n.params(x.dtype, x.device), n.initial_state(x)
    g = torch.Generator().manual_seed(5)
    noise = draw_noise(n.spec, tuple(x.shape), dtype=x.dtype, device=x.device, generator=g)
    orders = draw_orders(n.spec, x.shape[0], g)
    for t in range(x.shape[0]):
        _, state, tr = traced_step(x[t], state, params, n.spec, noise_t=None if noise is None else noise[t],
                                   order=orders[t])
        assert torch.equal(r.traces["v"][t], state.v) and torch.equal(r.traces["v_star"][t], tr.v_star)
        assert torch.equal(r.traces["psi"][t], tr.psi) and torch.equal(r.traces["current"][t], tr.current)


def test_traced_step_gives_the_reference_scans_spikes_and_state():
    n = sf.Neuron(**CONFIGS["refractory-cuba-adaptive"])
    x = _x(5)
    params = n.params(x.dtype, x.device)
    whole, final = reference_scan(x, n.initial_state(x), params, n.spec)
    r = sf.record(n, x, fields=("v_star",))
    assert torch.equal(r.spikes, whole)
    _equal_states(r.state, final)


@pytest.mark.parametrize("reset", ["soft", "hard", "none"])
@pytest.mark.parametrize("impl", ["torch", "c", "numba"])
def test_v_star_trace_equals_the_fast_paths_saved_v_star(impl, reset):
    if impl != "torch" and not fast_lif._cpu.available(impl):
        pytest.skip(f"{impl} kernels not available")
    n = sf.LIF(tau=6.0, reset=reset, firing=sf.Cauchy(0.3))
    x = _x(6)
    r = sf.record(n, x, fields=("v_star", "psi"))
    lam = torch.full((x[0].numel(),), float(n.lam()))
    th = torch.full_like(lam, float(n.threshold))
    out, _, vstar = fast_lif.scan_forward(x.reshape(x.shape[0], -1).contiguous(), torch.zeros_like(lam), lam, th,
                                          n.spec, impl, True)
    assert torch.equal(out.view_as(x), r.spikes)
    if impl == "torch":  # its addcmul rounds λ·v + x once, the step function twice
        torch.testing.assert_close(vstar.view_as(x), r.traces["v_star"], rtol=1e-6, atol=1e-6)
    else:
        assert torch.equal(vstar.view_as(x), r.traces["v_star"])


def test_psi_is_the_firing_density_at_v_star_minus_theta():
    for firing in FIRING.values():
        n = sf.LIF(tau=6.0, threshold=0.9, firing=firing)
        r = sf.record(n, _x(7), fields=("v_star", "psi"))
        assert torch.equal(r.traces["psi"], firing.pdf(r.traces["v_star"] - 0.9))
        if firing.is_noisy:
            assert bool((r.traces["psi"] > 0).all())
    # graded: the sum over the staircase; adaptive: against θ + β·a (a before this step's spike)
    n = sf.GradedLIF(threshold=0.5, firing=sf.Gaussian(0.3))
    r = sf.record(n, _x(7) * 3, fields=("v_star", "psi"))
    want = sum(sf.Gaussian(0.3).pdf(r.traces["v_star"] - k * 0.5) for k in range(1, 5))
    torch.testing.assert_close(r.traces["psi"], want, rtol=1e-6, atol=0)
    n = sf.AdaptiveLIF(firing=sf.Gaussian(0.3), adapt_scale=0.5)
    r = sf.record(n, _x(7) * 2, fields=("v_star", "psi", "a"))
    a_before = torch.cat([torch.zeros_like(r.traces["a"][:1]), r.traces["a"][:-1]])
    torch.testing.assert_close(r.traces["psi"], sf.Gaussian(0.3).pdf(r.traces["v_star"] - (1.0 + 0.5 * a_before)))


def test_current_is_the_cuba_filtered_input_and_v_star_integrates_it():
    n = sf.CuBaLIF(tau=8.0, tau_syn=4.0, reset="refractory", refractory_steps=2).double()
    x = _x(8, dtype=torch.float64) * 2
    r = sf.record(n, x, fields=("current", "v_star", "v", "ref", "i"))
    lam_syn = torch.exp(torch.tensor(-0.25, dtype=torch.float64))
    lam = torch.exp(torch.tensor(-1 / 8.0, dtype=torch.float64))
    i = torch.zeros_like(x[0])
    ref_prev = torch.zeros_like(x[0])
    v_prev = torch.zeros_like(x[0])
    for t in range(x.shape[0]):
        i = lam_syn * i + x[t]
        torch.testing.assert_close(r.traces["i"][t], i)
        want = i * (ref_prev == 0)
        torch.testing.assert_close(r.traces["current"][t], want, rtol=1e-12, atol=0)
        torch.testing.assert_close(r.traces["v_star"][t], want + lam * v_prev, rtol=1e-12, atol=1e-12)
        ref_prev, v_prev = r.traces["ref"][t].double(), r.traces["v"][t]
    assert bool((r.traces["ref"] > 0).any()) and r.traces["ref"].dtype == torch.int32


@pytest.mark.parametrize("backend", ["torch", "auto"])
@pytest.mark.parametrize("cfg", [dict(tau_syn=4.0, tau_adapt=10.0, adapt_scale=0.2), dict(reset="hard")])
def test_record_gradients_equal_the_scans(cfg, backend):
    n = sf.LIF(firing=sf.Cauchy(0.3), learnable=("tau", "threshold"), **cfg, backend=backend).double()
    x = _x(9, dtype=torch.float64).requires_grad_()
    w = torch.randn(x.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    wrt = [x, n.tau, n.threshold]
    g_scan = torch.autograd.grad((w * n(x)).sum(), wrt)
    r = sf.record(n, x, fields=())
    g_rec = torch.autograd.grad((w * r.spikes).sum(), wrt)
    for a, b in zip(g_rec, g_scan):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)
    assert g_rec[0].abs().sum() > 0 and g_rec[1] != 0


def test_traces_carry_gradient():
    # the traces themselves carry gradient (e-prop uses ψ and v*)
    n = sf.LIF(firing=sf.Gaussian(0.4), learnable=("tau",))
    r = sf.record(n, _x(9), fields=("psi", "v_star"))
    (g,) = torch.autograd.grad(r.traces["psi"].sum() + r.traces["v_star"].sum(), [n.tau])
    assert torch.isfinite(g) and g != 0


def test_unknown_field_lists_the_available_ones():
    x = _x()
    with pytest.raises(ValueError, match=r"fields: LIF has no field 'i'; available: v, s, h, v_star, psi, current"):
        sf.record(sf.LIF(), x, fields=("v", "i"))
    with pytest.raises(ValueError, match=r"available: v, s, h, i, a, ref, v_star"):
        sf.record(sf.Neuron(tau_syn=2.0, tau_adapt=5.0, reset="refractory"), x, fields="nope")
    with pytest.raises(ValueError, match=r"LI has no field 'v_star'; available: v$"):
        sf.record(sf.LI(), x, fields=("v_star",))
    with pytest.raises(TypeError, match="fields"):
        sf.record(sf.LIF(), x, fields=(1,))


def test_record_of_a_single_field_name_and_of_li():
    x = _x()
    r = sf.record(sf.LI(tau=3.0), x, fields="v")
    assert torch.equal(r.traces["v"], sf.LI(tau=3.0)(x)) and torch.equal(r.spikes, r.traces["v"])
    assert isinstance(r.state, sf.LIState)


class _ToyIF(nn.Module):
    """A model of the protocol only: ``v ← v + x``, fires at 1 with a soft reset; declares ``drive``."""

    record_fields = ("drive",)

    def __init__(self, with_step: bool = True) -> None:
        super().__init__()
        self.calls = {"step": 0, "scan": 0}
        if not with_step:
            self.step = None  # type: ignore[assignment]

    def initial_state(self, x):
        return sf.LIState(v=torch.zeros_like(x[0]))

    def _one(self, x_t, state):
        v = state.v + x_t
        s = (v >= 1).to(v.dtype)
        return s, sf.LIState(v=v - s), {"drive": 2 * x_t}

    def scan(self, x, state=None):
        self.calls["scan"] += 1
        state = self.initial_state(x) if state is None else state
        out = []
        for t in range(x.shape[0]):
            s, state, _ = self._one(x[t], state)
            out.append(s)
        return torch.stack(out), state

    def step(self, x_t, state=None):
        self.calls["step"] += 1
        return self._one(x_t, sf.LIState(torch.zeros_like(x_t)) if state is None else state)[:2]

    def record_step(self, x_t, state):
        return self._one(x_t, state)


@pytest.mark.parametrize("with_step", [True, False])
def test_other_models_follow_the_protocol(with_step):
    m = _ToyIF(with_step)
    x = _x().abs()
    whole, final = m.scan(x)
    m.calls.update(step=0, scan=0)
    spikes, state = _loop(m, x)
    assert torch.equal(spikes, whole) and torch.equal(state.v, final.v)
    assert m.calls == ({"step": x.shape[0], "scan": 0} if with_step else {"step": 0, "scan": x.shape[0]})
    r = sf.record(m, x, fields=("v", "drive"))
    assert torch.equal(r.spikes, whole) and torch.equal(r.traces["drive"], 2 * x)
    with pytest.raises(ValueError, match="_ToyIF has no field 'psi'; available: v, drive"):
        sf.record(m, x, fields=("psi",))


def test_bad_arguments():
    with pytest.raises(TypeError, match="x_t"):
        sf.step(sf.LIF(), [1.0, 2.0])
    with pytest.raises(ValueError, match=r"x_t: expected one time step \[B, \.\.\.\]"):
        sf.step(sf.LIF(), torch.tensor(1.0))
    with pytest.raises(TypeError, match="neuron: expected a neuron module"):
        sf.step(nn.ReLU(), torch.rand(2, 3))
    with pytest.raises(TypeError, match="neuron: expected a neuron module"):
        sf.record(object(), torch.rand(3, 2, 3))
    _, st = sf.LIF()(torch.rand(3, 2, 3), return_state=True)
    with pytest.raises(ValueError, match=r"state\.v: expected shape \(4, 3\)"):
        sf.step(sf.LIF(), torch.rand(4, 3), st)
    with pytest.raises(ValueError, match=r"state\.v: expected shape \(4, 3\)"):
        sf.record(sf.LIF(), torch.rand(5, 4, 3), st)


@pytest.mark.parametrize(("name", "scale"), [("AdEx", 20000.0), ("ExpIF", 20000.0), ("Izhikevich", 200.0)])
def test_the_plug_in_models_step_and_record_through_the_protocol(name, scale):
    models = pytest.importorskip("spikeforge.neuron.models")
    m = getattr(models, name)()
    x = torch.rand(100, 2, 3, generator=torch.Generator().manual_seed(0)) * scale
    whole, final = m.scan(x)
    assert whole.sum() > 0  # they fire: the comparison below can fail
    spikes, state = _loop(m, x)
    assert torch.equal(spikes, whole)
    _equal_states(state, final)
    r = sf.record(m, x, fields=final._fields)
    assert torch.equal(r.spikes, whole) and torch.equal(r.traces["v"][-1], final.v)
    with pytest.raises(ValueError, match=rf"{name} has no field 'psi'; available: {', '.join(final._fields)}$"):
        sf.record(m, x, fields=("psi",))


def test_an_argument_a_stateful_module_does_not_take_is_named():
    from spikeforge.synapse import Recurrent

    rec = Recurrent(3, sf.LIF())
    with pytest.raises(TypeError, match=r"^recurrent_weight: Recurrent takes no recurrent_weight"):
        sf.step(rec, torch.rand(2, 3), recurrent_weight=torch.zeros(3, 3))

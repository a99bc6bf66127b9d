"""The model declaration interface (spikeforge.neuron.models.base) and what every declared model gets from it:
state checks, step == scan, pickling / state_dict / .to(), surrogate gradients, training, hardware fit."""

import inspect
import math
import pickle
from typing import NamedTuple

import pytest
import torch
from torch import nn

import spikeforge as sf
from spikeforge.hardware.fit import fit, model_needs
from spikeforge.neuron.firing import Cauchy, Gaussian, expected_count
from spikeforge.neuron.models import (
    ADEX,
    EXPIF,
    IZHIKEVICH,
    AdEx,
    AdExState,
    ExpIF,
    ExpIFState,
    Izhikevich,
    ModelNeuron,
    NeuronModel,
    Param,
)
from spikeforge.synapse import Linear

MODELS = (ExpIF, AdEx, Izhikevich)
# a current that makes each model fire a few times in 30 ms
DRIVE = {ExpIF: 900.0, AdEx: 1200.0, Izhikevich: 15.0}


def _drive(cls, steps=300, batch=2, n=3, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return DRIVE[cls] * (1 + 0.3 * torch.rand(steps, batch, n, generator=g, dtype=dtype))


# -- the declaration ---------------------------------------------------------------------------------------
def test_declarations_and_exports():
    assert sf.ExpIF is ExpIF and sf.AdEx is AdEx and sf.Izhikevich is Izhikevich
    assert sf.neuron.ModelNeuron is ModelNeuron and sf.neuron.NeuronModel is NeuronModel
    for cls, decl, kind in ((ExpIF, EXPIF, "exp-LIF"), (AdEx, ADEX, "AdEx-IF"), (Izhikevich, IZHIKEVICH, "Izhikevich")):
        assert cls.model is decl and decl.neuron_type == kind
        assert {"real", "binary", "deterministic", "reset:hard", f"model:{decl.name}"} <= decl.features
        # the constructor's signature is the declaration's parameters plus the common keywords
        sig = inspect.signature(cls)
        assert list(sig.parameters)[: len(decl.params)] == [p.name for p in decl.params]
        assert all(sig.parameters[p.name].default == p.default for p in decl.params)
    assert "adaptive" in ADEX.features and "exponential" in ADEX.features and "exponential" in EXPIF.features
    assert EXPIF.runs_on == {"exp-LIF", "AdEx-IF"} and ADEX.runs_on == {"AdEx-IF"}
    # the neuron types are the catalog's (the two that chips list; Izhikevich only on programmable neurons)
    from spikeforge.hardware.catalog import platforms

    listed = {p.neuron_type for p in platforms()}
    assert {"exp-LIF", "AdEx-IF"} <= listed and "Izhikevich" not in listed


def test_declaration_checks():
    with pytest.raises(ValueError, match=r"Param\.constraint"):
        Param("x", 1.0, "odd")
    with pytest.raises(ValueError, match="is not positive"):
        Param("x", -1.0, "positive")
    with pytest.raises(ValueError, match=r"Param\.name"):
        Param("dt", 1.0)
    with pytest.raises(TypeError, match="NamedTuple"):
        NeuronModel("M", tuple, (), frozenset(), "LIF", EXPIF.step, EXPIF.rest)
    with pytest.raises(ValueError, match="unique"):
        NeuronModel("M", ExpIFState, (Param("a", 1.0), Param("a", 2.0)), frozenset(), "LIF", EXPIF.step, EXPIF.rest)
    with pytest.raises(TypeError, match="model: expected a NeuronModel"):
        type("Bad", (ModelNeuron,), {"model": 3})


def test_a_new_model_is_one_declaration():
    """A model written here, in a few lines, gets the whole module (the plug-in interface)."""

    class State(NamedTuple):
        v: torch.Tensor

    def step(I_t, state, p, config):
        v_star = state.v + config.dt * (-state.v / p.tau + I_t)
        s = sf.neuron.models.fire(v_star, p.theta, config.firing)
        return s, State(v=(1 - s) * v_star)

    decl = NeuronModel("Toy", State, (Param("tau", 10.0, "positive", unit="ms"), Param("theta", 1.0)),
                       frozenset({"real"}), "LIF", step, lambda p, zeros: State(v=zeros))
    Toy = type("Toy", (ModelNeuron,), {"model": decl})
    x = torch.full((50, 1, 2), 0.3)
    spikes, state = Toy(dt=1.0)(x, return_state=True)
    # closed form of the leaky integrator v_t = (1 - dt/τ)·v_{t-1} + dt·I below threshold: first spike at t = 3
    v = 0.0
    for t in range(4):
        v = 0.9 * v + 0.3
        assert (v >= 1.0) == bool(spikes[t, 0, 0]), t
    assert isinstance(state, State) and Toy().state_dict().keys() == {"tau", "theta"}


# -- the module ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("cls", MODELS)
def test_step_loop_equals_scan_and_state_continues(cls):
    m = cls(dtype=torch.float64)
    x = _drive(cls)
    spikes, state = m.scan(x)
    assert spikes.shape == x.shape and spikes.dtype == x.dtype and set(spikes.unique().tolist()) == {0.0, 1.0}
    assert isinstance(state, cls.model.state)
    st = None
    for t in range(x.shape[0]):
        s_t, st = m.step(x[t], st)
        assert torch.equal(s_t, spikes[t])
    assert all(torch.equal(a, b) for a, b in zip(st, state))
    # two halves give the whole sequence
    s1, mid = m.scan(x[:120])
    s2, end = m(x[120:], mid, return_state=True)
    assert torch.equal(torch.cat([s1, s2]), spikes) and all(torch.equal(a, b) for a, b in zip(end, state))
    assert torch.equal(m(x), spikes)
    # the resting state is the declaration's
    rest = m.initial_state(x)
    assert torch.equal(rest.v, torch.full(x.shape[1:], float(m.model.rest(m.params(x.dtype, x.device),
                                                                           x.new_zeros(())).v), dtype=x.dtype))


@pytest.mark.parametrize("cls", MODELS)
def test_mismatched_state_is_an_error(cls):
    m = cls()
    x = _drive(cls, steps=5, dtype=torch.float32)
    state = m.initial_state(x)
    wrong = ExpIFState if cls is not ExpIF else AdExState
    with pytest.raises(TypeError, match=f"state: expected a {cls.model.state.__name__}"):
        m(x, wrong(*state, *state) if wrong is AdExState else wrong(state.v))
    with pytest.raises(TypeError, match="state: expected"):
        m(x, tuple(state))
    bad = state._replace(v=state.v[:1])
    with pytest.raises(ValueError, match=r"state.v: expected shape \(2, 3\)"):
        m(x, bad)
    with pytest.raises(ValueError, match=r"state\.v: expected dtype torch\.float64"):
        m(x.double(), state)
    with pytest.raises(ValueError, match=r"state.v: expected shape \(2, 3\)"):
        m.step(x[0], bad)
    with pytest.raises(TypeError, match=r"x: expected a torch.Tensor of shape \[T, B, ...\]"):
        m([1.0, 2.0])
    with pytest.raises(ValueError, match=r"x: expected a tensor of shape \[T, B, ...\], got shape \(3,\)"):
        m(torch.ones(3))
    with pytest.raises(TypeError, match="real floating-point"):
        m(torch.ones(2, 2, dtype=torch.int64))


def test_parameters_constructor_checks():
    with pytest.raises(TypeError, match=r"AdEx: unknown parameter\(s\) \['tauw'\]"):
        AdEx(tauw=100.0)
    with pytest.raises(ValueError, match=r"C: expected positive value\(s\), got -1.0"):
        AdEx(C=-1.0)
    with pytest.raises(ValueError, match="learnable: expected names among"):
        AdEx(learnable=("V_peak",))
    with pytest.raises(ValueError, match="dt: expected a positive finite time step in ms"):
        Izhikevich(dt=0.0)
    with pytest.raises(TypeError, match="firing: expected a FiringModel"):
        Izhikevich(firing="gauss")
    with pytest.raises(ValueError, match="share one shape"):
        Izhikevich(a=torch.ones(3) * 0.02, b=torch.ones(4) * 0.2)
    with pytest.raises(ValueError, match=r"expected a scalar or shape \(4,\)"):
        Izhikevich(a=torch.ones(3) * 0.02, shape=4)
    m = Izhikevich(d=torch.tensor([8.0, 2.0]))
    assert m.shape == (2,)
    with pytest.raises(ValueError, match=r"x: Izhikevich has per-neuron parameters of shape \(2,\)"):
        m(torch.ones(4, 1, 3))
    with pytest.raises(ValueError, match=r"expected input \[B, 2\]"):
        m.step(torch.ones(1, 3))
    # a learned parameter that leaves its constraint is refused at the next call
    m = AdEx(learnable=("tau_w",))
    with torch.no_grad():
        m.tau_w.fill_(-1.0)
    with pytest.raises(ValueError, match="tau_w: must stay positive"):
        m(torch.ones(3, 1, 1))


@pytest.mark.parametrize("cls", MODELS)
def test_state_dict_pickle_and_to(cls):
    m = cls(learnable=("C",) if cls is not Izhikevich else ("a", "d"), firing=Gaussian(2.0), shape=3)
    names = [p.name for p in cls.model.params]
    assert list(m.state_dict()) == [n for n in names if n in m.learnable] + [n for n in names if n not in m.learnable]
    assert {n for n, _ in m.named_parameters()} == set(m.learnable)
    x = _drive(cls, steps=200, dtype=torch.float32)
    ref = m(x)
    clone = pickle.loads(pickle.dumps(m))
    assert torch.equal(clone(x), ref) and clone.firing == Gaussian(2.0) and clone.learnable == m.learnable
    other = cls(learnable=m.learnable, shape=3, V_reset=-60.0) if cls is not Izhikevich else cls(
        learnable=m.learnable, shape=3, c=-50.0)
    other.load_state_dict(m.state_dict())
    assert torch.equal(other(x), ref)
    d = m.to(torch.float64)
    assert all(t.dtype == torch.float64 for t in d.state_dict().values())
    assert d(x.double()).dtype == torch.float64
    assert pickle.loads(pickle.dumps(cls.model)) == cls.model  # the declaration is a picklable value


# -- gradients ------------------------------------------------------------------------------------------------
def _naive_adex(x, p, dt, firing):
    """AdEx written again here, with the straight-through spike of the smooth expected count E[n] = F(v* − θ):
    forward the Heaviside step, backward the firing model's density (naive autograd, no custom Function)."""
    v = torch.full_like(x[0], p["E_L"]) if not torch.is_tensor(p["E_L"]) else x[0] * 0 + p["E_L"]
    w = torch.zeros_like(x[0])
    out = []
    for t in range(x.shape[0]):
        dv = -p["g_L"] * (v - p["E_L"]) + p["g_L"] * p["Delta_T"] * torch.exp((v - p["V_T"]) / p["Delta_T"]) - w + x[t]
        v_star = v + dt / p["C"] * dv
        w_star = w + dt / p["tau_w"] * (p["a"] * (v - p["E_L"]) - w)
        smooth = expected_count(v_star, p["V_peak"], firing)
        s = smooth + ((v_star >= p["V_peak"]).to(x.dtype) - smooth).detach()
        v = (1 - s) * v_star + s * p["V_reset"]
        w = w_star + p["b"] * s
        out.append(s)
    return torch.stack(out), v, w


def test_surrogate_gradients_equal_naive_autograd():
    firing = Cauchy(5.0)
    m = AdEx(learnable=("a", "b", "tau_w", "V_T"), firing=firing, dtype=torch.float64)
    x = _drive(AdEx, steps=400, batch=2, n=2).requires_grad_(True)
    spikes, state = m.scan(x)
    assert spikes.sum() >= 4
    weights = torch.linspace(0.5, 1.5, x.shape[0], dtype=x.dtype)[:, None, None]
    loss = (spikes * weights).sum() + 1e-3 * state.v.sum() + 1e-3 * state.w.sum()
    grads = torch.autograd.grad(loss, [x, m.a, m.b, m.tau_w, m.V_T])
    p = {n: getattr(m, n) for n in ("C", "g_L", "E_L", "V_T", "Delta_T", "tau_w", "a", "b", "V_reset", "V_peak")}
    s2, v2, w2 = _naive_adex(x, p, m.dt, firing)
    assert torch.equal(s2, spikes)
    loss2 = (s2 * weights).sum() + 1e-3 * v2.sum() + 1e-3 * w2.sum()
    grads2 = torch.autograd.grad(loss2, [x, m.a, m.b, m.tau_w, m.V_T])
    for g, g2 in zip(grads, grads2):
        assert g.abs().max() > 0
        torch.testing.assert_close(g, g2, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("cls", MODELS)
def test_one_step_surrogate_is_the_derivative_of_the_expected_count(cls):
    """ds/dI of one step = d/dI F(v*(I) − θ), the latter by central finite differences of the smooth count."""
    firing = Gaussian(3.0)
    m = cls(firing=firing, dtype=torch.float64)
    params = m.params(torch.float64, torch.device("cpu"))
    # states just below the cut-off, where the density is not negligible
    x0 = torch.zeros(1, 4, dtype=torch.float64)
    rest = m.model.rest(params, x0)
    v0 = torch.tensor([[-46.0, -44.0, -42.0, -41.0]] if cls is not Izhikevich else [[6.0, 8.0, 9.0, 10.0]],
                      dtype=torch.float64)
    state = rest._replace(v=v0)
    current = torch.full((1, 4), DRIVE[cls] / 3, dtype=torch.float64, requires_grad=True)
    s, _ = m.step(current, state)
    (g,) = torch.autograd.grad(s.sum(), current)

    def smooth(i):
        with torch.no_grad():
            # v* of the step, without its fire/reset: the step with a threshold no potential reaches
            far = m.model.params_type(**{**params._asdict(), m.model.params[-1].name: torch.tensor(1e9)})
            _, st = m.model.step(i, state, far, m.config)
            return firing.cdf(st.v - params[-1])

    h = 1e-4 * DRIVE[cls]
    fd = (smooth(current.detach() + h) - smooth(current.detach() - h)) / (2 * h)
    assert fd.abs().min() > 1e-6
    torch.testing.assert_close(g, fd, rtol=1e-5, atol=1e-12)


@pytest.mark.parametrize("cls", MODELS)
def test_a_training_step_reduces_the_loss(cls):
    """A Linear layer before the neuron learns to hit target spike counts through the surrogate gradient
    (Izhikevich with ``detach_reset``: see the next test)."""
    torch.manual_seed(0)
    layer = nn.Linear(4, 3)
    with torch.no_grad():
        layer.weight.uniform_(0.0, 0.3)
        layer.bias.fill_(0.6)
    neuron = cls(firing=Cauchy(5.0), detach_reset=cls is Izhikevich)
    x = torch.rand(200, 2, 4)
    target = torch.tensor([2.0, 4.0, 6.0])

    def loss_fn():
        return ((neuron(DRIVE[cls] * layer(x)).sum(0) - target) ** 2).mean()

    opt = torch.optim.Adam(layer.parameters(), lr=0.05)
    first = loss_fn()
    for _ in range(10):
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        assert layer.weight.grad.abs().max() > 0
        opt.step()
    assert loss_fn().item() < 0.5 * first.item()


def test_izhikevich_gradient_through_the_reset_has_the_wrong_sign_unless_detached():
    """The spike count grows with the input; the surrogate gradient says so only with ``detach_reset``: through
    the reset ``v = (1 − s)·v* + s·c`` it picks up ``c − v*`` (about −100 mV) per spike, amplified by the
    quadratic term (documented in docs/neuron-models.md)."""
    x = torch.full((300, 1, 1), 12.0, dtype=torch.float64)
    counts = [Izhikevich()(x * k).sum().item() for k in (0.8, 1.0, 1.2)]
    assert counts[0] < counts[1] <= counts[2]
    grads = {}
    for detach in (False, True):
        m = Izhikevich(firing=Cauchy(5.0), detach_reset=detach, dtype=torch.float64)
        scale = torch.tensor(1.0, dtype=torch.float64, requires_grad=True)
        spikes = m(x * scale)
        assert torch.equal(spikes, Izhikevich(dtype=torch.float64)(x))  # the reset's gradient, not its value
        (grads[detach],) = torch.autograd.grad(spikes.sum(), scale)
    assert grads[True] > 0 > grads[False]


# -- hardware fit -----------------------------------------------------------------------------------------------
def _net(*neurons):
    layers = []
    for k, n in enumerate(neurons):
        layers += [Linear(8 if k == 0 else 4, 4), n]
    return nn.Sequential(*layers)


def test_hardware_fit_asks_the_declaration():
    assert model_needs(_net(AdEx())).features == ("AdEx-IF",)
    assert model_needs(_net(ExpIF())).features == ("exp-LIF",)
    assert model_needs(_net(sf.LIF(), AdEx())).features == ("LIF", "AdEx-IF")
    verdict = {
        cls.__name__: {chip: fit(_net(cls()), chip).neuron_model for chip in
                       ("TrueNorth", "BrainScaleS-2", "Loihi-1", "ODIN", "Loihi-2", "SpiNNaker-1")}
        for cls in (sf.LIF, ExpIF, AdEx, Izhikevich)
    }
    # TrueNorth lists exp-LIF, BrainScaleS-2 AdEx-IF, Loihi-1 and ODIN LIF; Loihi-2 and SpiNNaker are programmable
    assert verdict == {
        "LIF": dict.fromkeys(("TrueNorth", "BrainScaleS-2", "Loihi-1", "ODIN", "Loihi-2", "SpiNNaker-1"), "yes"),
        "ExpIF": {"TrueNorth": "yes", "BrainScaleS-2": "yes", "Loihi-1": "no", "ODIN": "no", "Loihi-2": "yes",
                  "SpiNNaker-1": "yes"},
        "AdEx": {"TrueNorth": "no", "BrainScaleS-2": "yes", "Loihi-1": "no", "ODIN": "no", "Loihi-2": "yes",
                 "SpiNNaker-1": "yes"},
        "Izhikevich": {"TrueNorth": "no", "BrainScaleS-2": "no", "Loihi-1": "no", "ODIN": "no", "Loihi-2": "yes",
                       "SpiNNaker-1": "yes"},
    }
    v = fit(_net(AdEx()), "TrueNorth")
    assert v.verdict == "no" and "neuron type exp-LIF cannot run AdEx-IF (needs AdEx-IF)" in v.reasons[0]
    # a network of LIF and AdEx needs a chip that runs both: BrainScaleS-2 (its AdEx runs LIF), not ODIN
    mixed = _net(sf.LIF(), AdEx())
    assert fit(mixed, "BrainScaleS-2").neuron_model == "yes"
    assert fit(mixed, "ODIN").neuron_model == "no" and fit(mixed, "TrueNorth").neuron_model == "no"


def test_adex_without_adaptation_is_expif():
    x = _drive(AdEx, steps=2000)
    assert torch.equal(AdEx(a=0.0, b=0.0, dtype=torch.float64)(x), ExpIF(dtype=torch.float64)(x))
    assert not torch.equal(AdEx(dtype=torch.float64)(x), ExpIF(dtype=torch.float64)(x))


def test_hardware_mlp_builds_declared_models():
    """``spikeforge hardware fit --sizes ... --neuron AdEx`` builds its MLP with fit.mlp."""
    from spikeforge.hardware.fit import fit_all, mlp

    net = mlp([8, 4, 2], "AdEx")
    assert [type(m) for m in net] == [Linear, AdEx, Linear, AdEx]
    table = fit_all(net)
    assert table.needs.features == ("AdEx-IF",) and table.row("BrainScaleS-2").neuron_model == "yes"
    with pytest.raises(ValueError, match=r"neuron: expected one of \[.*'AdEx'.*'ExpIF'.*'Izhikevich'"):
        mlp([8, 4], "ModelNeuron")


@pytest.mark.parametrize("name", ["features", "neuron_type", "runs_on", "config", "dt"])
def test_a_parameter_may_not_shadow_the_modules_own_attributes(name):
    with pytest.raises(ValueError, match=r"Param\.name"):
        Param(name, 1.0)


# -- optional parts of a declaration: its own scan, rest with the config, params_type, to_nir, record_fields ----
class _LeakState(NamedTuple):
    v: torch.Tensor


def _leak_step(I_t, state, p, config):
    v_star = math.exp(-config.dt / 10.0) * state.v + I_t
    s = sf.neuron.models.fire(v_star, p.theta, config.firing)
    return s, _LeakState(v=(1 - s) * v_star)


def _leak_rest(p, zeros):
    return _LeakState(v=zeros)


class _ScanCalls:
    n = 0


def _leak_scan(x, state, p, config):
    """The same dynamics as _leak_step, written as its own sequence function (as a fused scan would be)."""
    _ScanCalls.n += 1
    out, v = [], state.v
    lam = math.exp(-config.dt / 10.0)
    for t in range(x.shape[0]):
        v_star = lam * v + x[t]
        s = sf.neuron.models.fire(v_star, p.theta, config.firing)
        v = (1 - s) * v_star
        out.append(s)
    return torch.stack(out), _LeakState(v=v)


def test_a_declared_scan_is_what_the_module_runs():
    from spikeforge.hardware.counts import count_ops

    params = (Param("theta", 1.0, "positive"),)
    looped = NeuronModel("Leak", _LeakState, params, frozenset({"real"}), "LIF", _leak_step, _leak_rest)
    fused = NeuronModel("Leak", _LeakState, params, frozenset({"real"}), "LIF", _leak_step, _leak_rest,
                        scan=_leak_scan)
    A = type("LeakLoop", (ModelNeuron,), {"model": looped})
    B = type("LeakFused", (ModelNeuron,), {"model": fused})
    x = (torch.rand(40, 2, 3, dtype=torch.float64) * 0.5).requires_grad_()
    a, b = A(dt=1.0, firing=Gaussian(0.3), dtype=torch.float64), B(dt=1.0, firing=Gaussian(0.3), dtype=torch.float64)
    before = _ScanCalls.n
    (sa, st_a), (sb, st_b) = a.scan(x), b.scan(x)
    assert _ScanCalls.n == before + 1 and torch.equal(sa, sb) and torch.equal(st_a.v, st_b.v)
    ga, = torch.autograd.grad(sa.sum(), x)
    gb, = torch.autograd.grad(sb.sum(), x)
    assert torch.equal(ga, gb)
    # per sample: T·N updates, reported by the scan either way
    assert count_ops(b, x.detach()).neuron_updates == count_ops(a, x.detach()).neuron_updates == 40 * 3


def test_optional_fields_checks_and_pickling():
    import pickle

    base = dict(name="Leak", state=_LeakState, params=(Param("theta", 1.0),), features=frozenset({"real"}),
                neuron_type="LIF", step=_leak_step, rest=_leak_rest)
    d = NeuronModel(**base)
    assert d.scan is None and d.to_nir is None and not d.rest_takes_config and d.record_fields == ()
    assert d.params_type._fields == ("theta",)
    with pytest.raises(TypeError, match=r"NeuronModel\.to_nir: expected a callable, a 'package\.module:function'"):
        NeuronModel(**base, to_nir="not a reference")
    with pytest.raises(TypeError, match=r"NeuronModel\.scan: expected a callable or None"):
        NeuronModel(**base, scan=3)
    with pytest.raises(TypeError, match=r"NeuronModel\.params_type: expected a NamedTuple type"):
        NeuronModel(**base, params_type=dict)
    with pytest.raises(TypeError, match=r"NeuronModel\.record_fields: expected field names"):
        NeuronModel(**base, record_fields=("a b",))
    with pytest.raises(TypeError, match=r"NeuronModel\.rest_takes_config: expected True or False"):
        NeuronModel(**base, rest_takes_config=1)
    full = NeuronModel(**base, params_type=_LeakState, rest_takes_config=True, scan=_leak_scan,
                       to_nir="spikeforge.interop.nir_export:neuron_to_nir", record_fields=("v_star",))
    assert full.params_type is _LeakState  # a named type is kept, not rebuilt
    for decl in (d, full):
        clone = pickle.loads(pickle.dumps(decl))
        assert clone == decl and clone.params_type._fields == decl.params_type._fields
        assert clone.scan is decl.scan and clone.to_nir == decl.to_nir and clone.record_fields == decl.record_fields
    assert pickle.loads(pickle.dumps(full)).params_type is _LeakState


def test_rest_takes_the_config_when_declared():
    seen = []

    def rest(p, zeros, config):
        seen.append(config)
        return _LeakState(v=zeros + config.dt)

    decl = NeuronModel("Leak", _LeakState, (Param("theta", 1.0),), frozenset({"real"}), "LIF", _leak_step, rest,
                       rest_takes_config=True)
    M = type("LeakRest", (ModelNeuron,), {"model": decl})
    m = M(dt=0.25)
    x = torch.zeros(3, 1, 2)
    assert torch.equal(m.initial_state(x).v, torch.full((1, 2), 0.25)) and seen == [m.config]
    m.scan(x)
    m.step(x[0])
    assert seen == [m.config] * 3

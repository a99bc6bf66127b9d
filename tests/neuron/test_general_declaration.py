"""The general neuron's declaration (spikeforge.neuron.general): Neuron.__init__ checks against it, and every
neuron module answers features / neuron_type / runs_on."""

import inspect

import pytest
import torch
from torch import nn

import spikeforge as sf
from spikeforge.neuron import general
from spikeforge.neuron.dynamics import draw_noise, draw_orders
from spikeforge.neuron.features import required_features
from spikeforge.neuron.firing import Cauchy, Gaussian
from spikeforge.neuron.models.base import Param


def test_the_declaration_names_the_neurons_arguments():
    args = inspect.signature(sf.Neuron).parameters
    assert [p.name for p in general.PARAMS] == ["tau", "decay", "omega", "threshold", "tau_syn", "tau_adapt",
                                                "adapt_scale"]
    for p in general.PARAMS:
        assert isinstance(p, Param) and p.doc and p.name in args
        assert args[p.name].default == p.default  # the declared default is the constructor's
    assert general.LEARNABLE == ("tau", "decay", "omega", "threshold", "tau_syn", "tau_adapt")
    assert {p.name for p in general.PARAMS if p.constraint == "positive"} == {"tau", "threshold", "tau_syn",
                                                                                "tau_adapt"}
    assert general.param("adapt_scale").constraint == "nonnegative"
    with pytest.raises(KeyError):
        general.param("dt")
    with pytest.raises(ValueError, match=r"Param\.constraint"):
        general.OptionalParam("tau", None, "odd")


@pytest.mark.parametrize("name", ["tau", "threshold", "tau_syn", "tau_adapt"])
def test_positive_parameters_are_checked(name):
    with pytest.raises(ValueError, match=rf"^{name}: expected positive finite value\(s\), got -1.0$"):
        sf.Neuron(**{name: -1.0})


def test_nonnegative_and_learnable_follow_the_declaration(monkeypatch):
    with pytest.raises(ValueError, match=r"^adapt_scale: expected >= 0, got -0.5$"):
        sf.Neuron(tau_adapt=5.0, adapt_scale=-0.5)
    with pytest.raises(ValueError, match=r"learnable: expected names among .*'tau_adapt'\), got \['adapt_scale'\]"):
        sf.Neuron(tau_adapt=5.0, adapt_scale=0.5, learnable=["adapt_scale"])
    assert isinstance(sf.Neuron(tau=2.0, omega=1.0, learnable=["omega"]).omega, nn.Parameter)
    # the constructor asks the declaration, not a list of its own
    monkeypatch.setattr(general, "LEARNABLE", ("tau", "threshold"))
    with pytest.raises(ValueError, match=r"learnable: expected names among \('tau', 'threshold'\), got \['omega'\]"):
        sf.Neuron(tau=2.0, omega=1.0, learnable=["omega"])
    positive_omega = tuple(general.OptionalParam("omega", None, "positive", True) if p.name == "omega" else p
                           for p in general.PARAMS)
    monkeypatch.setattr(general, "PARAMS", positive_omega)
    with pytest.raises(ValueError, match=r"^omega: expected positive finite value\(s\), got -1.0$"):
        sf.Neuron(tau=2.0, omega=-1.0)


_CONFIGS = {
    "LIF": dict(tau=5.0),
    "IF": dict(),
    "CuBa": dict(tau=5.0, tau_syn=2.0),
    "graded": dict(tau=5.0, max_spikes=3),
    "complex": dict(tau=5.0, omega=0.5),
    "adaptive": dict(tau=5.0, tau_adapt=20.0, adapt_scale=0.2),
    "stochastic": dict(tau=5.0, stochastic=True, firing=Gaussian(0.3)),
    "hard, fire-first": dict(tau=5.0, reset="hard", order="fire-first", detach_reset=True),
    "refractory": dict(tau=5.0, reset="refractory", firing=Cauchy(0.5)),
}


@pytest.mark.parametrize("name", sorted(_CONFIGS))
def test_features_are_what_a_call_requires(name):
    """Neuron.features = the features a call of it requires (neuron.features.required_features on the state,
    parameters and draws of a real call) plus its hardware words."""
    n = sf.Neuron(**_CONFIGS[name])
    x = torch.rand(4, 2, 3)
    state = n.initial_state(x)
    params = n.params(x.dtype, x.device)
    noise = draw_noise(n.spec, tuple(x.shape), dtype=x.dtype, device=x.device, generator=None)
    orders = draw_orders(n.spec, x.shape[0], None)
    call = required_features(x, state, params, n.spec, noise, orders, None)
    words = n.features - call
    assert call <= n.features and words == general.hardware_features(call) and "LIF" in words
    assert n.neuron_type == "LIF"
    special = words & set(general.PROGRAMMABLE_ONLY)
    assert n.runs_on == (frozenset() if special else general.LIF_TYPES)


def test_hardware_words_and_runs_on_of_the_presets():
    def words(n):
        return n.features & {"LIF", "CuBa", *general.PROGRAMMABLE_ONLY}

    assert words(sf.LIF()) == {"LIF"} and sf.LIF().runs_on == {"LIF", "exp-LIF", "AdEx-IF"}
    assert words(sf.CuBaLIF()) == {"LIF", "CuBa"} and sf.CuBaLIF().runs_on == general.LIF_TYPES
    assert words(sf.GradedLIF()) == {"LIF", "graded spikes"} and sf.GradedLIF().runs_on == frozenset()
    assert words(sf.ResonateAndFire()) == {"LIF", "complex state"} and not sf.ResonateAndFire().runs_on
    assert words(sf.AdaptiveLIF()) == {"LIF", "adaptive threshold"} and not sf.AdaptiveLIF().runs_on
    assert "complex" in sf.Neuron(decay=0.9 + 0.1j).features and "real" in sf.Neuron(decay=0.9).features


def test_declared_models_answer_from_their_declaration():
    for cls in (sf.ExpIF, sf.AdEx, sf.Izhikevich):
        m = cls()
        assert m.features == cls.model.features and f"model:{cls.model.name}" in m.features
        assert m.neuron_type == cls.model.neuron_type and m.runs_on == cls.model.runs_on
    assert sf.AdEx().neuron_type == "AdEx-IF" and sf.ExpIF().runs_on == {"exp-LIF", "AdEx-IF"}


# -- the general neuron as a declared model (general.GENERAL) -------------------------------------------------
def test_general_is_a_declaration_like_the_others():
    from spikeforge.neuron import dynamics
    from spikeforge.neuron.features import KNOWN_FEATURES
    from spikeforge.neuron.models import EXPIF, NeuronModel
    from spikeforge.neuron.models.base import declaration
    from spikeforge.neuron.stepping import DERIVED_FIELDS

    g = general.GENERAL
    assert isinstance(g, NeuronModel) and g.name == "general" and "model:general" in g.features
    assert g.state is dynamics.NeuronState and g.params == general.PARAMS
    assert g.params_type is dynamics.NeuronParams  # the step takes what Neuron.params derives from PARAMS
    assert g.step is dynamics.neuron_step and g.rest is general.rest and g.rest_takes_config
    assert g.scan is general.scan and g.record_fields == DERIVED_FIELDS == dynamics.StepTrace._fields
    assert g.neuron_type == "LIF" and g.runs_on == general.LIF_TYPES
    assert KNOWN_FEATURES | general.hardware_features(KNOWN_FEATURES) == g.features - {"model:general"}
    assert isinstance(g.to_nir, str)  # the exporter lives in the layer above (spikeforge.interop)
    import pickle

    assert pickle.loads(pickle.dumps(g)) == g
    # every neuron module answers its declaration, presets included
    for cls in (sf.Neuron, sf.LIF, sf.IF, sf.CuBaLIF, sf.AdaptiveLIF, sf.ResonateAndFire, sf.GradedLIF):
        assert cls.model is g and declaration(cls()) is g and declaration(cls) is g
    assert declaration(sf.ExpIF()) is EXPIF and declaration(nn.Linear(2, 2)) is None and declaration(3) is None


@pytest.mark.parametrize("name", sorted(_CONFIGS))
def test_each_configuration_is_within_the_declaration(name):
    """A configured neuron's features are a subset of its declaration's; its state has the declared fields."""
    n = sf.Neuron(**_CONFIGS[name])
    assert n.features <= n.model.features
    st = n.initial_state(torch.rand(3, 2, 4))
    assert type(st) is n.model.state


@pytest.mark.parametrize("name", sorted(_CONFIGS))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_the_declared_rest_is_the_modules_initial_state(name, dtype):
    n = sf.Neuron(**_CONFIGS[name]).to(dtype)
    for x in (torch.rand(3, 2, 4, dtype=dtype), torch.rand(3, 2, 4, dtype=dtype) * (1 + 1j)):
        want = n.initial_state(x)
        got = n.model.resting(n.params(dtype, x.device), torch.zeros_like(x[0]), n.spec)
        assert type(got) is type(want)
        for a, b in zip(got, want):
            assert (a is None and b is None) or (a.dtype == b.dtype and torch.equal(a, b))


def _equal_states(a, b):
    return all((u is None and v is None) or torch.equal(u, v) for u, v in zip(a, b))


@pytest.mark.parametrize("name", sorted(_CONFIGS))
def test_a_loop_of_the_declared_step_is_the_modules_sequence(name):
    """The declaration's step, looped with the sequence's draws, gives the module's spikes and state (the
    reference backend: the same per-step autograd), and its scan is what the module runs."""
    n = sf.Neuron(**_CONFIGS[name], backend="reference").double()
    x = torch.rand(12, 2, 3, dtype=torch.float64) * 0.8
    g = torch.Generator().manual_seed(3)
    state, params, noise, orders, _ = n.prepare(x, None, g)
    out = []
    st = state
    for t in range(x.shape[0]):
        s, st = n.model.step(x[t], st, params, n.spec, noise_t=None if noise is None else noise[t], order=orders[t])
        out.append(s)
    spikes, final = n(x, return_state=True, generator=torch.Generator().manual_seed(3))
    assert torch.equal(torch.stack(out), spikes) and _equal_states(st, final)
    s2, f2 = n.model.scan(x, state, params, n.spec, backend="reference", noise=noise, orders=orders)
    assert torch.equal(s2, spikes) and _equal_states(f2, final)


def test_the_module_runs_and_answers_from_its_declaration(monkeypatch):
    """Neuron asks Neuron.model: its scan, neuron type and the types that run it (no copy of its own)."""
    import dataclasses

    calls = []

    def spy_scan(x, state, params, spec, **kw):
        calls.append(kw["backend"])
        return general.scan(x, state, params, spec, **kw)

    other = dataclasses.replace(general.GENERAL, scan=spy_scan, neuron_type="exp-LIF",
                                runs_on=frozenset({"exp-LIF"}))
    monkeypatch.setattr(sf.Neuron, "model", other)
    n = sf.LIF(tau=5.0, backend="torch")
    x = torch.rand(6, 2, 3)
    assert torch.equal(n(x), sf.LIF(tau=5.0, backend="reference")(x)) and calls == ["torch", "reference"]
    assert n.neuron_type == "exp-LIF" and n.runs_on == {"exp-LIF"} and not sf.GradedLIF().runs_on
    monkeypatch.undo()
    assert sf.LIF().neuron_type == "LIF" and sf.LIF().runs_on == general.LIF_TYPES


# -- the features of a call: the spec's part computed once ------------------------------------------------
def _naive_required_features(x, state, params, spec, noise, orders, recurrent_weight):
    """The features of a call derived from scratch, field by field (the definition in neuron/features.py)."""
    import dataclasses

    from spikeforge.neuron.features import BUILTIN_FIRING

    def order_name(o):
        return "order:" + (o if isinstance(o, str) else "-".join(o))

    f = {"complex" if (x.is_complex() or state.v.is_complex() or params.decay.is_complex()) else "real",
         "binary" if spec.max_spikes == 1 else "graded",
         "stochastic" if (spec.stochastic or noise is not None) else "deterministic", f"reset:{spec.reset}",
         order_name(spec.order), *(order_name(tuple(o)) for o in orders),
         f"firing:{type(spec.firing).__name__}" if type(spec.firing) in BUILTIN_FIRING else "firing:custom"}
    for flag, name in ((x.is_complex(), "complex-input"), (spec.detach_reset, "detach-reset"), (spec.cuba, "cuba"),
                       (spec.adaptive, "adaptive"), (recurrent_weight is not None, "recurrent")):
        if flag:
            f.add(name)
    skip = {"firing", "stochastic", "max_spikes", "reset", "order", "cuba", "adaptive", "detach_reset", "v_reset",
            "refractory_steps", "v_refractory"}
    for fd in dataclasses.fields(spec):
        value = getattr(spec, fd.name)
        if fd.name not in skip and value != fd.default:
            f.add(f"{fd.name}={value!r}")
    return frozenset(f)


@pytest.mark.parametrize("name", [*sorted(_CONFIGS), "random order"])
def test_required_features_equal_their_definition_for_every_kind_of_call(name):
    cfg = _CONFIGS.get(name, dict(tau=5.0, order="random"))
    n = sf.Neuron(**cfg)
    g = torch.Generator().manual_seed(0)
    for x in (torch.rand(5, 2, 3), torch.rand(5, 2, 3) * (1 + 1j)):
        state, params, noise, orders, _ = n.prepare(x, None, g)
        variants = [(noise, orders, None), (torch.rand(x.shape), orders, torch.eye(3)),
                    (noise, [("fire", "reset", "integrate"), *orders[1:]], None), (noise, [], None),
                    (noise, [list(o) for o in orders], None)]
        for nz, od, rw in variants:
            args = (x, state, params, n.spec, nz, od, rw)
            assert required_features(*args) == _naive_required_features(*args), (nz is None, od, rw)


def test_the_spec_part_is_computed_once_when_the_spec_is_made(monkeypatch):
    import dataclasses
    import pickle

    from spikeforge.neuron import features

    n = sf.CuBaLIF(reset="hard", firing=Gaussian(0.3))
    x = torch.rand(4, 2, 3)
    args = (x, n.initial_state(x), n.params(x.dtype, x.device), n.spec, None, [n.spec.order] * 4, None)
    want = required_features(*args)

    def refuse(*_a, **_k):
        raise AssertionError("the spec's fields were inspected again")

    monkeypatch.setattr(features.dataclasses, "fields", refuse)  # a call no longer walks the spec's fields
    assert required_features(*args) == want and n.features == want | general.hardware_features(want)
    monkeypatch.undo()
    assert features.spec_features(n.spec) is n.spec._features
    # pickles without it (a model file holds only the fields), derived again when loaded
    assert "_features" not in n.spec.__getstate__()
    clone = pickle.loads(pickle.dumps(n.spec))
    assert clone == n.spec and clone._features == n.spec._features
    assert dataclasses.replace(n.spec, reset="soft")._features[0] == features._compute_spec_features(
        dataclasses.replace(n.spec, reset="soft"))[0]

"""Neuron modules: API, state handling, errors, serialisation."""

import copy
import inspect
import pickle

import pytest
import torch

import spikeforge as sf
from spikeforge.neuron.dynamics import NeuronState

PRESETS = [sf.IF, sf.LIF, sf.CuBaLIF, sf.AdaptiveLIF, sf.ResonateAndFire, sf.GradedLIF]


def test_presets_share_the_neuron_signature():
    base = list(inspect.signature(sf.Neuron.__init__).parameters)
    for p in PRESETS:
        assert list(inspect.signature(p.__init__).parameters) == base
        assert isinstance(p(), sf.Neuron)


def test_issue_signature_defaults():
    sig = inspect.signature(sf.Neuron.__init__).parameters
    assert sig["tau"].default is None and sig["decay"].default is None and sig["omega"].default is None
    assert sig["threshold"].default == 1.0 and sig["reset"].default == "soft"
    assert sig["firing"].default == sf.Heaviside() and sig["stochastic"].default is False
    assert sig["max_spikes"].default == 1 and sig["order"].default == "integrate-fire-reset"
    assert sig["dt"].default == 1.0


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.__name__)
def test_presets_run_and_keep_shape(preset):
    n = preset(firing=sf.Gaussian(0.5))
    x = torch.rand(12, 3, 4) * 2
    s = n(x)
    assert s.shape == x.shape
    assert s.is_complex() == (preset is sf.ResonateAndFire)


def test_preset_defaults():
    assert sf.IF().lam().item() == 1.0
    assert abs(sf.LIF().lam().item() - torch.exp(torch.tensor(-0.1)).item()) < 1e-7
    assert sf.CuBaLIF().spec.cuba and sf.AdaptiveLIF().spec.adaptive
    assert sf.GradedLIF().spec.max_spikes == 4 and sf.ResonateAndFire().is_complex
    assert sf.LIF(tau=5.0).tau.item() == 5.0


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.__name__)
def test_preset_default_gives_way_to_the_form_the_user_chose(preset):
    # issue 10.1: LIF(decay=0.9) used to raise "tau and decay: give one of them" for the preset's own tau
    decay = 0.9 + 0.1j if preset is sf.ResonateAndFire else 0.9
    n = preset(decay=decay)
    assert n.tau is None and n.omega is None
    assert complex(n.lam().item()) == pytest.approx(decay)
    for kept in ("tau_syn", "tau_adapt", "max_spikes"):  # the preset's other defaults stay
        base = preset()
        if kept == "max_spikes":
            assert n.spec.max_spikes == base.spec.max_spikes
        elif getattr(base, kept) is not None:
            assert getattr(n, kept).item() == getattr(base, kept).item()
    with pytest.raises(ValueError, match="tau and decay"):
        preset(tau=5.0, decay=0.9)
    if preset is sf.ResonateAndFire:
        with pytest.raises(ValueError, match="omega"):
            preset(decay=0.9, omega=0.3)


def test_decay_given_directly_and_complex():
    assert sf.Neuron(decay=0.9).lam().item() == pytest.approx(0.9)
    lam = sf.Neuron(decay=0.5 + 0.5j).lam()
    assert lam.is_complex()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(decay=1.2), r"\|λ\|"),
        (dict(decay=0.8 + 0.8j), r"\|λ\|"),
        (dict(tau=-1.0), "tau"),
        (dict(tau=5.0, decay=0.9), "tau and decay"),
        (dict(decay=0.9, omega=1.0), "omega"),
        (dict(threshold=0.0), "threshold"),
        (dict(reset="sideways"), "reset"),
        (dict(order="fire-fire-reset"), "order"),
        (dict(max_spikes=0), "max_spikes"),
        (dict(stochastic=True), "stochastic"),
        (dict(reset="refractory", refractory_steps=0), "refractory_steps"),
        (dict(learnable=("gain",)), "learnable"),
        (dict(learnable=("tau_syn",)), "learnable"),
    ],
)
def test_bad_configuration_is_refused(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        sf.Neuron(**kwargs)


def test_learned_tau_that_leaves_the_stable_range_is_refused():
    n = sf.LIF(tau=5.0, learnable=("tau",))
    with torch.no_grad():
        n.tau.fill_(-2.0)
    with pytest.raises(ValueError, match=r"\|λ\| must be <= 1"):
        n(torch.rand(3, 1, 1))


def test_streaming_equals_whole_sequence():
    torch.manual_seed(0)
    n = sf.CuBaLIF(reset="refractory", tau_adapt=None)
    x = torch.rand(40, 2, 6) * 1.5
    whole = n(x)
    s1, st = n(x[:17], return_state=True)
    s2, _ = n(x[17:], st, return_state=True)
    assert torch.equal(torch.cat([s1, s2]), whole)


def test_nothing_persists_between_calls():
    n = sf.LIF()
    x = torch.rand(20, 2, 3) * 2
    a = n(x)
    n(torch.rand(5, 7, 3))  # another batch size, in between
    assert torch.equal(n(x), a)


def test_mismatched_state_is_an_error():
    n = sf.LIF()
    _, st = n(torch.rand(5, 2, 3), return_state=True)
    with pytest.raises(ValueError, match=r"state\.v: expected shape \(4, 3\)"):
        n(torch.rand(5, 4, 3), st)
    with pytest.raises(ValueError, match=r"state\.i"):
        sf.CuBaLIF()(torch.rand(5, 2, 3), st)
    with pytest.raises(TypeError, match="NeuronState"):
        n(torch.rand(5, 2, 3), (st.v,))


@pytest.mark.parametrize("bad, err", [(torch.rand(5), ValueError), ([1.0, 2.0], TypeError),
                                      (torch.ones(3, 2, dtype=torch.long), TypeError)])
def test_bad_input(bad, err):
    with pytest.raises(err, match="x"):
        sf.LIF()(bad)


def test_learnable_parameters_live_in_state_dict_and_move_with_to():
    n = sf.ResonateAndFire(learnable=("tau", "omega", "threshold"), shape=4)
    names = {k for k, _ in n.named_parameters()}
    assert names == {"tau", "omega", "threshold"}
    assert n.tau.shape == (4,)
    n2 = sf.LIF(tau=3.0)
    assert "tau" in n2.state_dict() and "tau" not in dict(n2.named_parameters())
    n.double()
    assert n.tau.dtype == torch.float64
    s = n(torch.rand(6, 2, 4, dtype=torch.float64))
    assert s.dtype == torch.complex128


def test_per_neuron_shape_mismatch():
    with pytest.raises(ValueError, match=r"per-neuron parameters of shape \(4,\)"):
        sf.LIF(shape=4)(torch.rand(3, 2, 5))


def test_gradients_reach_parameters():
    n = sf.LIF(firing=sf.Gaussian(0.5), learnable=("tau", "threshold"))
    x = torch.rand(30, 4, 8) * 2
    n(x).sum().backward()
    assert n.tau.grad is not None and n.threshold.grad is not None
    assert n.tau.grad.abs() > 0


def test_neurons_pickle_and_deepcopy():
    n = sf.AdaptiveLIF(firing=sf.Cauchy(0.2), learnable=("tau",))
    x = torch.rand(10, 2, 3) * 2
    for m in (pickle.loads(pickle.dumps(n)), copy.deepcopy(n)):
        assert type(m) is sf.AdaptiveLIF and torch.equal(m(x), n(x))


def test_state_is_a_named_tuple():
    _, st = sf.LIF()(torch.rand(3, 2, 2), return_state=True)
    assert isinstance(st, NeuronState) and st.i is None and st.ref is None


def test_li_readout():
    li = sf.LI(tau=4.0)
    x = torch.zeros(10, 1, 1)
    x[0] = 1.0
    v = li(x).flatten()
    lam = torch.exp(torch.tensor(-0.25))
    torch.testing.assert_close(v, lam ** torch.arange(10.0))


def test_li_backward_matches_autograd():
    torch.manual_seed(0)
    li = sf.LI(tau=3.0, learnable=True).double()
    x = torch.rand(15, 2, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a: li(a), (x,))
    g_fast = torch.autograd.grad(li(x).square().sum(), li.tau)[0]
    lam = li.lam()
    v, out = torch.zeros(2, 3, dtype=torch.float64), []
    for t in range(15):
        v = lam * v + x[t]
        out.append(v)
    g_ref = torch.autograd.grad(torch.stack(out).square().sum(), li.tau)[0]
    torch.testing.assert_close(g_fast, g_ref)

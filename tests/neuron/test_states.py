"""One state type per model (issue 11, item 8): the non-spiking integrators take and return a NamedTuple of
their declared fields, and refuse anything else with an error that says how to build one."""

from __future__ import annotations

import pytest
import torch

import spikeforge as sf
from spikeforge.nets import Sequential, mlp
from spikeforge.neuron import CubaIntegrator, CubaLIState, Integrator, LIState
from spikeforge.synapse import Linear


def _modules():
    return {
        "LI": (sf.LI(tau=4.0), LIState),
        "Integrator": (Integrator(torch.full((3,), 0.8)), LIState),
        "CubaIntegrator": (CubaIntegrator(torch.full((3,), 0.9), 0.7), CubaLIState),
    }


@pytest.mark.parametrize("name", ["LI", "Integrator", "CubaIntegrator"])
def test_state_is_the_named_tuple_of_the_declared_fields_and_streams(name):
    m, cls = _modules()[name]
    torch.manual_seed(0)
    x = torch.rand(12, 2, 3)
    whole, st = m(x, return_state=True)
    assert type(st) is cls and st._fields == cls._fields
    assert all(getattr(st, f).shape == (2, 3) for f in cls._fields)
    torch.testing.assert_close(st.v, whole[-1], rtol=0, atol=0)
    y1, s1 = m(x[:5], return_state=True)
    y2, s2 = m(x[5:], s1, return_state=True)
    torch.testing.assert_close(torch.cat([y1, y2]), whole)
    torch.testing.assert_close(tuple(s2), tuple(st))
    assert type(m.initial_state(x)) is cls and all(torch.equal(t, torch.zeros(2, 3)) for t in m.initial_state(x))


def test_cuba_state_holds_the_current_of_the_closed_form():
    # i_t = λ_syn·i_{t-1} + x_t and v_t = λ·v_{t-1} + i_t from a single impulse: i_T = λ_syn^(T-1)
    m = CubaIntegrator(torch.tensor(0.9), torch.tensor(0.5)).double()
    x = torch.zeros(6, 1, dtype=torch.float64)
    x[0] = 1.0
    _, st = m(x, return_state=True)
    assert st.i.item() == pytest.approx(0.5 ** 5)
    assert st.v.item() == pytest.approx(sum(0.9 ** (5 - k) * 0.5 ** k for k in range(6)))


@pytest.mark.parametrize("name", ["LI", "Integrator", "CubaIntegrator"])
def test_old_state_forms_still_run_with_a_deprecation_and_others_are_refused(name):
    m, cls = _modules()[name]
    x = torch.rand(4, 2, 3)
    fields = ", ".join(f + "=..." for f in cls._fields)
    start = cls(*(torch.rand(2, 3) for _ in cls._fields))
    want = m(x, start)
    old = start[0] if len(cls._fields) == 1 else tuple(start)  # a bare tensor, a plain tuple
    with pytest.warns(DeprecationWarning, match=rf"spikeforge\.neuron\.{cls.__name__}\({fields}\)"):
        torch.testing.assert_close(m(x, old), want, rtol=0, atol=0)
    for bad in ([*start], tuple(torch.zeros(2, 3) for _ in range(len(cls._fields) + 1))):
        with pytest.raises(TypeError, match=rf"state: expected a {cls.__name__}.*got (list|tuple).*"
                                            rf"spikeforge\.neuron\.{cls.__name__}\({fields}\)"):
            m(x, bad)
    wrong = cls(*(torch.zeros(5, 3) for _ in cls._fields))
    with pytest.raises(ValueError, match=rf"state\.{cls._fields[0]}: expected shape \(2, 3\).*got \(5, 3\)"):
        m(x, wrong)


def test_the_neuron_state_is_not_an_integrator_state():
    _, st = sf.LIF()(torch.rand(3, 2, 3), return_state=True)
    with pytest.raises(TypeError, match="expected a LIState"):
        sf.LI()(torch.rand(3, 2, 3), st)


def test_sequential_threads_each_layers_own_state_type():
    torch.manual_seed(0)
    net = mlp([4, 5, 3], neuron=sf.CuBaLIF(firing=sf.Gaussian(0.5)))
    x = torch.rand(9, 2, 4)
    _, st = net(x, return_state=True)
    assert [type(s).__name__ for s in st] == ["NoneType", "NeuronState", "NoneType", "LIState"]
    cuba = Sequential(Linear(4, 3), CubaIntegrator(torch.full((3,), 0.9), 0.6))
    whole, st = cuba(x, return_state=True)
    assert type(st[1]) is CubaLIState
    y1, s1 = cuba(x[:4], return_state=True)
    y2, _ = cuba(x[4:], s1, return_state=True)
    torch.testing.assert_close(torch.cat([y1, y2]), whole)
    with pytest.raises(TypeError, match="expected a CubaLIState"):
        cuba(x, (None, [s1[1].i, s1[1].v]))

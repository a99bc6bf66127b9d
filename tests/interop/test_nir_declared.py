"""NIR export asks the neuron's declaration (its features) what it can export."""

import dataclasses
from typing import NamedTuple

import numpy as np
import pytest
import torch

import spikeforge as sf
from spikeforge.interop import from_nir, to_nir
from spikeforge.nets import Sequential
from spikeforge.neuron.dynamics import NeuronSpec, hard_reset
from spikeforge.neuron.models import ModelNeuron, NeuronModel, Param, fire
from spikeforge.synapse import Linear

nir = pytest.importorskip("nir")


@dataclasses.dataclass(frozen=True)
class _SpecWithANewFlag(NeuronSpec):
    """The general neuron with a flag added after the exporter was written."""

    leak_to_rest: float = 0.0


def _with_spec(n, **extra):
    base = {f.name: getattr(n.spec, f.name) for f in dataclasses.fields(NeuronSpec)}
    n.spec = _SpecWithANewFlag(**base, **extra)
    return n


def test_declared_models_have_no_nir_primitive():
    for cls in (sf.ExpIF, sf.AdEx, sf.Izhikevich):
        with pytest.raises(TypeError, match=rf"layer '1' \({cls.__name__}\): no NIR primitive for this layer"):
            to_nir(Sequential(Linear(3, 2), cls()))


def test_a_feature_the_exporter_does_not_know_is_refused():
    plain = to_nir(Sequential(Linear(3, 2), _with_spec(sf.LIF(tau=5.0, reset="hard"))))
    assert set(plain.nodes) == {"input", "0", "1", "output"}  # the new flag at its default: the plain LIF
    n = _with_spec(sf.LIF(tau=5.0, reset="hard"), leak_to_rest=0.5)
    assert "leak_to_rest=0.5" in n.features
    for ext in (False, True):  # never exported as the plain neuron it is not, not even as an extension
        with pytest.raises(ValueError, match=r"layer '1' \(LIF\): NIR export knows no feature leak_to_rest=0.5"):
            to_nir(Sequential(Linear(3, 2), n), extensions=ext)


def test_the_features_decide_what_needs_extensions():
    class ClaimsAdaptive(sf.LIF):
        @property
        def features(self):
            return super().features | {"adaptive"}

    assert to_nir(Sequential(Linear(3, 2), sf.LIF(tau=5.0, reset="hard")))
    with pytest.raises(ValueError, match=r"NIR cannot express an adaptive threshold \(tau_adapt\)"):
        to_nir(Sequential(Linear(3, 2), ClaimsAdaptive(tau=5.0, reset="hard")))
    with pytest.raises(ValueError, match=r"NIR cannot express reset='soft'"):
        to_nir(Sequential(Linear(3, 2), sf.LIF(tau=5.0)))


# -- a declared model exports as its declaration says (NeuronModel.to_nir) ------------------------------------
class _LeakyState(NamedTuple):
    v: torch.Tensor


def _leaky_step(I_t, state, p, config):
    """A hard-reset LIF written as a plug-in: v* = λ·v + I, λ = exp(−dt/τ); s = H(v* − θ); v = (1 − s)·v*."""
    v_star = torch.exp(-config.dt / p.tau) * state.v + I_t
    s = fire(v_star, p.theta, config.firing)
    return s, _LeakyState(v=hard_reset(v_star, s, 0.0))


def _leaky_rest(p, zeros):
    return _LeakyState(v=zeros)


def _leaky_to_nir(m, context):
    """NIR's LIF with R = 1/(1 − λ): unit input gain, the same discrete dynamics (docs/nir.md)."""
    def full(a):
        return np.ascontiguousarray(np.broadcast_to(np.asarray(a, np.float32), context.shape))

    lam = np.exp(-context.dt / m.tau.detach().double().numpy())
    zeros = full(0.0)
    return nir.LIF(tau=full(m.tau.detach().numpy()), r=full(1 / (1 - lam)), v_leak=zeros,
                   v_threshold=full(m.theta.detach().numpy()), v_reset=zeros)


_PARAMS = (Param("tau", 5.0, "positive", unit="ms"), Param("theta", 0.6, "positive"))


def _leaky(to_nir):
    decl = NeuronModel("Leaky", _LeakyState, _PARAMS, frozenset({"real", "binary", "reset:hard"}), "LIF",
                       _leaky_step, _leaky_rest, to_nir=to_nir)
    return type("Leaky", (ModelNeuron,), {"model": decl})


@pytest.mark.parametrize("hook", ["callable", "reference"])
def test_a_declared_model_with_a_to_nir_hook_exports(hook):
    Leaky = _leaky(_leaky_to_nir if hook == "callable" else f"{__name__}:_leaky_to_nir")
    torch.manual_seed(0)
    model = Sequential(Linear(3, 4), Leaky(dt=1.0))
    graph = to_nir(model)
    assert type(graph.nodes["1"]).__name__ == "LIF" and graph.metadata["dt"] == 1.0  # the layer's dt
    # spikeforge's importer reads it back as a LIF: the plug-in's spikes, step for step
    back = from_nir(graph)
    x = torch.rand(30, 5, 3, generator=torch.Generator().manual_seed(1)) * 3.0
    with torch.no_grad():
        want, got = model(x), back(x)
    assert want.sum() > 10 and torch.equal(want, got)


def test_a_declared_model_without_a_hook_is_a_one_line_error():
    with pytest.raises(TypeError) as err:
        to_nir(Sequential(Linear(3, 2), _leaky(None)(dt=1.0)))
    msg = str(err.value)
    assert msg == "layer '1' (Leaky): no NIR primitive for this layer (its model 'Leaky' declares no to_nir export)"
    with pytest.raises(TypeError, match=r"^layer '1' \(Leaky\): the NIR export 'spikeforge\.nowhere:f' of its "
                                        r"model 'Leaky' cannot be found: ModuleNotFoundError: .*nowhere"):
        to_nir(Sequential(Linear(3, 2), _leaky("spikeforge.nowhere:f")(dt=1.0)))


def test_the_general_neuron_exports_through_its_declaration(monkeypatch):
    import dataclasses

    from spikeforge.interop import nir_export
    from spikeforge.neuron.general import GENERAL

    seen = []

    def spy(n, context):
        seen.append((type(n).__name__, context))
        return nir_export.neuron_to_nir(n, context)

    monkeypatch.setattr(sf.Neuron, "model", dataclasses.replace(GENERAL, to_nir=spy))
    graph = to_nir(Sequential(Linear(3, 2), sf.LIF(tau=5.0, reset="hard", dt=0.5)), discretization="euler")
    assert type(graph.nodes["1"]).__name__ == "LIF"
    assert seen == [("LIF", nir_export.NIRContext(name="1", shape=(2,), dt=0.5, discretization="euler",
                                                  extensions=False))]
    monkeypatch.setattr(sf.Neuron, "model", dataclasses.replace(GENERAL, to_nir=None))
    with pytest.raises(TypeError, match=r"^layer '1' \(LIF\): no NIR primitive for this layer \(its model "
                                        r"'general' declares no to_nir export\)$"):
        to_nir(Sequential(Linear(3, 2), sf.LIF(tau=5.0, reset="hard")))

"""NIR export asks the neuron's declaration (its features) what it can export."""

import dataclasses

import pytest

import spikeforge as sf
from spikeforge.interop import to_nir
from spikeforge.nets import Sequential
from spikeforge.neuron.dynamics import NeuronSpec
from spikeforge.synapse import Linear

pytest.importorskip("nir")


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

"""build_model for every family of issue 12 (mlp, recurrent, tcn, adlif, delays): shapes, gradients, options
checked by name, the families unchanged from before, preferred_loss, describe_layers, and short training runs."""

import pytest
import torch
from rich.console import Console

from spikeforge import nets
from spikeforge.learn import TrainConfig, Trainer
from spikeforge.learn.config import ConfigError
from spikeforge.learn.losses import REDUCTIONS
from spikeforge.learn.models import (
    FAMILY_OPTIONS,
    build_model,
    describe_layers,
    make_neuron_factory,
    parameter_count,
    preferred_loss,
    readout_reduction,
)
from spikeforge.neuron.models.adlif import AdLIF
from spikeforge.synapse import DelayedLinear, Recurrent, TemporalConv

FAMILIES = ("mlp", "recurrent", "tcn", "adlif", "delays", "rocket")
HIDDEN = {"mlp": [12, 10], "recurrent": [12], "tcn": [6, 8, 6], "adlif": [12, 10], "delays": [12, 10],
          "rocket": [2688]}


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_builds_runs_and_passes_gradient_to_every_parameter(family):
    torch.manual_seed(0)
    model = build_model(TrainConfig(model=family, hidden=HIDDEN[family]), 3, 4)
    x = torch.randn(25, 5, 3)
    y = model(x)
    assert y.shape == (25, 5, 4) and torch.isfinite(y).all()
    y.mean(0).pow(2).sum().backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    assert all(n.startswith("0.slots.") for n in frozen) and bool(frozen) == (family == "rocket")  # its kernels
    rows = describe_layers(model)
    assert [r["size"] for r in rows] == HIDDEN[family]
    assert parameter_count(model) == sum(p.numel() for p in model.parameters())


def test_each_family_has_its_own_layers():
    def kinds(family, **params):
        torch.manual_seed(0)
        m = build_model(TrainConfig(model=family, hidden=HIDDEN[family], model_params=params), 3, 4)
        return [type(mod).__name__ for mod in m]

    assert kinds("tcn") == ["TemporalConv", "TimeBatchNorm", "LIF"] * 3 + ["Linear", "LI"]
    assert kinds("adlif") == ["Linear", "Recurrent"] * 2 + ["Linear", "LI"]
    assert kinds("adlif", recurrent=False) == ["Linear", "AdLIF"] * 2 + ["Linear", "LI"]
    assert kinds("delays") == ["DelayedLinear", "LIF"] * 2 + ["Linear", "LI"]
    assert kinds("delays", delayed_readout=True) == ["DelayedLinear", "LIF"] * 2 + ["DelayedLinear", "LI"]
    torch.manual_seed(0)
    m = build_model(TrainConfig(model="tcn", hidden=[6, 6], model_params={"kernel_sizes": [4, 2], "norm": "none"}),
                    3, 4)
    assert [c.kernel_size for c in m if isinstance(c, TemporalConv)] == [4, 2]
    # dilations double per block unless given (an integer: every block; a list: one per block)
    for params, want in [({}, [1, 2, 4]), ({"dilations": 1}, [1, 1, 1]), ({"dilations": [3, 1, 2]}, [3, 1, 2])]:
        m = build_model(TrainConfig(model="tcn", hidden=[6, 8, 6], model_params=params), 3, 4)
        assert [c.dilation for c in m if isinstance(c, TemporalConv)] == want, params
    m = build_model(TrainConfig(model="delays", hidden=[6], model_params={"max_delay": 4}), 3, 4)
    d = m[0]
    delays = d.delay.detach()
    assert isinstance(d, DelayedLinear) and d.max_delay == 4 and 0 <= float(delays.min()) <= float(delays.max()) <= 4
    m = build_model(TrainConfig(model="adlif", hidden=[50], model_params={"tau_u_range": [10, 12]}), 3, 4)
    assert isinstance(m[1], Recurrent) and isinstance(m[1].neuron, AdLIF)
    tau = m[1].neuron.tau_u.detach()
    assert 10 <= float(tau.min()) < float(tau.max()) <= 12 and tau.requires_grad is False
    assert m[1].neuron.tau_u.requires_grad and set(m[1].neuron.learnable) == {"tau_u", "tau_w", "a", "b"}


@pytest.mark.parametrize(("family", "builder"), [("mlp", nets.mlp), ("recurrent", nets.rsnn)])
def test_mlp_and_recurrent_build_exactly_as_before(family, builder):
    # the config's factory and the plain builder: the same parameters, from the same random draws
    cfg = TrainConfig(model=family, hidden=[9, 7], per_neuron=True, learnable=["tau"], readout_tau=7.0)
    torch.manual_seed(5)
    got = build_model(cfg, 3, 4).state_dict()
    after_got = torch.rand(1)
    torch.manual_seed(5)
    make = make_neuron_factory(cfg)
    sizes = iter([9, 7])
    want = builder([3, 9, 7, 4], neuron=lambda: make(next(sizes)), readout="li", readout_tau=7.0).state_dict()
    assert torch.equal(after_got, torch.rand(1))
    assert got.keys() == want.keys() and all(torch.equal(got[k], want[k]) for k in got)


def test_options_are_checked_by_name_and_value():
    with pytest.raises(ConfigError, match=r"not options of the 'tcn' family; expected names among") as e:
        build_model(TrainConfig(model="tcn", model_params={"kernel": 3}), 3, 4)
    assert e.value.field == "model_params" and e.value.key == "kernel"
    with pytest.raises(ConfigError, match=r"expected names among \['readout'\]") as e:
        build_model(TrainConfig(model="mlp", model_params={"max_delay": 3}), 3, 4)
    with pytest.raises(ConfigError, match="max_delay: expected an integer >= 1") as e:
        build_model(TrainConfig(model="delays", model_params={"max_delay": 0}), 3, 4)
    assert e.value.key == "max_delay"
    with pytest.raises(ConfigError, match=r"tau_w_range: expected a range \[low, high\] within \[60, 300\]") as e:
        build_model(TrainConfig(model="adlif", model_params={"tau_w_range": [10, 20]}), 3, 4)
    assert e.value.key == "tau_w_range"
    with pytest.raises(ConfigError, match="kernel_sizes: expected 2 positive integers") as e:
        build_model(TrainConfig(model="tcn", hidden=[4, 4], model_params={"kernel_sizes": [3]}), 3, 4)
    with pytest.raises(ConfigError, match="recurrent: expected true or false"):
        build_model(TrainConfig(model="adlif", model_params={"recurrent": "yes"}), 3, 4)
    with pytest.raises(ConfigError, match=r"resolved by spikeforge\.learn\.auto"):
        build_model(TrainConfig(model="auto"), 3, 4)
    assert set(FAMILY_OPTIONS) == set(FAMILIES)


def test_preferred_loss_names_a_reduction_for_every_family():
    assert {f: preferred_loss(f) for f in FAMILIES} == {"mlp": "last", "recurrent": "last", "tcn": "mean",
                                                      "adlif": "mean", "delays": "mean", "rocket": "mean"}
    assert all(preferred_loss(f) in REDUCTIONS for f in FAMILIES)
    with pytest.raises(ConfigError, match="expected one of"):
        preferred_loss("transformer")


def test_readout_reduction_reads_a_tcn_out_at_its_last_step_where_that_step_sees_the_whole_series():
    tcn = TrainConfig(model="tcn", hidden=[64, 128, 64])  # kernels 8, 5, 3 at dilations 1, 2, 4: 24 steps
    assert nets.receptive_field(*nets.tcn_layout(3, None, (1, 2, 4))) == 24
    assert [readout_reduction(tcn, t) for t in (1, 24, 25, 500)] == ["last", "last", "mean", "mean"]
    undilated = tcn.replace(model_params={"dilations": 1})  # 14 steps
    assert [readout_reduction(undilated, t) for t in (14, 15)] == ["last", "mean"]
    wide = tcn.replace(model_params={"kernel_sizes": [9, 9, 9], "dilations": [1, 4, 16]})  # 1 + 8 * 21
    assert [readout_reduction(wide, t) for t in (169, 170)] == ["last", "mean"]
    assert readout_reduction(tcn.replace(hidden=[32]), 8) == "last" != readout_reduction(tcn.replace(hidden=[32]), 9)
    for family in FAMILIES:  # every other family: its preferred loss, whatever the length
        if family != "tcn":
            assert readout_reduction(TrainConfig(model=family), 10) == preferred_loss(family)
    with pytest.raises(ConfigError, match="dilations: expected 3 positive integers"):
        readout_reduction(tcn.replace(model_params={"dilations": [1, 2]}), 24)


@pytest.mark.parametrize("family", ["tcn", "adlif", "delays", "rocket"])
def test_the_trainer_trains_every_new_family(family, tmp_path):
    # three epochs on JapaneseVowels (9 classes, chance 0.11), current injection: well above chance, every
    # parameter moved
    hidden = {"tcn": [16, 16], "rocket": [2688]}.get(family, [48])
    cfg = TrainConfig(model=family, hidden=hidden, loss=preferred_loss(family),
                      encoder="current", epochs=3, lr=1e-2, batch_size=8, threads=1, valid_fraction=0.0)
    tr = Trainer(cfg, tmp_path, progress=False, console=Console(quiet=True), plots=False)
    tr.start()
    before = {k: v.clone() for k, v in tr.model.state_dict().items()}
    assert tr.fit() == "finished"
    metrics = tr.finalize()
    moved = [k for k, v in tr.model.state_dict().items() if v.is_floating_point() and not torch.equal(v, before[k])]
    assert {n for n, p in tr.model.named_parameters() if p.requires_grad} <= set(moved)
    assert metrics["test_accuracy"] > 0.4, metrics["test_accuracy"]


def test_adlif_takes_the_neurons_own_parameters_when_the_neuron_is_adlif():
    torch.manual_seed(0)
    cfg = TrainConfig(model="adlif", hidden=[5], neuron="AdLIF", neuron_params={"theta": 0.5, "tau_u": 7.0},
                      model_params={"q": 30.0})
    n = build_model(cfg, 3, 2)[1].neuron
    assert torch.equal(n.theta, torch.full((5,), 0.5)) and torch.equal(n.q, torch.full((5,), 30.0))
    assert torch.equal(n.tau_u.detach(), torch.full((5,), 7.0))
    with pytest.raises(ConfigError, match="theta: expected positive") as e:
        build_model(TrainConfig(model="adlif", hidden=[5], model_params={"theta": -1.0}), 3, 2)
    assert e.value.key == "theta"


def test_the_trainer_refuses_rocket_on_several_processes(tmp_path, monkeypatch):
    # each process would fit its own kernel bank on its first batch; checked before a model is built
    from spikeforge.learn import trainer as trainer_module
    from spikeforge.learn.distributed import DistContext

    monkeypatch.setattr(trainer_module, "dist_context", lambda: DistContext(rank=0, world_size=2, backend="gloo"))
    cfg = TrainConfig(model="rocket", hidden=[2688], loss="mean", encoder="current", epochs=1, valid_fraction=0.0)
    with pytest.raises(ConfigError, match="expected one process, got 2"):
        Trainer(cfg, tmp_path, progress=False, console=Console(quiet=True), plots=False)

"""fit / fit_all verdicts by hand, locality lint, and batch-norm folding."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from spikeforge.hardware import count_ops, fit, fit_all, fold_batchnorm, lint
from spikeforge.hardware.fit import HARD_LIMITS, HEURISTICS, mlp, model_needs
from spikeforge.neuron import LIF, CuBaLIF
from spikeforge.synapse import Conv2d, Flatten, Linear, Recurrent


def test_needs_of_an_mlp_by_hand():
    model = mlp([700, 256, 256, 20])
    needs = model_needs(model)
    assert needs.neurons == 256 + 256 + 20
    assert needs.synapses == 700 * 256 + 256 * 256 + 256 * 20
    assert needs.max_fan_in == 700 and needs.features == ("LIF",)
    # with inputs the populations come from the neuron modules: same numbers
    x = (torch.rand(3, 2, 700) > 0.9).float()
    assert model_needs(model, x) == needs


def test_fit_verdicts_and_reasons():
    model = mlp([700, 256, 256, 20])
    table = fit_all(model)
    assert len(table.rows) == 15
    # hard limits decide: every chip with enough neurons and synapses and a model it runs
    fits = {r.platform for r in table.rows if r.verdict == "yes"}
    assert fits == {"SpiNNaker-1", "TrueNorth", "Loihi-1", "Tianjic", "SpiNNaker-2", "Loihi-2"}
    loihi2 = table.row("Loihi-2")  # 1.28e8 / 1e6 = 128 synapses per neuron on average: a heuristic only
    assert loihi2.verdict == "yes" and loihi2.basis == "hard limits met; heuristic warns: fan-in"
    assert loihi2.reasons == ("heuristic: fan-in 700 > 128 average synapses per neuron",)
    assert loihi2.chips_needed == 1
    odin = table.row("ODIN")
    assert odin.chips_needed == 4  # ceil(249856 / 65000) = 4 > ceil(532 / 256) = 3
    assert odin.basis == "hard limit: neurons, synapses"
    assert "hard limit: neurons 532 > 256" in odin.reasons
    for row in table.rows:
        if row.verdict == "no":
            assert row.reasons and row.basis.startswith("hard limit:")
        assert row.basis  # every verdict says which kind of check decided it
        assert all(r.startswith(("hard limit", "heuristic", "needs ", "more chips")) for r in row.reasons)
    assert table.row("Darwin-3").verdict == "unknown" and table.row("Darwin-3").chips_needed is None
    assert table.row("Darwin-3").basis == "hard limit unknown: synapses"
    assert table.row("µBrain").neuron_model == "unknown"
    assert "SpiNNaker-2" in str(table) and "hard limits" in str(table) and "heuristic" in str(table)


def test_heuristic_never_decides_and_hard_limits_always_do():
    """Issue 10 item 15: the average synapses per neuron is not a limit; neurons and synapses are."""
    wide = mlp([2000, 10])  # fan-in 2000 > every chip's average; 10 neurons, 20 000 synapses
    table = fit_all(wide)
    for row in table.rows:
        assert [c.name for c in row.warnings] == (["fan-in"] if (row.synapses_per_neuron or 1e9) < 2000 else [])
        assert row.verdict == ("unknown" if row.unknowns else "yes"), row
    kinds = {c.name: c.kind for c in table.row("ODIN").checks}
    assert kinds == {"neurons": "hard limit", "synapses": "hard limit", "neuron model": "hard limit",
                     "fan-in": "heuristic"}
    assert HARD_LIMITS == ("neurons", "synapses", "neuron model", "learning rule") and HEURISTICS == ("fan-in",)


def test_a_no_never_reads_one_chip():
    """A "no" on capacity needs more than one chip; a "no" that more chips cannot mend has no count."""
    big = mlp([700, 256, 256, 20])
    for row in fit_all(big).rows:
        if row.verdict == "no":
            assert row.chips_needed != 1 and row.chips_text != "1"
    graded = fit(mlp([10, 5], "GradedLIF"), "Loihi-1")  # fits easily, but Loihi-1 has fixed LIF neurons
    assert graded.verdict == "no" and graded.chips_needed is None and graded.chips_text == "-"
    assert "more chips do not help" in graded.reasons
    rule = fit(mlp([10, 5]), "ODIN", learning_rule="e-prop")
    assert rule.chips_needed is None and rule.basis == "hard limit: learning rule"


def test_best_chip_is_among_those_the_model_fits():
    table = fit_all(mlp([700, 256, 256, 20]))
    energy = {p: e for p, e in [("SNE", 1.0), ("Tianjic", 2.0), ("ODIN", 0.5), ("Loihi-2", 3.0)]}
    assert table.best(energy) == "Tianjic"  # SNE's fit is unknown, ODIN's is no
    assert table.best({"SNE": 1.0}) is None


def test_neuron_model_and_training_support():
    graded = mlp([10, 5], "GradedLIF")
    assert fit(graded, "SpiNNaker-2").verdict == "yes"  # programmable neurons
    v = fit(graded, "Loihi-1")
    assert v.verdict == "no" and v.neuron_model == "no" and "graded spikes need programmable" in v.reasons[0]
    cuba = nn.Sequential(Linear(10, 5), CuBaLIF())
    assert fit(cuba, "TrueNorth").neuron_model == "yes"  # CuBa, Delta
    assert fit(cuba, "ODIN").neuron_model == "unknown"  # ODIN's synapse type is blank
    small = mlp([10, 5])
    assert fit(small, "ODIN", learning_rule="STDP").verdict == "yes"
    v = fit(small, "ODIN", learning_rule="e-prop")
    assert v.verdict == "no" and v.reasons == ("hard limit: no on-device e-prop (chip: STDP)", "more chips do not help")
    assert fit(small, "ReckOn", learning_rule="eprop").training == "yes"
    assert fit(small, "Loihi-2", learning_rule="BPTT").training == "yes"
    assert fit(small, "TrueNorth", learning_rule="STDP").training == "no"
    with pytest.raises(KeyError, match="known names"):
        fit(small, "Loihi-5")
    with pytest.raises(ValueError, match="learning_rule: expected a rule name"):
        fit(small, "ODIN", learning_rule="")


def test_conv_needs_inputs_and_unrolls():
    model = nn.Sequential(Conv2d(1, 2, 3, padding=1), LIF(), Flatten(), Linear(2 * 4 * 4, 3), LIF())
    with pytest.raises(ValueError, match=r"inputs: layer '0' is a Conv2d"):
        model_needs(model)
    needs = model_needs(model, torch.rand(2, 1, 1, 4, 4))
    assert needs.neurons == 2 * 4 * 4 + 3
    # unrolled conv synapses: per output channel, sum over output positions of in-bounds taps
    taps = sum(
        sum(1 for di in (-1, 0, 1) for dj in (-1, 0, 1) if 0 <= i + di < 4 and 0 <= j + dj < 4)
        for i in range(4)
        for j in range(4)
    )
    assert needs.synapses == 2 * taps + 32 * 3
    assert needs.max_fan_in == 32


def test_recurrent_synapses_counted():
    model = nn.Sequential(Linear(3, 4), Recurrent(4, LIF(threshold=0.1)))
    with torch.no_grad():
        model[1].weight.fill_(0.5)
        model[1].weight[0, 1] = 0.0
    assert model_needs(model).synapses == 12 + 15
    x = (torch.rand(6, 2, 3) > 0.3).float()
    c = count_ops(model, x)
    rec = c.layer("1.weight")
    with torch.no_grad():
        spikes = model(x)  # same deterministic network: recount by hand from its spikes
    fan_out = (model[1].weight != 0).sum(0)  # column j: how many neurons spike j reaches
    expected = float((spikes[:-1] * fan_out).sum()) / 2
    assert rec.effective_acs == pytest.approx(expected)
    assert rec.dense_macs == 6 * 16


def test_lint_modules_and_traced_functionals():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = Linear(8, 8)
            self.bn = nn.BatchNorm1d(8)
            self.lif = LIF()
            self.pool = nn.MaxPool1d(2)
            self.fc2 = Linear(4, 3)
            self.head = nn.Sequential(nn.LayerNorm(3), nn.Softmax(-1))

        def forward(self, x):
            t, b = x.shape[:2]
            z = self.fc1(x)
            z = self.bn(z.reshape(t * b, 8)).reshape(t, b, 8)
            s = self.pool(self.lif(z).reshape(t * b, 1, 8)).reshape(t, b, 4)
            y = self.fc2(s)
            y = y / y.std(dim=-1, keepdim=True).clamp_min(1e-3)  # statistic across neurons
            rate = y.mean(0)  # temporal average per neuron: local, not flagged
            return self.head(rate), F.log_softmax(rate, -1)

    net = Net()
    static = lint(net)
    assert static.paths() == ["bn", "pool", "head.0", "head.1"]
    assert not static.traced and not static.ok
    traced = lint(net, torch.rand(4, 2, 8))
    ops = [(f.path, f.op) for f in traced.findings]
    # the pool sees spikes (an OR): not flagged; std over neurons and log_softmax are
    assert ("pool", "MaxPool1d") not in ops
    assert ("bn", "BatchNorm1d") in ops and ("head.0", "LayerNorm") in ops and ("head.1", "Softmax") in ops
    assert ("", "std()") in ops and ("", "log_softmax()") in ops
    assert not any(op == "mean()" for _, op in ops)
    assert "fold_batchnorm" in next(f.alternative for f in traced.findings if f.path == "bn")
    assert net.training  # mode restored


def test_lint_pool_over_potentials_and_clean_model():
    pooled = nn.Sequential(Linear(4, 4), nn.MaxPool1d(2))
    report = lint(pooled, torch.rand(3, 2, 4))
    assert report.paths() == ["1"] and "membrane potentials" in report.findings[0].reason
    clean = mlp([6, 4, 2])
    assert lint(clean).ok and lint(clean, torch.rand(2, 2, 6)).ok
    assert "no non-local operations" in str(lint(clean))


def _randomise_bn(bn: nn.modules.batchnorm._BatchNorm, gen: torch.Generator) -> None:
    with torch.no_grad():
        bn.running_mean.copy_(torch.randn(bn.num_features, generator=gen))
        bn.running_var.copy_(torch.rand(bn.num_features, generator=gen) + 0.5)
        bn.weight.copy_(torch.randn(bn.num_features, generator=gen))
        bn.bias.copy_(torch.randn(bn.num_features, generator=gen))


def test_fold_batchnorm_identical_outputs():
    gen = torch.Generator().manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(2, 3, 3, padding=1, bias=False),
        nn.BatchNorm2d(3),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(3 * 5 * 5, 4),
        nn.BatchNorm1d(4),
    ).double()
    _randomise_bn(model[1], gen)
    _randomise_bn(model[5], gen)
    model.eval()
    x = torch.randn(7, 2, 5, 5, generator=gen, dtype=torch.float64)
    folded = fold_batchnorm(model)
    assert isinstance(folded[1], nn.Identity) and isinstance(folded[5], nn.Identity)
    assert isinstance(model[1], nn.BatchNorm2d)  # the original is untouched
    torch.testing.assert_close(folded(x), model(x), rtol=1e-12, atol=1e-12)
    assert lint(folded).ok


def test_fold_batchnorm_before_spiking_neuron_gives_same_spikes():
    gen = torch.Generator().manual_seed(1)

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Linear(6, 5), nn.BatchNorm1d(5))
            self.lif = LIF(threshold=0.5)

        def forward(self, x):
            t, b = x.shape[:2]
            return self.lif(self.body(x.reshape(t * b, 6)).reshape(t, b, 5))

    model = Block().double()
    _randomise_bn(model.body[1], gen)
    model.eval()
    x = torch.rand(8, 3, 6, generator=gen, dtype=torch.float64)
    folded = fold_batchnorm(model)
    assert torch.equal(folded(x), model(x))
    assert lint(model).paths() == ["body.1"] and lint(folded).ok


def test_fold_batchnorm_refuses_batch_statistics():
    model = nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3, track_running_stats=False))
    with pytest.raises(ValueError, match="track_running_stats=False"):
        fold_batchnorm(model)
    with pytest.raises(TypeError, match=r"model: expected a torch\.nn\.Module"):
        fold_batchnorm(None)  # type: ignore[arg-type]

"""count_ops is exact for every layer kind of the package: layers report to the counting context
(spikeforge._counting), so fused layers count as the layers they stand for (issue 11, item 7)."""

import pytest
import torch
from torch import nn

import spikeforge as sf
from spikeforge import _counting
from spikeforge.hardware import count_ops
from spikeforge.kernels.lean import LinearLIF, PackedLinear
from spikeforge.nets import Sequential, adlif, delayed_mlp, mlp, rsnn, tcn
from spikeforge.neuron.primitives import CubaIntegrator, Integrator
from spikeforge.synapse import Conv1d, Conv2d, Flatten, Linear


def _spikes(*shape, p=0.3, seed=0):
    return (torch.rand(*shape, generator=torch.Generator().manual_seed(seed)) < p).float()


def _by_name(c):
    return {la.name: la for la in c.layers}


def test_fused_linear_lif_counts_as_the_unfused_layers():
    # the fused layer used to be skipped (no forward call of its Linear, no neuron module called)
    torch.manual_seed(0)
    fused = LinearLIF(10, 6, sf.LIF(tau=5.0, threshold=0.3))
    plain = Sequential(Linear(10, 6), sf.LIF(tau=5.0, threshold=0.3))
    with torch.no_grad():
        plain[0].weight.copy_(fused.linear.weight)
        plain[0].bias.copy_(fused.linear.bias)
    x = _spikes(12, 3, 10)
    with torch.no_grad():
        assert torch.equal(fused(x), plain(x))
    a, b = count_ops(fused, x), count_ops(plain, x)
    la, lb = _by_name(a), _by_name(b)
    assert set(la) == {"linear", "neuron"} and set(lb) == {"0", "1"}
    for fa, fb in (("linear", "0"), ("neuron", "1")):
        for attr in ("effective_acs", "effective_macs", "dense_macs", "neuron_updates", "nonzero_outputs", "units"):
            assert getattr(la[fa], attr) == getattr(lb[fb], attr), (fa, attr)
    assert a.neuron_updates == 12 * 6 and a.synaptic_ops > 0


def _every_layer():
    lif = sf.LIF(tau=5.0, threshold=0.3)
    return [
        ("Linear", Sequential(Linear(8, 5), sf.LIF(threshold=0.3)), _spikes(6, 2, 8)),
        ("Linear event", Sequential(Linear(8, 70, mode="event"), sf.LIF(threshold=0.3)), _spikes(6, 2, 8)),
        ("PackedLinear", Sequential(PackedLinear(8, 5), sf.LIF(threshold=0.3)), _spikes(6, 2, 8)),
        ("LinearLIF", Sequential(LinearLIF(8, 5, lif), Linear(5, 3), sf.LI()), _spikes(6, 2, 8)),
        ("Conv1d", Sequential(Conv1d(2, 3, 3, padding=1), sf.LIF(threshold=0.3), Flatten(), Linear(15, 2),
                              Integrator(0.9, shape=(2,))), _spikes(6, 2, 2, 5)),
        ("Conv2d", Sequential(Conv2d(1, 2, 3), sf.LIF(threshold=0.3), Flatten(), Linear(8, 2),
                              CubaIntegrator(0.9, 0.8, shape=(2,))), _spikes(6, 2, 1, 4, 4)),
        ("mlp", mlp([8, 6, 3], neuron=sf.LIF(threshold=0.3)), _spikes(6, 2, 8)),
        ("rsnn", rsnn([8, 6, 3], neuron=sf.LIF(threshold=0.3)), _spikes(6, 2, 8)),
        ("CuBa adaptive graded", mlp([8, 6, 3], neuron=sf.Neuron(tau=5.0, tau_syn=3.0, tau_adapt=20.0,
                                                              adapt_scale=0.1, max_spikes=3, threshold=0.3)),
         _spikes(6, 2, 8)),
        ("resonate", Sequential(Linear(8, 5), sf.ResonateAndFire(threshold=0.2)), _spikes(6, 2, 8)),
        ("tcn", tcn([8, 6, 5, 3], neuron=sf.LIF(threshold=0.3), kernel_sizes=[3, 2]), _spikes(6, 2, 8)),
        ("adlif", adlif([8, 6, 3], theta=0.05), _spikes(6, 2, 8)),
        ("delays", delayed_mlp([8, 6, 3], neuron=sf.LIF(threshold=0.3), max_delay=3, delayed_readout=True),
         _spikes(6, 2, 8)),
    ]


@pytest.mark.parametrize(("name", "net", "x"), _every_layer(), ids=[c[0] for c in _every_layer()])
def test_every_layer_and_network_type_is_counted(name, net, x):
    c = count_ops(net, x)
    counted = {la.name for la in c.layers}
    # every synapse layer and every neuron module of the network appears, exactly once
    want = set()
    for mname, m in net.named_modules():  # (a fused LinearLIF reports as its .linear and .neuron)
        if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d, sf.Neuron, sf.LI, Integrator, CubaIntegrator,
                          sf.ModelNeuron)):
            want.add(mname)
        elif isinstance(m, sf.synapse.Recurrent):
            want.add(mname + ".weight")
    assert counted == want, (counted, want)
    t = x.shape[0]
    for la in c.layers:
        assert la.calls >= 1
        if la.kind == "neuron":  # a clocked chip updates every neuron every step
            assert la.neuron_updates == t * la.units
        else:
            assert la.dense_macs > 0
    assert c.synaptic_ops > 0


class _Counter:
    def __init__(self):
        self.seen = []

    def record(self, module, role, tensor, spiking):
        self.seen.append((type(module).__name__, role, tuple(tensor.shape), spiking))


def test_counting_context_is_scoped_and_nothing_is_stored_on_modules():
    net = rsnn([4, 5, 2], neuron=sf.LIF(threshold=0.3))
    x = _spikes(3, 2, 4)
    before = {k: dict(vars(m)) for k, m in net.named_modules()}
    outer, inner = _Counter(), _Counter()
    with _counting.counting(outer):
        with _counting.counting(inner):
            net(x)
        assert _counting.active()
    assert not _counting.active()
    net(x)  # nobody counts: nothing recorded anywhere
    assert outer.seen == inner.seen and len(inner.seen) == 5
    assert ("Recurrent", "recurrent", (3, 2, 5), True) in inner.seen
    assert ("LI", "neuron", (3, 2, 2), False) in inner.seen
    after = {k: dict(vars(m)) for k, m in net.named_modules()}
    assert before.keys() == after.keys() and all(before[k].keys() == after[k].keys() for k in before)
    with pytest.raises(ValueError, match="role"), _counting.counting(_Counter()):
        _counting.report(net, "dendrite", x)


def test_a_users_loop_of_steps_is_counted_like_the_sequence_call():
    class Loop(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin, self.lif = Linear(6, 4), sf.LIF(threshold=0.3)

        def forward(self, x):
            state, out = None, []
            cur = self.lin(x)
            for t in range(x.shape[0]):
                s_t, state = sf.step(self.lif, cur[t], state)
                out.append(s_t)
            return torch.stack(out)

    loop = Loop()
    whole = Sequential(loop.lin, loop.lif)
    x = _spikes(7, 3, 6)
    a, b = count_ops(loop, x), count_ops(whole, x)
    assert a.neuron_updates == b.neuron_updates == 7 * 4 and a.spikes == b.spikes
    assert a.synaptic_ops == b.synaptic_ops


@pytest.mark.parametrize("model", [sf.ExpIF, sf.AdEx, sf.Izhikevich], ids=lambda m: m.__name__)
def test_declared_models_are_counted_in_networks_and_step_loops(model):
    torch.manual_seed(0)
    net = Sequential(Linear(6, 4), model(), Linear(4, 2), sf.LI())
    x = _spikes(20, 3, 6) * 400.0  # an input current strong enough to make them fire
    c = count_ops(net, x)
    assert {la.name for la in c.layers} == {"0", "1", "2", "3"}
    assert c.layer("1").neuron_updates == 20 * 4 and c.layer("1").spiking
    state, steps = None, []
    cur = net[0](x)
    for t in range(x.shape[0]):
        s_t, state = sf.step(net[1], cur[t], state)
        steps.append(s_t)
    with torch.no_grad():
        torch.testing.assert_close(torch.stack(steps), net[1](cur), rtol=0, atol=0)
    _, st = net(x, return_state=True)  # Sequential threads the model's state like every neuron's
    assert isinstance(st[1], net[1].model.state)


def test_a_recorded_run_is_counted_as_the_sequence_call():
    class Recorded(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin, self.lif = Linear(6, 4), sf.LIF(threshold=0.3)

        def forward(self, x):
            return sf.record(self.lif, self.lin(x), fields=("v_star",)).spikes

    rec = Recorded()
    a, b = count_ops(rec, _spikes(7, 3, 6)), count_ops(Sequential(rec.lin, rec.lif), _spikes(7, 3, 6))
    assert a.neuron_updates == b.neuron_updates == 7 * 4 and a.spikes == b.spikes

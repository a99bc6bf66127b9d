"""count_ops: hand counts on tiny networks, brute-force counts, and agreement with NeuroBench."""

from __future__ import annotations

import itertools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from spikeforge.hardware import count_ops
from spikeforge.neuron import LI, LIF, GradedLIF, Neuron


def _linear(weight, bias=None) -> nn.Linear:
    w = torch.tensor(weight, dtype=torch.float32)
    layer = nn.Linear(w.shape[1], w.shape[0], bias=bias is not None)
    with torch.no_grad():
        layer.weight.copy_(w)
        if bias is not None:
            layer.bias.copy_(torch.tensor(bias, dtype=torch.float32))
    return layer


def test_hand_count_linear_binary_events():
    # fan-outs (non-zero weights per input column): in0 -> 1, in1 -> 0, in2 -> 2
    lin = _linear([[1.0, 0.0, 2.0], [0.0, 0.0, 3.0]], bias=[5.0, 5.0])
    x = torch.tensor(
        [
            [[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]],  # t=0: sample0 -> 1+2, sample1 -> 0
            [[1.0, 1.0, 1.0], [0.0, 0.0, 0.0]],  # t=1: sample0 -> 1+0+2, sample1 -> 0
        ]
    )
    c = count_ops(nn.Sequential(lin, LIF()), x)
    assert c.batch_size == 2 and c.time_steps == 2
    assert c.effective_acs == 3.0  # (3 + 0 + 3 + 0) / 2 samples
    assert c.effective_macs == 0.0
    assert c.synaptic_ops == 3.0
    assert c.dense_macs == 12.0  # 2 steps x 3 inputs x 2 outputs, per sample
    assert c.dense_macs_per_step == 6.0
    assert c.neuron_updates == 4.0  # 2 neurons x 2 steps
    assert c.parameters == 8
    assert c.memory_bytes == 8 * 4 + sum(b.numel() * b.element_size() for b in LIF().buffers())
    layer = c.layer("0")
    assert (layer.units, layer.synapses, layer.fan_in) == (2, 3, 2)


def test_hand_count_non_binary_events():
    lin = _linear([[1.0, 0.0, 2.0], [0.0, 0.0, 3.0]])
    x = torch.tensor([[[0.5, 1.0, 1.0]]])  # T=1, B=1: in0 graded (fan-out 1), in2 binary (fan-out 2)
    layer_rule = count_ops(lin, x)
    assert (layer_rule.effective_acs, layer_rule.effective_macs) == (0.0, 3.0)  # whole call is MACs
    event_rule = count_ops(lin, x, mac_rule="event")
    assert (event_rule.effective_acs, event_rule.effective_macs) == (2.0, 1.0)
    # -1 is an event too (ternary spikes), counted as an accumulate like NeuroBench does
    ternary = count_ops(lin, torch.tensor([[[-1.0, 0.0, 1.0]]]))
    assert (ternary.effective_acs, ternary.effective_macs) == (3.0, 0.0)
    with pytest.raises(ValueError, match="mac_rule: expected one of"):
        count_ops(lin, x, mac_rule="per-spike")


def test_hand_count_conv1d_padding_borders():
    conv = nn.Conv1d(1, 1, kernel_size=3, padding=1, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([[[1.0, 1.0, 1.0]]]))
    # events at positions 0 (border: reaches outputs 0,1) and 2 (middle: outputs 1,2,3) of length 5
    x = torch.tensor([[1.0, 0.0, 1.0, 0.0, 0.0]]).reshape(1, 1, 5)
    c = count_ops(_Flatten(conv), x.unsqueeze(0))  # [T=1, B=1, C=1, L=5]
    assert c.synaptic_ops == 5.0
    assert c.dense_macs == 13.0  # 3 + 3 + 3 + 3 minus the 2 padded taps at the borders: 5*3 - 2
    assert c.layers[0].fan_in == 3


def test_hand_count_conv2d_stride_zero_weights():
    conv = nn.Conv2d(1, 2, kernel_size=2, stride=2, bias=False)
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[0, 0, 0, 0] = 1.0  # channel 0 uses only the top-left tap
        conv.weight[1, 0] = 2.0  # channel 1 uses all 4 taps
    x = torch.zeros(1, 1, 1, 4, 4)
    x[0, 0, 0, 0, 0] = 1.0  # top-left of block (0,0): reaches ch0 and ch1
    x[0, 0, 0, 1, 1] = 1.0  # bottom-right of block (0,0): reaches ch1 only
    c = count_ops(_Flatten(conv), x)
    assert c.synaptic_ops == 3.0
    assert c.dense_macs == 2 * 4 * 4  # 2 channels x 4 output positions x 4 taps
    layer = c.layers[0]
    assert layer.units == 8 and layer.synapses == 4 * (1 + 4) and layer.fan_in == 4


class _Flatten(nn.Module):
    """Applies a plain 2-d layer to a [T, B, ...] sequence by flattening time into the batch."""

    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        self.layer = layer

    def forward(self, x):
        t, b = x.shape[:2]
        y = self.layer(x.reshape(t * b, *x.shape[2:]))
        return y.reshape(t, b, *y.shape[1:])


def _brute_force_linear(weight: torch.Tensor, x: torch.Tensor) -> tuple[int, int]:
    """Loop over every event: ACs/MACs = sum of non-zero fan-outs of the non-zero inputs."""
    fan_out = [(weight[:, j] != 0).sum().item() for j in range(weight.shape[1])]
    total = 0
    for idx in itertools.product(*(range(s) for s in x.shape)):
        if x[idx] != 0:
            total += fan_out[idx[-1]]
    return total, x.numel() * weight.shape[0]


@settings(max_examples=25, deadline=None)
@given(
    t=st.integers(1, 3),
    b=st.integers(1, 3),
    n_in=st.integers(1, 5),
    n_out=st.integers(1, 4),
    seed=st.integers(0, 2**16),
)
def test_linear_matches_brute_force(t, b, n_in, n_out, seed):
    gen = torch.Generator().manual_seed(seed)
    weight = torch.randn(n_out, n_in, generator=gen) * (torch.rand(n_out, n_in, generator=gen) > 0.4)
    x = (torch.rand(t, b, n_in, generator=gen) > 0.5).float()
    lin = nn.Linear(n_in, n_out, bias=False)
    with torch.no_grad():
        lin.weight.copy_(weight)
    c = count_ops(lin, x)
    ops, dense = _brute_force_linear(weight, x)
    assert c.effective_acs * b == ops
    assert c.dense_macs * b == dense
    assert c.effective_macs == 0


def test_stepwise_and_whole_sequence_models_agree():
    torch.manual_seed(0)
    lin1, lin2 = nn.Linear(6, 5), nn.Linear(5, 3)
    whole = nn.Sequential(lin1, LIF(), lin2, LIF())
    x = (torch.rand(7, 4, 6) > 0.6).float()

    class Stepwise(nn.Module):
        """The same network called one time step at a time, with explicit state."""

        def __init__(self):
            super().__init__()
            self.lin1, self.n1, self.lin2, self.n2 = lin1, LIF(), lin2, LIF()

        def forward(self, x):
            s1 = s2 = None
            outs = []
            for step in x:
                z, s1 = self.n1(self.lin1(step).unsqueeze(0), s1, return_state=True)
                y, s2 = self.n2(self.lin2(z[0]).unsqueeze(0), s2, return_state=True)
                outs.append(y[0])
            return torch.stack(outs)

    a, b = count_ops(whole, x), count_ops(Stepwise(), x)
    for attr in ("synaptic_ops", "dense_macs", "neuron_updates", "activation_sparsity", "neurons", "synapses"):
        assert getattr(a, attr) == pytest.approx(getattr(b, attr)), attr
    assert a.neurons == 8 and a.synapses == 6 * 5 + 5 * 3


def test_count_restores_training_mode_and_validates():
    model = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    model.train()
    count_ops(model, torch.ones(3, 2))  # [T=3, B=2] with features of size... a 2-d [T, B] input
    assert model.training and model[1].training
    with pytest.raises(TypeError, match=r"model: expected a torch\.nn\.Module"):
        count_ops("net", torch.ones(2, 2))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"inputs: expected a time-major tensor .* got shape \(4,\)"):
        count_ops(model, torch.ones(4))


def test_graded_and_readout_neurons():
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(4, 6), GradedLIF(), nn.Linear(6, 2), LI())
    x = torch.rand(5, 3, 4) * 3
    c = count_ops(model, x)
    graded = c.layers[1]
    assert graded.kind == "neuron" and graded.spiking and graded.units == 6
    assert c.layers[3].kind == "neuron" and not c.layers[3].spiking  # LI: updates, not spikes
    assert c.neuron_updates == 5 * (6 + 2)
    # layer 0 sees real-valued input -> MACs; layer 2 sees graded spikes -> MACs unless all are 0/1
    assert c.layers[0].effective_acs == 0 and c.layers[0].effective_macs > 0


# ----------------------------------------------------------------------------------- NeuroBench
nb_workload = pytest.importorskip("neurobench.metrics.workload")
nb_static = pytest.importorskip("neurobench.metrics.static")
nb_models = pytest.importorskip("neurobench.models")
nb_layer_hook = pytest.importorskip("neurobench.hooks.layer")
nb_neuron_hook = pytest.importorskip("neurobench.hooks.neuron")


class _BatchMajor(nn.Module):
    """NeuroBench divides by ``data[0].size(0)``, so it gets [B, T, ...] and we transpose inside."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net(x.transpose(0, 1))


def _neurobench(net: nn.Module, x_time_major: torch.Tensor, neuron_type=Neuron) -> tuple[dict, float, int]:
    model = nb_models.TorchModel(_BatchMajor(net))
    model.add_activation_module(neuron_type)
    model.connection_hooks = [nb_layer_hook.LayerHook(layer) for layer in model.connection_layers()]
    model.activation_hooks = [
        nb_neuron_hook.NeuronHook(item["layer"], item["layer_name"]) for item in model.activation_layers()
    ]
    data = (x_time_major.transpose(0, 1).contiguous(), torch.zeros(x_time_major.shape[1]))
    with torch.no_grad():
        preds = model(data[0])
    synops = nb_workload.SynapticOperations()
    result = synops(model, preds, data)
    sparsity = nb_workload.ActivationSparsity()(model, preds, data)
    footprint = nb_static.Footprint()(model)
    for hook in model.connection_hooks + model.activation_hooks:
        hook.close()
    return result, sparsity, footprint


class _ConvNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 4, 3, padding=1)
        self.lif1 = LIF(tau=2.0, threshold=0.3)
        self.fc1 = nn.Linear(4 * 6 * 6, 10)
        self.lif2 = LIF(tau=2.0, threshold=0.3)
        self.fc2 = nn.Linear(10, 3)

    def forward(self, x):  # x: [T, B, 2, 6, 6], real-valued
        t, b = x.shape[:2]
        z = self.conv(x.reshape(t * b, 2, 6, 6)).reshape(t, b, -1)
        s1 = self.lif1(z)
        s2 = self.lif2(self.fc1(s1))
        return self.fc2(s2)


def test_agrees_with_neurobench_synaptic_operations_and_sparsity():
    torch.manual_seed(3)
    net = _ConvNet()
    with torch.no_grad():  # prune some weights so non-zero fan-out differs from dense
        net.fc1.weight.mul_((torch.rand_like(net.fc1.weight) > 0.3).float())
    x = torch.rand(6, 5, 2, 6, 6)  # T=6, B=5, real-valued input: the conv layer is MACs
    ours = count_ops(net, x)
    nb, nb_sparsity, nb_footprint = _neurobench(net, x)
    assert ours.effective_macs == pytest.approx(nb["Effective_MACs"], rel=1e-12)
    assert ours.effective_acs == pytest.approx(nb["Effective_ACs"], rel=1e-12)
    assert ours.dense_macs == pytest.approx(nb["Dense"], rel=1e-12)
    assert ours.activation_sparsity == pytest.approx(nb_sparsity, rel=1e-12)
    assert ours.memory_bytes == nb_footprint
    # the comparison is not vacuous: both kinds of operation and real sparsity occur
    assert ours.effective_acs > 0 and ours.effective_macs > 0 and 0 < ours.activation_sparsity < 1
    assert ours.synaptic_ops < ours.dense_macs


class _Step(nn.Module):
    """One time step of a LIF ([B, N] -> [B, N] spikes), keeping the state between calls."""

    def __init__(self) -> None:
        super().__init__()
        self.lif = LIF(threshold=0.2)
        self.state = None

    def forward(self, x):
        y, self.state = self.lif(x.unsqueeze(0), self.state, return_state=True)
        return y[0]


def test_agrees_with_neurobench_on_binary_input_stepwise_model():
    # NeuroBench's usual setting: the network is called once per time step on [B, ...]
    torch.manual_seed(4)
    lin1, lin2 = nn.Linear(12, 8), nn.Linear(8, 4)

    class Stepwise(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin1, self.n1, self.lin2, self.n2 = lin1, _Step(), lin2, _Step()

        def forward(self, x):
            self.n1.state = self.n2.state = None
            return torch.stack([self.n2(self.lin2(self.n1(self.lin1(step)))) for step in x])

    x = (torch.rand(9, 3, 12) > 0.7).float()
    ours = count_ops(Stepwise(), x, neuron_types=(_Step,))
    nb, nb_sparsity, _ = _neurobench(Stepwise(), x, neuron_type=_Step)
    assert ours.effective_acs == pytest.approx(nb["Effective_ACs"], rel=1e-12)
    assert ours.effective_macs == nb["Effective_MACs"] == 0
    assert ours.dense_macs == pytest.approx(nb["Dense"], rel=1e-12)
    assert ours.activation_sparsity == pytest.approx(nb_sparsity, rel=1e-12)
    assert ours.effective_acs > 0 and 0 < ours.activation_sparsity < 1
    assert ours.neuron_updates == 9 * (8 + 4)


class _StepByStep(torch.nn.Module):
    """Runs a network one time step per call, carrying its state (streaming inference)."""

    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        state, outs = None, []
        for t in range(x.shape[0]):
            y, state = self.net(x[t : t + 1], state, return_state=True)
            outs.append(y)
        return torch.cat(outs)


@pytest.mark.parametrize("mac_rule", ["layer", "event"])
def test_recurrent_counts_equal_when_run_step_by_step(mac_rule):
    # issue 10.2: the step-by-step run counted 0 recurrent operations (the carried spikes were ignored)
    from spikeforge.nets import rsnn

    torch.manual_seed(0)
    net = rsnn([4, 6, 2], neuron=LIF(tau=5.0, threshold=0.3))
    x = (torch.rand(10, 2, 4) < 0.5).float()
    stepper = _StepByStep(net)
    with torch.no_grad():
        assert torch.equal(net(x), stepper(x))
    whole = count_ops(net, x, mac_rule=mac_rule)
    steps = count_ops(stepper, x, mac_rule=mac_rule)
    rec = [la.name for la in whole.layers if la.name.endswith(".weight")]
    assert rec and whole.layer(rec[0]).synaptic_ops > 0
    for name in [la.name for la in whole.layers]:
        a, b = whole.layer(name), steps.layer("net." + name)
        assert (a.effective_acs, a.effective_macs, a.dense_macs, a.neuron_updates) == pytest.approx(
            (b.effective_acs, b.effective_macs, b.dense_macs, b.neuron_updates)
        ), name
    assert steps.synaptic_ops == pytest.approx(whole.synaptic_ops)


@pytest.mark.parametrize("layer", [
    nn.Linear(7, 5),
    nn.Conv1d(3, 4, 3, stride=2, padding=1, dilation=2),
    nn.Conv2d(4, 6, 3, stride=(1, 2), padding=1, groups=2),
    nn.Conv2d(2, 3, 2, padding=1, padding_mode="circular"),
])
def test_fan_out_counts_equal_the_layer_applied_to_the_masks(layer):
    # the counter sums mask ⊙ fan-out over the rows; the naive form applies the layer to the masks of every row
    from spikeforge.hardware.counts import _apply, _fan_out, _feature_dims

    g = torch.Generator().manual_seed(0)
    w = (torch.rand(layer.weight.shape, generator=g) > 0.3).double()
    nd = _feature_dims(layer)
    row = (7,) if nd == 1 else (3, 11) if nd == 2 else (layer.in_channels, 5, 6)
    mask = (torch.rand(4, 3, *row, generator=g) > 0.5).double()
    fan, outputs = _fan_out(layer, row, w)
    assert float((mask.reshape(-1, *row).sum(0) * fan).sum()) == float(_apply(layer, mask, w).sum())
    assert outputs * 12 == _apply(layer, mask, w).numel()

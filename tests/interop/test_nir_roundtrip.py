"""spikeforge -> NIR -> spikeforge: every primitive, both discretizations, in memory and through a file."""

import math
import re

import nir
import numpy as np
import pytest
import torch

from spikeforge.interop import _discrete as D
from spikeforge.interop import from_nir, layers, read_nir, to_nir, write_nir
from spikeforge.nets import Sequential
from spikeforge.neuron import IF, LI, LIF, AdaptiveLIF, CuBaLIF, Gaussian, GradedLIF, Neuron, ResonateAndFire
from spikeforge.synapse import Conv1d, Conv2d, Flatten, Linear, Recurrent

# The NIR primitives the issue asks for, plus recurrence as a subgraph.
REQUIRED = {"Affine", "Linear", "Scale", "Conv1d", "Conv2d", "Flatten", "SumPool2d", "AvgPool2d", "Delay",
            "Threshold", "IF", "LIF", "LI", "I", "CubaLI", "CubaLIF", "NIRGraph"}


def _hard(cls, **kw):
    return cls(reset="hard", **kw)


def _per_neuron(n, lo, hi):
    return torch.linspace(lo, hi, n)


# name -> (model factory, input feature shape, the NIR node type of the layer under test, its layer key)
CASES = {
    "Affine": (lambda: Sequential(Linear(5, 7), _hard(LIF, threshold=0.3)), (5,), "0"),
    "Linear": (lambda: Sequential(Linear(5, 7, bias=False), _hard(LIF, threshold=0.3)), (5,), "0"),
    "Scale": (lambda: Sequential(layers.Scale(_per_neuron(5, -2.0, 3.0)), _hard(LIF, threshold=0.3)), (5,), "0"),
    "Conv1d": (lambda: Sequential(Conv1d(2, 3, 3, padding=1, stride=2), _hard(LIF, threshold=0.2)), (2, 9), "0"),
    "Conv2d": (lambda: Sequential(Conv2d(2, 3, 3, padding=1, dilation=1, groups=1), _hard(LIF, threshold=0.2)),
               (2, 6, 6), "0"),
    "Flatten": (lambda: Sequential(Conv2d(2, 2, 3), Flatten(), _hard(LIF, threshold=0.2)), (2, 5, 5), "1"),
    "SumPool2d": (lambda: Sequential(layers.SumPool2d(2, 2), _hard(LIF, threshold=0.5)), (2, 6, 6), "0"),
    "AvgPool2d": (lambda: Sequential(layers.AvgPool2d(3, 2, 1), _hard(LIF, threshold=0.2)), (2, 6, 6), "0"),
    "Delay": (lambda: Sequential(layers.Delay(torch.tensor([0, 1, 3, 2, 1])), _hard(LIF, threshold=0.4)), (5,), "0"),
    "Threshold": (lambda: Sequential(Linear(5, 6), layers.Threshold(_per_neuron(6, -0.2, 0.4))), (5,), "1"),
    "IF": (lambda: Sequential(Linear(5, 6), _hard(IF, threshold=0.7, v_reset=-0.1)), (5,), "1"),
    "LIF": (lambda: Sequential(Linear(5, 6), Neuron(tau=_per_neuron(6, 2.0, 30.0), threshold=_per_neuron(6, 0.2, 1.0),
                                                    reset="hard", shape=6)), (5,), "1"),
    "LI": (lambda: Sequential(Linear(5, 6), LI(tau=7.0)), (5,), "1"),
    "I": (lambda: Sequential(Linear(5, 6), layers.Integrator(1.0, shape=(6,))), (5,), "1"),
    "CubaLI": (lambda: Sequential(Linear(5, 6), layers.CubaIntegrator(_per_neuron(6, 0.5, 0.95), 0.8)), (5,), "1"),
    "CubaLIF": (lambda: Sequential(Linear(5, 6), _hard(CuBaLIF, tau=_per_neuron(6, 3.0, 20.0),
                                                      tau_syn=_per_neuron(6, 1.0, 8.0), threshold=0.4, shape=6)),
                (5,), "1"),
    "NIRGraph": (lambda: Sequential(Linear(5, 6), Recurrent(6, _hard(LIF, threshold=0.5), gain=3.0)), (5,), "1"),
}


def _check_same(m1, m2, shape, seed=0, steps=25):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand((steps, 3, *shape), generator=g) * 2 - 0.5
    with torch.no_grad():
        y1, y2 = m1(x), m2(x)
    assert y1.shape == y2.shape
    assert torch.equal(y1, y2), f"max difference {(y1 - y2).abs().max().item()}"
    return y1


def test_cases_enumerate_every_required_primitive():
    assert set(CASES) == REQUIRED


@pytest.mark.parametrize("mode", ["exact", "euler"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_round_trip_in_memory(name, mode):
    torch.manual_seed(1)
    make, shape, key = CASES[name]
    m = make()
    g = to_nir(m, dt=0.5, discretization=mode, input_shape=shape)
    assert type(g.nodes[key]).__name__ == name
    assert g.metadata["dt"] == 0.5 and g.metadata["spikeforge.discretization"] == mode
    y = _check_same(m, from_nir(g), shape)
    if name not in ("LI", "I", "CubaLI", "Scale"):
        assert 0 < float(y.abs().sum()) and bool(torch.any(y == 0)), "the case should exercise both outcomes"


@pytest.mark.parametrize("name", sorted(CASES))
def test_round_trip_through_file(name, tmp_path):
    torch.manual_seed(2)
    make, shape, key = CASES[name]
    m = make()
    path = write_nir(to_nir(m, input_shape=shape), tmp_path / "m.nir")
    read = nir.read(path)
    assert type(read.nodes[key]).__name__ == name
    _check_same(m, from_nir(path), shape, seed=3)


def test_parameters_are_per_neuron_float32_arrays():
    m = Sequential(Linear(4, 3), _hard(CuBaLIF), Linear(3, 2), LI(tau=4.0))
    g = to_nir(m)
    cuba, li = g.nodes["1"], g.nodes["3"]
    for node, fields in ((cuba, ("tau_mem", "tau_syn", "r", "v_leak", "v_threshold", "v_reset", "w_in")),
                         (li, ("tau", "r", "v_leak"))):
        for f in fields:
            a = getattr(node, f)
            assert isinstance(a, np.ndarray) and a.dtype == np.float32, f
            assert a.shape == tuple(int(d) for d in node.output_type["output"]), f


@pytest.mark.parametrize("mode", ["exact", "euler"])
def test_time_constants_gain_and_threshold_mapping(mode):
    dt, tau = 0.1, 2.0
    m = Sequential(Linear(3, 4), Neuron(tau=tau, dt=dt, threshold=0.75, reset="hard", v_reset=-0.25))
    node = to_nir(m, discretization=mode).nodes["1"]
    lam = math.exp(-dt / tau)
    want_tau = tau if mode == "exact" else dt / (1 - lam)
    np.testing.assert_allclose(node.tau, want_tau, rtol=1e-6)
    np.testing.assert_allclose(node.r, 1 / (1 - lam), rtol=1e-6)
    # unit input gain: (1 - λ)·R (exact) or dt·R/τ (Euler)
    gain = (1 - lam) * node.r if mode == "exact" else dt * node.r / node.tau
    np.testing.assert_allclose(gain, 1.0, rtol=1e-6)
    # v ≥ θ  ⇔  v > v_threshold, with v_threshold the float32 just below θ
    assert np.all(node.v_threshold < np.float32(0.75))
    assert np.all(np.nextafter(node.v_threshold, np.float32(1)) == np.float32(0.75))
    np.testing.assert_array_equal(node.v_reset, np.float32(-0.25))
    np.testing.assert_array_equal(node.v_leak, 0)


def test_tau_search_maps_back_to_the_exact_float32_decay():
    lam = np.linspace(0.05, 0.999, 2000).astype(np.float32)
    for mode in D.MODES:
        tau, exact = D.tau_for_decay(lam, 1e-4, mode)
        assert tau.dtype == np.float32
        ok = D.decay32_from_tau(tau, 1e-4, mode) == lam
        assert np.array_equal(ok, exact) and ok[lam >= 0.6].all()


def test_strong_decay_keeps_its_exact_value_in_metadata():
    m = Sequential(Linear(3, 64), Neuron(tau=_per_neuron(64, 0.05, 0.4), reset="hard", shape=64, threshold=0.3))
    g = to_nir(m)
    _check_same(m, from_nir(g), (3,))


def _nir_euler_reference(node, x, dt):
    """NIR's ODEs integrated with forward Euler in float64, for non-spiking nodes (an independent reference)."""
    v = np.zeros(x.shape[1:])
    i = np.zeros(x.shape[1:])
    out = []
    for t in range(x.shape[0]):
        if isinstance(node, nir.I):
            v = v + dt * node.r * x[t]
        elif isinstance(node, nir.LI):
            v = v + dt / node.tau * (node.v_leak - v + node.r * x[t])
        else:  # CubaLI: the synaptic current first, the membrane sees the updated current
            i = i + dt / node.tau_syn * (-i + node.w_in * x[t])
            v = v + dt / node.tau_mem * (node.v_leak - v + node.r * i)
        out.append(v)
    return np.stack(out)


@pytest.mark.parametrize("kind", ["I", "LI", "CubaLI"])
def test_import_follows_nir_equations_with_arbitrary_gains(kind):
    rng = np.random.default_rng(0)
    n, dt = 5, 1e-3
    f = lambda lo, hi: rng.uniform(lo, hi, n).astype(np.float32)  # noqa: E731
    node = {"I": lambda: nir.I(r=f(0.5, 3.0)),
            "LI": lambda: nir.LI(tau=f(5e-3, 5e-2), r=f(0.5, 3.0), v_leak=np.zeros(n, np.float32)),
            "CubaLI": lambda: nir.CubaLI(tau_syn=f(2e-3, 1e-2), tau_mem=f(5e-3, 5e-2), r=f(0.5, 3.0),
                                         v_leak=np.zeros(n, np.float32), w_in=f(0.5, 2.0))}[kind]()
    model = from_nir(nir.NIRGraph.from_list(node), dt=dt, discretization="euler")
    x = rng.normal(size=(40, 2, n))
    with torch.no_grad():
        ours = model(torch.as_tensor(x, dtype=torch.float32)).double().numpy()
    np.testing.assert_allclose(ours, _nir_euler_reference(node, x, dt), rtol=2e-5, atol=1e-5)
    assert any(isinstance(m, layers.Scale) for m in model), "a gain other than one becomes a Scale layer"


def test_import_lif_with_reset_potential_and_gain_matches_euler_reference():
    rng = np.random.default_rng(1)
    n, dt, steps = 6, 1e-3, 60
    node = nir.LIF(tau=rng.uniform(5e-3, 2e-2, n).astype(np.float32), r=np.full(n, 2.0, np.float32),
                   v_leak=np.zeros(n, np.float32), v_threshold=np.full(n, 0.5, np.float32),
                   v_reset=np.full(n, -0.2, np.float32))
    model = from_nir(nir.NIRGraph.from_list(node), dt=dt)
    x = rng.uniform(0, 30, size=(steps, 2, n))
    v = np.zeros((2, n))
    ref = []
    for t in range(steps):
        v = v + dt / node.tau * (-v + node.r * x[t])
        z = v > node.v_threshold
        v = np.where(z, node.v_reset, v)
        ref.append(z)
    with torch.no_grad():
        ours = model(torch.as_tensor(x, dtype=torch.float32)).numpy()
    ref = np.stack(ref).astype(np.float32)
    assert ref.sum() > 10
    assert np.mean(ours != ref) < 0.01  # float32 vs float64: a rare flip at the threshold at most


NOT_EXPRESSIBLE = {
    "soft reset": lambda: LIF(threshold=0.5),
    "no reset": lambda: LIF(reset="none", threshold=0.5),
    "graded spikes": lambda: GradedLIF(reset="soft", threshold=0.3),
    "complex spikes": lambda: ResonateAndFire(reset="hard", threshold=0.3),
    "stochastic firing": lambda: LIF(reset="hard", firing=Gaussian(0.3), stochastic=True, threshold=0.5),
    "process order": lambda: LIF(reset="hard", order="fire-first", threshold=0.5),
    "adaptive threshold": lambda: AdaptiveLIF(reset="hard", threshold=0.5),
    "refractory": lambda: LIF(reset="refractory", refractory_steps=2, threshold=0.5),
}


@pytest.mark.parametrize("name", sorted(NOT_EXPRESSIBLE))
def test_inexpressible_neurons_are_refused_naming_the_layer(name):
    m = Sequential(Linear(4, 6), NOT_EXPRESSIBLE[name]())
    with pytest.raises(ValueError, match=r"layer '1' \(.*\): NIR cannot express .*extensions=True"):
        to_nir(m)


@pytest.mark.parametrize("name", sorted(NOT_EXPRESSIBLE))
def test_extension_metadata_round_trips_exactly(name, tmp_path):
    torch.manual_seed(4)
    m = Sequential(Linear(4, 6), NOT_EXPRESSIBLE[name]())
    path = write_nir(to_nir(m, extensions=True), tmp_path / "ext.nir")
    m2 = from_nir(path)
    x = torch.rand(30, 2, 4) * 2
    with torch.no_grad():
        torch.manual_seed(5)
        y1 = m(x)
        torch.manual_seed(5)
        y2 = m2(x)
    assert torch.equal(y1, y2)
    assert float(y1.abs().sum()) > 0


def test_refused_inside_a_recurrent_population_too():
    with pytest.raises(ValueError, match=r"layer '1.lif'"):
        to_nir(Sequential(Linear(3, 4), Recurrent(4, LIF())))


def test_firing_model_survives_for_training():
    m = Sequential(Linear(3, 4), LIF(reset="hard", firing=Gaussian(0.25)))
    m2 = from_nir(to_nir(m))
    assert m2[1].spec.firing == Gaussian(0.25)


def test_export_errors_are_clear():
    with pytest.raises(ValueError, match="input_shape"):
        to_nir(Sequential(Conv2d(1, 2, 3), LIF(reset="hard")))
    with pytest.raises(TypeError, match=r"layer '0' \(ReLU\): no NIR primitive"):
        to_nir(torch.nn.Sequential(torch.nn.ReLU()), input_shape=(3,))
    from spikeforge.nets import rocket, tcn

    for net, name in ((rocket([2, 2688, 3]), "KernelBank"), (tcn([2, 4, 3]), "TemporalConv")):  # no input_shape
        with pytest.raises(TypeError, match=rf"layer '0' \({name}\): no NIR primitive"):
            to_nir(net)
    with pytest.raises(ValueError, match="discretization"):
        to_nir(Sequential(Linear(2, 2)), discretization="rk4")
    with pytest.raises(ValueError, match="dt: the layers have different time steps"):
        to_nir(Sequential(Linear(2, 2), LIF(reset="hard", dt=1.0), LIF(reset="hard", dt=0.5)))
    with pytest.raises(ValueError, match="current-based IF"):
        to_nir(Sequential(Linear(2, 2), Neuron(tau_syn=3.0, reset="hard")))


def test_import_errors_are_clear(tmp_path):
    lif = dict(tau=np.full(3, 0.01, np.float32), r=np.full(3, 1.0, np.float32), v_threshold=np.ones(3, np.float32))
    g = nir.NIRGraph.from_list(nir.LIF(v_leak=np.zeros(3, np.float32), **lif))
    with pytest.raises(ValueError, match="dt: the graph has no 'dt'"):
        from_nir(g)
    leaky = nir.NIRGraph.from_list(nir.LIF(v_leak=np.full(3, 0.1, np.float32), **lif))
    with pytest.raises(ValueError, match=r"node 'lif' \(LIF\): v_leak != 0"):
        from_nir(leaky, dt=1e-3)
    with pytest.raises(ValueError, match="1 − dt/τ is <= 0"):
        from_nir(g, dt=0.05)
    exported = to_nir(Sequential(Linear(2, 2)), dt=0.5)
    with pytest.raises(ValueError, match=r"dt: the graph records dt=0\.5"):
        from_nir(exported, dt=0.1)
    with pytest.raises(FileNotFoundError, match="no NIR file"):
        from_nir(tmp_path / "missing.nir")
    (tmp_path / "junk.nir").write_text("not hdf5")
    with pytest.raises(ValueError, match=r"junk\.nir is not a NIR file: it is not an HDF5 file \("):
        from_nir(tmp_path / "junk.nir")
    w = np.eye(3, dtype=np.float32)
    branch = nir.NIRGraph(nodes={"input": nir.Input(np.array([3])), "a": nir.Linear(weight=w),
                                 "b": nir.Linear(weight=w), "output": nir.Output(np.array([3]))},
                          edges=[("input", "a"), ("input", "b"), ("a", "output"), ("b", "output")])
    with pytest.raises(ValueError, match=r"node 'input': spikeforge imports chains"):
        from_nir(branch, dt=1.0)


def test_write_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "m.nir"
    m = Sequential(Linear(3, 2), LIF(reset="hard"))
    write_nir(to_nir(m), path)
    before = path.read_bytes()

    def broken(filename, graph, **kw):
        with open(filename, "wb") as f:
            f.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(nir, "write", broken)
    with pytest.raises(OSError, match="disk full"):
        write_nir(to_nir(m), path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.nir"]


def _one_line_error(excinfo) -> str:
    text = str(excinfo.value)
    assert "\n" not in text
    return text


def test_an_hdf5_file_that_is_not_nir_is_named_as_such(tmp_path):
    import h5py

    path = tmp_path / "data.h5"
    with h5py.File(path, "w") as f:  # e.g. a data set, given by mistake
        f.create_dataset("spikes", data=np.zeros(3))
        f.create_group("labels")
    with pytest.raises(ValueError) as e:
        from_nir(path, dt=1.0)
    text = _one_line_error(e)
    assert "data.h5 is an HDF5 file but not a NIR graph" in text and "'labels', 'spikes'" in text
    assert "KeyError" not in text and "Unable to synchronously open" not in text
    with h5py.File(tmp_path / "empty.h5", "w"):
        pass
    with pytest.raises(ValueError, match=r"not a NIR graph: .* top-level keys none"):
        read_nir(tmp_path / "empty.h5")


def test_a_malformed_or_single_node_nir_file_is_a_one_line_error(tmp_path):
    import h5py

    path = tmp_path / "broken.nir"
    with h5py.File(path, "w") as f:
        f.create_group("node").create_dataset("nodes", data=np.zeros(2))  # a 'node' group without 'type'
    with pytest.raises(ValueError, match=r"broken\.nir is not a valid NIR graph: nir\.read failed with") as e:
        read_nir(path)
    _one_line_error(e)
    nir.write(tmp_path / "node.nir", nir.Linear(weight=np.eye(2, dtype=np.float32)))
    with pytest.raises(ValueError, match=r"node\.nir holds a single NIR Linear node, not a graph"):
        from_nir(tmp_path / "node.nir", dt=1.0)


_FOLDABLE = ("Affine", "Linear", "Conv1d", "Conv2d", "LIF", "LI", "CubaLI", "CubaLIF", "NIRGraph")
_NOT_AFTER_WEIGHTS = {"Scale": "layer '0' (NIR Scale)", "SumPool2d": "layer '0' (NIR SumPool2d)",
                      "AvgPool2d": "layer '0' (NIR AvgPool2d)", "Delay": "layer '0' (NIR Delay)",
                      "Flatten": "layer '1' (NIR Flatten)"}


def _leaky_nodes(graph):
    for node in graph.nodes.values():
        if isinstance(node, nir.NIRGraph):
            yield from _leaky_nodes(node)
        elif type(node).__name__ in ("LIF", "LI", "CubaLIF", "CubaLI"):
            yield node


@pytest.mark.parametrize("mode", ["exact", "euler"])
@pytest.mark.parametrize("name", _FOLDABLE)
def test_fold_r_moves_the_gain_into_the_weights_and_keeps_the_dynamics(name, mode):
    torch.manual_seed(1)
    make, shape, _ = CASES[name]
    m = make()
    plain = to_nir(m, dt=0.5, discretization=mode, input_shape=shape)
    folded = to_nir(m, dt=0.5, discretization=mode, input_shape=shape, fold_r=True)
    leaky = list(_leaky_nodes(folded))
    assert leaky and all(np.all(n.r == 1) and np.all(getattr(n, "w_in", 1) == 1) for n in leaky)
    # NIR's equations are unchanged: weight row j of the node before a leaky node times r_j (and w_in_j)
    for (k, a), b in zip(plain.nodes.items(), folded.nodes.values()):
        if isinstance(a, nir.NIRGraph):
            cell = a.nodes["lif"]
            gain = np.asarray(cell.r, np.float64) * np.asarray(getattr(cell, "w_in", 1.0), np.float64)
            np.testing.assert_array_equal(b.nodes["w_rec"].weight,
                                          (a.nodes["w_rec"].weight * gain[:, None]).astype(np.float32))
        if type(a).__name__ in ("Affine", "Linear") and k != "output":
            nxt = list(plain.nodes.values())[list(plain.nodes).index(k) + 1]
            nxt = nxt.nodes["lif"] if isinstance(nxt, nir.NIRGraph) else nxt
            if type(nxt).__name__ in ("LIF", "LI", "CubaLIF", "CubaLI"):
                gain = np.asarray(nxt.r, np.float64) * np.asarray(getattr(nxt, "w_in", 1.0), np.float64)
                np.testing.assert_array_equal(b.weight, (a.weight * gain[:, None]).astype(np.float32))
    g = torch.Generator().manual_seed(0)
    x = torch.rand((25, 3, *shape), generator=g) * 2 - 0.5
    with torch.no_grad():
        want, got = m(x), from_nir(folded)(x)
    assert want.shape == got.shape
    if name in ("LI", "CubaLI"):  # potentials: the same up to float32 rounding of r·W
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    else:
        assert torch.equal(want, got) and float(want.sum()) > 0 and bool(torch.any(want == 0))


def test_fold_r_leaves_integrators_and_other_nodes_alone():
    torch.manual_seed(1)
    for name in ("IF", "I", "Threshold"):
        make, shape, _ = CASES[name]
        m = make()
        a = to_nir(m, dt=0.5, input_shape=shape)
        b = to_nir(m, dt=0.5, input_shape=shape, fold_r=True)
        for x, y in zip(a.nodes.values(), b.nodes.values()):
            for attr in ("weight", "bias", "r"):
                if hasattr(x, attr):
                    np.testing.assert_array_equal(getattr(x, attr), getattr(y, attr))


@pytest.mark.parametrize("name", sorted(_NOT_AFTER_WEIGHTS))
def test_fold_r_after_a_layer_without_weights_is_a_clear_error(name):
    make, shape, _ = CASES[name]
    key = "1" if name != "Flatten" else "2"
    before = re.escape(_NOT_AFTER_WEIGHTS[name])
    with pytest.raises(ValueError, match=rf"fold_r: layer '{key}' \(LIF\) follows {before}; "
                                         r"its r can be folded only into a Linear, Conv1d or Conv2d"):
        to_nir(make(), input_shape=shape, fold_r=True)
    with pytest.raises(ValueError, match=r"fold_r: layer '0' \(LIF\) follows the input"):
        to_nir(Sequential(_hard(LIF, shape=(3,))), fold_r=True)


def test_fold_r_into_a_convolution_needs_one_gain_per_channel():
    tau = torch.linspace(2.0, 9.0, 3 * 4 * 4).reshape(3, 4, 4)
    m = Sequential(Conv2d(2, 3, 3, padding=1), _hard(LIF, tau=tau, shape=(3, 4, 4)))
    with pytest.raises(ValueError, match=r"fold_r: layer '1' \(LIF\) follows a convolution but its r .* one channel"):
        to_nir(m, input_shape=(2, 4, 4), fold_r=True)
    with pytest.raises(TypeError, match=r"fold_r: expected True or False, got 'yes'"):
        to_nir(m, input_shape=(2, 4, 4), fold_r="yes")

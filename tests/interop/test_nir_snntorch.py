"""snnTorch as an independent NIR consumer and producer (conventions in docs/nir.md).

snnTorch's NIR reading assumes dt = 1e-4 and forward Euler, resets to zero and fires on a strict ``>``:
spikeforge exports with ``dt=1e-4, discretization="euler"``, ``reset="hard"`` (to 0), and a
``v_threshold`` one float32 below θ. snnTorch's NIR writing needs per-neuron ``beta``/``threshold`` tensors
(a scalar gives 0-d arrays that fail NIR's type check) and ``ignore_dims=[0]`` for the batch.
"""

import contextlib
import io

import pytest
import torch

from spikeforge.interop import from_nir, to_nir, write_nir
from spikeforge.nets import Sequential
from spikeforge.neuron import LIF, CuBaLIF
from spikeforge.synapse import Linear, Recurrent

snn = pytest.importorskip("snntorch")
from snntorch import utils as snn_utils  # noqa: E402
from snntorch.export_nir import export_to_nir  # noqa: E402
from snntorch.import_nir import import_from_nir  # noqa: E402

DT = 1e-4

# snnTorch's export_to_nir still calls nirtorch's deprecated extract_nir_graph (snnTorch 1.0 / nirtorch 2.6).
pytestmark = pytest.mark.filterwarnings(
    "ignore:nirtorch.extract_nir_graph is being deprecated:DeprecationWarning"
)


def _quiet(fn, *args, **kw):
    with contextlib.redirect_stdout(io.StringIO()):  # snnTorch prints progress and warnings to stdout
        return fn(*args, **kw)


def _run_imported(net, x):
    """A nirtorch GraphModule from snnTorch's importer, one step at a time with explicit state."""
    state, out = None, []
    for t in range(x.shape[0]):
        y, state = net(x[t], state)
        out.append(y)
    return torch.stack(out)


def _run_snntorch(net, x):
    snn_utils.reset(net)
    return torch.stack([net(x[t]) for t in range(x.shape[0])])


OURS = {
    "LIF": lambda: Sequential(Linear(6, 16), LIF(reset="hard", tau=5.0), Linear(16, 5),
                              LIF(reset="hard", tau=3.0, threshold=0.5)),
    "CubaLIF": lambda: Sequential(Linear(6, 16), CuBaLIF(reset="hard"), Linear(16, 5),
                                  CuBaLIF(reset="hard", tau=4.0, tau_syn=2.0)),
    "recurrent LIF": lambda: Sequential(Linear(6, 16), Recurrent(16, LIF(reset="hard")), Linear(16, 5),
                                        LIF(reset="hard", threshold=0.3)),
    "recurrent CubaLIF": lambda: Sequential(Linear(6, 16), Recurrent(16, CuBaLIF(reset="hard")), Linear(16, 5),
                                            CuBaLIF(reset="hard")),
}


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("name", sorted(OURS))
def test_snntorch_reproduces_our_exported_spikes(name, seed, tmp_path):
    torch.manual_seed(seed)
    ours = OURS[name]()
    path = write_nir(to_nir(ours, dt=DT, discretization="euler"), tmp_path / "ours.nir")
    import nir

    theirs = _quiet(import_from_nir, nir.read(path))
    x = torch.rand(60, 4, 6) * 3
    with torch.no_grad():
        want, got = ours(x), _run_imported(theirs, x)
    assert float(want.sum()) > 20 and bool(torch.any(want == 0))
    assert torch.equal(want, got), f"{int((want != got).sum())} spikes differ"


def _leaky(n, beta, thr):
    return snn.Leaky(beta=beta, threshold=torch.full((n,), thr), init_hidden=True, reset_mechanism="zero",
                     reset_delay=False)


THEIRS = {
    "Leaky": lambda: torch.nn.Sequential(torch.nn.Linear(6, 16), _leaky(16, torch.rand(16) * 0.5 + 0.45, 1.0),
                                         torch.nn.Linear(16, 5), _leaky(5, torch.full((5,), 0.8), 0.7)),
    "Synaptic": lambda: torch.nn.Sequential(
        torch.nn.Linear(6, 16),
        snn.Synaptic(alpha=torch.rand(16) * 0.5 + 0.4, beta=torch.rand(16) * 0.5 + 0.45, threshold=torch.ones(16),
                     init_hidden=True, reset_mechanism="zero", reset_delay=False),
        torch.nn.Linear(16, 5), _leaky(5, torch.full((5,), 0.8), 0.5)),
    "RLeaky": lambda: torch.nn.Sequential(
        torch.nn.Linear(6, 16),
        snn.RLeaky(beta=torch.rand(16) * 0.5 + 0.45, linear_features=16, threshold=torch.ones(16), init_hidden=True,
                   reset_mechanism="zero", reset_delay=False),
        torch.nn.Linear(16, 5), _leaky(5, torch.full((5,), 0.8), 0.2)),
}


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("name", sorted(THEIRS))
def test_we_reproduce_snntorch_exported_spikes(name, seed, tmp_path):
    torch.manual_seed(seed)
    net = THEIRS[name]()
    graph = _quiet(export_to_nir, net, torch.randn(1, 6), ignore_dims=[0])
    write_nir(graph, tmp_path / "theirs.nir")
    ours = from_nir(tmp_path / "theirs.nir", dt=DT)  # snnTorch's graphs carry no dt; Euler is the default
    x = torch.rand(60, 4, 6) * 3
    with torch.no_grad():
        want, got = _run_snntorch(net, x), ours(x)
    assert float(want.sum()) > 20 and bool(torch.any(want == 0))
    assert torch.equal(want, got), f"{int((want != got).sum())} spikes differ"


def test_snntorch_graph_without_dt_needs_one():
    net = THEIRS["Leaky"]()
    graph = _quiet(export_to_nir, net, torch.randn(1, 6), ignore_dims=[0])
    with pytest.raises(ValueError, match=r"dt: .*1e-4"):
        from_nir(graph)


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("name", ["LIF", "recurrent LIF"])
def test_snntorch_reproduces_a_folded_lif_export_with_one_tau_per_layer(name, seed):
    """fold_r (r = 1, the gain in the weights): snnTorch divides the LIF threshold by the gain r·dt/τ
    instead, with one value per layer (its first neuron's), so one τ per layer reproduces."""
    torch.manual_seed(seed)
    ours = OURS[name]()
    theirs = _quiet(import_from_nir, to_nir(ours, dt=DT, discretization="euler", fold_r=True))
    x = torch.rand(60, 4, 6) * 3
    with torch.no_grad():
        want, got = ours(x), _run_imported(theirs, x)
    assert float(want.sum()) > 20 and bool(torch.any(want == 0))
    assert torch.equal(want, got), f"{int((want != got).sum())} spikes differ"


@pytest.mark.parametrize("name", ["CubaLIF", "recurrent CubaLIF"])
def test_snntorch_refuses_a_folded_cubalif(name):
    """snnTorch asserts r = τ_mem/dt for CubaLIF: export it for snnTorch without fold_r."""
    graph = to_nir(OURS[name](), dt=DT, discretization="euler", fold_r=True)
    with pytest.raises(AssertionError, match="r not supported"):
        _quiet(import_from_nir, graph)

"""Norse as an independent NIR consumer and producer (conventions in docs/nir.md, "Norse").

Norse 1.1's importer (``norse.torch.from_nir``) simulates ``LIF`` as ``v ← v + dt/τ·(x − v)`` (forward
Euler) *ignoring* ``LIF.r``, takes ``dt`` as an argument (default 1e-3; it does not read the graph's
``metadata["dt"]``), honours ``r`` and ``w_in`` of ``CubaLIF``, adds the input to ``IF`` without ``dt``
(``v ← v + x``, ``r`` ignored), resets to 0 (ignoring ``v_reset``) and fires on ``v > v_threshold``.
spikeforge's export for it: ``discretization="euler"``, ``fold_r=True`` (``r`` moved into the weights),
``reset="hard"`` with ``v_reset = 0``, and the graph's ``dt`` passed to Norse.

Norse's exporter (``norse.torch.to_nir``) writes ``τ = dt/tau_mem_inv``, i.e. ``dt·τ`` (norse/norse#411):
its graphs carry the dynamics exactly only for ``dt = 1`` (time counted in steps). For another ``dt``, a
graph of ``LIFBoxCell``\\ s imports right with ``from_nir(graph, dt=dt**2)``. Its ``LIFCell`` (current-based)
is written as ``CubaLIF`` with ``w_in = 1`` although the cell adds its input to the current with gain one
(NIR's Euler step gives ``dt/τ_syn·w_in``): such graphs need ``w_in = τ_syn/dt``.

Norse is installed without its dependencies (``pip install --no-deps norse==1.1.0``: it pins torchvision);
these tests are skipped only when it cannot be imported.
"""

import warnings

import nir
import numpy as np
import pytest
import torch

from spikeforge.interop import from_nir, to_nir, write_nir
from spikeforge.nets import Sequential
from spikeforge.neuron import IF, LIF, CuBaLIF
from spikeforge.synapse import Conv2d, Linear

with warnings.catch_warnings():  # norse 1.1 decorates its kernels with torch.jit.script, deprecated in torch 2.13
    warnings.simplefilter("ignore", DeprecationWarning)
    norse = pytest.importorskip("norse.torch", reason="norse is not installed (pip install --no-deps norse==1.1.0)")
    from norse.torch.utils.export_nir import to_nir as norse_to_nir
    from norse.torch.utils.import_nir import from_nir as norse_from_nir

pytestmark = [
    # Norse 1.1 builds and reads graphs with nirtorch's deprecated load / extract_nir_graph (nirtorch 2.6)
    pytest.mark.filterwarnings("ignore:nirtorch.load is being deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:nirtorch.extract_nir_graph is being deprecated:DeprecationWarning"),
]

DT = 1e-3


def _run_stateful(net, x):
    """A Norse module (imported graph or SequentialState), one step at a time with explicit state."""
    state, out = None, []
    for t in range(x.shape[0]):
        y, state = net(x[t], state)
        out.append(y)
    return torch.stack(out)


def _active(spikes):
    """Enough spikes, and silent places, for a comparison to mean something."""
    assert float(spikes.sum()) > 50 and bool(torch.any(spikes == 0))


def _shifted(linear, by):
    """A layer whose random weights lean to excitation, so that every output neuron spikes now and then."""
    with torch.no_grad():
        linear.weight.add_(by)
    return linear


OURS = {
    "LIF": lambda: Sequential(Linear(6, 24), LIF(reset="hard", tau=torch.rand(24) * 8 + 1.5, threshold=0.5),
                              Linear(24, 5), LIF(reset="hard", tau=3.0, threshold=0.3)),
    "CubaLIF": lambda: Sequential(Linear(6, 24), CuBaLIF(reset="hard", tau=torch.rand(24) * 8 + 1.5,
                                                         tau_syn=torch.rand(24) * 4 + 1.2),
                                  Linear(24, 5), CuBaLIF(reset="hard", tau=4.0, tau_syn=2.0)),
    "LIF and IF": lambda: Sequential(Linear(6, 24), IF(reset="hard", threshold=0.5), _shifted(Linear(24, 5), 0.03),
                                     LIF(reset="hard", tau=4.0, threshold=0.3)),
    # one τ per channel: a convolution takes one folded factor per output channel
    "conv LIF": lambda: Sequential(Conv2d(2, 4, 3, padding=1),
                                   LIF(reset="hard", tau=torch.tensor([2.0, 3.0, 4.0, 5.0])[:, None, None]
                                       .expand(4, 6, 6).contiguous(), threshold=0.5, shape=(4, 6, 6)),
                                   Conv2d(4, 3, 3), LIF(reset="hard", tau=2.5, threshold=0.3)),
}
SHAPE = {"conv LIF": (2, 6, 6)}


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("name", sorted(OURS))
def test_norse_reproduces_our_folded_euler_export(name, seed, tmp_path):
    torch.manual_seed(seed)
    ours = OURS[name]()
    shape = SHAPE.get(name, (6,))
    graph = to_nir(ours, dt=DT, discretization="euler", fold_r=True, input_shape=shape)
    path = write_nir(graph, tmp_path / "ours.nir")
    graph = nir.read(path)
    assert all(np.all(n.r == 1) for n in graph.nodes.values() if type(n).__name__ in ("LIF", "CubaLIF"))
    theirs = norse_from_nir(graph, dt=float(graph.metadata["dt"]))
    x = torch.rand(80, 4, *shape) * 3
    with torch.no_grad():
        want, got = ours(x), _run_stateful(theirs, x)
    _active(want)
    assert torch.equal(want, got), f"{int((want != got).sum())} of {int(want.numel())} spikes differ"


@pytest.mark.parametrize("seed", [0, 1])
def test_norse_reproduces_the_unfolded_cubalif_export(seed, tmp_path):
    """Norse honours CubaLIF's r and w_in: the default Euler export needs no folding (but dt passed)."""
    torch.manual_seed(seed)
    ours = OURS["CubaLIF"]()
    graph = nir.read(write_nir(to_nir(ours, dt=DT, discretization="euler"), tmp_path / "ours.nir"))
    theirs = norse_from_nir(graph, dt=DT)
    x = torch.rand(80, 4, 6) * 3
    with torch.no_grad():
        want, got = ours(x), _run_stateful(theirs, x)
    _active(want)
    assert torch.equal(want, got), f"{int((want != got).sum())} spikes differ"


def _linear(n_in, n_out, gain):
    m = torch.nn.Linear(n_in, n_out)
    with torch.no_grad():
        m.weight.mul_(gain)
    return m


def _lif_box(tau_inv, v_th, dt):
    n = tau_inv.numel()
    return norse.LIFBoxCell(norse.LIFBoxParameters(tau_mem_inv=tau_inv / dt, v_th=torch.full((n,), v_th),
                                                   v_leak=torch.zeros(n)), dt=dt)


THEIRS = {  # per-neuron parameters: Norse's exporter needs every parameter of a node in the same shape
    "LIFBox": lambda dt: norse.SequentialState(_linear(6, 16, 4), _lif_box(torch.rand(16) * 0.5 + 0.1, 1.0, dt),
                                               _linear(16, 5, 6), _lif_box(torch.full((5,), 0.3), 0.5, dt)),
    "LIFBox and IAF": lambda dt: norse.SequentialState(
        _linear(6, 16, 4), _lif_box(torch.rand(16) * 0.5 + 0.1, 1.0, dt), _linear(16, 5, 2),
        norse.IAFCell(norse.IAFParameters(v_th=torch.full((5,), 0.6)), dt=dt)),
    "LIFCell": lambda dt: norse.SequentialState(
        _linear(6, 16, 4),
        norse.LIFCell(norse.LIFParameters(tau_mem_inv=(torch.rand(16) * 0.5 + 0.1) / dt,
                                          tau_syn_inv=(torch.rand(16) * 0.5 + 0.2) / dt, v_th=torch.ones(16),
                                          v_leak=torch.zeros(16), v_reset=torch.zeros(16)), dt=dt),
        _shifted(_linear(16, 5, 6), 0.2), _lif_box(torch.full((5,), 0.3), 0.3, dt)),
}


def _their_graph(name, dt):
    """Norse's network and its graph, in memory: Norse writes the sample's batch dimension into the Input
    type (``[1, 6]``), so ``nir.read``'s type check refuses the file it writes (``nir.read(path,
    type_check=False)`` reads it)."""
    net = THEIRS[name](dt)
    graph = norse_to_nir(net, torch.randn(1, 6), dt=dt)
    if name == "LIFCell":  # Norse writes w_in = 1 for a cell whose current takes its input with gain one
        cell = graph.nodes["1"]
        cell.w_in = np.asarray(cell.tau_syn, dtype=np.float32) / np.float32(dt)
    return net, graph


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("name", sorted(THEIRS))
def test_we_reproduce_norse_exported_spikes_with_dt_1(name, seed):
    torch.manual_seed(seed)
    net, graph = _their_graph(name, 1.0)
    ours = from_nir(graph, dt=1.0)  # Norse's graphs carry no dt; its integration is forward Euler (the default)
    x = torch.rand(80, 4, 6) * 3
    with torch.no_grad():
        want, got = _run_stateful(net, x), ours(x)
    _active(want)
    assert torch.equal(want, got), f"{int((want != got).sum())} spikes differ"


@pytest.mark.parametrize("seed", [0, 1])
def test_norse_graphs_of_lif_box_cells_with_another_dt_import_with_dt_squared(seed):
    """norse/norse#411: Norse writes τ = dt·τ_true; λ = 1 − dt/τ_true = 1 − dt²/τ_written."""
    torch.manual_seed(seed)
    net, graph = _their_graph("LIFBox", DT)
    ours = from_nir(graph, dt=DT**2)
    x = torch.rand(80, 4, 6) * 3
    with torch.no_grad():
        want, got = _run_stateful(net, x), ours(x)
    _active(want)
    assert torch.equal(want, got), f"{int((want != got).sum())} spikes differ"

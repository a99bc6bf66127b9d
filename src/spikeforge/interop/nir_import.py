"""NIR graph or ``.nir`` file -> spikeforge :class:`~spikeforge.nets.Sequential` (:func:`from_nir`).

See docs/nir.md for the mapping of each primitive and the conventions of other tools' graphs.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from spikeforge.interop import _discrete as D
from spikeforge.interop import layers as L
from spikeforge.interop.nir_export import EXT
from spikeforge.nets.sequential import Sequential
from spikeforge.neuron import firing as firing_models
from spikeforge.neuron.modules import Neuron
from spikeforge.synapse.layers import Conv1d, Conv2d, Flatten, Linear, Recurrent

__all__ = ["from_nir", "read_nir"]


def read_nir(path: str | os.PathLike):
    """Read the ``nir.NIRGraph`` of a ``.nir`` file (``nir.read``), with a clear one-line ``ValueError`` for a
    file that is not HDF5, an HDF5 file that is not NIR, a malformed graph or a file holding a single node
    (and ``FileNotFoundError`` for a missing file)."""
    import h5py
    import nir

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path: no NIR file at {path}")
    try:
        with h5py.File(path, "r") as f:
            keys = sorted(f.keys())
            has_node = "node" in f and isinstance(f["node"], h5py.Group)
            kind = f["node"].get("type") if has_node else None
            kind = _meta_str(kind[()]) if isinstance(kind, h5py.Dataset) else None
    except OSError as e:
        raise ValueError(f"path: {path} is not a NIR file: it is not an HDF5 file ({_one_line(e)})") from None
    if not has_node:
        found = ", ".join(repr(k) for k in keys[:6]) + (", ..." if len(keys) > 6 else "") if keys else "none"
        raise ValueError(f"path: {path} is an HDF5 file but not a NIR graph: NIR files (nir.write) hold a "
                         f"'node' group, this one has top-level keys {found}")
    if kind is not None and kind != "NIRGraph":
        raise ValueError(f"path: {path} holds a single NIR {kind} node, not a graph; write "
                         f"nir.NIRGraph.from_list(node) instead")
    try:
        graph = nir.read(path)
    except Exception as e:  # nir.read fails with KeyError, ValueError, AssertionError, ... on malformed graphs
        raise ValueError(f"path: {path} is not a valid NIR graph: nir.read failed with "
                         f"{type(e).__name__}: {_one_line(e)}") from None
    if not isinstance(graph, nir.NIRGraph):
        raise ValueError(f"path: {path} holds a single NIR {type(graph).__name__} node, not a graph; write "
                         f"nir.NIRGraph.from_list(node) instead")
    return graph


def _one_line(e: BaseException) -> str:
    text = str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e)
    return " ".join(text.split())


def _meta_str(v) -> str:
    if isinstance(v, bytes):
        return v.decode("utf8")
    if isinstance(v, np.ndarray) and v.shape == ():
        return _meta_str(v[()])
    return str(v)


def _meta_float(v) -> float:
    return float(np.asarray(v))


def from_nir(graph_or_path, *, dt: float | None = None, discretization: str | None = None) -> Sequential:
    """Build a spikeforge model from a NIR graph (``nir.NIRGraph``) or a ``.nir`` file.

    Args:
        graph_or_path: the graph or the path of a ``.nir`` file.
        dt: the time step; default ``metadata["dt"]`` of the graph. Graphs of other tools carry none
            (snnTorch's assume ``dt = 1e-4``): then ``dt`` is required.
        discretization: ``"exact"`` or ``"euler"``; default the graph's ``spikeforge.discretization``
            metadata, else ``"euler"`` (the convention of snnTorch's and most tools' NIR graphs).

    Returns:
        a :class:`~spikeforge.nets.Sequential` whose layers follow the graph's chain of nodes; input
        gains other than one become :class:`~spikeforge.interop.layers.Scale` layers.
    """
    import nir

    graph = read_nir(graph_or_path) if isinstance(graph_or_path, (str, os.PathLike)) else graph_or_path
    if not isinstance(graph, nir.NIRGraph):
        raise TypeError(f"graph_or_path: expected a nir.NIRGraph or a path to a .nir file, got "
                        f"{type(graph_or_path).__name__}")
    meta = graph.metadata if isinstance(graph.metadata, dict) else {}
    if "dt" in meta:
        meta_dt = _meta_float(meta["dt"])
        if dt is not None and not np.isclose(float(dt), meta_dt, rtol=1e-9, atol=0):
            raise ValueError(f"dt: the graph records dt={meta_dt!r} in its metadata, got dt={dt!r}")
        dt = meta_dt
    if dt is None:
        raise ValueError("dt: the graph has no 'dt' in its metadata; pass dt=... (snnTorch's graphs use 1e-4)")
    if isinstance(dt, bool) or not np.isfinite(float(dt)) or float(dt) <= 0:
        raise ValueError(f"dt: expected a positive finite number, got {dt!r}")
    dt = float(dt)
    if EXT + "discretization" in meta:
        recorded = _meta_str(meta[EXT + "discretization"])
        if discretization is not None and discretization != recorded:
            raise ValueError(f"discretization: the graph was exported with {recorded!r}, got {discretization!r}")
        discretization = recorded
    mode = D.check_mode("euler" if discretization is None else discretization)
    builder = _Builder(dt, mode)
    for key, node, rec in _chain(graph):
        builder.add(key, node, rec)
    model = Sequential(*builder.modules)
    model.nir_dt = dt  # type: ignore[attr-defined]
    return model


_NEURONS = ("IF", "LIF", "CubaLIF")


def _is_neuron(node) -> bool:
    return type(node).__name__ in _NEURONS


def _is_weight(node) -> bool:
    return type(node).__name__ in ("Linear", "Affine")


def _parse_subgraph(key: str, g):
    """A recurrent population ``input -> neuron <-> weight``, ``neuron -> output`` -> (neuron, weight)."""
    import nir

    kinds = {k: type(n).__name__ for k, n in g.nodes.items()}
    ins = [k for k, n in g.nodes.items() if isinstance(n, nir.Input)]
    outs = [k for k, n in g.nodes.items() if isinstance(n, nir.Output)]
    cells = [k for k, n in g.nodes.items() if _is_neuron(n)]
    weights = [k for k, n in g.nodes.items() if _is_weight(n)]
    shape_ok = len(g.nodes) == 4 and len(ins) == len(outs) == len(cells) == len(weights) == 1
    if shape_ok:
        i, o, c, w = ins[0], outs[0], cells[0], weights[0]
        if {tuple(e) for e in g.edges} == {(i, c), (c, w), (w, c), (c, o)}:
            return g.nodes[c], g.nodes[w], c
    raise ValueError(f"node {key!r}: a NIR subgraph is imported only as a recurrent population "
                     f"(Input -> IF/LIF/CubaLIF <-> Linear/Affine, neuron -> Output); got nodes {kinds} and "
                     f"edges {list(g.edges)}")


def _chain(graph):
    """Yield ``(key, node, recurrent_weight_or_None)`` along the graph's single path from input to output."""
    import nir

    nodes, edges = graph.nodes, [tuple(e) for e in graph.edges]
    succ: dict[str, list[str]] = {k: [] for k in nodes}
    pred: dict[str, list[str]] = {k: [] for k in nodes}
    for a, b in edges:
        succ[a].append(b)
        pred[b].append(a)
    # flat recurrence (nirtorch's export of snnTorch's RLeaky): neuron <-> weight, the weight touching only it
    rec: dict[str, str] = {}
    for a, b in edges:
        if _is_neuron(nodes[a]) and _is_weight(nodes[b]) and (b, a) in edges and succ[b] == [a] and pred[b] == [a]:
            rec[a] = b
    hidden = set(rec.values())
    inputs = [k for k, n in nodes.items() if isinstance(n, nir.Input)]
    if len(inputs) != 1:
        raise ValueError(f"graph: spikeforge imports graphs with exactly one Input node, got {inputs}")
    key, seen = inputs[0], set()
    while True:
        nxt = [s for s in succ[key] if s not in hidden]
        if key in rec:
            nxt = [s for s in nxt if s != rec[key]]
        if isinstance(nodes[key], nir.Output):
            if nxt:
                raise ValueError(f"node {key!r}: an Output node with successors {nxt}")
            return
        if len(nxt) != 1:
            raise ValueError(f"node {key!r}: spikeforge imports chains of nodes (a Sequential); this node has "
                             f"{len(nxt)} successors {nxt}")
        key = nxt[0]
        if key in seen:
            raise ValueError(f"node {key!r}: a cycle other than a neuron <-> weight recurrence")
        seen.add(key)
        preds = [p for p in pred[key] if p != rec.get(key)]
        if len(preds) != 1:
            raise ValueError(f"node {key!r}: spikeforge imports chains of nodes; this node has "
                             f"{len(preds)} inputs {preds}")
        if not isinstance(nodes[key], nir.Output):
            yield key, nodes[key], (nodes[rec[key]] if key in rec else None)


def _arr(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float32)


def _ints(x, n: int) -> tuple[int, ...]:
    a = np.asarray(x).astype(np.int64).reshape(-1)
    if a.size == 1:
        a = np.repeat(a, n)
    return tuple(int(v) for v in a)


def _padding(x, n: int):
    if isinstance(x, bytes):
        x = x.decode("utf8")
    if isinstance(x, np.ndarray) and x.dtype.kind in "SUO":
        x = _meta_str(x)
    if isinstance(x, str):
        return x
    p = _ints(x, n)
    return p[0] if n == 1 else p


def _squeeze(a: np.ndarray) -> np.ndarray:
    """Parameters holding one value (snnTorch writes ``[θ]``) apply to every neuron: make them scalars."""
    return a.reshape(()) if a.size == 1 else a


class _Builder:
    def __init__(self, dt: float, mode: str) -> None:
        self.dt, self.mode = dt, mode
        self.modules: list[nn.Module] = []

    # -- helpers ------------------------------------------------------------------------------
    def _decay(self, key: str, node, tau, name: str = "decay") -> np.ndarray:
        tau = _arr(tau)
        if bool(np.any(~np.isfinite(tau))) or bool(np.any(tau <= 0)):
            raise ValueError(f"node {key!r} ({type(node).__name__}): expected positive finite time constants, "
                             f"got {tau}")
        lam = D.decay32_from_tau(tau, self.dt, self.mode)
        if bool(np.any(lam <= 0)):
            raise ValueError(f"node {key!r} ({type(node).__name__}): with dt={self.dt:g} the {self.mode} decay "
                             f"1 − dt/τ is <= 0 (τ as small as {tau.min():g}); the graph needs a smaller dt")
        meta = node.metadata if isinstance(node.metadata, dict) else {}
        exact = meta.get(EXT + name)
        if exact is not None:
            exact = _arr(exact)
            # our exporter keeps λ where no float32 τ maps back onto it; trust it unless τ was edited since
            if exact.shape == lam.shape and np.allclose(exact, lam, rtol=1e-5, atol=0):
                lam = exact
        return lam

    def _gain(self, key: str, node, r, tau=None, lam=None) -> np.ndarray:
        """Input gain of ``τ·dv/dt = −v + R·I`` per step: ``R·(1 − λ)`` (exact) or ``dt·R/τ`` (Euler);
        ``dt·R`` for NIR's ``I`` and ``IF`` (no leak)."""
        r = _arr(r).astype(np.float64)
        if tau is None:
            g = self.dt * r
        elif self.mode == "exact":
            g = r * (1.0 - lam.astype(np.float64))
        else:
            g = self.dt * r / _arr(tau).astype(np.float64)
        return g

    def _scale(self, g: np.ndarray) -> None:
        g = _squeeze(np.asarray(g, dtype=np.float64))
        if bool(np.all(np.abs(g - 1.0) <= D.GAIN_TOL)):
            return
        self.modules.append(L.Scale(torch.as_tensor(g.astype(np.float32))))

    def _no_leak_voltage(self, key: str, node) -> None:
        v_leak = getattr(node, "v_leak", None)
        if v_leak is not None and bool(np.any(_arr(v_leak) != 0)):
            raise ValueError(f"node {key!r} ({type(node).__name__}): v_leak != 0 is not supported by spikeforge's "
                             f"neurons (their potential rests at 0); got v_leak={_arr(v_leak)}")

    # -- nodes --------------------------------------------------------------------------------
    def add(self, key: str, node, rec_weight) -> None:
        import nir

        kind = type(node).__name__
        if isinstance(node, nir.NIRGraph):
            cell, weight, _ = _parse_subgraph(key, node)
            self._recurrent(key, cell, weight)
            return
        if rec_weight is not None:
            self._recurrent(key, node, rec_weight)
            return
        handler = getattr(self, f"_n_{kind}", None)
        if handler is None:
            raise ValueError(f"node {key!r}: spikeforge cannot import NIR primitive {kind!r}")
        handler(key, node)

    def _n_Affine(self, key, node) -> None:
        w = torch.as_tensor(_arr(node.weight))
        if w.dim() != 2:
            raise ValueError(f"node {key!r} (Affine): expected a 2-d weight, got shape {tuple(w.shape)}")
        m = Linear(w.shape[1], w.shape[0], bias=True)
        with torch.no_grad():
            m.weight.copy_(w)
            m.bias.copy_(torch.as_tensor(_arr(node.bias)).reshape(-1))
        self.modules.append(m)

    def _n_Linear(self, key, node) -> None:
        w = torch.as_tensor(_arr(node.weight))
        if w.dim() != 2:
            raise ValueError(f"node {key!r} (Linear): expected a 2-d weight, got shape {tuple(w.shape)}")
        m = Linear(w.shape[1], w.shape[0], bias=False)
        with torch.no_grad():
            m.weight.copy_(w)
        self.modules.append(m)

    def _conv(self, key, node, cls, n: int) -> None:
        w = torch.as_tensor(_arr(node.weight))
        groups = int(np.asarray(node.groups))
        m = cls(w.shape[1] * groups, w.shape[0], tuple(w.shape[2:]) if n == 2 else int(w.shape[2]),
                stride=_ints(node.stride, n) if n == 2 else _ints(node.stride, 1)[0],
                padding=_padding(node.padding, n), dilation=_ints(node.dilation, n) if n == 2 else
                _ints(node.dilation, 1)[0], groups=groups, bias=True)
        with torch.no_grad():
            m.weight.copy_(w)
            m.bias.copy_(torch.as_tensor(_arr(node.bias)).reshape(-1))
        self.modules.append(m)

    def _n_Conv1d(self, key, node) -> None:
        self._conv(key, node, Conv1d, 1)

    def _n_Conv2d(self, key, node) -> None:
        self._conv(key, node, Conv2d, 2)

    def _n_Flatten(self, key, node) -> None:
        start, end = int(np.asarray(node.start_dim)), int(np.asarray(node.end_dim))
        in_type = (node.input_type or {}).get("input")
        ndim = None if in_type is None else len(np.asarray(in_type).reshape(-1))
        if start != 0 or not (end == -1 or (ndim is not None and end == ndim - 1)):
            raise ValueError(f"node {key!r} (Flatten): spikeforge flattens all feature dimensions (start_dim=0, "
                             f"end_dim=-1 in NIR, which counts without the batch), got start_dim={start}, "
                             f"end_dim={end}")
        self.modules.append(Flatten())

    def _pool(self, key, node, cls) -> None:
        self.modules.append(cls(_ints(node.kernel_size, 2), _ints(node.stride, 2), _ints(node.padding, 2)))

    def _n_SumPool2d(self, key, node) -> None:
        self._pool(key, node, L.SumPool2d)

    def _n_AvgPool2d(self, key, node) -> None:
        self._pool(key, node, L.AvgPool2d)

    def _n_Scale(self, key, node) -> None:
        self.modules.append(L.Scale(torch.as_tensor(_squeeze(_arr(node.scale)))))

    def _n_Threshold(self, key, node) -> None:
        self.modules.append(L.Threshold(torch.as_tensor(_squeeze(D.threshold_from_nir(node.threshold)))))

    def _n_Delay(self, key, node) -> None:
        steps = np.asarray(node.delay, dtype=np.float64) / self.dt
        whole = np.round(steps)
        if bool(np.any(np.abs(steps - whole) > 1e-4 * np.maximum(1.0, np.abs(whole)))) or bool(np.any(whole < 0)):
            raise ValueError(f"node {key!r} (Delay): delays must be whole non-negative multiples of dt={self.dt:g}, "
                             f"got {np.asarray(node.delay)}")
        self.modules.append(L.Delay(torch.as_tensor(_squeeze(whole.astype(np.int64)))))

    def _n_I(self, key, node) -> None:
        self._scale(self._gain(key, node, node.r))
        self.modules.append(L.Integrator(torch.ones(_arr(node.r).shape)))

    def _n_LI(self, key, node) -> None:
        self._no_leak_voltage(key, node)
        lam = self._decay(key, node, node.tau)
        self._scale(self._gain(key, node, node.r, node.tau, lam))
        self.modules.append(L.Integrator(torch.as_tensor(_squeeze(lam))))

    def _n_CubaLI(self, key, node) -> None:
        self._no_leak_voltage(key, node)
        lam = self._decay(key, node, node.tau_mem)
        syn = self._decay(key, node, node.tau_syn, "syn_decay")
        g = self._gain(key, node, node.r, node.tau_mem, lam) * self._gain(key, node, node.w_in, node.tau_syn, syn)
        self._scale(g)
        lam, syn = np.broadcast_arrays(lam, syn)
        self.modules.append(L.CubaIntegrator(torch.as_tensor(_squeeze(lam)), torch.as_tensor(_squeeze(syn))))

    def _n_IF(self, key, node) -> None:
        self._scale(self._gain(key, node, node.r))
        self.modules.append(self._neuron(key, node, None, None))

    def _n_LIF(self, key, node) -> None:
        self._no_leak_voltage(key, node)
        lam = self._decay(key, node, node.tau)
        self._scale(self._gain(key, node, node.r, node.tau, lam))
        self.modules.append(self._neuron(key, node, lam, None))

    def _n_CubaLIF(self, key, node) -> None:
        self._no_leak_voltage(key, node)
        lam = self._decay(key, node, node.tau_mem)
        syn = self._decay(key, node, node.tau_syn, "syn_decay")
        g = self._gain(key, node, node.r, node.tau_mem, lam) * self._gain(key, node, node.w_in, node.tau_syn, syn)
        self._scale(g)
        self.modules.append(self._neuron(key, node, lam, syn))

    def _cell(self, key, node):
        """(gain, neuron) of a neuron node, without appending them."""
        kind = type(node).__name__
        if kind == "IF":
            return self._gain(key, node, node.r), self._neuron(key, node, None, None)
        self._no_leak_voltage(key, node)
        if kind == "LIF":
            lam = self._decay(key, node, node.tau)
            return self._gain(key, node, node.r, node.tau, lam), self._neuron(key, node, lam, None)
        lam = self._decay(key, node, node.tau_mem)
        syn = self._decay(key, node, node.tau_syn, "syn_decay")
        g = self._gain(key, node, node.r, node.tau_mem, lam) * self._gain(key, node, node.w_in, node.tau_syn, syn)
        return g, self._neuron(key, node, lam, syn)

    def _recurrent(self, key, cell, weight) -> None:
        if not _is_neuron(cell):
            raise ValueError(f"node {key!r}: a recurrent loop needs an IF/LIF/CubaLIF neuron, got "
                             f"{type(cell).__name__}")
        g, neuron = self._cell(key, cell)
        w = _arr(weight.weight).astype(np.float64)
        n = w.shape[0]
        if w.shape != (n, n):
            raise ValueError(f"node {key!r}: the recurrent weight must be square, got shape {w.shape}")
        bias = _arr(weight.bias) if type(weight).__name__ == "Affine" else None
        if bias is not None and bool(np.any(bias != 0)):
            # a constant current: fold it into the bias of the feed-forward Linear before the population
            prev = self.modules[-1] if self.modules else None
            if not isinstance(prev, Linear):
                raise ValueError(f"node {key!r}: the recurrent Affine has a bias, which spikeforge folds into the "
                                 f"preceding Linear/Affine layer, but the population is preceded by "
                                 f"{type(prev).__name__ if prev is not None else 'the input'}")
            if prev.bias is None:
                prev.bias = nn.Parameter(torch.zeros(prev.out_features))
            with torch.no_grad():
                prev.bias.add_(torch.as_tensor(bias).reshape(-1))
        g = np.broadcast_to(np.asarray(g, dtype=np.float64), (n,))
        self._scale(g)
        if not bool(np.all(np.abs(g - 1.0) <= D.GAIN_TOL)):
            w = w * g[:, None]  # the gain scales the whole input current, recurrent part included
        rec = Recurrent(n, neuron)
        with torch.no_grad():
            rec.weight.copy_(torch.as_tensor(w.astype(np.float32)))
        self.modules.append(rec)

    def _neuron(self, key: str, node, lam: np.ndarray | None, syn: np.ndarray | None) -> Neuron:
        kind = type(node).__name__
        meta = node.metadata if isinstance(node.metadata, dict) else {}
        theta = D.threshold_from_nir(node.v_threshold)
        v_reset = _arr(node.v_reset) if getattr(node, "v_reset", None) is not None else np.zeros_like(theta)
        if v_reset.size and bool(np.any(v_reset != v_reset.reshape(-1)[0])):
            raise ValueError(f"node {key!r} ({kind}): spikeforge neurons share one v_reset per layer, got "
                             f"different values {v_reset}")
        arrays = [theta] + [np.asarray(a) for a in (lam, syn) if a is not None]
        arrays += [_arr(meta[k]) for k in (EXT + "decay_real", EXT + "decay_imag", EXT + "adapt_decay") if k in meta]
        shape = np.broadcast_shapes(*[a.shape for a in arrays])
        if all(a.size == 0 or bool(np.all(a == a.reshape(-1)[0])) for a in arrays):
            # one value for the whole layer: scalar parameters (as a model built by hand would have)
            shape = ()
            theta = theta.reshape(-1)[:1].reshape(())
            lam = None if lam is None else np.asarray(lam).reshape(-1)[:1].reshape(())
            syn = None if syn is None else np.asarray(syn).reshape(-1)[:1].reshape(())
            meta = {k: (_arr(v).reshape(-1)[:1].reshape(()) if isinstance(v, np.ndarray) and v.size > 1 else v)
                    for k, v in meta.items()}
        kw: dict[str, object] = {
            "threshold": torch.as_tensor(np.broadcast_to(theta, shape).copy()),
            "reset": "hard", "v_reset": float(v_reset.reshape(-1)[0]) if v_reset.size else 0.0,
            "dt": self.dt, "shape": shape or None,
        }
        if EXT + "decay_real" in meta:  # extension: a complex decay (resonate-and-fire), kept exactly
            re, im = _arr(meta[EXT + "decay_real"]), _arr(meta[EXT + "decay_imag"])
            kw["decay"] = torch.complex(torch.as_tensor(re), torch.as_tensor(im)).reshape(shape)
        elif lam is not None:
            kw["decay"] = torch.as_tensor(np.broadcast_to(lam, shape).copy())
        if syn is not None:
            kw["tau_syn"] = torch.as_tensor(D.core_tau_for_decay(np.broadcast_to(syn, shape).copy(), self.dt))
        name = _meta_str(meta.get(EXT + "firing", "Heaviside"))
        model_cls = getattr(firing_models, name, None)
        if not (isinstance(model_cls, type) and issubclass(model_cls, firing_models.FiringModel)):
            raise ValueError(f"node {key!r} ({kind}): unknown firing model {name!r} in its spikeforge metadata")
        kw["firing"] = model_cls(_meta_float(meta[EXT + "firing_sigma"])) if EXT + "firing_sigma" in meta \
            else model_cls()
        if EXT + "reset" in meta:
            kw["reset"] = _meta_str(meta[EXT + "reset"])
            kw["order"] = _meta_str(meta[EXT + "order"])
            kw["max_spikes"] = int(np.asarray(meta[EXT + "max_spikes"]))
            kw["stochastic"] = bool(int(np.asarray(meta[EXT + "stochastic"])))
            if EXT + "refractory_steps" in meta:
                kw["refractory_steps"] = int(np.asarray(meta[EXT + "refractory_steps"]))
                kw["v_refractory"] = _meta_float(meta[EXT + "v_refractory"])
            if EXT + "adapt_decay" in meta:
                rho = np.broadcast_to(_arr(meta[EXT + "adapt_decay"]), shape).copy()
                kw["tau_adapt"] = torch.as_tensor(D.core_tau_for_decay(rho, self.dt))
                kw["adapt_scale"] = _meta_float(meta[EXT + "adapt_scale"])
        try:
            return Neuron(**kw)
        except (TypeError, ValueError) as e:
            raise ValueError(f"node {key!r} ({kind}): cannot build a spikeforge neuron: {e}") from e

"""spikeforge model -> NIR graph (:func:`to_nir`) and ``.nir`` files (:func:`write_nir`). See docs/nir.md.

A neuron layer exports as its declaration says (:attr:`spikeforge.neuron.models.NeuronModel.to_nir`): the
exporter calls the declaration's hook with the module and a :class:`NIRContext`. The general neuron's hook is
:func:`neuron_to_nir`; a declaration without one is not exportable (a one-line error naming the layer and its
model).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from spikeforge._io import atomic_path, check_output_file
from spikeforge.interop import _discrete as D
from spikeforge.interop import layers as L
from spikeforge.neuron.general import GENERAL
from spikeforge.neuron.models.base import NeuronModel, declaration
from spikeforge.neuron.modules import LI, Neuron
from spikeforge.synapse.kernel_bank import KernelBank
from spikeforge.synapse.layers import Conv1d, Conv2d, Flatten, Recurrent
from spikeforge.synapse.temporal import TemporalConv

__all__ = ["EXT", "NIRContext", "neuron_to_nir", "to_nir", "write_nir"]

EXT = "spikeforge."  # prefix of spikeforge's metadata keys
_DEFAULT_ORDER = ("integrate", "fire", "reset")
_ORDER_FEATURE = "order:" + "-".join(_DEFAULT_ORDER)
# the features of the general neuron (its declaration's: its features and their hardware words) that export as
# NIR nodes, exactly (the defaults) or with extensions=True (the rest, as spikeforge.* metadata)
_EXPORTABLE = GENERAL.features - {f"model:{GENERAL.name}"}


@dataclass(frozen=True)
class NIRContext:
    """What a declaration's ``to_nir(module, context)`` hook is told about the layer it exports: its ``name``
    in the graph (for error messages: ``layer 'name' (Class)``), the feature ``shape`` of its input and output
    (without time and batch; per-neuron arrays of the node have this shape), the graph's time step ``dt`` (the
    unit of exported time constants), the ``discretization`` (``"exact"`` or ``"euler"``, see :func:`to_nir`)
    and whether ``extensions`` (``spikeforge.*`` metadata) are allowed."""

    name: str
    shape: tuple[int, ...]
    dt: float
    discretization: str = "exact"
    extensions: bool = False


def _hook(decl: NeuronModel) -> Callable | None:
    """The declaration's NIR export hook, a ``"package.module:function"`` reference resolved now."""
    hook = decl.to_nir
    if not isinstance(hook, str):
        return hook
    module, _, attr = hook.partition(":")
    obj = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def _exportable(m: nn.Module) -> bool:
    """A neuron module whose declaration says how it exports."""
    decl = declaration(m)
    return decl is not None and decl.to_nir is not None


def _f32(t) -> np.ndarray:
    if isinstance(t, torch.Tensor):
        t = t.detach().cpu()
        if t.is_complex():
            raise TypeError("complex parameter")  # callers check complexity first
        return t.to(torch.float32).numpy().copy()
    return np.asarray(t, dtype=np.float32)


def _full(value, shape: tuple[int, ...]) -> np.ndarray:
    return np.ascontiguousarray(np.broadcast_to(_f32(value), shape)).astype(np.float32)


def _children(model: nn.Module) -> list[tuple[str, nn.Module]]:
    if isinstance(model, nn.Sequential):
        return [(name, m) for name, m in model.named_children()]
    return [("0", model)]


def _infer_input_shape(first: nn.Module) -> tuple[int, ...] | None:
    if isinstance(first, nn.Linear):
        return (first.in_features,)
    if isinstance(first, (TemporalConv, KernelBank)):  # (so that the refusal names the layer, not the shape)
        return (first.in_channels,)
    if isinstance(first, Recurrent):
        return (first.features,)
    if declaration(first) is not None and getattr(first, "shape", None):
        return tuple(first.shape)
    for attr in ("decay", "scale", "threshold", "steps"):
        t = getattr(first, attr, None)
        if isinstance(first, (L.Integrator, L.CubaIntegrator, L.Scale, L.Threshold, L.Delay)) and t is not None:
            if t.dim():
                return tuple(t.shape)
    return None


def _layer_dt(layers: list[tuple[str, nn.Module]]) -> float | None:
    dts = {}
    for name, m in layers:
        n = m.neuron if isinstance(m, Recurrent) else m
        if _exportable(n) or isinstance(n, LI):
            dts[name] = float(n.dt)
    values = set(dts.values())
    if len(values) > 1:
        raise ValueError(f"dt: the layers have different time steps {dts}; pass dt=... for the graph")
    return values.pop() if values else None


def to_nir(
    model: nn.Module,
    dt: float | None = None,
    *,
    discretization: str = "exact",
    input_shape: Sequence[int] | None = None,
    extensions: bool = False,
    fold_r: bool = False,
):
    """Export a spikeforge model (a :class:`~spikeforge.nets.Sequential` or a single layer) to a NIR graph.

    Args:
        model: the network; its layers become a chain ``input -> layer... -> output`` named after the
            ``Sequential``'s children, recurrent populations become subgraphs.
        dt: the graph's time step (recorded as ``metadata["dt"]``), in the unit of the exported ``τ``.
            Default: the neurons' common ``dt`` (1.0 without neurons). The decays ``λ`` are kept; ``dt``
            only sets the time unit of the exported time constants.
        discretization: ``"exact"`` (``λ = exp(-dt/τ)``) or ``"euler"`` (``λ = 1 − dt/τ``, snnTorch's).
        input_shape: feature shape of the input (without time and batch); inferred from a first
            ``Linear``, ``Recurrent`` or per-neuron layer, required otherwise (e.g. a first convolution).
        extensions: allow neurons NIR cannot express (soft or no reset, graded, complex, stochastic,
            adaptive, refractory, other process orders), recorded as ``spikeforge.*`` node metadata that
            :func:`~spikeforge.interop.from_nir` honours and other tools ignore.
        fold_r: write ``r = 1`` (and ``w_in = 1``) on the leaky nodes (``LIF``, ``LI``, ``CubaLIF``,
            ``CubaLI``, also inside recurrent subgraphs) and multiply the rows of the weights and bias of
            the ``Linear``/``Affine``/``Conv`` node before each by its ``r`` (times ``w_in``): the same
            dynamics under NIR's equations, in the form Norse reads (its importer ignores ``LIF.r``).
            ``IF`` and ``I`` keep ``r = 1/dt``. A leaky node after any other layer is an error.

    Returns:
        a ``nir.NIRGraph``.
    """
    import nir

    mode = D.check_mode(discretization)
    layers = _children(model)
    if not layers:
        raise ValueError("model: expected at least one layer, got an empty Sequential")
    if dt is None:
        dt = _layer_dt(layers) or 1.0
    if isinstance(dt, bool) or not isinstance(dt, (int, float)) or not np.isfinite(dt) or dt <= 0:
        raise ValueError(f"dt: expected a positive finite number, got {dt!r}")
    if not isinstance(fold_r, bool):
        raise TypeError(f"fold_r: expected True or False, got {fold_r!r}")
    dt = float(dt)
    if input_shape is None:
        input_shape = _infer_input_shape(layers[0][1])
        if input_shape is None:
            raise ValueError(f"input_shape: cannot infer the input's feature shape from the first layer "
                             f"({type(layers[0][1]).__name__}); pass input_shape=(C, H, W) or similar")
    shape = tuple(int(s) for s in input_shape)

    nodes: dict[str, object] = {"input": nir.Input(input_type=np.array(shape))}
    edges: list[tuple[str, str]] = []
    prev = "input"
    probe = torch.zeros((1, 1, *shape))
    for name, layer in layers:
        key = str(name)
        if key in ("input", "output"):
            key = f"layer_{key}"
        node = _node(key, layer, shape, dt, mode, extensions)
        with torch.no_grad():
            try:
                probe = layer(probe)
            except Exception as e:  # shape errors of the user's model: name the layer
                raise ValueError(f"layer {key!r} ({type(layer).__name__}): cannot run on features {shape}: {e}") from e
        shape = tuple(probe.shape[2:])
        if fold_r:
            _fold_gain(prev, nodes[prev], key, node, layer)
        nodes[key] = node
        edges.append((prev, key))
        prev = key
    nodes["output"] = nir.Output(output_type=np.array(shape))
    edges.append((prev, "output"))
    metadata = {"dt": dt, EXT + "discretization": mode, EXT + "version": _version()}
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata)


def _version() -> str:
    from spikeforge._version import __version__

    return str(__version__)


def _node(key: str, layer: nn.Module, shape: tuple[int, ...], dt: float, mode: str, extensions: bool):
    import nir

    who = f"layer {key!r} ({type(layer).__name__})"
    if isinstance(layer, nn.Linear):
        w = _f32(layer.weight)
        if layer.bias is None:
            return nir.Linear(weight=w)
        return nir.Affine(weight=w, bias=_f32(layer.bias))
    if isinstance(layer, (Conv1d, Conv2d)):
        if layer.padding_mode != "zeros":
            raise ValueError(f"{who}: NIR convolutions pad with zeros, got padding_mode={layer.padding_mode!r}")
        bias = _f32(layer.bias) if layer.bias is not None else np.zeros(layer.out_channels, np.float32)
        pad = layer.padding if isinstance(layer.padding, str) else tuple(int(p) for p in layer.padding)
        if isinstance(layer, Conv1d):
            return nir.Conv1d(input_shape=int(shape[1]), weight=_f32(layer.weight), stride=int(layer.stride[0]),
                              padding=pad if isinstance(pad, str) else pad[0], dilation=int(layer.dilation[0]),
                              groups=int(layer.groups), bias=bias)
        return nir.Conv2d(input_shape=tuple(int(s) for s in shape[1:]), weight=_f32(layer.weight),
                          stride=tuple(int(s) for s in layer.stride), padding=pad,
                          dilation=tuple(int(d) for d in layer.dilation), groups=int(layer.groups), bias=bias)
    if isinstance(layer, Flatten):
        return nir.Flatten(input_type={"input": np.array(shape)}, start_dim=0, end_dim=-1)
    if isinstance(layer, (L.SumPool2d, L.AvgPool2d)):
        cls = nir.SumPool2d if isinstance(layer, L.SumPool2d) else nir.AvgPool2d
        return cls(kernel_size=np.array(layer.kernel_size), stride=np.array(layer.stride),
                   padding=np.array(layer.padding))
    if isinstance(layer, L.Scale):
        return nir.Scale(scale=_full(layer.scale, shape))
    if isinstance(layer, L.Threshold):
        return nir.Threshold(threshold=D.threshold_to_nir(_full(layer.threshold, shape)))
    if isinstance(layer, L.Delay):
        steps = np.broadcast_to(layer.steps.cpu().numpy(), shape)
        return nir.Delay(delay=(steps.astype(np.float64) * dt).astype(np.float32))
    if isinstance(layer, (L.Integrator, LI)):
        lam = _full(layer.lam().detach(), shape)
        if bool(np.all(lam == 1)):
            return nir.I(r=np.full(shape, 1.0 / dt, np.float32))
        if bool(np.any(lam == 1)):
            raise ValueError(f"{who}: NIR has no integrator mixing λ = 1 (I) and λ < 1 (LI) neurons")
        tau, meta = _tau(lam, dt, mode, "decay")
        return nir.LI(tau=tau, r=_gain_r(lam), v_leak=np.zeros(shape, np.float32), metadata=meta)
    if isinstance(layer, L.CubaIntegrator):
        lam, syn = _full(layer.decay, shape), _full(layer.syn_decay, shape)
        if bool(np.any(lam == 1)):
            raise ValueError(f"{who}: NIR CubaLI needs a finite membrane time constant, got λ = 1")
        tau, meta = _tau(lam, dt, mode, "decay")
        tau_syn, meta_syn = _tau(syn, dt, mode, "syn_decay")
        return nir.CubaLI(tau_syn=tau_syn, tau_mem=tau, r=_gain_r(lam), v_leak=np.zeros(shape, np.float32),
                          w_in=_gain_r(syn), metadata={**meta, **meta_syn})
    if isinstance(layer, Recurrent):
        n = layer.features
        cell = _neuron_node(f"{key}.lif", layer.neuron, (n,), dt, mode, extensions)
        sub = {"input": nir.Input(input_type=np.array([n])), "lif": cell,
               "w_rec": nir.Linear(weight=_f32(layer.weight)), "output": nir.Output(output_type=np.array([n]))}
        sub_edges = [("input", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "output")]
        return nir.NIRGraph(nodes=sub, edges=sub_edges, metadata={EXT + "layer": "Recurrent"})
    if declaration(layer) is not None:
        return _neuron_node(key, layer, shape, dt, mode, extensions)
    raise TypeError(f"{who}: no NIR primitive for this layer; supported: Linear, Conv1d, Conv2d, Flatten, "
                    f"Recurrent, Neuron (IF, LIF, CuBaLIF), LI, spikeforge.interop.layers "
                    f"({', '.join(L.__all__)}) and neuron models that declare to_nir")


def _neuron_node(key: str, layer: nn.Module, shape: tuple[int, ...], dt: float, mode: str, extensions: bool):
    """A neuron layer's node, as its declaration's ``to_nir`` hook builds it."""
    decl = declaration(layer)
    who = f"layer {key!r} ({type(layer).__name__})"
    if decl is None or decl.to_nir is None:
        model = f"its model {decl.name!r} declares no to_nir export" if decl is not None else "not a neuron model"
        raise TypeError(f"{who}: no NIR primitive for this layer ({model})")
    try:
        hook = _hook(decl)
    except (ImportError, AttributeError) as e:
        raise TypeError(f"{who}: the NIR export {decl.to_nir!r} of its model {decl.name!r} cannot be found: "
                        f"{type(e).__name__}: {e}") from None
    return hook(layer, NIRContext(name=key, shape=tuple(shape), dt=dt, discretization=mode, extensions=extensions))


_LEAKY = ("LIF", "LI", "CubaLIF", "CubaLI")  # the nodes whose r (and w_in) fold_r moves into the weights


def _input_gain(node) -> np.ndarray | None:
    """The factor a leaky node applies to its input current (``r``, times ``w_in`` for the Cuba nodes);
    ``None`` for other nodes."""
    kind = type(node).__name__
    if kind not in _LEAKY:
        return None
    gain = np.asarray(node.r, dtype=np.float64)
    return gain * np.asarray(node.w_in, dtype=np.float64) if kind.startswith("Cuba") else gain


def _unit_gain(node) -> None:
    node.r = np.ones(np.shape(node.r), np.float32)
    if type(node).__name__.startswith("Cuba"):
        node.w_in = np.ones(np.shape(node.w_in), np.float32)


def _scale_rows(node, gain: np.ndarray) -> None:
    """Multiply output ``j`` of a Linear/Affine/Conv node (weight row and bias) by ``gain[j]``."""
    w = np.asarray(node.weight, dtype=np.float64)
    g = gain.reshape((-1,) + (1,) * (w.ndim - 1))
    node.weight = (w * g).astype(np.float32)
    if getattr(node, "bias", None) is not None:
        node.bias = (np.asarray(node.bias, dtype=np.float64) * gain).astype(np.float32)


def _fold_gain(prev_key: str, prev, key: str, node, layer: nn.Module) -> None:
    """``fold_r``: move the input gain of a leaky ``node`` into the weight node ``prev`` before it."""
    import nir

    who = f"layer {key!r} ({type(layer).__name__})"
    cell = node.nodes["lif"] if isinstance(node, nir.NIRGraph) else node
    gain = _input_gain(cell)
    if gain is None:
        return
    kind = type(prev).__name__
    if kind not in ("Linear", "Affine", "Conv1d", "Conv2d"):
        before = "the input" if prev_key == "input" else f"layer {prev_key!r} (NIR {kind})"
        raise ValueError(f"fold_r: {who} follows {before}; its r can be folded only into a Linear, Conv1d or "
                         f"Conv2d layer right before it (or export without fold_r)")
    if kind.startswith("Conv"):
        per_channel = gain.reshape(gain.shape[0], -1)
        if bool(np.any(per_channel != per_channel[:, :1])):
            raise ValueError(f"fold_r: {who} follows a convolution but its r = 1/(1 − λ) differs between "
                             f"neurons of one channel; a convolution can take only one factor per channel "
                             f"(give the neurons one τ per channel, or export without fold_r)")
        gain = per_channel[:, 0]
    _scale_rows(prev, gain.reshape(-1))
    if isinstance(node, nir.NIRGraph):  # a recurrent population: its feedback enters the same input
        _scale_rows(node.nodes["w_rec"], gain.reshape(-1))
    _unit_gain(cell)


def _gain_r(lam: np.ndarray) -> np.ndarray:
    """``R = 1/(1 − λ)``: unit input gain in both discretizations."""
    return (1.0 / (1.0 - lam.astype(np.float64))).astype(np.float32)


def _tau(lam: np.ndarray, dt: float, mode: str, name: str) -> tuple[np.ndarray, dict]:
    tau, exact = D.tau_for_decay(lam, dt, mode)
    # where no float32 τ maps back onto the float32 λ (strong decays), keep λ itself for our importer
    meta = {} if bool(np.all(exact)) else {EXT + name: lam.astype(np.float32)}
    return tau, meta


def neuron_to_nir(n: Neuron, context: NIRContext):
    """The general neuron's NIR export (:data:`spikeforge.neuron.general.GENERAL`'s ``to_nir``): an ``IF``,
    ``LIF`` or ``CubaLIF`` node (``spikeforge.*`` metadata for what NIR cannot express, with
    ``context.extensions``); a feature this exporter does not know is refused."""
    import nir

    key, shape, dt, mode, extensions = context.name, context.shape, context.dt, context.discretization, \
        context.extensions
    who = f"layer {key!r} ({type(n).__name__})"
    spec = n.spec
    feats = n.features  # what the neuron is, from its declaration (spikeforge.neuron.general)
    unknown = sorted(feats - _EXPORTABLE)
    if unknown:  # e.g. a spec flag added later: never exported as the plain neuron it is not
        raise ValueError(f"{who}: NIR export knows no feature {', '.join(unknown)} (features of the general "
                         f"neuron it exports: spikeforge.neuron.features.KNOWN_FEATURES)")
    issues = []
    if "stochastic" in feats:
        issues.append("stochastic firing (stochastic=True)")
    if "graded" in feats:
        issues.append(f"graded spikes (max_spikes={spec.max_spikes})")
    if "complex" in feats:
        issues.append("complex spikes (a complex decay: resonate-and-fire)")
    if _ORDER_FEATURE not in feats:
        order = spec.order if isinstance(spec.order, str) else "-".join(spec.order)
        issues.append(f"a non-default process order (order={order!r}; NIR's is integrate-fire-reset)")
    if "adaptive" in feats:
        issues.append("an adaptive threshold (tau_adapt)")
    if "reset:hard" not in feats:
        issues.append(f"reset={spec.reset!r} (NIR neurons reset to v_reset, i.e. reset='hard')")
    if issues and not extensions:
        raise ValueError(f"{who}: NIR cannot express {'; '.join(issues)}. Pass extensions=True to record "
                         f"it as spikeforge metadata (only spikeforge reads it back; other tools would "
                         f"simulate a plain hard-reset neuron)")
    p = n.params(torch.float32, torch.device("cpu"))
    lam_t = p.decay.detach()
    meta: dict[str, object] = {}
    if lam_t.is_complex():
        meta[EXT + "decay_real"] = _full(lam_t.real, shape)
        meta[EXT + "decay_imag"] = _full(lam_t.imag, shape)
        lam = _full(lam_t.abs(), shape)
    else:
        lam = _full(lam_t, shape)
    v_thr = D.threshold_to_nir(_full(p.threshold.detach(), shape))
    v_reset = np.full(shape, spec.v_reset, np.float32)
    # the firing model is the surrogate gradient (no effect on deterministic spikes): kept for training
    meta[EXT + "firing"] = type(spec.firing).__name__
    sigma = getattr(spec.firing, "sigma", None)
    if sigma is not None:
        meta[EXT + "firing_sigma"] = float(sigma)
    if issues:
        meta[EXT + "reset"] = spec.reset
        meta[EXT + "order"] = spec.order if isinstance(spec.order, str) else "-".join(spec.order)
        meta[EXT + "max_spikes"] = int(spec.max_spikes)
        meta[EXT + "stochastic"] = int(spec.stochastic)
        if spec.reset == "refractory":
            meta[EXT + "refractory_steps"] = int(spec.refractory_steps)
            meta[EXT + "v_refractory"] = float(spec.v_refractory)
        if spec.adaptive:
            meta[EXT + "adapt_decay"] = _full(p.adapt_decay.detach(), shape)
            meta[EXT + "adapt_scale"] = float(n.adapt_scale)
    if spec.cuba:
        if bool(np.any(lam >= 1)):
            raise ValueError(f"{who}: NIR CubaLIF needs a finite membrane time constant, got λ = 1 (a "
                             f"current-based IF); give the neuron a tau")
        syn = _full(p.syn_decay.detach(), shape)
        tau, m1 = _tau(lam, dt, mode, "decay")
        tau_syn, m2 = _tau(syn, dt, mode, "syn_decay")
        return nir.CubaLIF(tau_syn=tau_syn, tau_mem=tau, r=_gain_r(lam), v_leak=np.zeros(shape, np.float32),
                           v_threshold=v_thr, v_reset=v_reset, w_in=_gain_r(syn), metadata={**meta, **m1, **m2})
    if bool(np.all(lam == 1)):
        return nir.IF(r=np.full(shape, 1.0 / dt, np.float32), v_threshold=v_thr, v_reset=v_reset, metadata=meta)
    if bool(np.any(lam >= 1)):
        raise ValueError(f"{who}: NIR has no population mixing λ = 1 (IF) and λ < 1 (LIF) neurons")
    tau, m1 = _tau(lam, dt, mode, "decay")
    return nir.LIF(tau=tau, r=_gain_r(lam), v_leak=np.zeros(shape, np.float32), v_threshold=v_thr,
                   v_reset=v_reset, metadata={**meta, **m1})


def write_nir(graph, path: str | os.PathLike) -> Path:
    """Write ``graph`` to ``path`` with ``nir.write``, atomically (a temporary file, then ``os.replace``)."""
    import nir

    path = check_output_file(path, "path", "the .nir graph")
    with atomic_path(path, make_parents=False) as tmp:
        nir.write(str(tmp), graph)
    return path

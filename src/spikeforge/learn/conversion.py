"""ANN -> SNN conversion: a trained ReLU network becomes a network of integrate-and-fire neurons whose firing
rates approximate the ReLU activations (Diehl et al. 2015, "Fast-classifying, high-accuracy spiking deep
networks through weight and threshold balancing"; Rueckauer et al. 2017, "Conversion of continuous-valued
deep networks to efficient event-driven networks for image classification").

**Neurons.** Every ReLU becomes an IF neuron (:class:`spikeforge.IF`, no leak) with threshold 1 and reset by
subtraction (soft reset), integrate-fire-reset order::

    v*_t = v_{t-1} + I_t,    s_t = [v*_t ≥ 1],    v_t = v*_t - s_t.

For a constant input current ``0 ≤ I ≤ 1`` from rest the spike count after ``t`` steps is
``n_t = floor(t·I)``, so the rate ``n_t / t → I`` with an error below ``1/t`` (the soft reset keeps the
remainder; Rueckauer et al. 2017, eq. 2-5). Currents above 1 saturate at one spike per step.

**Data-based weight normalisation** (Diehl et al. 2015; with the robust percentile of Rueckauer et al.
2017). ``λ_l`` is the ``p``-th percentile (default 99.9) of the positive activations of ReLU ``l`` on the
calibration (training) data, ``λ_0 = 1`` for the input. The affine layers between ReLU ``l-1`` and ReLU
``l`` (a Linear or Conv2d, with a BatchNorm folded in, and pooling or flattening around it) are rescaled:
the first weight by ``λ_{l-1}``, the last weight and every bias of it by ``1/λ_l``::

    W̃_l = W_l · λ_{l-1} / λ_l,    b̃_l = b_l / λ_l,

so that the spike rate of IF layer ``l`` approximates ``a_l / λ_l`` (``a_l``: the ANN's activation) and
activations above the percentile saturate. BatchNorm after a Linear/Conv2d is folded in first:
``W' = W·γ/√(σ²+ε)``, ``b' = (b - μ)·γ/√(σ²+ε) + β``; Dropout and Identity are dropped.

**Readout.** The layers after the last ReLU (``λ_L = 1``: not normalised) feed :class:`MeanReadout`, a
non-spiking integrator divided by the steps seen, ``y_t = (1/t) Σ_{τ≤t} I_τ``; for constant input its last
value approximates the ANN's output (the logits). A network that ends with a ReLU reads its rates times
``λ_L``.

:func:`convert` converts a user's ``torch.nn`` ANN. It traces the model with ``torch.fx`` and refuses,
naming the module, anything that is not a chain of ``Linear``, ``Conv2d``, ``ReLU``, ``AvgPool2d``,
``Flatten``, ``BatchNorm1d/2d`` (after a Linear/Conv2d), ``Dropout`` and ``Identity`` modules -- in particular a
functional ``F.relu`` / ``torch.relu`` / ``torch.flatten`` in a custom module's forward (which a converter that
only swaps modules would leave as a ReLU, silently), residual additions, and models ``torch.fx`` cannot trace.
The ``convert`` training method (:mod:`spikeforge.learn.methods.convert`) does the same for its own MLP.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

from spikeforge import _counting
from spikeforge.nets import Sequential

__all__ = ["ConvertedSNN", "MeanReadout", "MeanReadoutState", "convert", "layer_scale", "percentile"]

DEFAULT_PERCENTILE = 99.9


def _check_percentile(value: object, name: str = "percentile") -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < float(value) <= 100:
        raise ValueError(f"{name}: expected a number in (0, 100] (e.g. 99.9), got {value!r}")
    return float(value)


def percentile(values: torch.Tensor, q: float) -> float:
    """The ``q``-th percentile of ``values`` (all entries), linear interpolation between order statistics
    (numpy's default); no size limit (unlike ``torch.quantile``)."""
    q = _check_percentile(q, "q")
    flat = values.detach().reshape(-1).to(torch.float64)
    if flat.numel() == 0:
        raise ValueError("values: expected at least one value, got none")
    pos = (flat.numel() - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, flat.numel() - 1)
    a = float(torch.kthvalue(flat, lo + 1).values)
    b = a if hi == lo else float(torch.kthvalue(flat, hi + 1).values)
    return a + (b - a) * (pos - lo)


def layer_scale(activations: torch.Tensor, q: float = DEFAULT_PERCENTILE) -> float:
    """``λ``: the ``q``-th percentile of the positive entries of a layer's ReLU activations (as the SNN
    toolbox of Rueckauer et al. computes it); 1 when there is none (the layer never fires either way)."""
    pos = activations.detach().reshape(-1)
    pos = pos[pos > 0]
    return percentile(pos, q) if pos.numel() else 1.0


# --------------------------------------------------------------------------------------------------
class MeanReadoutState(NamedTuple):
    """State of a :class:`MeanReadout`: the summed input ``total [B, ...]`` and the steps seen ``steps``."""

    total: torch.Tensor
    steps: torch.Tensor


class MeanReadout(nn.Module):
    """Non-spiking readout of a converted network: ``y_t = scale · (1/t) Σ_{τ≤t} x_τ`` (an integrator divided
    by the steps seen; its state carries over chunks). ``scale``: ``λ_L`` when the network ends with a ReLU,
    else 1."""

    stateful = True

    def __init__(self, scale: float = 1.0) -> None:
        super().__init__()
        self.register_buffer("scale", torch.tensor(float(scale)))

    def forward(self, x: torch.Tensor, state: MeanReadoutState | None = None, return_state: bool = False):
        from spikeforge.neuron.modules import check_sequence

        check_sequence(x, allow_complex=False)
        total = x.cumsum(0)
        steps = torch.arange(1, x.shape[0] + 1, device=x.device, dtype=x.dtype)
        if state is not None:
            if not isinstance(state, MeanReadoutState) or tuple(state.total.shape) != tuple(x.shape[1:]):
                raise ValueError(f"state: expected a MeanReadoutState with total [{', '.join(map(str, x.shape[1:]))}]"
                                 f", got {type(state).__name__}")
            total = total + state.total
            steps = steps + state.steps.to(x.dtype)
        y = total / steps.reshape((-1,) + (1,) * (x.dim() - 1)) * self.scale.to(x.dtype)
        _counting.report(self, "neuron", y, spiking=False)
        return (y, MeanReadoutState(total[-1], steps[-1])) if return_state else y

    def extra_repr(self) -> str:
        return f"scale={self.scale.item():g}"


class ConvertedSNN(Sequential):
    """The network :func:`convert` returns: a :class:`spikeforge.nets.Sequential` of synapses, IF neurons and a
    :class:`MeanReadout`, mapping ``[T, B, *input_shape] -> [T, B, classes]``. A static batch
    ``[B, *input_shape]`` (what the ANN took) is presented as a constant current for ``steps`` steps.
    ``scales``: the ``λ_l`` of the conversion (one per ReLU)."""

    def __init__(self, *layers: nn.Module, input_shape: tuple[int, ...] = (), steps: int = 1,
                 scales: tuple[float, ...] = ()) -> None:
        super().__init__(*layers)
        self.input_shape = tuple(int(s) for s in input_shape)
        self.steps = int(steps)
        self.scales = tuple(float(s) for s in scales)

    def forward(self, x: torch.Tensor, state: tuple | None = None, return_state: bool = False):
        if isinstance(x, torch.Tensor) and self.input_shape and tuple(x.shape[1:]) == self.input_shape:
            x = x.unsqueeze(0).expand(self.steps, *x.shape)
        elif isinstance(x, torch.Tensor) and self.input_shape and tuple(x.shape[2:]) != self.input_shape:
            shape = ", ".join(map(str, self.input_shape))
            raise ValueError(f"x: expected [T, B, {shape}] (or a static batch [B, {shape}]), got {tuple(x.shape)}")
        return super().forward(x, state, return_state)


# --------------------------------------------------------------------------------------------------
@dataclass
class _Op:
    """One operation of the chain: ``kind`` in linear / conv / relu / pool / flatten; ``name`` the module."""

    kind: str
    name: str
    module: nn.Module | None = None
    weight: torch.Tensor | None = None
    bias: torch.Tensor | None = None


_SUPPORTED = (nn.Linear, nn.Conv2d, nn.ReLU, nn.AvgPool2d, nn.Flatten, nn.BatchNorm1d, nn.BatchNorm2d,
              nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Identity)
_SUPPORTED_NAMES = "Linear, Conv2d, ReLU, AvgPool2d, Flatten, BatchNorm1d/2d (after a Linear/Conv2d), Dropout, Identity"


def _refuse(name: str, module: Any, why: str) -> ValueError:
    what = f"module {name!r} ({type(module).__name__})" if name else f"the model ({type(module).__name__})"
    return ValueError(f"ann: {what} {why}; convert takes a chain of {_SUPPORTED_NAMES} modules")


def _owner(node: Any, ann: nn.Module) -> tuple[str, Any]:
    stack = node.meta.get("nn_module_stack") or {}
    if stack:
        name = list(stack)[-1]
        try:
            return name, ann.get_submodule(name)
        except AttributeError:
            pass
    return "", ann


def _trace(ann: nn.Module) -> list[tuple[str, nn.Module]]:
    """The modules ``ann`` calls, in order, checked to be a chain (each takes the previous one's output)."""
    import torch.fx as fx

    class Tracer(fx.Tracer):
        def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
            return isinstance(m, _SUPPORTED) or super().is_leaf_module(m, qualname)

    try:
        graph = Tracer().trace(ann)
    except Exception as exc:
        raise ValueError(f"ann: the model ({type(ann).__name__}) cannot be traced by torch.fx, so its operations "
                         f"cannot be checked ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
                         f"convert takes a chain of {_SUPPORTED_NAMES} modules") from None
    chain: list[tuple[str, nn.Module]] = []
    prev = None
    seen: set[int] = set()
    for node in graph.nodes:
        if node.op == "placeholder":
            if prev is not None:
                raise _refuse("", ann, "takes more than one input")
            prev = node
            continue
        if node.op == "output":
            if node.args != (prev,):
                raise _refuse("", ann, "does not return the output of its last layer alone")
            break
        if node.op == "call_module":
            module = ann.get_submodule(node.target)
            if not isinstance(module, _SUPPORTED):
                raise _refuse(node.target, module, "is not an operation convert can turn into spiking layers")
            if node.args != (prev,) or node.kwargs:
                raise _refuse(node.target, module, "does not take the previous layer's output alone (a branch or "
                                                   "a skip connection)")
            if isinstance(module, (nn.Linear, nn.Conv2d, nn.BatchNorm1d, nn.BatchNorm2d)):
                if id(module) in seen:
                    raise _refuse(node.target, module, "is called more than once (shared weights)")
                seen.add(id(module))
            chain.append((node.target, module))
            prev = node
            continue
        name, owner = _owner(node, ann)
        what = getattr(node.target, "__name__", str(node.target))
        kind = {"call_function": "calls the function", "call_method": "calls the tensor method",
                "get_attr": "reads the tensor"}.get(node.op, node.op)
        raise _refuse(name, owner, f"{kind} {what!r} in its forward; a functional operation cannot be converted "
                                   "(use the module form, e.g. nn.ReLU() instead of F.relu / torch.relu, "
                                   "nn.Flatten() instead of torch.flatten)")
    return chain


def _ops(chain: list[tuple[str, nn.Module]]) -> list[_Op]:
    """The chain with BatchNorm folded into the layer before it and Dropout / Identity dropped."""
    ops: list[_Op] = []
    for name, m in chain:
        if isinstance(m, (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Identity)):
            continue
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            prev = ops[-1] if ops else None
            want = "linear" if isinstance(m, nn.BatchNorm1d) else "conv"
            if prev is None or prev.kind != want:
                raise _refuse(name, m, f"does not follow a {'Linear' if want == 'linear' else 'Conv2d'} layer, so it "
                                       "cannot be folded into its weights")
            if m.running_mean is None or m.running_var is None:
                raise _refuse(name, m, "has no running statistics (track_running_stats=False) to fold")
            inv = torch.rsqrt(m.running_var.detach() + m.eps)
            gamma = m.weight.detach() if m.weight is not None else torch.ones_like(inv)
            beta = m.bias.detach() if m.bias is not None else torch.zeros_like(inv)
            factor = gamma * inv
            shape = (-1,) + (1,) * (prev.weight.dim() - 1)
            prev.weight = prev.weight * factor.reshape(shape)
            b = prev.bias if prev.bias is not None else torch.zeros_like(factor)
            prev.bias = (b - m.running_mean.detach()) * factor + beta
            continue
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            if isinstance(m, nn.Conv2d) and m.padding_mode != "zeros":
                raise _refuse(name, m, f"pads with {m.padding_mode!r}; only zero padding converts")
            ops.append(_Op("linear" if isinstance(m, nn.Linear) else "conv", name, m, m.weight.detach().clone(),
                           None if m.bias is None else m.bias.detach().clone()))
        elif isinstance(m, nn.ReLU):
            ops.append(_Op("relu", name, m))
        elif isinstance(m, nn.AvgPool2d):
            if m.ceil_mode or not m.count_include_pad or m.divisor_override is not None:
                raise _refuse(name, m, "uses ceil_mode, count_include_pad=False or divisor_override; only the "
                                       "default average pooling converts")
            ops.append(_Op("pool", name, m))
        elif isinstance(m, nn.Flatten):
            if m.start_dim != 1 or m.end_dim != -1:
                raise _refuse(name, m, f"flattens dims {m.start_dim}..{m.end_dim}; only Flatten(1, -1) converts")
            ops.append(_Op("flatten", name, m))
    return ops


def _apply(op: _Op, x: torch.Tensor) -> torch.Tensor:
    """One operation of the ANN on a batch (not time-major)."""
    if op.kind == "linear":
        return F.linear(x, op.weight, op.bias)
    if op.kind == "conv":
        m = op.module
        return F.conv2d(x, op.weight, op.bias, m.stride, m.padding, m.dilation, m.groups)
    if op.kind == "relu":
        return F.relu(x)
    if op.kind == "pool":
        m = op.module
        return F.avg_pool2d(x, m.kernel_size, m.stride, m.padding)
    return x.flatten(1)


def _batches(data: Any, batch_size: int) -> Iterable[torch.Tensor]:
    if isinstance(data, torch.Tensor):
        if data.dim() < 2:
            raise ValueError(f"data: expected calibration inputs [N, ...] (a batch of what the ANN takes), got "
                             f"shape {tuple(data.shape)}")
        yield from data.split(batch_size)
        return
    if isinstance(data, (str, bytes)) or not isinstance(data, Iterable):
        raise TypeError(f"data: expected a tensor [N, ...] of training inputs or an iterable of batches (tensors "
                        f"or (x, y) pairs, e.g. a DataLoader), got {type(data).__name__}")
    for item in data:
        x = item[0] if isinstance(item, (tuple, list)) else item
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"data: expected batches of tensors (or (x, y) pairs), got a {type(x).__name__}")
        yield x


@torch.no_grad()
def convert(ann: nn.Module, data: Any, steps: int, percentile: float = DEFAULT_PERCENTILE, *,
            batch_size: int = 256) -> ConvertedSNN:
    """The SNN of ReLU network ``ann`` (the module docstring has the equations).

    Args:
        ann: a ``torch.nn`` module, batch-first ``[B, ...] -> [B, classes]``: a chain of Linear, Conv2d,
            ReLU, AvgPool2d, Flatten, BatchNorm (folded), Dropout, Identity modules (inside ``nn.Sequential``
            or custom modules that only call them in turn). Anything else is refused, naming the module.
            ``ann`` is not changed.
        data: calibration inputs of the training set: a tensor ``[N, ...]`` or an iterable of batches
            (tensors or ``(x, y)`` pairs, e.g. a ``DataLoader``); the ANN runs on them in eval mode.
        steps: the time steps a static batch ``[B, ...]`` given to the SNN is presented for.
        percentile: ``p`` of the per-layer activation percentile ``λ_l`` (Rueckauer et al. 2017's 99.9;
            100 is Diehl et al. 2015's maximum).

    Returns:
        a :class:`ConvertedSNN` ``[T, B, ...] -> [T, B, classes]`` (parameters on the ANN's device and dtype).
    """
    from spikeforge.neuron import IF, Heaviside
    from spikeforge.synapse import AvgPool2d, Conv2d, Flatten, Linear

    if not isinstance(ann, nn.Module):
        raise TypeError(f"ann: expected a torch.nn.Module, got {type(ann).__name__}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps: expected an integer >= 1, got {steps!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size: expected an integer >= 1, got {batch_size!r}")
    q = _check_percentile(percentile)
    ops = _ops(_trace(ann))
    relus = [k for k, op in enumerate(ops) if op.kind == "relu"]
    # calibration: the ReLU activations of the folded ANN on the data
    acts: dict[int, list[torch.Tensor]] = {k: [] for k in relus}
    input_shape: tuple[int, ...] | None = None
    for x in _batches(data, batch_size):
        if input_shape is None:
            input_shape = tuple(x.shape[1:])
        elif tuple(x.shape[1:]) != input_shape:
            raise ValueError(f"data: expected batches of one input shape {input_shape}, got {tuple(x.shape[1:])}")
        p = next((op.weight for op in ops if op.weight is not None), None)
        h = x.to(device=p.device, dtype=p.dtype) if p is not None else x
        for k, op in enumerate(ops):
            h = _apply(op, h)
            if op.kind == "relu":
                acts[k].append(h[h > 0].reshape(-1).cpu())
    if input_shape is None:
        raise ValueError("data: expected at least one batch of calibration inputs, got none")
    scale = {k: layer_scale(torch.cat(acts[k]), q) if acts[k] else 1.0 for k in relus}
    # normalisation: per segment between ReLUs, the first weight times the input's λ, the last affine layer
    # (weight and bias) divided by the output ReLU's λ
    layers: list[nn.Module] = []
    lam_in, first_done, readout_scale = 1.0, False, 1.0
    segment: list[_Op] = []

    def close(segment: list[_Op], lam_out: float, relu: _Op) -> None:
        # biases of earlier affine layers of the segment pass through the last one: scaled by it too
        affine = [op for op in segment if op.weight is not None]
        if not affine:
            raise _refuse(relu.name, relu.module, "has no Linear/Conv2d between it and the input or the ReLU before "
                                                  "it; nothing to normalise")
        affine[-1].weight = affine[-1].weight / lam_out
        if affine[-1].bias is not None:
            affine[-1].bias = affine[-1].bias / lam_out

    for k, op in enumerate(ops):
        if op.kind == "relu":
            close(segment, scale[k], op)
            segment = []
            lam_in, first_done = scale[k], False
            continue
        if op.weight is not None and not first_done:
            op.weight = op.weight * lam_in
            first_done = True
        segment.append(op)
    if not any(op.weight is not None for op in segment):
        readout_scale = lam_in  # the network ends with a ReLU (and maybe pooling / flattening)
    for op in ops:
        if op.kind in ("linear", "conv"):
            m = op.module
            if op.kind == "linear":
                layer: nn.Module = Linear(m.in_features, m.out_features, bias=op.bias is not None,
                                          device=op.weight.device, dtype=op.weight.dtype)
            else:
                layer = Conv2d(m.in_channels, m.out_channels, m.kernel_size, stride=m.stride, padding=m.padding,
                               dilation=m.dilation, groups=m.groups, bias=op.bias is not None,
                               device=op.weight.device, dtype=op.weight.dtype)
            layer.weight.copy_(op.weight)
            if op.bias is not None:
                layer.bias.copy_(op.bias)
            layers.append(layer)
        elif op.kind == "relu":
            layers.append(IF(threshold=1.0, reset="soft", firing=Heaviside()))
        elif op.kind == "pool":
            m = op.module
            layers.append(AvgPool2d(m.kernel_size, m.stride, m.padding))
        else:
            layers.append(Flatten())
    layers.append(MeanReadout(readout_scale))
    return ConvertedSNN(*layers, input_shape=input_shape, steps=steps, scales=tuple(scale[k] for k in relus))

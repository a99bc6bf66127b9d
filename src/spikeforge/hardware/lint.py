"""Locality lint: flag operations that are not local and event-driven, and fold batch-norm away.

The essay "Spikes are the next digits" ("The downside"): batch-norm and similar layers compute
statistics across neurons or across the batch -- non-local quantities that no current neuromorphic chip
implements. :func:`lint` lists every such operation with its module path and a local alternative:

* modules: batch/layer/group/instance/local-response/RMS norm, softmax-like layers, attention
  (softmax inside), max-pooling (flagged when its input is not spikes: max over membrane potentials is
  a global comparison, max over binary spikes is a local OR);
* with example ``inputs``, the forward pass is also traced (``TorchFunctionMode``) for functional calls
  of the same kind (``F.softmax``, ``F.layer_norm``, ``x.mean(-1)``, ``x.std()``, ...) made outside
  those modules. Reductions over the time axis only (dim 0 of ``[T, B, ...]``) are local (per-neuron
  temporal averages, e.g. rate decoding) and are not flagged.

:func:`fold_batchnorm` folds a batch-norm that follows a Linear/Conv into that layer's weights and bias
(eval-mode statistics), which is exact at inference.
"""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F
from torch.overrides import TorchFunctionMode

from spikeforge.hardware.counts import _render, probing, run_model

__all__ = ["LintFinding", "LintReport", "fold_batchnorm", "lint"]

_BN_ALT = "fold into the preceding synapse's weights and bias after training (fold_batchnorm), or drop it"
_NORM_ALT = (
    "remove it; keep activity in range with per-neuron thresholds/adaptation, weight standardisation "
    "at training time, or an activity regulariser"
)
_SOFTMAX_ALT = "read out spike counts or membrane potentials and take the arg-max off-chip (or use WTA inhibition)"
_POOL_ALT = "max-pool spikes instead (an OR), or use average pooling / a strided convolution"
_ATTN_ALT = "use spike-based attention without softmax (e.g. spiking self-attention with binary Q·K)"
_STAT_ALT = "compute statistics off-chip, or replace by a fixed (trained) per-neuron scale"

_MODULE_RULES: tuple[tuple[tuple[type[nn.Module], ...], str, str], ...] = (
    (
        (nn.modules.batchnorm._BatchNorm,),
        "normalises with statistics over the batch (running statistics at inference)",
        _BN_ALT,
    ),
    ((nn.LayerNorm,), "normalises with the mean/variance across the neurons of a sample", _NORM_ALT),
    ((nn.GroupNorm,), "normalises with statistics across groups of neurons", _NORM_ALT),
    (
        (nn.modules.instancenorm._InstanceNorm,),
        "normalises with statistics across the positions of a channel",
        _NORM_ALT,
    ),
    ((nn.LocalResponseNorm,), "divides by activity summed across neighbouring channels", _NORM_ALT),
    (
        (nn.Softmax, nn.LogSoftmax, nn.Softmin, nn.Softmax2d),
        "exponentiates and normalises across neurons",
        _SOFTMAX_ALT,
    ),
    ((nn.MultiheadAttention,), "softmax attention normalises across all keys", _ATTN_ALT),
)
if hasattr(nn, "RMSNorm"):
    _MODULE_RULES += (((nn.RMSNorm,), "normalises with the RMS across the neurons of a sample", _NORM_ALT),)

_MAXPOOL = (
    nn.MaxPool1d,
    nn.MaxPool2d,
    nn.MaxPool3d,
    nn.AdaptiveMaxPool1d,
    nn.AdaptiveMaxPool2d,
    nn.AdaptiveMaxPool3d,
    nn.FractionalMaxPool2d,
    nn.FractionalMaxPool3d,
    nn.LPPool1d,
    nn.LPPool2d,
)

_FUNCTIONAL: dict[object, tuple[str, str, str]] = {}


def _register(funcs, op: str, reason: str, alt: str) -> None:
    for f in funcs:
        _FUNCTIONAL[f] = (op, reason, alt)


_register(
    [
        F.softmax,
        F.log_softmax,
        F.softmin,
        torch.softmax,
        torch.log_softmax,
        torch.Tensor.softmax,
        torch.Tensor.log_softmax,
    ],
    "softmax",
    "exponentiates and normalises across neurons",
    _SOFTMAX_ALT,
)
_register([F.batch_norm], "batch_norm", "normalises with batch statistics", _BN_ALT)
_register(
    [F.layer_norm, F.group_norm, F.instance_norm, F.local_response_norm, F.normalize],
    "normalisation",
    "normalises with statistics across neurons",
    _NORM_ALT,
)
if hasattr(F, "rms_norm"):
    _register([F.rms_norm], "normalisation", "normalises with the RMS across neurons", _NORM_ALT)
_register([F.scaled_dot_product_attention], "attention", "softmax attention normalises across keys", _ATTN_ALT)
_REDUCTIONS = [
    torch.mean,
    torch.std,
    torch.var,
    torch.std_mean,
    torch.var_mean,
    torch.logsumexp,
    torch.norm,
    torch.Tensor.mean,
    torch.Tensor.std,
    torch.Tensor.var,
    torch.Tensor.logsumexp,
    torch.Tensor.norm,
    torch.amax,
    torch.Tensor.amax,
]
_register(_REDUCTIONS, "statistic", "computes a statistic across neurons or the batch", _STAT_ALT)
_POOL_FUNCS = [
    F.max_pool1d,
    F.max_pool2d,
    F.max_pool3d,
    F.adaptive_max_pool1d,
    F.adaptive_max_pool2d,
    F.adaptive_max_pool3d,
]
_register(_POOL_FUNCS, "max_pool", "max over non-spike values (membrane potentials/currents)", _POOL_ALT)


@dataclass(frozen=True)
class LintFinding:
    path: str  # module path ("" = the model itself)
    op: str
    reason: str
    alternative: str


@dataclass(frozen=True)
class LintReport:
    findings: tuple[LintFinding, ...]
    traced: bool  # True when inputs were given and functional calls were traced

    @property
    def ok(self) -> bool:
        return not self.findings

    def paths(self) -> list[str]:
        return [f.path for f in self.findings]

    def to_rich(self):
        from rich.table import Table

        table = Table(title=f"Locality lint: {len(self.findings)} non-local operation(s)")
        for col in ("module", "op", "why not local", "local alternative"):
            table.add_column(col)
        for f in self.findings:
            table.add_row(f.path or "<model>", f.op, f.reason, f.alternative)
        return table

    def __str__(self) -> str:
        if self.ok:
            return "Locality lint: no non-local operations found" + ("" if self.traced else " (modules only)") + "\n"
        return _render(self.to_rich())


def _is_spikes(x: torch.Tensor) -> bool:
    return bool(torch.all((x == 0) | (x == 1)))


def _dims_only_time(args, kwargs) -> bool:
    """True when a reduction's dims are exactly the time axis (0) of a [T, B, ...] tensor."""
    x = args[0] if args else kwargs.get("input")
    dim = kwargs.get("dim", args[1] if len(args) > 1 and not isinstance(args[1], (str, float)) else None)
    if not isinstance(x, torch.Tensor) or dim is None:
        return False
    dims = dim if isinstance(dim, (tuple, list)) else (dim,)
    try:
        return all(int(d) % x.dim() == 0 for d in dims)
    except (TypeError, ValueError):
        return False


class _Tracer(TorchFunctionMode):
    def __init__(self, stack: list[str], skip: list[bool], found: list[LintFinding]) -> None:
        super().__init__()
        self.stack, self.skip, self.found = stack, skip, found

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        rule = _FUNCTIONAL.get(func)
        if rule is not None and not any(self.skip):
            op, reason, alt = rule
            flag = True
            if func in _REDUCTIONS and _dims_only_time(args, kwargs):
                flag = False
            if func in _POOL_FUNCS and args and isinstance(args[0], torch.Tensor) and _is_spikes(args[0]):
                flag = False
            if flag:
                name = getattr(func, "__name__", op)
                finding = LintFinding(self.stack[-1] if self.stack else "", f"{name}()", reason, alt)
                if finding not in self.found:
                    self.found.append(finding)
        return func(*args, **kwargs)


def lint(model: nn.Module, inputs=None) -> LintReport:
    """Flag every non-local / non-event-driven operation of ``model``.

    Args:
        model: the network.
        inputs: optional example inputs ``[T, B, ...]``: traces functional calls and checks whether each
            max-pool sees spikes (an OR, allowed) or potentials (flagged).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    try:
        from spikeforge.neuron import LI, Neuron

        opaque: tuple[type[nn.Module], ...] = (Neuron, LI)
    except ImportError:  # pragma: no cover
        opaque = ()
    findings: list[LintFinding] = []
    flagged: set[nn.Module] = set()
    pools: dict[nn.Module, str] = {}
    for name, m in model.named_modules():
        if any(m2 in flagged for m2 in _ancestors(model, name)):
            continue
        for types, reason, alt in _MODULE_RULES:
            if isinstance(m, types):
                findings.append(LintFinding(name, type(m).__name__, reason, alt))
                flagged.add(m)
                break
        else:
            if isinstance(m, _MAXPOOL):
                pools[m] = name
    order = {name: i for i, (name, _) in enumerate(model.named_modules())}
    if inputs is None:
        for m, name in pools.items():
            findings.append(
                LintFinding(
                    name,
                    type(m).__name__,
                    "max over its inputs: non-local if they are membrane potentials "
                    "(pass inputs to check; over binary spikes it is a local OR)",
                    _POOL_ALT,
                )
            )
        findings.sort(key=lambda f: order.get(f.path, -1))
        return LintReport(tuple(findings), traced=False)

    stack: list[str] = []
    skip: list[bool] = []
    handles = []
    pool_inputs_spiking: dict[nn.Module, bool] = {}

    def pre(name: str, module: nn.Module):
        def hook(_m, args):
            stack.append(name)
            skip.append(module in flagged or module in pools or isinstance(module, opaque))
            if module in pools and args and isinstance(args[0], torch.Tensor):
                prev = pool_inputs_spiking.get(module, True)
                pool_inputs_spiking[module] = prev and _is_spikes(args[0])

        return hook

    def post(_m, _args, _out):
        stack.pop()
        skip.pop()

    for name, m in model.named_modules():
        handles.append(m.register_forward_pre_hook(pre(name, m)))
        handles.append(m.register_forward_hook(post))
    traced: list[LintFinding] = []
    with probing(model, handles), _Tracer(stack, skip, traced):
        run_model(model, inputs)
    for m, name in pools.items():
        if not pool_inputs_spiking.get(m, True):
            findings.append(LintFinding(name, type(m).__name__, "max over membrane potentials/currents", _POOL_ALT))
    findings.sort(key=lambda f: order.get(f.path, -1))
    findings += traced
    return LintReport(tuple(findings), traced=True)


def _ancestors(model: nn.Module, name: str) -> list[nn.Module]:
    out = []
    parts = name.split(".") if name else []
    m = model
    for part in parts[:-1]:
        m = getattr(m, part)
        out.append(m)
    if parts:
        out.insert(0, model)
    return out


# ------------------------------------------------------------------------------------------ folding
_FOLDABLE = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


def _fold_pair(layer: nn.Module, bn: nn.modules.batchnorm._BatchNorm, path: str) -> None:
    if bn.running_mean is None or bn.running_var is None:
        raise ValueError(
            f"model: batch-norm {path!r} has track_running_stats=False, so it normalises with the statistics "
            f"of each batch even at inference and cannot be folded"
        )
    out = layer.weight.shape[0]
    if bn.num_features != out:
        raise ValueError(f"model: batch-norm {path!r} has {bn.num_features} features, the layer before it {out}")
    with torch.no_grad():
        w = layer.weight
        var = bn.running_var.to(w.dtype)
        mean = bn.running_mean.to(w.dtype)
        scale = torch.rsqrt(var + bn.eps)
        if bn.weight is not None:
            scale = scale * bn.weight.to(w.dtype)
        shift = -mean * scale
        if bn.bias is not None:
            shift = shift + bn.bias.to(w.dtype)
        w.mul_(scale.reshape(-1, *([1] * (w.dim() - 1))))
        if layer.bias is None:
            layer.bias = nn.Parameter(torch.zeros(out, dtype=w.dtype, device=w.device))
        layer.bias.mul_(scale).add_(shift)


def fold_batchnorm(model: nn.Module, *, inplace: bool = False) -> nn.Module:
    """Fold every batch-norm that directly follows a Linear/Conv (as consecutive children of a container)
    into that layer's weight and bias, replacing the batch-norm by ``nn.Identity``.

    Uses the running statistics, i.e. the eval-mode function; outputs in eval mode are unchanged up to
    floating-point rounding. Returns the folded copy (or ``model`` itself with ``inplace=True``).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    target = model if inplace else copy.deepcopy(model)
    for parent_name, parent in list(target.named_modules()):
        children = list(parent.named_children())
        for (_, a), (name_b, b) in itertools.pairwise(children):
            if isinstance(a, _FOLDABLE) and isinstance(b, nn.modules.batchnorm._BatchNorm):
                path = f"{parent_name}.{name_b}" if parent_name else name_b
                _fold_pair(a, b, path)
                setattr(parent, name_b, nn.Identity())
    return target

"""Count what a model does on real inputs: synaptic operations, dense MACs, neuron updates, sparsity.

:func:`count_ops` runs the model once on ``inputs`` and reports per layer and in total, **per sample**
(summed over all time steps, divided by the batch size ``B``). spikeforge's layers report what they compute to
the counting context (:mod:`spikeforge._counting`), so fused layers count as the layers they stand for
(:class:`~spikeforge.kernels.lean.LinearLIF` as its linear synapse and its neuron); torch's own layers and
user neuron types (``neuron_types``) are counted through forward hooks.

Definitions (the same as NeuroBench's ``SynapticOperations`` and ``ActivationSparsity``):

* A *synapse layer* is a :class:`torch.nn.Linear`, :class:`torch.nn.Conv1d`, ``Conv2d`` or ``Conv3d``
  (or a subclass, such as :class:`spikeforge.synapse.Linear`), plus the recurrent weights of
  :class:`spikeforge.synapse.Recurrent` (spikes of step ``t-1`` times non-zero fan-out of ``W_rec``;
  dense: ``N²`` per step). NeuroBench does not count the latter.
* Synaptic operations of a layer call: for every non-zero input element, one operation per non-zero
  weight it reaches (its non-zero fan-out; convolution borders and padding are respected, because the
  count is the layer's own operation applied to the 0/1 masks of input and weights). The bias is not a
  synaptic operation.
* Accumulate or multiply-accumulate? With ``mac_rule="layer"`` (default, NeuroBench's rule) a layer call
  whose inputs are all in ``{-1, 0, 1}`` is event-driven and its operations are accumulates
  (``effective_acs``); any other value makes all operations of that call multiply-accumulates
  (``effective_macs``) -- the hardware runs a layer in one mode. ``mac_rule="event"`` classifies each
  event on its own (``±1`` events are ACs, other non-zero values MACs). ``synaptic_ops`` is the sum.
* ``dense_macs``: the same layers run densely, as an ANN/GPU would, over the same time steps: every
  input element times every weight (zeros included), i.e. NeuroBench's ``Dense``. ``dense_macs_per_step``
  divides by the number of time steps.
* Neuron updates: every neuron state update, i.e. output elements of the neuron modules (a clocked chip
  updates every neuron every step). Neuron modules are :class:`spikeforge.neuron.Neuron` (spiking) and
  :class:`spikeforge.neuron.LI` (non-spiking readout) unless ``neuron_types`` says otherwise.
* ``activation_sparsity``: zero outputs / all outputs of the *spiking* neuron modules, over all layers,
  time steps and samples.
* ``parameters`` and ``memory_bytes``: parameter count; bytes of parameters plus buffers (NeuroBench's
  ``Footprint``).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from spikeforge._counting import counting

__all__ = ["SYNAPSE_TYPES", "LayerCounts", "OpCounts", "count_ops", "default_neuron_types"]

SYNAPSE_TYPES: tuple[type[nn.Module], ...] = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
_MAC_RULES = ("layer", "event")


def default_neuron_types() -> tuple[tuple[type[nn.Module], ...], tuple[type[nn.Module], ...]]:
    """(spiking neuron types, all neuron types): spikeforge's ``Neuron`` and ``LI`` when importable."""
    try:
        from spikeforge.neuron import LI, Neuron
    except ImportError:  # pragma: no cover - the neuron package is part of spikeforge
        return (), ()
    return (Neuron,), (Neuron, LI)


@dataclass(frozen=True)
class LayerCounts:
    """Counts of one module, per sample (summed over time steps and calls, divided by the batch size).

    ``kind`` is ``"synapse"`` or ``"neuron"``. ``units`` is the size of the population per sample and
    time step (output units of a synapse layer, neurons of a neuron module). ``synapses`` is the number
    of non-zero connections of a synapse layer per sample-step, unrolled over positions (a conv kernel
    applied at every output position); ``fan_in`` the largest number of non-zero inputs of one output.
    """

    name: str
    type: str
    kind: str
    calls: int
    effective_acs: float = 0.0
    effective_macs: float = 0.0
    dense_macs: float = 0.0
    neuron_updates: float = 0.0
    outputs: float = 0.0
    nonzero_outputs: float = 0.0
    spiking: bool = False
    units: int | None = None
    synapses: int | None = None
    fan_in: int | None = None
    parameters: int = 0

    @property
    def synaptic_ops(self) -> float:
        return self.effective_acs + self.effective_macs

    @property
    def activation_sparsity(self) -> float | None:
        """Fraction of zero outputs (neuron modules only)."""
        if self.kind != "neuron" or self.outputs == 0:
            return None
        return 1.0 - self.nonzero_outputs / self.outputs


@dataclass(frozen=True)
class OpCounts:
    """Per-sample totals and the per-layer breakdown returned by :func:`count_ops`."""

    layers: tuple[LayerCounts, ...]
    batch_size: int
    time_steps: int
    parameters: int
    memory_bytes: int
    mac_rule: str = "layer"

    def _sum(self, attr: str, kind: str | None = None) -> float:
        return float(sum(getattr(la, attr) for la in self.layers if kind is None or la.kind == kind))

    @property
    def effective_acs(self) -> float:
        return self._sum("effective_acs")

    @property
    def effective_macs(self) -> float:
        return self._sum("effective_macs")

    @property
    def synaptic_ops(self) -> float:
        """Accumulates plus multiply-accumulates actually triggered by non-zero events, per sample."""
        return self.effective_acs + self.effective_macs

    @property
    def dense_macs(self) -> float:
        """MACs of the same layers run densely (ANN/GPU style) over the same time steps, per sample."""
        return self._sum("dense_macs")

    @property
    def dense_macs_per_step(self) -> float:
        return self.dense_macs / self.time_steps

    @property
    def neuron_updates(self) -> float:
        return self._sum("neuron_updates")

    @property
    def spikes(self) -> float:
        """Non-zero outputs of spiking neuron modules, per sample."""
        return float(sum(la.nonzero_outputs for la in self.layers if la.kind == "neuron" and la.spiking))

    @property
    def activation_sparsity(self) -> float:
        """Zero outputs / all outputs of the spiking neuron modules (NaN when there are none)."""
        total = sum(la.outputs for la in self.layers if la.kind == "neuron" and la.spiking)
        if total == 0:
            return math.nan
        return 1.0 - self.spikes / total

    @property
    def neurons(self) -> int:
        """Neurons per sample (sum of neuron-module populations; synapse outputs if there are none)."""
        pops = [la.units or 0 for la in self.layers if la.kind == "neuron"]
        if pops:
            return int(sum(pops))
        return int(sum(la.units or 0 for la in self.layers if la.kind == "synapse"))

    @property
    def synapses(self) -> int:
        return int(sum(la.synapses or 0 for la in self.layers if la.kind == "synapse"))

    @property
    def max_fan_in(self) -> int:
        return int(max((la.fan_in or 0 for la in self.layers if la.kind == "synapse"), default=0))

    def layer(self, name: str) -> LayerCounts:
        for la in self.layers:
            if la.name == name:
                return la
        raise KeyError(f"layer {name!r} not counted; counted layers: {[la.name for la in self.layers]}")

    def summary(self) -> dict[str, float]:
        return {
            "synaptic_ops": self.synaptic_ops,
            "effective_acs": self.effective_acs,
            "effective_macs": self.effective_macs,
            "dense_macs": self.dense_macs,
            "neuron_updates": self.neuron_updates,
            "activation_sparsity": self.activation_sparsity,
            "parameters": float(self.parameters),
            "memory_bytes": float(self.memory_bytes),
        }

    def to_rich(self):
        from rich.table import Table

        table = Table(
            title=f"Operations per sample (T={self.time_steps}, B={self.batch_size}, mac_rule={self.mac_rule})"
        )
        for col in ("layer", "type", "ACs", "MACs", "dense MACs", "neuron upd.", "sparsity", "params"):
            table.add_column(col, justify="left" if col in ("layer", "type") else "right")
        for la in self.layers:
            sp = la.activation_sparsity
            table.add_row(
                la.name,
                la.type,
                _g(la.effective_acs),
                _g(la.effective_macs),
                _g(la.dense_macs),
                _g(la.neuron_updates),
                "" if sp is None else f"{sp:.3f}",
                str(la.parameters),
            )
        table.add_row(
            "total",
            "",
            _g(self.effective_acs),
            _g(self.effective_macs),
            _g(self.dense_macs),
            _g(self.neuron_updates),
            f"{self.activation_sparsity:.3f}",
            str(self.parameters),
            style="bold",
        )
        return table

    def __str__(self) -> str:
        return _render(self.to_rich())


def _g(x: float) -> str:
    return f"{x:.4g}"


def _render(renderable) -> str:
    from rich.console import Console

    console = Console(width=160, record=True, file=_NullIO(), color_system=None)
    console.print(renderable)
    return console.export_text()


class _NullIO:
    def write(self, _s: str) -> int:
        return 0

    def flush(self) -> None:
        pass


# ------------------------------------------------------------------------------------------ counting
def _first_tensor(obj) -> torch.Tensor | None:
    if isinstance(obj, torch.Tensor):
        return obj
    if isinstance(obj, (tuple, list)):
        for item in obj:
            t = _first_tensor(item)
            if t is not None:
                return t
    return None


def _feature_dims(layer: nn.Module) -> int:
    if isinstance(layer, nn.Linear):
        return 1
    if isinstance(layer, nn.Conv3d):
        return 4
    if isinstance(layer, nn.Conv2d):
        return 3
    return 2  # Conv1d


def _apply(layer: nn.Module, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """The layer's linear operation (no bias) on ``x`` with weights ``w``, leading dims flattened."""
    if isinstance(layer, nn.Linear):
        return F.linear(x, w)
    nd = _feature_dims(layer)
    x = x.reshape(-1, *x.shape[-nd:])
    padding = layer.padding
    if layer.padding_mode != "zeros":
        x = F.pad(x, layer._reversed_padding_repeated_twice, mode=layer.padding_mode)
        padding = 0
    conv = {2: F.conv1d, 3: F.conv2d, 4: F.conv3d}[nd]
    return conv(x, w, None, layer.stride, padding, layer.dilation, layer.groups)


def _sample_steps(lead: int, t: int, b: int) -> int:
    """How many (sample, step) pairs a call with ``lead`` leading positions covers."""
    if lead % (t * b) == 0:
        return t * b
    if lead % b == 0:
        return b
    return lead


def _is_binary(x: torch.Tensor) -> torch.Tensor:
    return (x == 1) | (x == -1)


class _Acc:
    def __init__(self, name: str, module: nn.Module, kind: str, spiking: bool) -> None:
        self.name, self.module, self.kind, self.spiking = name, module, kind, spiking
        self.calls = 0
        self.acs = self.macs = self.dense = 0.0
        self.updates = self.outputs = self.nonzero = 0.0
        self.units: int | None = None
        self.synapses: int | None = None
        self.fan_in: int | None = None


def _ac_mac_masks(x: torch.Tensor, rule: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Which nonzero inputs drive accumulates and which multiply-accumulates: ``rule="layer"`` (a call whose
    inputs are all in {-1, 0, 1} is all ACs, else all MACs) or ``"event"`` (per input)."""
    nz = x != 0
    binary = _is_binary(x)
    if rule == "layer":
        event_driven = bool(torch.all(~nz | binary))
        return (nz, torch.zeros_like(nz)) if event_driven else (torch.zeros_like(nz), nz)
    return nz & binary, nz & ~binary


def _fan_out(module: nn.Module, shape: tuple[int, ...], w: torch.Tensor) -> tuple[torch.Tensor, int]:
    """``(fan, outputs)`` of the layer with weights ``w`` on one row of input ``shape`` (its feature dims):
    ``fan[i]``, how many outputs input ``i`` reaches (the gradient of the summed outputs: the operation is
    linear), and the outputs of that row. Summing ``mask ⊙ fan`` over the rows counts exactly the
    operations ``Σ apply(mask, w)`` counts, without the layer's matrix product over every row."""
    if isinstance(module, nn.Linear):
        return w.sum(0), w.shape[0]
    x = torch.zeros((1, *shape), dtype=w.dtype, requires_grad=True)
    out = _apply(module, x, w)
    (fan,) = torch.autograd.grad(out.sum(), x)
    return fan[0], out.numel()


def _count_synapse(acc: _Acc, module: nn.Module, x: torch.Tensor, t: int, b: int, rule: str) -> None:
    """One call of a synapse layer on input ``x``."""
    w = module.weight.detach()
    dt = torch.float64
    wmask = (w != 0).to(dt)
    nd = _feature_dims(module)
    row = tuple(x.shape[-nd:])
    lead = math.prod(x.shape[:-nd]) if x.dim() > nd else 1
    ac_mask, mac_mask = _ac_mac_masks(x, rule)
    with torch.enable_grad():
        fan, _ = _fan_out(module, row, wmask)
        dense_fan, outputs = _fan_out(module, row, torch.ones_like(wmask))
    acc.acs += float((torch.count_nonzero(ac_mask.reshape(-1, *row), dim=0).to(dt) * fan).sum())
    acc.macs += float((torch.count_nonzero(mac_mask.reshape(-1, *row), dim=0).to(dt) * fan).sum())
    acc.dense += float(dense_fan.sum()) * lead
    acc.calls += 1
    if acc.units is None:
        steps = _sample_steps(lead, t, b)
        acc.units = round(outputs * lead / steps)
        acc.synapses = round(float(fan.sum()) * lead / steps)
        acc.fan_in = int(wmask.reshape(wmask.shape[0], -1).sum(1).max()) if wmask.numel() else 0


def _count_recurrent(acc: _Acc, module: nn.Module, prev: torch.Tensor, rule: str) -> None:
    """One call of recurrent synapses: ``prev`` holds, per step, the spikes ``s_{t-1}`` that reach the
    population through ``W_rec`` (dense: ``W_rec @ s_{t-1}`` at every step)."""
    w = module.weight.detach()
    dt = torch.float64
    wmask = (w != 0).to(dt)
    ac_mask, mac_mask = _ac_mac_masks(prev, rule)
    acc.acs += float(F.linear(ac_mask.to(dt), wmask).sum())
    acc.macs += float(F.linear(mac_mask.to(dt), wmask).sum())
    n = w.shape[0]
    acc.dense += float(prev.numel() // n) * n * n
    acc.calls += 1
    if acc.units is None:
        acc.units = n
        acc.synapses = int(wmask.sum())
        acc.fan_in = int(wmask.sum(1).max()) if wmask.numel() else 0


def _count_neuron(acc: _Acc, y: torch.Tensor, t: int, b: int) -> None:
    """One call of a neuron layer with outputs ``y`` (every output is one neuron update)."""
    acc.calls += 1
    acc.updates += y.numel()
    acc.outputs += y.numel()
    acc.nonzero += float(torch.count_nonzero(y))
    if acc.units is None:
        if y.dim() >= 2 and tuple(y.shape[:2]) == (t, b):
            steps = t * b
        elif y.dim() >= 1 and y.shape[0] == b:
            steps = b
        else:
            steps = _sample_steps(y.numel(), t, b)
        acc.units = round(y.numel() / steps)


class _Counter:
    """Receives the reports of spikeforge's layers (:mod:`spikeforge._counting`) and, through forward
    hooks, counts the layers that do not report (torch's own ``nn.Linear``/``ConvNd`` and user neuron
    types): a hook skips a module that reported during the same call, so nothing is counted twice."""

    def __init__(self, model: nn.Module, t: int, b: int, rule: str, neuron_types: tuple | None = None,
                 spiking_types: tuple | None = None) -> None:
        self.order = {id(m): (k, name) for k, (name, m) in enumerate(model.named_modules())}
        self.t, self.b, self.rule = t, b, rule
        # explicit neuron types: only those count as neurons (a user's wrapper, not the neuron inside it)
        self.neuron_types, self.spiking_types = neuron_types, spiking_types
        self.accs: dict[tuple[int, str], _Acc] = {}
        self.reported: set[int] = set()

    def acc(self, module: nn.Module, role: str, spiking: bool) -> _Acc:
        key = (id(module), role)
        if key not in self.accs:
            name = self.order.get(id(module), (0, ""))[1] or type(module).__name__
            if role == "recurrent":
                name = (self.order.get(id(module), (0, ""))[1] or "recurrent") + ".weight"
            kind = "neuron" if role == "neuron" else "synapse"
            self.accs[key] = _Acc(name, module, kind, spiking and role == "neuron")
        return self.accs[key]

    def record(self, module: nn.Module, role: str, tensor: torch.Tensor, spiking: bool) -> None:
        if role == "neuron_counts":  # (no per-step updates to count: count_ops runs the per-step forward)
            return
        self.reported.add(id(module))
        if role == "neuron" and self.neuron_types is not None and not isinstance(module, self.neuron_types):
            return
        if role == "neuron" and self.spiking_types is not None:
            spiking = isinstance(module, self.spiking_types)
        acc = self.acc(module, role, spiking)
        if role == "synapse":
            _count_synapse(acc, module, tensor, self.t, self.b, self.rule)
        elif role == "recurrent":
            _count_recurrent(acc, module, tensor, self.rule)
        else:
            _count_neuron(acc, tensor, self.t, self.b)

    def hook(self, role: str, spiking: bool):
        def hook(module: nn.Module, args, output) -> None:
            if id(module) in self.reported:  # it reported itself during this call
                self.reported.discard(id(module))
                return
            x = _first_tensor(args if role == "synapse" else output)
            if x is None:
                return
            self.record(module, role, x.detach(), spiking)
            self.reported.discard(id(module))

        return hook

    def layers(self) -> list[_Acc]:
        keys = sorted(self.accs, key=lambda k: (self.order.get(k[0], (len(self.order), ""))[0], k[1] != "recurrent"))
        return [self.accs[k] for k in keys]


def _batch_and_steps(inputs, time_major: bool) -> tuple[int, int]:
    x = _first_tensor(inputs)
    if x is None:
        raise TypeError(f"inputs: expected a tensor [T, B, ...] (or a tuple starting with one), got {inputs!r}")
    if x.dim() < 2:
        raise ValueError(
            f"inputs: expected a {'time' if time_major else 'batch'}-major tensor with at least 2 dims "
            f"([T, B, ...]), got shape {tuple(x.shape)}"
        )
    t, b = (x.shape[0], x.shape[1]) if time_major else (x.shape[1], x.shape[0])
    if t < 1 or b < 1:
        raise ValueError(f"inputs: need at least one time step and one sample, got shape {tuple(x.shape)}")
    return int(t), int(b)


@contextmanager
def probing(model: nn.Module, handles: list) -> Iterator[None]:
    """Run ``model`` in eval mode without gradients; afterwards remove the ``handles`` (hooks) and restore
    every module's train/eval mode, whatever happened."""
    modes = {m: m.training for m in model.modules()}
    try:
        model.eval()
        with torch.no_grad():
            yield
    finally:
        for h in handles:
            h.remove()
        for m, mode in modes.items():
            m.training = mode


def run_model(model: nn.Module, inputs) -> None:
    """Call ``model`` on ``inputs`` (a tensor, or a tuple/list of positional arguments)."""
    if isinstance(inputs, (tuple, list)):
        model(*inputs)
    else:
        model(inputs)


def count_ops(
    model: nn.Module,
    inputs,
    *,
    mac_rule: str = "layer",
    neuron_types: Sequence[type[nn.Module]] | None = None,
    spiking_types: Sequence[type[nn.Module]] | None = None,
    time_major: bool = True,
) -> OpCounts:
    """Run ``model(inputs)`` once (no gradients, eval mode, restored afterwards) and count, per sample.

    Args:
        model: any ``nn.Module``; its synapse layers and neuron modules are found by type.
        inputs: a time-major tensor ``[T, B, ...]`` (or a tuple of arguments whose first tensor is).
        mac_rule: ``"layer"`` (NeuroBench: a non-binary input makes the whole layer call MACs) or
            ``"event"`` (each non-binary event is a MAC, each ±1 event an AC).
        neuron_types: module types counted as neurons (default: spikeforge ``Neuron`` and ``LI``).
        spiking_types: the subset whose outputs are spikes, for activation sparsity (default:
            spikeforge ``Neuron``).
        time_major: ``False`` for batch-major ``[B, T, ...]`` inputs.

    Returns:
        :class:`OpCounts` with ``synaptic_ops``, ``effective_acs``, ``effective_macs``, ``dense_macs``,
        ``neuron_updates``, ``activation_sparsity``, ``parameters``, ``memory_bytes`` and ``layers``.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    if mac_rule not in _MAC_RULES:
        raise ValueError(f"mac_rule: expected one of {_MAC_RULES}, got {mac_rule!r}")
    default_spiking, default_all = default_neuron_types()
    all_types = tuple(neuron_types) if neuron_types is not None else default_all
    spiking = tuple(spiking_types) if spiking_types is not None else default_spiking
    if neuron_types is not None and spiking_types is None:
        spiking = all_types
    t, b = _batch_and_steps(inputs, time_major)

    counter = _Counter(model, t, b, mac_rule, tuple(neuron_types) if neuron_types is not None else None,
                       spiking if (neuron_types is not None or spiking_types is not None) else None)
    handles = []
    for module in model.modules():
        if isinstance(module, SYNAPSE_TYPES):
            handles.append(module.register_forward_hook(counter.hook("synapse", False)))
        elif all_types and isinstance(module, all_types):
            handles.append(module.register_forward_hook(counter.hook("neuron", isinstance(module, spiking))))
    with probing(model, handles), counting(counter):
        run_model(model, inputs)

    layers = tuple(
        LayerCounts(
            name=a.name,
            type=type(a.module).__name__,
            kind=a.kind,
            calls=a.calls,
            effective_acs=a.acs / b,
            effective_macs=a.macs / b,
            dense_macs=a.dense / b,
            neuron_updates=a.updates / b,
            outputs=a.outputs / b,
            nonzero_outputs=a.nonzero / b,
            spiking=a.spiking,
            units=a.units,
            synapses=a.synapses,
            fan_in=a.fan_in,
            parameters=sum(p.numel() for p in a.module.parameters()),
        )
        for a in counter.layers()
        if a.calls > 0
    )
    params = sum(p.numel() for p in model.parameters())
    memory = sum(p.numel() * p.element_size() for p in model.parameters()) + sum(
        buf.numel() * buf.element_size() for buf in model.buffers()
    )
    return OpCounts(
        layers=layers,
        batch_size=b,
        time_steps=t,
        parameters=params,
        memory_bytes=memory,
        mac_rule=mac_rule,
    )

"""The plain training loop: :func:`fit` trains a model on a split with a method and an optimizer.

No files, no terminal, no global settings: usable from a notebook. What a run folder adds (checkpoints,
``metrics.csv``, progress, the test split at the end) is :class:`~spikeforge.learn.trainer.Trainer`, a
callback on top of this loop.

Per epoch the loop trains on every batch of ``data`` (shuffled by ``generator``), then evaluates the
validation split (if any) and appends a row to :attr:`LoopState.history`::

    epoch, lr, train_loss, train_accuracy, train_spikes_per_sample,
    valid_loss, valid_accuracy, valid_spikes_per_sample, seconds

It never evaluates a test split. A *method* is ``method(model, batch, optimizer, objective) -> StepResult``
(one optimisation step; :func:`spikeforge.learn.methods.methods` maps names to methods, see the method
contract there). A *callback* is any
object with some of the methods ``on_batch(state, metrics)``, ``on_epoch_end(state, row) -> bool | None``
(``True``: stop after this epoch) and ``on_fit_end(state)``.

Sharding (``shard=(rank, world)``): every process draws the same global batches (same generator) and trains
rows ``rank::world`` of each, with its loss weighted by ``local_n * world / global_n``; the mean of the
processes' gradients (what DistributedDataParallel computes) is then the one-process gradient of the whole
global batch.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import torch
from torch import nn

from spikeforge.learn.losses import model_loss, valid_mask

if TYPE_CHECKING:
    from spikeforge.data import SpikeDataset, Split
    from spikeforge.learn.config import TrainConfig
    from spikeforge.learn.methods import StepResult

__all__ = ["OPTIMIZERS", "REGRESSION_TOLERANCE", "Callback", "LoopState", "Objective", "SpikeMeter", "evaluate",
           "fit", "make_optimizer", "spiking_modules", "train_epoch"]

OPTIMIZERS = ("adam", "adamw", "sgd")
#: A regression prediction within this distance of its target counts as correct (the ``accuracy`` of a
#: regression split): Hochreiter & Schmidhuber's (1997) criterion for the adding problem.
REGRESSION_TOLERANCE = 0.04
ROW_FIELDS = ("epoch", "lr", "train_loss", "train_accuracy", "train_spikes_per_sample", "valid_loss",
              "valid_accuracy", "valid_spikes_per_sample", "seconds")


@dataclass(frozen=True)
class Objective:
    """What a method needs besides model, batch and optimizer (a :class:`TrainConfig` has the same fields but
    ``loss_weight``): the loss on the readout ``loss`` (a name of :data:`spikeforge.learn.losses.LOSSES`),
    ``label_smoothing``, ``grad_clip`` (max gradient norm, ``None``: no clipping), ``loss_weight`` (the factor
    on the loss before backward; :func:`fit` sets it per batch under sharding), the firing-rate regulariser
    ``rate_reg`` (its weight; 0: off) and ``rate_target`` (spikes per neuron per step it pulls towards), and
    ``method_params`` (the method's options; :func:`fit` fills in the defaults of a method given by name)."""

    loss: str = "last"
    label_smoothing: float = 0.0
    grad_clip: float | None = None
    loss_weight: float = 1.0
    rate_reg: float = 0.0
    rate_target: float = 0.0
    method_params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from spikeforge.learn.losses import LOSSES

        if self.loss not in LOSSES:
            raise ValueError(f"Objective loss: expected one of {LOSSES}, got {self.loss!r}")
        for name in ("rate_reg", "rate_target"):
            if not float(getattr(self, name)) >= 0:
                raise ValueError(f"Objective {name}: expected a number >= 0, got {getattr(self, name)!r}")
        if not isinstance(self.method_params, dict):
            raise ValueError(f"Objective method_params: expected a dict, got {self.method_params!r}")
        if not 0.0 <= float(self.label_smoothing) < 1.0:
            raise ValueError(f"Objective label_smoothing: expected a number in [0, 1), got {self.label_smoothing!r}")
        if self.grad_clip is not None and not float(self.grad_clip) > 0:
            raise ValueError(f"Objective grad_clip: expected a number > 0 or None, got {self.grad_clip!r}")
        if not float(self.loss_weight) >= 0:
            raise ValueError(f"Objective loss_weight: expected a number >= 0, got {self.loss_weight!r}")

    @classmethod
    def of(cls, source: Objective | TrainConfig | None) -> Objective:
        """``source`` as an :class:`Objective` (``None``: the defaults; a config: its fields)."""
        if source is None:
            return cls()
        if isinstance(source, cls):
            return source
        try:
            return cls(loss=source.loss, label_smoothing=source.label_smoothing, grad_clip=source.grad_clip,
                       rate_reg=source.rate_reg, rate_target=source.rate_target,
                       method_params=_method_params(source))
        except AttributeError:
            raise TypeError(f"objective: expected an Objective, a TrainConfig or None, got "
                            f"{type(source).__name__}") from None


@dataclass
class LoopState:
    """Where a :func:`fit` stands: epochs and optimisation steps done, one history row per epoch, and whether a
    callback stopped it. Pass it back to :func:`fit` (with the same generator) to continue."""

    epoch: int = 0
    step: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    stopped: bool = False


class Callback(Protocol):
    """Any object with some of these methods (all optional): ``on_batch`` after every optimisation step (the
    epoch's running ``loss``, ``accuracy``, ``spikes`` per sample); ``on_epoch_end`` after the epoch's row is
    in ``state.history`` (return ``True`` to stop; an exception raised here, e.g. Optuna's ``TrialPruned``,
    leaves :func:`fit` with the state as it is); ``on_fit_end`` when :func:`fit` returns."""

    def on_batch(self, state: LoopState, metrics: dict[str, float]) -> None: ...

    def on_epoch_end(self, state: LoopState, row: dict[str, float]) -> bool | None: ...

    def on_fit_end(self, state: LoopState) -> None: ...


def _method_params(config: TrainConfig) -> dict[str, Any]:
    """A config's method options with the method's defaults filled in."""
    from spikeforge.learn.methods import method_named

    return method_named(config.method).params(config.method_params)


# --------------------------------------------------------------------------------------------------
def make_optimizer(name: str, params: Iterable[Any], lr: float, weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """``"adam"``, ``"adamw"`` or ``"sgd"`` (momentum 0.9, Nesterov) over ``params``."""
    key = str(name).lower()
    if key == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if key == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    if key == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.9, nesterov=True, weight_decay=weight_decay)
    raise ValueError(f"optimizer: expected one of {OPTIMIZERS}, got {name!r}")


def spiking_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """``(name, module)`` of every spiking population: :class:`spikeforge.neuron.Neuron` and the declared models
    (:class:`~spikeforge.neuron.models.base.ModelNeuron`: AdEx, ExpIF, Izhikevich, ...)."""
    from spikeforge.neuron import Neuron
    from spikeforge.neuron.models.base import ModelNeuron

    return [(n, m) for n, m in model.named_modules() if isinstance(m, (Neuron, ModelNeuron))]


class SpikeMeter:
    """Counts spike events (non-zero outputs) of every spiking population of a model over the valid steps.

    The populations are those that report spikes to the counting context (:mod:`spikeforge._counting`, what
    :func:`spikeforge.hardware.count_ops` reads): the general neuron and the declared models (AdEx, Izhikevich,
    ...), also when another layer runs them (a :class:`~spikeforge.synapse.Recurrent` population).
    ``with meter.watching(mask):`` around a forward pass, ``mask [T, B]`` (1 on valid steps). Totals per
    layer accumulate until :meth:`reset`; ``per_sample()`` divides by the samples seen.
    """

    def __init__(self, model: nn.Module) -> None:
        self._all = {id(m): n for n, m in model.named_modules()}
        found = spiking_modules(model)
        self.names = [n for n, _ in found]
        self._index = {id(m): k for k, (_, m) in enumerate(found)}
        self.sizes: list[int | None] = [None] * len(self.names)
        self.reset()
        self._mask: torch.Tensor | None = None

    def reset(self) -> None:
        self.totals = [0.0] * len(self.names)
        self.samples = 0
        self.steps = 0.0  # valid sample-steps seen

    def record(self, module: nn.Module, role: str, tensor: torch.Tensor, spiking: bool) -> None:
        """The counting context's call (:class:`spikeforge._counting.Counter`): per-step spikes (``"neuron"``,
        masked by the valid steps) or spike counts over the valid steps (``"neuron_counts"``, ``[B, ...]``)."""
        if role not in ("neuron", "neuron_counts") or not spiking:
            return
        k = self._index.get(id(module))
        if k is None:  # a spiking layer of this model that is neither kind of neuron module
            if id(module) not in self._all:
                return
            k = self._index[id(module)] = len(self.names)
            self.names.append(self._all[id(module)])
            self.sizes.append(None)
            self.totals.append(0.0)
        if role == "neuron_counts":
            self.totals[k] += float(tensor.to(torch.float64).sum())
            self.sizes[k] = int(tensor[0].numel())
            return
        nz = (tensor != 0).to(torch.float32)
        if self._mask is not None and self._mask.shape == nz.shape[:2]:
            nz = nz * self._mask.reshape(self._mask.shape + (1,) * (nz.dim() - 2))
        self.totals[k] += float(nz.sum())
        self.sizes[k] = int(tensor[0, 0].numel())

    @contextlib.contextmanager
    def watching(self, mask: torch.Tensor):
        from spikeforge._counting import counting

        self._mask = mask.to(torch.float32)
        self.samples += int(mask.shape[1])
        self.steps += float(mask.sum())
        try:
            with counting(self):
                yield self
        finally:
            self._mask = None

    def per_sample(self) -> float:
        return sum(self.totals) / max(self.samples, 1)

    def layers(self) -> dict[str, dict[str, float]]:
        """Per layer: ``spikes_per_sample`` and ``rate`` (spikes per neuron per valid step)."""
        out = {}
        for name, total, size in zip(self.names, self.totals, self.sizes):
            rate = total / (self.steps * size) if size and self.steps else 0.0
            out[name] = {"spikes_per_sample": total / max(self.samples, 1), "rate": rate}
        return out


# --------------------------------------------------------------------------------------------------
def _device_of(model: nn.Module, device: torch.device | str | None) -> torch.device:
    if device is not None:
        return torch.device(device)
    for p in model.parameters():
        return p.device
    return torch.device("cpu")


def _method(method: Any, objective: Objective) -> tuple[Callable[..., StepResult], Objective]:
    """The step function of ``method`` (a name, a :class:`~spikeforge.learn.methods.Method` or a step
    function) and ``objective`` with the method's options filled in."""
    from spikeforge.learn.methods import Method, methods

    if isinstance(method, str):
        found = methods()
        if method not in found:
            raise ValueError(f"method: expected one of {tuple(found)}, a Method or a function (model, batch, "
                             f"optimizer, objective) -> StepResult, got {method!r}")
        method = found[method]
    if isinstance(method, Method):
        return method.step, dataclasses.replace(objective, method_params=method.params(objective.method_params))
    if callable(method):
        return method, objective
    raise ValueError(f"method: expected a method name, a Method or a function (model, batch, optimizer, "
                     f"objective) -> StepResult, got {method!r}")


def _check_shard(shard: tuple[int, int] | None) -> tuple[int, int] | None:
    if shard is None:
        return None
    ok = (isinstance(shard, tuple) and len(shard) == 2 and all(isinstance(v, int) and not isinstance(v, bool)
                                                                for v in shard))
    if not ok or not (shard[1] >= 1 and 0 <= shard[0] < shard[1]):
        raise ValueError(f"shard: expected (rank, world) with 0 <= rank < world, got {shard!r}")
    return shard


def _local(batch, shard: tuple[int, int] | None, device: torch.device):
    """The rows of a global batch this process trains, on ``device``, and their loss weight (see the module
    docstring). A process whose share is empty trains row 0 with weight 0: it still takes part in the
    gradient mean, adding nothing."""
    weight = 1.0
    if shard is not None and shard[1] > 1:
        rank, world = shard
        n = int(batch.y.shape[0])
        rows = torch.arange(rank, n, world)
        weight = rows.numel() * world / n
        if rows.numel() == 0:
            rows = torch.zeros(1, dtype=torch.long)
        batch = batch._replace(x=batch.x.index_select(1, rows), y=batch.y[rows], lengths=batch.lengths[rows],
                               index=batch.index[rows])
    return batch._replace(x=batch.x.to(device), y=batch.y.to(device), lengths=batch.lengths.to(device)), weight


def train_epoch(model: nn.Module, method: str | Callable[..., StepResult], split: Split,
                optimizer: torch.optim.Optimizer, objective: Objective | TrainConfig | None = None, *,
                batch_size: int = 16, generator: torch.Generator | None = None, step: int = 0,
                lr_schedule: Callable[[int], float] | None = None, shard: tuple[int, int] | None = None,
                device: torch.device | str | None = None,
                on_batch: Callable[[int, dict[str, float]], None] | None = None) -> dict[str, float]:
    """One pass over ``split`` (what :func:`fit` does per epoch before validating): returns ``lr``,
    ``train_loss``, ``train_accuracy``, ``train_spikes_per_sample`` (of the rows this process trained) and
    ``steps`` (optimisation steps taken). ``step``: the steps done before (the schedule's argument)."""
    from spikeforge.data import batches

    step_fn, objective = _method(method, Objective.of(objective))
    shard = _check_shard(shard)
    dev = _device_of(model, device)
    model.train()
    meter = SpikeMeter(model)
    total_loss, correct, seen, k = 0.0, 0, 0, 0
    for k, batch in enumerate(batches(split, batch_size, shuffle=True, generator=generator), start=1):
        if lr_schedule is not None:
            lr = float(lr_schedule(step + k - 1))
            for group in optimizer.param_groups:
                group["lr"] = lr
        local, weight = _local(batch, shard, dev)
        obj = objective if weight == objective.loss_weight else dataclasses.replace(objective, loss_weight=weight)
        mask = valid_mask(local.lengths, local.x.shape[0], local.x.shape[1], local.x.device)
        counted = weight > 0
        if counted:
            with meter.watching(mask):
                result = step_fn(model, local, optimizer, obj)
            b = int(local.y.shape[0])
            total_loss += result.loss * b
            correct += _hits(result.logits, local.y)
            seen += b
        else:
            step_fn(model, local, optimizer, obj)
        if on_batch is not None:
            on_batch(k, {"loss": total_loss / max(seen, 1), "accuracy": correct / max(seen, 1),
                         "spikes": meter.per_sample()})
    lr = float(optimizer.param_groups[0]["lr"]) if optimizer.param_groups else float("nan")
    nan = float("nan")
    return {"lr": lr, "train_loss": total_loss / seen if seen else nan,
            "train_accuracy": correct / seen if seen else nan, "train_spikes_per_sample": meter.per_sample(),
            "steps": k}


@torch.no_grad()
def evaluate(model: nn.Module, split: Split, objective: Objective | TrainConfig | None = None, *,
             device: torch.device | str | None = None, batch_size: int = 256, seed: int = 0) -> dict[str, Any]:
    """Loss, accuracy, spike events per sample (and per layer), confusion matrix and predictions of ``model``
    on ``split``. RNG-neutral: torch's global state is restored; a random encoder draws from ``seed``.

    A regression split (real targets, :attr:`spikeforge.data.Split.regression`) needs the ``"mse"`` loss: then
    ``loss`` is the mean squared error (also under ``mse``), ``accuracy`` the share of samples whose prediction
    lies within :data:`REGRESSION_TOLERANCE` (0.04) of the target, ``predictions`` the real predictions,
    ``confusion`` ``None``; ``tolerance`` records the criterion."""
    from spikeforge.data import batches
    from spikeforge.learn.losses import REGRESSION_LOSSES

    objective = Objective.of(objective)
    regression = bool(getattr(split, "regression", False))
    if regression != (objective.loss in REGRESSION_LOSSES):
        what = "a regression split (real targets)" if regression else "a classification split (labels)"
        want = list(REGRESSION_LOSSES) if regression else "a classification loss"
        raise ValueError(f"loss: {what} needs {want}, got {objective.loss!r}")
    dev = _device_of(model, device)
    was_training = model.training
    model.eval()
    meter = SpikeMeter(model)
    k = split.num_classes
    confusion = torch.zeros(k, k, dtype=torch.long)
    total_loss, correct, seen, input_spikes = 0.0, 0, 0, 0.0
    predictions: list[int] = []
    try:
        with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
            gen = torch.Generator().manual_seed(seed)
            for batch in batches(split, batch_size, generator=gen):
                x, y, lengths = batch.x.to(dev), batch.y.to(dev), batch.lengths.to(dev)
                mask = valid_mask(lengths, x.shape[0], x.shape[1], dev)
                with meter.watching(mask):
                    loss, logits = model_loss(model, x, y, lengths, objective.loss)
                total_loss += float(loss) * int(y.shape[0])
                correct += _hits(logits, y)
                seen += int(y.shape[0])
                input_spikes += float(((x != 0).to(torch.float32) * mask.unsqueeze(-1)).sum())
                if regression:
                    predictions += logits[:, 0].cpu().tolist()
                    continue
                pred = logits.argmax(1)
                confusion.index_put_((y.cpu(), pred.cpu()), torch.ones_like(y.cpu()), accumulate=True)
                predictions += pred.cpu().tolist()
    finally:
        model.train(was_training)
    if not seen:
        raise ValueError("split: expected a split with at least one sample, got an empty one")
    result = {
        "loss": total_loss / seen,
        "accuracy": correct / seen,
        "spikes_per_sample": meter.per_sample(),
        "input_spikes_per_sample": input_spikes / seen,
        "layers": meter.layers(),
        "confusion": None if regression else confusion.tolist(),
        "predictions": predictions,
        "samples": seen,
    }
    if regression:
        result.update(mse=result["loss"], tolerance=REGRESSION_TOLERANCE)
    return result


def _hits(logits: torch.Tensor, y: torch.Tensor) -> int:
    """Correct predictions: the argmax class equals the label, or, for real targets (float ``y``), the
    prediction ``logits[:, 0]`` lies within :data:`REGRESSION_TOLERANCE` of the target."""
    if y.is_floating_point():
        return int(((logits[:, 0] - y.to(logits.dtype)).abs() < REGRESSION_TOLERANCE).sum())
    return int((logits.argmax(1) == y).sum())


def _call(callbacks: Sequence[Any], name: str, *args: Any) -> list[Any]:
    return [getattr(cb, name)(*args) for cb in callbacks if callable(getattr(cb, name, None))]


def fit(
    model: nn.Module,
    method: str | Callable[..., StepResult] = "bptt",
    data: Split | SpikeDataset | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    callbacks: Sequence[Any] = (),
    *,
    epochs: int = 1,
    batch_size: int = 16,
    valid: Split | None = None,
    objective: Objective | TrainConfig | None = None,
    lr_schedule: Callable[[int], float] | None = None,
    generator: torch.Generator | None = None,
    state: LoopState | None = None,
    shard: tuple[int, int] | None = None,
    device: torch.device | str | None = None,
    eval_batch_size: int = 256,
) -> LoopState:
    """Train ``model`` on ``data`` (a :class:`~spikeforge.data.Split`, or a data set: its ``train`` split, and
    its ``valid`` split when ``valid`` is not given) until ``epochs`` epochs are done, counting those of
    ``state``; returns the :class:`LoopState`.

    ``method``: a name of :func:`~spikeforge.learn.methods.methods`, a Method or a function ``(model, batch, optimizer,
    objective) -> StepResult``. ``lr_schedule``: optimisation step -> learning rate (set on every parameter
    group before the step). ``generator`` orders the batches (and drives random encoders); it carries on
    across epochs, so pass the same one (or one in the same state) to continue from ``state`` exactly.
    ``shard``: ``(rank, world)``, see the module docstring. ``device``: where batches go (default: the
    model's). The model stays where it is; nothing global is changed.
    """
    from spikeforge.data import SpikeDataset, Split

    if isinstance(data, SpikeDataset):
        train, valid = data.train, (valid if valid is not None else data.valid)
    elif isinstance(data, Split):
        train = data
    else:
        raise TypeError(f"data: expected a spikeforge.data.Split or SpikeDataset, got {type(data).__name__}")
    if valid is not None and not isinstance(valid, Split):
        raise TypeError(f"valid: expected a spikeforge.data.Split or None, got {type(valid).__name__}")
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer: expected a torch.optim.Optimizer (e.g. make_optimizer('adam', "
                        f"model.parameters(), 1e-3)), got {type(optimizer).__name__}")
    for name, value in (("epochs", epochs), ("batch_size", batch_size), ("eval_batch_size", eval_batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name}: expected an integer >= 1, got {value!r}")
    if state is not None and not isinstance(state, LoopState):
        raise TypeError(f"state: expected a LoopState or None, got {type(state).__name__}")
    step_fn, objective = _method(method, Objective.of(objective))
    shard = _check_shard(shard)
    dev = _device_of(model, device)
    state = LoopState() if state is None else state
    state.stopped = False
    while state.epoch < epochs:
        t0 = time.perf_counter()

        def on_batch(_k: int, metrics: dict[str, float]) -> None:
            _call(callbacks, "on_batch", state, metrics)

        row: dict[str, Any] = {"epoch": state.epoch + 1}
        done = train_epoch(model, step_fn, train, optimizer, objective, batch_size=batch_size, generator=generator,
                           step=state.step, lr_schedule=lr_schedule, shard=shard, device=dev, on_batch=on_batch)
        state.step += int(done.pop("steps"))
        row.update(done)
        if valid is not None:
            v = evaluate(model, valid, objective, device=dev, batch_size=eval_batch_size)
            row.update(valid_loss=v["loss"], valid_accuracy=v["accuracy"],
                       valid_spikes_per_sample=v["spikes_per_sample"])
        row["seconds"] = time.perf_counter() - t0
        state.epoch += 1
        state.history.append(row)
        if any(r is True for r in _call(callbacks, "on_epoch_end", state, row)):
            state.stopped = state.epoch < epochs
            break
    _call(callbacks, "on_fit_end", state)
    return state

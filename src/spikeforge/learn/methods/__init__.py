"""Training methods as plug-ins: each module of this package declares one :class:`Method` as ``METHOD``.

A method is one optimisation step on one batch, ``step(model, batch, optimizer, objective) -> StepResult``
(``objective``: a :class:`~spikeforge.learn.loop.Objective`; its ``method_params`` hold the method's options
with their defaults filled in). Optionally it builds its own network (``build_model``, for methods that need
one: equilibrium propagation's convergent network, Diehl & Cook's STDP network, conversion's ReLU network)
and changes the trained model once after the last epoch (``finalize``, e.g. ANN -> SNN conversion).

Rules every method keeps (the loop, checkpoints and resume rely on them):

* the model's forward ``x [T, B, C] -> readout [T, B, classes]`` is what evaluation, counting and the
  energy analysis call, so a trained model of any method is evaluated like a BPTT one;
* state a method keeps across batches lives in ``optimizer.state[param]`` (checkpointed and resumed with the
  optimizer; FPTT's running average and multipliers, e.g.) or in the model's parameters and buffers
  (adaptive thresholds) -- never on the method, a module attribute or a global;
* ``finalize(model, train_split, config, device)`` works in place and is idempotent (a resumed run calls it
  again on the final model).

:func:`methods` discovers the methods when asked: the modules of this package, then the entry points of
group ``spikeforge.methods`` (another package's :class:`Method` objects).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch

from spikeforge._plugins import entry_point_objects

__all__ = ["ENTRY_POINT_GROUP", "METHODS", "Method", "StepResult", "method_named", "methods"]

ENTRY_POINT_GROUP = "spikeforge.methods"


class StepResult(NamedTuple):
    """``loss`` (the batch's mean loss, unweighted, a float) and ``logits`` ``[B, classes]`` (detached)."""

    loss: float
    logits: torch.Tensor


@dataclass(frozen=True)
class Method:
    """The declaration of a training method (see the module docstring for the contract).

    ``options``: ``((name, default), ...)``, the keys ``--method-param`` / ``TrainConfig.method_params`` may
    set; ``check``: ``check(params) -> None`` raising ``ValueError("NAME: expected ..., got ...")`` for a bad
    value (``params``: the options with defaults filled in); ``summary``: one line for ``--help`` and docs;
    ``reference``: the paper(s) it implements; ``check_data``: ``check_data(split) -> None`` raising
    ``ValueError`` for data the method cannot train on (asked by the trainer before a model is built)."""

    name: str
    step: Callable[..., StepResult]
    summary: str
    reference: str = ""
    options: tuple[tuple[str, Any], ...] = ()
    check: Callable[[dict[str, Any]], None] | None = None
    build_model: Callable[..., torch.nn.Module] | None = None
    finalize: Callable[..., None] | None = None
    check_data: Callable[[Any], None] | None = None

    def __call__(self, model: torch.nn.Module, batch: Any, optimizer: torch.optim.Optimizer,
                 objective: Any) -> StepResult:
        """The step (a Method is itself a step function)."""
        return self.step(model, batch, optimizer, objective)

    @property
    def defaults(self) -> dict[str, Any]:
        return dict(self.options)

    def params(self, given: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The options with ``given`` on top of the defaults; an unknown key or a bad value is a
        ``ValueError`` naming it."""
        given = dict(given or {})
        unknown = sorted(set(given) - set(self.defaults))
        if unknown:
            raise ValueError(f"{unknown[0]}: not an option of method {self.name!r}; expected one of "
                             f"{sorted(self.defaults) or 'none (it has no options)'}")
        params = {**self.defaults, **given}
        if self.check is not None:
            self.check(params)
        return params


def methods() -> dict[str, Method]:
    """``{name: Method}``: the methods of this package (``bptt`` first), then those of entry points."""
    found: dict[str, Method] = {}
    for info in sorted(pkgutil.iter_modules(__path__, __name__ + "."), key=lambda i: (i.name != f"{__name__}.bptt",
                                                                                       i.name)):
        if info.name.rsplit(".", 1)[-1].startswith("_"):
            continue
        method = getattr(importlib.import_module(info.name), "METHOD", None)
        if isinstance(method, Method):
            found[method.name] = method
    for _name, obj in entry_point_objects(ENTRY_POINT_GROUP, lambda o: isinstance(o, Method),
                                         "a spikeforge.learn.methods.Method"):
        found.setdefault(obj.name, obj)
    return found


def method_named(name: str) -> Method:
    """The method called ``name``; ``ValueError`` naming the known ones otherwise."""
    found = methods()
    if name not in found:
        raise ValueError(f"method: expected one of {tuple(found)}, got {name!r}")
    return found[name]


class _Methods(Mapping):
    """A read-only view of :func:`methods` (asked again at each use, so later plug-ins count)."""

    def __getitem__(self, name: str) -> Method:
        return methods()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(methods())

    def __len__(self) -> int:
        return len(methods())

    def __repr__(self) -> str:
        return f"METHODS({', '.join(methods())})"


METHODS: Mapping[str, Method] = _Methods()

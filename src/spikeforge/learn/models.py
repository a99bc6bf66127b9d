"""Build the network a :class:`~spikeforge.learn.config.TrainConfig` describes."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable

from torch import nn

from spikeforge.data.errors import about
from spikeforge.learn.config import ConfigError, TrainConfig

__all__ = ["build_model", "describe_layers", "make_firing", "make_neuron_factory", "parameter_count"]


def make_firing(name: str, sigma: float):
    """The firing-noise model (= surrogate gradient) ``name`` with width ``sigma``."""
    from spikeforge.neuron import firing

    name = name.lower()
    if name == "heaviside":
        return firing.Heaviside()
    classes = {"gaussian": firing.Gaussian, "cauchy": firing.Cauchy, "logistic": firing.Logistic}
    if name not in classes:
        raise ConfigError("firing", f"expected one of {['heaviside', *classes]}, got {name!r}")
    return classes[name](sigma)


def _neuron_class(name: str) -> type:
    from spikeforge.neuron.catalog import neuron_classes

    classes = neuron_classes()
    if name not in classes:
        raise ConfigError("neuron", f"expected one of {list(classes)}, got {name!r}")
    return classes[name]


def make_neuron_factory(config: TrainConfig) -> Callable[[int], nn.Module]:
    """A function ``size -> neuron module`` for the hidden layers of ``config``."""
    cls = _neuron_class(config.neuron)
    allowed = set(inspect.signature(cls).parameters) - {"self", "firing", "learnable", "shape"}
    unknown = sorted(set(config.neuron_params) - allowed)
    if unknown:
        raise ConfigError(
            "neuron_params",
            f"{unknown} are not parameters of {config.neuron}; expected names among {sorted(allowed)}",
            key=unknown[0],
        )
    firing = make_firing(config.firing, config.sigma)
    kwargs = dict(config.neuron_params)

    def make(size: int) -> nn.Module:
        try:
            neuron = cls(firing=firing, learnable=tuple(config.learnable),
                         shape=size if config.per_neuron else None, **kwargs)
        except (ValueError, TypeError) as exc:
            _about_neuron(exc, config)
            raise
        if getattr(neuron, "is_complex", False):
            raise ConfigError(
                "neuron",
                f"{config.neuron} has a complex potential and emits complex spikes, which the synapse layers "
                "(spikeforge.synapse.Linear) do not take; choose a real neuron (LIF, CuBaLIF, AdaptiveLIF, "
                "GradedLIF, IF)",
            )
        return neuron

    return make


def _about_neuron(exc: BaseException, config: TrainConfig) -> BaseException:
    """Mark an error of the neuron's constructor with the config field (and neuron parameter) it is about:
    its messages start with the parameter's name (``tau: expected ...``)."""
    m = re.match(r"(\w+): (.*)", str(exc), flags=re.DOTALL)
    name, detail = (m.group(1), m.group(2)) if m else ("", str(exc))
    if name == "learnable":
        return about("learnable", exc, detail)
    if name in config.neuron_params:
        return about("neuron_params", exc, detail, key=name)
    return about("neuron_params" if config.neuron_params else "neuron", exc, str(exc))


def build_model(config: TrainConfig, in_channels: int, num_classes: int) -> nn.Module:
    """``mlp`` or ``recurrent`` (:func:`spikeforge.nets.mlp` / :func:`~spikeforge.nets.rsnn`) with an LI
    readout: ``[in_channels, *hidden, num_classes]``. Parameters are drawn from torch's global RNG."""
    from spikeforge.nets import mlp, rsnn

    for name, value in (("in_channels", in_channels), ("num_classes", num_classes)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name}: expected a positive integer, got {value!r}")
    if config.model not in ("mlp", "recurrent"):  # the other families: spikeforge.nets (issue 12, in progress)
        raise ConfigError("model", f"{config.model!r} cannot be built by this version yet; expected 'mlp' or "
                                   "'recurrent'")
    make = make_neuron_factory(config)
    sizes = iter(config.hidden)

    def factory() -> nn.Module:
        # mlp/rsnn call the factory once per hidden layer, in order.
        return make(next(sizes))

    builder = mlp if config.model == "mlp" else rsnn
    model = builder([in_channels, *config.hidden, num_classes], neuron=factory, readout="li",
                    readout_tau=config.readout_tau)
    return model


def describe_layers(model: nn.Module) -> list[dict[str, object]]:
    """One row per spiking population: module name, neuron type and size (for plots and reports)."""
    from spikeforge.neuron import Neuron

    rows: list[dict[str, object]] = []
    sizes: list[int] = []
    for _name, module in model.named_modules():
        if isinstance(module, nn.Linear):
            sizes.append(module.out_features)
    for name, module in model.named_modules():
        if isinstance(module, Neuron):
            rows.append({"name": name, "type": type(module).__name__})
    for k, row in enumerate(rows):
        row["size"] = sizes[k] if k < len(sizes) else None
        row["label"] = f"hidden {k + 1} ({row['type']}, {row['size']})"
    return rows


def parameter_count(model: nn.Module) -> int:
    return int(sum(p.numel() for p in model.parameters()))

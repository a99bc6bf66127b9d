"""Build the network a :class:`~spikeforge.learn.config.TrainConfig` describes."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from typing import Any, TypeVar

from torch import nn

from spikeforge.data.errors import about
from spikeforge.learn.config import ConfigError, TrainConfig

__all__ = ["FAMILY_OPTIONS", "PREFERRED_LOSS", "build_family", "build_model", "describe_layers", "family_options",
           "make_firing", "make_neuron_factory", "parameter_count", "preferred_loss", "readout_reduction",
           "tcn_layout"]

_T = TypeVar("_T")


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


#: The options of each family (``config.model_params``) and their defaults; ``hidden`` gives the layer sizes
#: (for ``tcn`` the channels of each block). See ``docs/models.md``.
FAMILY_OPTIONS: dict[str, dict[str, Any]] = {
    "mlp": {"readout": "li"},
    "recurrent": {"readout": "li"},
    "tcn": {"kernel_sizes": None, "dilations": None, "norm": "batch", "readout": "li"},
    "adlif": {"recurrent": True, "tau_u_range": [5.0, 25.0], "tau_w_range": [60.0, 300.0], "a_range": [0.0, 1.0],
              "b_range": [0.0, 2.0], "q": 120.0, "theta": 1.0},
    "delays": {"max_delay": 10, "interpolation": "linear", "sigma": 1.0, "delayed_readout": False},
    "rocket": {"dilations": 32, "max_channels": None},
}

#: The reduction over time (:func:`spikeforge.learn.losses.readout_logits`) each family is trained with: the
#: readout's last valid step for the MLP and the recurrent LIF network (the LI readout integrates the whole
#: sequence), the mean over time for the convolutional network (FCN's global average pooling), the adaptive
#: recurrent network (Baronig et al. sum the readout over time), the delays (Hammouamri et al. likewise) and the
#: random-kernel network (the mean of its readout is the readout of the spike rates, MiniRocket's features).
PREFERRED_LOSS = {"mlp": "last", "recurrent": "last", "tcn": "mean", "adlif": "mean", "delays": "mean",
                  "rocket": "mean"}


def preferred_loss(family: str) -> str:
    """The loss reduction over time (``config.loss``) that family ``family`` is meant to be trained with."""
    if family not in PREFERRED_LOSS:
        raise ConfigError("model", f"expected one of {list(PREFERRED_LOSS)}, got {family!r}")
    return PREFERRED_LOSS[family]


def readout_reduction(config: TrainConfig, steps: int) -> str:
    """The loss reduction (``config.loss``) for ``config``'s family on series of ``steps`` steps: its
    :func:`preferred_loss`, except that ``tcn`` reads out its **last** step where one step's receptive field
    (:func:`spikeforge.nets.receptive_field` of :func:`tcn_layout`) covers the whole series. That step has seen
    all of it; the mean averages it with views of part of the series (on ItalyPowerDemand and UnitTest, 24
    steps at a receptive field of 24: ``benchmarks/tcn_readout.py``, docs/models.md). ``--model auto`` and
    ``spikeforge tune`` ask this; a family named on the command line gets :func:`preferred_loss`."""
    from spikeforge import nets

    if config.model == "tcn" and steps <= nets.receptive_field(*tcn_layout(config)):
        return "last"
    return preferred_loss(config.model)


def tcn_layout(config: TrainConfig) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """``(kernel sizes, dilations)`` of the ``tcn`` blocks ``config`` builds: its ``model_params``, else FCN's
    kernels and doubling dilations 1, 2, 4, ... (on 7 aeon sets they beat FCN's undilated blocks in 10 of 14
    paired runs, by 1.6 points on average, most on the longest series: ``benchmarks/tcn_dilations.py``)."""
    from spikeforge import nets

    options = family_options(config)
    blocks = len(config.hidden)
    dilations = options["dilations"]
    if dilations is None:
        dilations = tuple(2**k for k in range(blocks))
    return _built(lambda: nets.tcn_layout(blocks, options["kernel_sizes"], dilations))


def family_options(config: TrainConfig) -> dict[str, Any]:
    """``config.model_params`` checked against the family's options (:data:`FAMILY_OPTIONS`), defaults filled."""
    if config.model == "auto":
        raise ConfigError("model", "'auto' is resolved by spikeforge.learn.auto before a model is built; expected "
                                   f"one of {list(FAMILY_OPTIONS)}")
    if config.model not in FAMILY_OPTIONS:
        raise ConfigError("model", f"expected one of {['auto', *FAMILY_OPTIONS]}, got {config.model!r}")
    allowed = FAMILY_OPTIONS[config.model]
    params = dict(config.model_params or {})
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise ConfigError("model_params", f"{unknown} are not options of the {config.model!r} family; expected names "
                                          f"among {sorted(allowed)}", key=unknown[0])
    return {**allowed, **params}


def build_model(config: TrainConfig, in_channels: int, num_classes: int) -> nn.Module:
    """The network a run of ``config`` trains: the one its method builds (a
    :class:`~spikeforge.learn.methods.Method` with ``build_model``, e.g. ``eqprop``, ``stdp``, ``convert``),
    else :func:`build_family`'s."""
    from spikeforge.learn.methods import method_named

    method = method_named(config.method)
    if method.build_model is not None:
        return method.build_model(config, in_channels, num_classes)
    return build_family(config, in_channels, num_classes)


def build_family(config: TrainConfig, in_channels: int, num_classes: int) -> nn.Module:
    """The network of family ``config.model`` with an LI readout, input ``[T, B, in_channels]``, readout
    ``[T, B, num_classes]``; parameters are drawn from torch's global RNG. ``config.model_params`` holds the
    family's options (:data:`FAMILY_OPTIONS`; an unknown one is a :class:`ConfigError`):

    * ``mlp`` / ``recurrent`` -- :func:`spikeforge.nets.mlp` / :func:`~spikeforge.nets.rsnn`,
      ``[in_channels, *hidden, num_classes]``, the ``neuron`` of the config; ``readout``: ``"li"`` (default,
      the LI readout) or ``"spiking"`` (an output layer of the config's neuron, whose spikes are the readout:
      for the ``rate`` and ``first_spike`` losses of :mod:`spikeforge.learn.losses`);
    * ``tcn`` -- :func:`spikeforge.nets.tcn`: a block of causal convolution over time, normalisation and the
      config's neuron per entry of ``hidden`` (its channels); ``kernel_sizes`` (default FCN's 8, 5, 3),
      ``dilations`` (default doubling per block, 1, 2, 4, ..., as the TCN of Bai, Kolter & Koltun 2018: the
      receptive field grows geometrically; give 1 for FCN's undilated blocks), ``norm``
      (``"batch"``/``"none"``), ``readout`` (``"li"``/``"linear"``);
    * ``adlif`` -- :func:`spikeforge.nets.adlif`: (recurrent) layers of SE-adLIF neurons; ``recurrent``, the
      initial ranges ``tau_u_range``, ``tau_w_range``, ``a_range``, ``b_range``, and ``q``, ``theta``. The
      neuron is always :class:`~spikeforge.neuron.models.adlif.AdLIF`, its ``tau_u``, ``tau_w``, ``a``, ``b``
      learned per neuron (``learnable``/``per_neuron`` do not apply); ``neuron_params`` are used only when
      ``config.neuron`` is ``"AdLIF"`` (a value given there is fixed instead of drawn); ``firing``/``sigma``
      give its surrogate gradient;
    * ``delays`` -- :func:`spikeforge.nets.delayed_mlp`: hidden layers of
      :class:`~spikeforge.synapse.DelayedLinear` and the config's neuron; ``max_delay`` (steps),
      ``interpolation``, ``sigma``, ``delayed_readout``.

    * ``rocket`` -- :func:`spikeforge.nets.rocket`: a fixed bank of MiniRocket's kernels at ``dilations``
      dilations (default 32) into neurons without memory (the config's ``neuron`` does not apply), and a
      trained readout of their spike rates; ``hidden`` is one entry, the neurons, a multiple of
      ``84 × dilations`` (2688 at the default); ``max_channels``: most input channels a kernel sums.

    ``auto`` is resolved by :mod:`spikeforge.learn.auto` before this is called.
    """
    from spikeforge import nets

    for name, value in (("in_channels", in_channels), ("num_classes", num_classes)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name}: expected a positive integer, got {value!r}")
    options = family_options(config)
    family = config.model
    sizes = [in_channels, *config.hidden, num_classes]
    if family == "adlif":
        fixed = {"q": options["q"], "theta": options["theta"],
                 **(dict(config.neuron_params) if config.neuron == "AdLIF" else {})}
        return _built(lambda: nets.adlif(
            sizes, recurrent=_flag("recurrent", options["recurrent"]), firing=make_firing(config.firing, config.sigma),
            ranges={k: options[f"{k}_range"] for k in ("tau_u", "tau_w", "a", "b")}, readout_tau=config.readout_tau,
            **fixed))
    if family == "rocket":
        per = 84 * options["dilations"] if isinstance(options["dilations"], int) else None
        if len(config.hidden) != 1 or (per and config.hidden[0] % per):
            raise ConfigError("hidden", f"rocket: expected one size, its neurons, a multiple of 84 x dilations"
                                        f"{f' = {per}' if per else ''}, got {list(config.hidden)}")
        return _built(lambda: nets.rocket(sizes, dilations=options["dilations"],
                                          max_channels=options["max_channels"]))
    make = make_neuron_factory(config)
    hidden = iter(config.hidden)

    def factory() -> nn.Module:
        # the builders call the factory once per hidden layer, in order.
        return make(next(hidden))

    if family in ("mlp", "recurrent"):
        builder = nets.mlp if family == "mlp" else nets.rsnn
        readout = options["readout"]
        if readout not in ("li", "spiking"):
            raise ConfigError("model_params", f"readout: expected 'li' or 'spiking', got {readout!r}", key="readout")
        if readout == "spiking":  # an output layer of the config's neuron (the rate / first-spike losses)
            sizes_out = iter([*config.hidden, num_classes])
            return builder(sizes, neuron=lambda: make(next(sizes_out)), readout="spikes")
        return builder(sizes, neuron=factory, readout="li", readout_tau=config.readout_tau)
    if family == "tcn":
        kernels, dilations = tcn_layout(config)
        return _built(lambda: nets.tcn(sizes, neuron=factory, readout=options["readout"],
                                       kernel_sizes=kernels, dilations=dilations,
                                       norm=options["norm"], readout_tau=config.readout_tau))
    return _built(lambda: nets.delayed_mlp(
        sizes, neuron=factory, max_delay=options["max_delay"], interpolation=options["interpolation"],
        sigma=options["sigma"], delayed_readout=_flag("delayed_readout", options["delayed_readout"]),
        readout_tau=config.readout_tau))


def _flag(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise ConfigError("model_params", f"{name}: expected true or false, got {value!r}", key=name)
    return value


def _built(build: Callable[[], _T]) -> _T:
    """Run a family's builder; its complaint about an option (``name: expected ...``) becomes a ConfigError of
    ``model_params`` naming the option (a complaint about a neuron parameter stays the builder's)."""
    try:
        return build()
    except (ValueError, TypeError) as exc:
        if isinstance(exc, ConfigError):
            raise
        m = re.match(r"(\w+): (.*)", str(exc), flags=re.DOTALL)
        names = {"max_delay": "max_delay", "interpolation": "interpolation", "sigma": "sigma", "norm": "norm",
                 "kernel_sizes": "kernel_sizes", "dilations": "dilations", "readout": "readout",
                 "tau_u": "tau_u_range", "tau_w": "tau_w_range", "a": "a_range", "b": "b_range", "q": "q",
                 "theta": "theta", "kernel_size": "kernel_sizes", "dilation": "dilations",
                 "max_channels": "max_channels"}
        if m and m.group(1) in names:
            key = names[m.group(1)]
            raise ConfigError("model_params", f"{key}: {m.group(2)}", key=key) from exc
        raise


def describe_layers(model: nn.Module) -> list[dict[str, object]]:
    """One row per spiking population: module name, neuron type and size (for plots and reports). Neurons
    are :class:`~spikeforge.neuron.Neuron` modules and declared models (:class:`~spikeforge.neuron.ModelNeuron`);
    a population's size is the output size of the synapse layer before it (in module order)."""
    from spikeforge.neuron import ModelNeuron, Neuron
    from spikeforge.synapse import DelayedLinear, KernelBank, TemporalConv

    rows: list[dict[str, object]] = []
    sizes: list[int] = []
    inner = {id(m.linear) for m in model.modules() if isinstance(m, (TemporalConv, DelayedLinear))}
    inner |= {id(lin) for m in model.modules() if isinstance(m, KernelBank) for lin in m.slots}
    for name, module in model.named_modules():
        if isinstance(module, KernelBank):
            sizes.append(module.features)
        elif isinstance(module, (TemporalConv, DelayedLinear)):
            sizes.append(module.out_channels if isinstance(module, TemporalConv) else module.out_features)
        elif isinstance(module, nn.Linear) and id(module) not in inner:
            sizes.append(module.out_features)
        elif isinstance(module, (Neuron, ModelNeuron)):
            rows.append({"name": name, "type": type(module).__name__})
    for k, row in enumerate(rows):
        row["size"] = sizes[k] if k < len(sizes) else None
        row["label"] = f"hidden {k + 1} ({row['type']}, {row['size']})"
    return rows


def parameter_count(model: nn.Module) -> int:
    return int(sum(p.numel() for p in model.parameters()))

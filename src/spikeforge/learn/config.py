"""The configuration of a training run: one flat, JSON-friendly dataclass.

A run folder's ``config.json`` is :meth:`TrainConfig.to_dict` of the *resolved* configuration (the encoder
as its full parameter mapping, every default filled in); :meth:`TrainConfig.from_dict` (and so
``spikeforge train --config FILE``) accepts it back.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spikeforge.data.loaders import NORMALIZATIONS
from spikeforge.neuron.catalog import neuron_classes

__all__ = ["FIRINGS", "MODELS", "NEURONS", "OPTIMIZERS", "RATE_REG_METHODS", "SCHEDULES", "TUNED_NEURON_PARAMS",
           "ConfigError",
           "TrainConfig", "default_neuron_params", "load_config"]

#: Model families (``auto``: chosen on the validation split, see :mod:`spikeforge.learn.auto`); the builders are
#: in :mod:`spikeforge.learn.models`.
MODELS = ("auto", "mlp", "recurrent", "tcn", "adlif", "delays", "rocket")
OPTIMIZERS = ("adam", "adamw", "sgd")
#: The neurons a config could name when this module was imported (validation asks
#: :func:`spikeforge.neuron.catalog.neuron_classes` again, so later plug-ins count).
NEURONS = tuple(neuron_classes())
FIRINGS = ("gaussian", "cauchy", "logistic", "heaviside")
SCHEDULES = ("cosine", "constant")
CONFIG_VERSION = 1
#: The training methods that apply the firing-rate regulariser (``rate_reg``, ``rate_target``; the penalty is
#: :func:`spikeforge.learn.losses.rate_penalty`); a config with ``rate_reg > 0`` and another method is refused
#: (the weight would be ignored). A method that applies it adds its name here.
RATE_REG_METHODS = ("bptt",)
#: Neuron parameters a config gets when it names none (see docs/training.md): for LIF, a hard reset and
#: tau = 5 steps (as accurate as the preset's soft reset with tau = 10 on JapaneseVowels, 38 % fewer
#: spikes, and exportable to NIR); other presets keep their own defaults.
TUNED_NEURON_PARAMS: dict[str, dict[str, Any]] = {"LIF": {"tau": 5.0, "reset": "hard"}}


class ConfigError(ValueError):
    """A bad value of one field of a :class:`TrainConfig` (``config epochs: expected ..., got ...``).

    Attributes: ``field`` (``None`` when the complaint is about the config as a whole), ``key`` (the entry of
    a mapping field, e.g. ``"tau"`` of ``neuron_params``), ``detail`` (the message without the field, so
    that the command line can put the option the user typed in front of it: ``--epochs: ...``) and
    ``source`` (the config file the value came from, if any).
    """

    def __init__(self, field: str | None, detail: str, *, key: str | None = None,
                 source: str | Path | None = None) -> None:
        self.field, self.key, self.detail = field, key, detail
        self.source = None if source is None else Path(source)
        self.argument = field  # what the command line reads (see spikeforge.data.errors.about)
        what = "config" if field is None else f"config {field}"
        super().__init__(f"{'' if source is None else f'{source}: '}{what}: {detail}")

    def from_file(self, source: str | Path) -> ConfigError:
        """The same complaint, naming the file the value came from."""
        return ConfigError(self.field, self.detail, key=self.key, source=source)


def default_neuron_params(neuron: str) -> dict[str, Any]:
    """The neuron parameters used when a config gives none for ``neuron``."""
    return dict(TUNED_NEURON_PARAMS.get(neuron, {}))


@dataclass
class TrainConfig:
    """Everything that decides a training run (see ``docs/training.md`` for each field and its default).

    The defaults are the tuned JapaneseVowels run (``spikeforge train`` with no options).
    """

    # data
    dataset: str = "uea:JapaneseVowels"
    encoder: Any = "default"  # "default", a name, or {"name": ..., **params}; resolved to a mapping
    steps: int | None = None  # time steps of static / spike data sets (None: the loader's default)
    normalize: str = "standard"
    downsample: int = 1  # average each K steps of a time series into one (1: as recorded)
    # model
    model: str = "mlp"
    model_params: dict[str, Any] | None = None  # family options (kernel_size, max_delay, ...)
    hidden: list[int] = field(default_factory=lambda: [256])
    neuron: str = "LIF"
    neuron_params: dict[str, Any] | None = None  # tau, threshold, reset, ...; None: default_neuron_params(neuron)
    firing: str = "gaussian"
    sigma: float = 0.5
    learnable: list[str] = field(default_factory=list)
    per_neuron: bool = False
    readout_tau: float = 20.0
    # objective and optimisation
    loss: str = "last"
    label_smoothing: float = 0.0
    method: str = "bptt"
    method_params: dict[str, Any] | None = None  # the method's options (see spikeforge.learn.methods)
    rate_reg: float = 0.0  # weight of the firing-rate regulariser (0: off)
    rate_target: float = 0.0  # spikes per neuron per step the regulariser pulls towards
    optimizer: str = "adam"
    epochs: int = 30
    batch_size: int = 16
    lr: float = 3e-3
    weight_decay: float = 0.0
    schedule: str = "cosine"
    grad_clip: float | None = None
    valid_fraction: float = 0.2  # stratified share of the training data kept for validation (0: none)
    budget: float | None = None  # seconds for --model auto's search (None: the default of spikeforge.learn.auto)
    refit: bool = True  # --model auto's winner trains on the whole training split (the validation split too)
    # reproducibility and machine
    seed: int = 0
    device: str = "cpu"
    threads: int = 1  # 2 threads are no faster for this size, and 5-7x slower on a busy 2-core machine
    deterministic: bool = True
    eval_batch_size: int = 256
    nproc: int = 1  # processes of `spikeforge train --nproc` (one machine; torchrun sets its own)
    version: int = CONFIG_VERSION

    def __post_init__(self) -> None:
        self.validate()

    # ----------------------------------------------------------------------------------------------
    def validate(self) -> None:
        """Raise :class:`ConfigError` (a ``ValueError``) naming the field, what is expected and what was given."""
        from spikeforge.learn.losses import LOSSES, REDUCTIONS, SPIKE_LOSSES
        from spikeforge.learn.methods import methods

        def bad(name: str, expected: str) -> ConfigError:
            return ConfigError(name, f"expected {expected}, got {getattr(self, name)!r}")

        def pos_int(name: str, allow_none: bool = False) -> None:
            v = getattr(self, name)
            if v is None and allow_none:
                return
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise bad(name, "an integer >= 1" + (" or null" if allow_none else ""))

        def number(name: str, lo: float, lo_open: bool, allow_none: bool = False) -> None:
            v = getattr(self, name)
            if v is None and allow_none:
                return
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise bad(name, "a finite number")
            if v < lo or (lo_open and v == lo):
                raise bad(name, f"a number {'>' if lo_open else '>='} {lo:g}")
            setattr(self, name, float(v))

        if not isinstance(self.dataset, str) or not self.dataset.strip():
            raise bad("dataset", "a data set name or path")
        if not (self.encoder is None or isinstance(self.encoder, (str, Mapping))):
            raise bad("encoder", "'default', an encoder name, a mapping {'name': ..., ...} or null (none)")
        if isinstance(self.encoder, str) and self.encoder.strip().lower() == "none":
            self.encoder = None
        if isinstance(self.encoder, Mapping):
            self.encoder = dict(self.encoder)
        pos_int("steps", allow_none=True)
        pos_int("downsample")
        if self.normalize not in NORMALIZATIONS:
            raise bad("normalize", "one of " + ", ".join(repr(n) for n in NORMALIZATIONS))
        if self.model == "rsnn":
            self.model = "recurrent"
        if self.model not in MODELS:
            raise bad("model", f"one of {MODELS}")
        if self.model_params is None:
            self.model_params = {}
        if not isinstance(self.model_params, Mapping) or any(not isinstance(k, str) for k in self.model_params):
            raise bad("model_params", "a mapping of the model family's options, e.g. {'kernel_size': 5}")
        self.model_params = dict(self.model_params)
        if isinstance(self.hidden, int) and not isinstance(self.hidden, bool):
            self.hidden = [self.hidden]
        if (
            not isinstance(self.hidden, (list, tuple))
            or not self.hidden
            or any(isinstance(h, bool) or not isinstance(h, int) or h < 1 for h in self.hidden)
        ):
            raise bad("hidden", "a non-empty list of positive layer sizes, e.g. [256] or [128, 128]")
        self.hidden = list(self.hidden)
        names = tuple(neuron_classes())  # asked now: a model installed as a plug-in counts too
        if self.neuron not in names:
            matches = [n for n in names if n.lower() == str(self.neuron).lower()]
            if not matches:
                raise bad("neuron", f"one of {names}")
            self.neuron = matches[0]
        if self.neuron_params is None:
            self.neuron_params = default_neuron_params(self.neuron)
        if not isinstance(self.neuron_params, Mapping):
            raise bad("neuron_params", "a mapping of Neuron keyword arguments, e.g. {'tau': 10.0}")
        self.neuron_params = dict(self.neuron_params)
        for forbidden in ("firing", "learnable", "shape", "dtype"):
            if forbidden in self.neuron_params:
                raise ConfigError(
                    "neuron_params",
                    f"{forbidden!r} is set by its own field{' (firing, sigma)' if forbidden == 'firing' else ''}, "
                    "not in neuron_params",
                    key=forbidden,
                )
        if str(self.firing).lower() not in FIRINGS:
            raise bad("firing", f"one of {FIRINGS}")
        self.firing = str(self.firing).lower()
        number("sigma", 0.0, True)
        if isinstance(self.learnable, str):
            self.learnable = [s for s in self.learnable.split(",") if s]
        if not isinstance(self.learnable, (list, tuple)) or any(not isinstance(s, str) for s in self.learnable):
            raise bad("learnable", "a list of parameter names, e.g. ['tau', 'threshold']")
        self.learnable = list(self.learnable)
        if not isinstance(self.per_neuron, bool):
            raise bad("per_neuron", "true or false")
        number("readout_tau", 0.0, True)
        if self.loss not in LOSSES:
            raise bad("loss", f"one of {LOSSES} (see spikeforge.learn.losses)")
        number("label_smoothing", 0.0, False)
        if self.label_smoothing >= 1:
            raise bad("label_smoothing", "a number in [0, 1)")
        known = methods()
        if self.method not in known:
            raise bad("method", f"one of {tuple(known)}")
        if self.method_params is None:
            self.method_params = {}
        if not isinstance(self.method_params, Mapping) or any(not isinstance(k, str) for k in self.method_params):
            raise bad("method_params", "a mapping of the method's options, e.g. {'k': 50}")
        self.method_params = dict(self.method_params)
        try:
            known[self.method].params(self.method_params)
        except ValueError as exc:
            key = str(exc).split(":", 1)[0]
            raise ConfigError("method_params", str(exc), key=key) from None
        number("rate_reg", 0.0, False)
        number("rate_target", 0.0, False)
        if self.rate_reg > 0 and self.method not in RATE_REG_METHODS:
            raise bad("rate_reg", f"0 with method {self.method!r}, which does not apply the firing-rate "
                                  f"regulariser (the methods that do: {RATE_REG_METHODS})")
        if self.loss in SPIKE_LOSSES and (self.model not in ("mlp", "recurrent")
                                          or self.model_params.get("readout") != "spiking"):
            raise bad("loss", f"a loss on a leaky readout {REDUCTIONS} with model {self.model!r} and model_params "
                              f"{self.model_params}: {self.loss!r} needs the output layer's spikes, which the mlp and "
                              "recurrent families give with model_params {'readout': 'spiking'}")
        if str(self.optimizer).lower() not in OPTIMIZERS:
            raise bad("optimizer", f"one of {OPTIMIZERS}")
        self.optimizer = str(self.optimizer).lower()
        pos_int("epochs")
        pos_int("batch_size")
        number("lr", 0.0, True)
        number("weight_decay", 0.0, False)
        if self.schedule not in SCHEDULES:
            raise bad("schedule", f"one of {SCHEDULES}")
        number("grad_clip", 0.0, True, allow_none=True)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise bad("seed", "an integer >= 0")
        if not isinstance(self.device, str) or not (
            self.device in ("auto", "cpu") or self.device.startswith(("cuda", "mps"))
        ):
            raise bad("device", "'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'")
        pos_int("threads")
        if not isinstance(self.deterministic, bool):
            raise bad("deterministic", "true or false")
        if not isinstance(self.refit, bool):
            raise bad("refit", "true or false")
        pos_int("eval_batch_size")
        number("valid_fraction", 0.0, False)
        if self.valid_fraction >= 1:
            raise bad("valid_fraction", "a number in [0, 1)")
        number("budget", 0.0, True, allow_none=True)
        pos_int("nproc")
        if self.version != CONFIG_VERSION:
            raise bad("version", f"{CONFIG_VERSION} (this spikeforge's config format)")

    # ----------------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainConfig:
        if not isinstance(data, Mapping):
            raise TypeError(f"config: expected a mapping of fields, got {type(data).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ConfigError(None, f"unknown field(s) {unknown}; expected fields among {sorted(names)}")
        return cls(**dict(data))

    def replace(self, **changes: Any) -> TrainConfig:
        return TrainConfig.from_dict({**self.to_dict(), **changes})

    def save(self, path: str | Path) -> None:
        from spikeforge.learn.checkpoint import atomic_write_text

        atomic_write_text(Path(path), json.dumps(self.to_dict(), indent=2) + "\n")


def load_config(path: str | Path) -> TrainConfig:
    """Read a ``config.json`` (a run's resolved config, or one written by hand with some fields)."""
    path = Path(path)
    if path.is_dir():
        path = path / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: config file not found (expected a run's config.json)")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, Mapping):
        raise ConfigError(None, f"expected a JSON object of fields, got {type(data).__name__}", source=path)
    try:
        return TrainConfig.from_dict(data)
    except ConfigError as exc:
        raise exc.from_file(path) from None
    except (TypeError, ValueError) as exc:
        raise ConfigError(None, str(exc), source=path) from None

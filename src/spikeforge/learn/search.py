"""The search space that ``--model auto`` (:mod:`spikeforge.learn.auto`) and ``spikeforge tune``
(:mod:`spikeforge.learn.tune`) share: model family, input encoding, size and learning rate.

A point of the space is a :class:`Candidate`; :meth:`Candidate.apply` turns it into a
:class:`~spikeforge.learn.config.TrainConfig` (family, encoder, hidden sizes, learning rate and the family's
loss reduction over time, :func:`spikeforge.learn.models.readout_reduction`); every other field stays the
caller's. :func:`space` gives the dimensions for a data set's shape (:class:`DataShape`), :func:`candidates`
the short list auto tries (points of that space, cheapest first), :func:`suggest` the point an Optuna trial
samples from it.

What depends on the shape: time series get a choice of encoding (level crossing at 0.3 standard deviations,
the JapaneseVowels default; the standardised value injected as a current; level crossing at 0.1, 0.3 and 1
standard deviations side by side; 8 Gaussian receptive fields per channel); static data (digits) keep
their rate code and the MLP; spike data (SHD) are fed as they are. Sizes are three steps (small, medium,
large) per family: the hidden widths of the MLP and the recurrent families, the channels of the three
temporal-convolution blocks of ``tcn``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from spikeforge.data.loaders import NORMALIZATIONS
from spikeforge.learn.config import TrainConfig

__all__ = ["DOWNSAMPLE", "ENCODINGS", "FAMILIES", "LONG_SERIES", "LR_RANGE", "SCALE_SPREAD", "SIZES", "Candidate",
           "DataShape", "Space", "candidates", "may_downsample", "may_renormalize", "scale_spread", "space", "suggest",
           "trial_params"]

#: The families the space holds per kind of data (``tcn`` needs a series or spikes over time).
FAMILIES: dict[str, tuple[str, ...]] = {
    "series": ("mlp", "recurrent", "tcn", "adlif", "delays", "rocket"),
    "spikes": ("mlp", "recurrent", "tcn", "adlif", "delays"),
    "static": ("mlp",),
}
#: The encodings of time series, as ``spikeforge train --encoder`` mappings.
ENCODINGS: dict[str, dict[str, Any]] = {
    "delta": {"name": "delta", "threshold": 0.3, "max_per_step": 1, "initial": "zero"},
    "current": {"name": "current", "steps": None, "gain": 1.0, "bias": 0.0},
    "multidelta": {"name": "multidelta", "thresholds": [0.1, 0.3, 1.0], "max_per_step": 1, "initial": "zero"},
    "population": {"name": "population", "neurons": 8, "low": -2.0, "high": 2.0, "width": 1.0, "output": "current"},
}
#: Hidden sizes per family: small, medium, large.
SIZES: dict[str, tuple[tuple[int, ...], ...]] = {
    "mlp": ((64,), (128,), (256,)),
    "recurrent": ((64,), (128,), (256,)),
    "tcn": ((32, 64, 32), (64, 128, 64), (128, 256, 128)),
    "adlif": ((64,), (128,), (256,)),
    "delays": ((64,), (128,), (256,)),
    "rocket": ((2688,), (5376,), (10752,)),
}
SIZE_NAMES = ("small", "medium", "large")
#: A series data set whose samples' scales spread more than this (:func:`scale_spread`) gets an
#: instance-normalised candidate in auto's list (JapaneseVowels: 4.3; Covid3Month_disc: 280).
SCALE_SPREAD = 10.0
#: A series longer than this many steps gets candidates averaged over :data:`DOWNSAMPLE` steps
#: (``--downsample``; OSULeaf's 427 steps, PickupGestureWiimoteZ's 361, ACSF1's 1460).
LONG_SERIES = 300
#: The factor of those candidates.
DOWNSAMPLE = 2
#: Peak learning rates tune samples from (log-uniform); auto uses :data:`DEFAULT_LR`.
LR_RANGE = (1e-3, 3e-2)
DEFAULT_LR: dict[str, float] = {"mlp": 3e-3, "recurrent": 3e-3, "tcn": 3e-3, "adlif": 3e-3, "delays": 3e-3,
                                "rocket": 3e-3}


@dataclass(frozen=True)
class DataShape:
    """What the space depends on: ``kind`` (``series``, ``static``, ``spikes``), ``steps`` (T),
    ``channels`` (C of the raw data, before encoding), ``classes`` and ``train_size`` (the samples trained
    on)."""

    kind: str
    steps: int
    channels: int
    classes: int
    train_size: int
    scale_spread: float = 1.0

    @classmethod
    def of(cls, dataset: Any, train_size: int | None = None) -> DataShape:
        """The shape of a :class:`~spikeforge.data.SpikeDataset` (``train_size``: that of the split trained on,
        default its whole train split)."""
        split = dataset.train
        one = split.raw(torch.arange(1))  # [T, 1, ...] (static: [1, ...]); also for event tensors
        features = 1
        for s in one.shape[2:] if split.kind != "static" else one.shape[1:]:
            features *= int(s)
        spread = scale_spread(split.x, split.lengths) if split.kind == "series" and split.x.dim() == 3 else 1.0
        return cls(split.kind, int(split.steps), features, int(dataset.num_classes),
                   len(split) if train_size is None else int(train_size), spread)


def scale_spread(x: torch.Tensor, lengths: torch.Tensor) -> float:
    """How much the scale of a series varies between samples: per channel, the 90th over the 10th percentile
    of the samples' standard deviations over their valid steps, the largest over the channels. Unchanged by a
    per-channel affine normalisation (``standard``, ``minmax``); about 1 for data the UCR archive z-normalised
    per series, 2-5 for JapaneseVowels, hundreds for Covid3Month_disc (counts of deaths per country)."""
    x = torch.as_tensor(x, dtype=torch.float64)  # [N, T, C]
    if x.shape[0] < 2:
        return 1.0
    steps = torch.arange(x.shape[1])
    valid = (steps[None, :] < lengths[:, None]).to(x.dtype)[..., None]  # [N, T, 1]
    n = valid.sum(1).clamp_min(1.0)
    mean = (x * valid).sum(1) / n
    std = (((x - mean[:, None]) ** 2 * valid).sum(1) / n).sqrt()  # [N, C]
    hi, lo = torch.quantile(std, 0.9, dim=0), torch.quantile(std, 0.1, dim=0)
    ratio = torch.where(lo > 1e-12, hi / lo.clamp_min(1e-12), torch.where(hi > 1e-12, torch.inf, 1.0))
    return float(ratio.max())


@dataclass(frozen=True)
class Candidate:
    """One point of the space. ``encoder``: the key of :data:`ENCODINGS`, or ``None`` to keep the data
    set's encoder (static and spike data, or an encoder the user fixed)."""

    family: str
    size: str
    lr: float
    encoder: str | None = None
    normalize: str | None = None  # a ``--normalize`` choice other than the config's (None: the config's)
    downsample: int | None = None  # a ``--downsample`` factor other than the config's (None: the config's)

    def __post_init__(self) -> None:
        if self.downsample is not None and (isinstance(self.downsample, bool) or not isinstance(self.downsample, int)
                                            or self.downsample < 2):
            raise ValueError(f"Candidate: downsample expected an integer >= 2 or None, got {self.downsample!r}")
        if self.normalize is not None and self.normalize not in NORMALIZATIONS:
            raise ValueError(f"Candidate: normalize expected one of {NORMALIZATIONS} or None, got {self.normalize!r}")
        if self.family not in SIZES:
            raise ValueError(f"Candidate: family expected one of {tuple(SIZES)}, got {self.family!r}")
        if self.size not in SIZE_NAMES:
            raise ValueError(f"Candidate: size expected one of {SIZE_NAMES}, got {self.size!r}")
        if self.encoder is not None and self.encoder not in ENCODINGS:
            raise ValueError(f"Candidate: encoder expected one of {tuple(ENCODINGS)} or None, got {self.encoder!r}")
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"Candidate: lr expected a positive number, got {self.lr!r}")

    @property
    def hidden(self) -> list[int]:
        return list(SIZES[self.family][SIZE_NAMES.index(self.size)])

    @property
    def name(self) -> str:
        enc = "" if self.encoder is None else f" {self.encoder}"
        data = ([] if self.normalize is None else [f"{self.normalize}-normalised"]) + \
            ([] if self.downsample is None else [f"downsampled x{self.downsample}"])
        return f"{self.family}{enc} {self.hidden} lr {self.lr:g}" + (f" ({', '.join(data)})" if data else "")

    def data_changes(self) -> dict[str, Any]:
        """The config fields this candidate loads the data with, where they differ from the run's
        (``normalize``, ``downsample``): empty when it trains on the run's data set as loaded."""
        out: dict[str, Any] = {}
        if self.normalize is not None:
            out["normalize"] = self.normalize
        if self.downsample is not None:
            out["downsample"] = self.downsample
        return out

    @property
    def data_key(self) -> tuple[tuple[str, Any], ...]:
        """:meth:`data_changes` as a hashable key (``()``: the run's data)."""
        return tuple(sorted(self.data_changes().items()))

    def encoder_spec(self) -> dict[str, Any] | None:
        """The ``TrainConfig.encoder`` mapping of this candidate (``None``: keep the data set's)."""
        return None if self.encoder is None else dict(ENCODINGS[self.encoder])

    def apply(self, config: TrainConfig, steps: int | None = None) -> TrainConfig:
        """``config`` with this candidate's family, encoder, hidden sizes, learning rate and loss: the family's
        :func:`~spikeforge.learn.models.preferred_loss`, or with ``steps`` (the series' length) its
        :func:`~spikeforge.learn.models.readout_reduction` on series that long."""
        from spikeforge.learn.models import preferred_loss, readout_reduction

        changes: dict[str, Any] = {"model": self.family, "hidden": self.hidden, "lr": float(self.lr)}
        changes["loss"] = (preferred_loss(self.family) if steps is None
                           else readout_reduction(config.replace(**changes), steps))
        if self.encoder is not None:
            changes["encoder"] = self.encoder_spec()
        return config.replace(**changes, **self.data_changes())

    def params(self) -> dict[str, Any]:
        """This point as the ``params`` of an Optuna trial (what :func:`suggest` samples; for
        ``study.enqueue_trial``)."""
        out: dict[str, Any] = {"family": self.family, "size": self.size, "lr": float(self.lr)}
        if self.encoder is not None:
            out["encoder"] = self.encoder
        return {**out, **self.data_changes()}

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "family": self.family, "size": self.size, "hidden": self.hidden,
                "lr": float(self.lr), "encoder": self.encoder, "normalize": self.normalize,
                "downsample": self.downsample}


@dataclass(frozen=True)
class Space:
    """The dimensions for one data shape: families, encodings (empty: the data set's own), sizes, lr range."""

    families: tuple[str, ...]
    encoders: tuple[str, ...] = ()
    sizes: tuple[str, ...] = SIZE_NAMES
    lr_range: tuple[float, float] = LR_RANGE
    shape: DataShape | None = field(default=None, compare=False)

    def __contains__(self, cand: object) -> bool:
        return (isinstance(cand, Candidate) and cand.family in self.families and cand.size in self.sizes
                and (cand.encoder in self.encoders if self.encoders else cand.encoder is None)
                and self.lr_range[0] <= cand.lr <= self.lr_range[1])


def may_renormalize(config: TrainConfig, dataset: Any) -> bool:
    """Whether a search (``--model auto``, ``spikeforge tune``) may try instance normalisation: the run keeps
    the default ``standard`` normalisation (another ``--normalize`` is the user's choice, kept) and the data set
    was loaded with it (it is then reloaded by ``config.dataset`` with another)."""
    return config.normalize == "standard" == dataset.meta.get("normalize")


def may_downsample(config: TrainConfig, dataset: Any) -> bool:
    """Whether a search may try series averaged over :data:`DOWNSAMPLE` steps: the run keeps the default
    ``--downsample 1`` (another is the user's choice, kept) and the data set is a time series loaded from its
    files with it (it is then reloaded by ``config.dataset`` with another)."""
    return config.downsample == 1 == dataset.meta.get("downsample")


def space(shape: DataShape, *, fixed_encoder: bool = False) -> Space:
    """The search space for data of ``shape`` (``fixed_encoder``: the user chose the encoding)."""
    if shape.kind not in FAMILIES:
        raise ValueError(f"space: shape.kind expected one of {tuple(FAMILIES)}, got {shape.kind!r}")
    encoders = tuple(ENCODINGS) if shape.kind == "series" and not fixed_encoder else ()
    return Space(FAMILIES[shape.kind], encoders, shape=shape)


def candidates(shape: DataShape, *, fixed_encoder: bool = False, normalize: bool = True,
               downsample: bool = True) -> list[Candidate]:
    """The short list ``--model auto`` tries for data of ``shape``, in this order (ties go to the earlier).

    Series: first the random-kernel network (``rocket``, small, on the injected value: fixed MiniRocket kernels
    into threshold neurons, a trained readout of their spike rates: on the 10 aeon sets, seed 0, it had the highest
    validation accuracy at the deciding rung on 7, ties included, and was within one standard error on the other
    3; it trains fast whatever the series' length). Series and spikes: the MLP on the
    level-crossing code (wide for 4 channels or more, where each step
    carries much: the JapaneseVowels default), the temporal convolutional network (three FCN blocks) on the
    injected value and on the level-crossing code, the MLP of learnable delays on both, and the recurrent LIF
    network on the level-crossing code. Univariate series (1-3 channels) put the convolutional network first:
    on the development sets (GunPoint, ItalyPowerDemand, OSULeaf) it led after full training, and a tie on
    a validation split of 10-40 samples is common. ``adlif`` is in the space (``spikeforge tune`` samples it)
    but not in this list: on 2 cores it costs 5-10 times an MLP's epoch and did not lead on those sets within
    a first rung. Series whose scale varies between samples by more than :data:`SCALE_SPREAD` times
    (:func:`scale_spread`) also get the convolutional network on each series normalised by its own mean and
    standard deviation (``--normalize instance``), second in the list, unless ``normalize`` is False (the user
    chose the normalisation). Series longer than :data:`LONG_SERIES` steps also get the convolutional network on
    the series averaged over :data:`DOWNSAMPLE` steps (``--downsample 2``: half the steps to run, twice the span
    of the receptive field), next, unless ``downsample`` is False (the user chose the factor). Static data: the
    MLP in two sizes.
    """
    sp = space(shape, fixed_encoder=fixed_encoder)
    encs = set(sp.encoders)
    out: list[Candidate] = []

    def add(family: str, size: str, encoder: str, normalize: str | None = None, downsample: int | None = None) -> None:
        cand = Candidate(family, size, DEFAULT_LR[family], encoder if encs else None, normalize, downsample)
        if family in sp.families and (not encs or encoder in encs) and cand not in out:
            out.append(cand)

    if shape.kind == "static":
        add("mlp", "medium", "")
        add("mlp", "large", "")
        return out
    if shape.kind == "series":
        add("rocket", "small", "current")
    mlp = ("mlp", "large" if shape.channels >= 4 else "medium", "delta")
    tcn = [("tcn", "medium", "current"), ("tcn", "medium", "delta")]
    for k, args in enumerate([mlp, *tcn] if shape.channels >= 4 else [*tcn, mlp]):
        add(*args)
        if k == 0 and shape.kind == "series" and shape.scale_spread > SCALE_SPREAD and normalize:
            add("tcn", "medium", "current", "instance")
        if k == 0 and shape.kind == "series" and shape.steps > LONG_SERIES and downsample:
            add("tcn", "medium", "current", downsample=DOWNSAMPLE)
    add("delays", "medium", "delta")
    add("delays", "medium", "current")
    add("recurrent", "medium", "delta")
    return out


def suggest(trial: Any, shape: DataShape, *, fixed_encoder: bool = False, normalize: bool = False,
            downsample: bool = False) -> Candidate:
    """The candidate an Optuna ``trial`` samples from :func:`space` (``family``, ``encoder``, ``size`` as
    categorical choices, ``lr`` log-uniform; with ``normalize`` and series whose scales spread more than
    :data:`SCALE_SPREAD`, also ``normalize``: ``"config"`` (the run's) or ``"instance"``; with ``downsample``
    and series longer than :data:`LONG_SERIES` steps, also ``downsample``: 1 (the run's) or
    :data:`DOWNSAMPLE`)."""
    sp = space(shape, fixed_encoder=fixed_encoder)
    family = trial.suggest_categorical("family", list(sp.families))
    encoder = trial.suggest_categorical("encoder", list(sp.encoders)) if sp.encoders else None
    size = trial.suggest_categorical("size", list(sp.sizes))
    lr = trial.suggest_float("lr", sp.lr_range[0], sp.lr_range[1], log=True)
    has_norm, has_down = _data_dimensions(shape, normalize, downsample)
    norm = trial.suggest_categorical("normalize", ["config", "instance"]) if has_norm else None
    factor = trial.suggest_categorical("downsample", [1, DOWNSAMPLE]) if has_down else 1
    return Candidate(family, size, lr, encoder, None if norm in (None, "config") else norm,
                     None if factor == 1 else factor)


def _data_dimensions(shape: DataShape, normalize: bool, downsample: bool) -> tuple[bool, bool]:
    """Whether :func:`suggest` samples ``normalize`` and ``downsample`` on data of ``shape``."""
    series = shape.kind == "series"
    return (normalize and series and shape.scale_spread > SCALE_SPREAD,
            downsample and series and shape.steps > LONG_SERIES)


def trial_params(cand: Candidate, shape: DataShape, *, normalize: bool = False,
                 downsample: bool = False) -> dict[str, Any]:
    """``cand`` as the full ``params`` of a trial of :func:`suggest` (for ``study.enqueue_trial``): its
    :meth:`Candidate.params` with the data dimensions that ``suggest`` samples on ``shape`` named even where the
    candidate keeps the run's data (``normalize="config"``, ``downsample=1``), so that the sampler does not
    draw them."""
    out = cand.params()
    has_norm, has_down = _data_dimensions(shape, normalize, downsample)
    if has_norm:
        out.setdefault("normalize", "config")
    if has_down:
        out.setdefault("downsample", 1)
    return out


def candidate_from_params(params: Mapping[str, Any]) -> Candidate:
    """The candidate of an Optuna trial's ``params`` (what :func:`suggest` sampled)."""
    norm, factor = params.get("normalize"), params.get("downsample", 1)
    return Candidate(params["family"], params["size"], float(params["lr"]), params.get("encoder"),
                     None if norm in (None, "config") else norm, None if factor in (None, 1) else int(factor))

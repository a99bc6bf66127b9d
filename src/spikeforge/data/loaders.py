"""Data set loaders: UCR/UEA time series (JapaneseVowels by default), scikit-learn digits, SHD/SSC
HDF5 spike files and event-camera sets through ``tonic``. Nothing is ever downloaded."""

from __future__ import annotations

import inspect
import re
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from spikeforge.data.errors import DatasetError, DatasetNotFoundError, about
from spikeforge.data.split import EventTensor, SpikeDataset, Split
from spikeforge.data.timeseries import find_archive_files, read_series_file, shipped_datasets
from spikeforge.encode.delta import Delta
from spikeforge.encode.registry import Encoder, make_encoder
from spikeforge.encode.static import Rate

__all__ = [
    "DEFAULT_DATASET",
    "NORMALIZATIONS",
    "default_encoder",
    "downsample_series",
    "instance_normalize",
    "is_default_dataset",
    "load_dataset",
    "load_digits",
    "load_japanese_vowels",
    "load_shd",
    "load_timeseries",
    "load_tonic",
    "read_shd",
]

DEFAULT_DATASET = "uea:JapaneseVowels"
# Delta code for standardised series: one spike per 0.3 standard deviations, reference starting at 0 so
# that the absolute level is coded too (a linear read-out of it scores 0.984 on JapaneseVowels, against
# 0.83 for a pure change code with initial="first").
DEFAULT_DELTA_THRESHOLD = 0.3
DEFAULT_STATIC_STEPS = 25
DEFAULT_SPIKE_STEPS = 100
SHD_URL = "https://zenkelab.org/resources/spiking-heidelberg-datasets-shd/"

EncoderSpec = Encoder | str | Mapping[str, Any] | None


def default_encoder(kind: str, steps: int | None = None) -> Encoder | None:
    """The encoder a data set of ``kind`` gets by default: ``Delta`` for series, ``Rate`` for static data,
    none for data that are already spikes."""
    if kind == "series":
        return Delta(threshold=DEFAULT_DELTA_THRESHOLD, initial="zero")
    if kind == "static":
        return Rate(steps=steps or DEFAULT_STATIC_STEPS)
    return None


def _resolve_encoder(spec: EncoderSpec, kind: str, steps: int | None) -> Encoder | None:
    try:
        return _make_encoder(spec, kind, steps)
    except (ValueError, TypeError) as exc:
        detail = str(exc)
        for prefix in ("make_encoder: ", "encoder: "):
            detail = detail.removeprefix(prefix)
        raise about("encoder", exc, detail) from None


def _make_encoder(spec: EncoderSpec, kind: str, steps: int | None) -> Encoder | None:
    if isinstance(spec, str) and spec.strip().lower() == "default":
        return default_encoder(kind, steps)
    if spec is None:
        return None
    if isinstance(spec, str):
        # A bare name: static encoders get the steps asked for (or the default); series ones don't.
        key = spec.strip().lower()
        params: dict[str, Any] = {}
        if kind == "static" and hasattr(make_encoder(key), "steps"):  # every code with a window length
            params["steps"] = steps or DEFAULT_STATIC_STEPS
        elif kind != "static" and key in ("rate", "current", "poisson"):  # these take a series with steps=None
            params["steps"] = None
        return make_encoder(key, **params)
    if isinstance(spec, Mapping):
        params = dict(spec)
        if "name" not in params:
            raise ValueError(f"encoder: a mapping needs a 'name' key (delta, rate, latency, current); got {spec}")
        return make_encoder(params.pop("name"), **params)
    return make_encoder(spec)


def _natural_key(label: str) -> tuple[int, float, str]:
    try:
        return (0, float(label), label)
    except ValueError:
        return (1, 0.0, label)


# --------------------------------------------------------------------------------------------------
# Time series (UCR / UEA archive files)
# --------------------------------------------------------------------------------------------------


def _sibling(path: Path, old: str, new: str) -> Path | None:
    stem = path.stem
    idx = stem.upper().rfind(old)
    if idx < 0:
        return None
    piece = stem[idx : idx + len(old)]
    repl = new if piece.isupper() else new.lower()
    return path.with_name(stem[:idx] + repl + stem[idx + len(old) :] + path.suffix)


def _pad(series: list[np.ndarray], steps: int) -> torch.Tensor:
    channels = series[0].shape[1] if series else 0
    x = np.zeros((len(series), steps, channels), dtype=np.float32)
    for i, s in enumerate(series):
        x[i, : s.shape[0]] = s
    return torch.from_numpy(x)


#: The ``normalize`` choices of :func:`load_timeseries` (and ``spikeforge train --normalize``).
NORMALIZATIONS = ("standard", "minmax", "instance", "none")


def instance_normalize(series: np.ndarray) -> np.ndarray:
    """One series ``[T, C]`` to mean 0 and standard deviation 1 per channel over its own steps (a constant
    channel becomes 0). It needs no statistics of other samples, so train and test are treated alike."""
    series = np.asarray(series, dtype=np.float64)
    std = series.std(axis=0)
    return (series - series.mean(axis=0)) / np.where(std > 1e-12, std, 1.0)


def downsample_series(series: np.ndarray, factor: int) -> np.ndarray:
    """One series ``[L, C]`` averaged over consecutive windows of ``factor`` steps: ``[ceil(L / factor), C]``
    (the last window averages the steps it holds). For long series whose detail is slower than their
    sampling: the network then runs ``factor`` times fewer steps, and a convolution's receptive field spans
    ``factor`` times more of the series."""
    _check_downsample(factor, "downsample_series: factor")
    series = np.asarray(series)
    if factor == 1 or series.shape[0] == 0:
        return series
    steps = -(-series.shape[0] // factor)
    edges = np.arange(steps) * factor
    sums = np.add.reduceat(series.astype(np.float64), edges, axis=0)
    counts = np.minimum(edges + factor, series.shape[0]) - edges
    return (sums / counts[:, None]).astype(series.dtype)


def _check_downsample(value: object, where: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise about("downsample", ValueError(f"{where} must be an int >= 1; got {value!r}"),
                    f"expected an integer >= 1, got {value!r}")


def load_timeseries(
    train_path: str | Path,
    test_path: str | Path | None = None,
    *,
    encoder: EncoderSpec = "default",
    normalize: str = "standard",
    name: str | None = None,
    downsample: int = 1,
) -> SpikeDataset:
    """Load a classification problem from ``NAME_TRAIN.ts`` / ``NAME_TEST.ts`` (or ``.arff``) files.

    ``test_path`` defaults to the ``_TEST`` sibling of ``train_path``. Series may have unequal lengths:
    ``x`` is zero-padded to the longest series of either split and ``lengths`` holds the true ones.
    ``normalize``: one of :data:`NORMALIZATIONS`: ``"standard"`` (per-channel mean 0 / std 1 from the
    training set's valid steps), ``"minmax"`` (per channel to [0, 1] from the training set), ``"instance"``
    (each series, train or test, to mean 0 / std 1 per channel over its own valid steps: the UCR archive's
    convention, for series whose scale varies between samples by orders of magnitude) or ``"none"``.
    Padding stays 0. ``downsample``: average each ``downsample`` steps into one (:func:`downsample_series`),
    before the normalisation; lengths become ``ceil(L / downsample)``.
    """
    train_path = Path(train_path)
    if test_path is None:
        test_path = _sibling(train_path, "TRAIN", "TEST")
        if test_path is None:
            raise DatasetError(
                f"{train_path}: cannot find the test file: the name has no '_TRAIN' part to replace by "
                "'_TEST'; pass test_path"
            )
    test_path = Path(test_path)
    for p in (train_path, test_path):
        if not p.is_file():
            raise DatasetNotFoundError(f"{p}: file not found (expected a .ts or .arff time-series file)")
    if normalize not in NORMALIZATIONS:
        expected = ", ".join(repr(n) for n in NORMALIZATIONS)
        raise about("normalize", ValueError(f"load_timeseries: normalize must be one of {expected}; got {normalize!r}"),
                    f"expected one of {expected}, got {normalize!r}")
    tr_series, tr_labels, _ = read_series_file(train_path)
    te_series, te_labels, _ = read_series_file(test_path)
    _check_downsample(downsample, "load_timeseries: downsample")
    if downsample != 1:
        tr_series = [downsample_series(s, downsample) for s in tr_series]
        te_series = [downsample_series(s, downsample) for s in te_series]
    c_train, c_test = tr_series[0].shape[1], te_series[0].shape[1]
    if any(s.shape[1] != c_train for s in tr_series) or any(s.shape[1] != c_test for s in te_series):
        raise DatasetError(f"{train_path}: cases have different numbers of channels")
    if c_train != c_test:
        raise DatasetError(f"{test_path}: has {c_test} channels but {train_path} has {c_train}")
    classes = tuple(sorted(set(tr_labels), key=_natural_key))
    unknown = sorted(set(te_labels) - set(classes), key=_natural_key)
    if unknown:
        raise DatasetError(f"{test_path}: labels {unknown[:5]} do not occur in {train_path}")
    index = {c: i for i, c in enumerate(classes)}

    stacked = np.concatenate(tr_series, axis=0)
    stats: dict[str, Any] = {"normalize": normalize, "downsample": downsample}
    if normalize == "standard":
        mean, std = stacked.mean(axis=0), stacked.std(axis=0)
        std = np.where(std > 1e-12, std, 1.0)
        stats.update(mean=mean.tolist(), std=std.tolist())
        tr_series = [(s - mean) / std for s in tr_series]
        te_series = [(s - mean) / std for s in te_series]
    elif normalize == "minmax":
        lo, hi = stacked.min(axis=0), stacked.max(axis=0)
        span = np.where(hi - lo > 1e-12, hi - lo, 1.0)
        stats.update(min=lo.tolist(), max=hi.tolist())
        tr_series = [(s - lo) / span for s in tr_series]
        te_series = [(s - lo) / span for s in te_series]
    elif normalize == "instance":
        tr_series = [instance_normalize(s) for s in tr_series]
        te_series = [instance_normalize(s) for s in te_series]

    steps = max(s.shape[0] for s in tr_series + te_series)
    enc = _resolve_encoder(encoder, "series", None)
    name = name or re.sub(r"_TRAIN$", "", train_path.stem, flags=re.IGNORECASE)
    meta = {
        "source": "ucr/uea archive file",
        "train_file": str(train_path),
        "test_file": str(test_path),
        "channels": c_train,
        "max_length": steps,
        "min_length": min(s.shape[0] for s in tr_series + te_series),
        **stats,
    }

    def split(series: list[np.ndarray], labels: list[str], which: str) -> Split:
        return Split(
            x=_pad(series, steps),
            y=torch.tensor([index[v] for v in labels], dtype=torch.long),
            lengths=torch.tensor([s.shape[0] for s in series], dtype=torch.long),
            classes=classes,
            kind="series",
            encoder=enc,
            name=which,
            meta=meta,
        )

    return SpikeDataset(name, split(tr_series, tr_labels, "train"), split(te_series, te_labels, "test"), meta=meta)


def load_japanese_vowels(*, encoder: EncoderSpec = "default", normalize: str = "standard") -> SpikeDataset:
    """JapaneseVowels (UEA), from the files the ``aeon`` package ships: 270 train / 370 test utterances,
    12 LPC cepstral coefficients per frame, 7 to 29 frames, 9 speakers (classes)."""
    train, test = find_archive_files("JapaneseVowels")
    return load_timeseries(train, test, encoder=encoder, normalize=normalize, name="JapaneseVowels")


# --------------------------------------------------------------------------------------------------
# scikit-learn digits
# --------------------------------------------------------------------------------------------------


def load_digits(
    *, encoder: EncoderSpec = "default", steps: int | None = None, test_fraction: float = 0.25, seed: int = 0
) -> SpikeDataset:
    """scikit-learn's 8x8 digits (1797 images, shipped with scikit-learn), pixels scaled to [0, 1] and
    flattened to 64 features; a stratified train/test split fixed by ``seed``. Rate coded by default
    (``steps`` steps, 25 unless given); ``encoder="latency"`` gives a time-to-first-spike code."""
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"load_digits: test_fraction must lie in (0, 1); got {test_fraction!r}")
    from sklearn.datasets import load_digits as _sk_digits
    from sklearn.model_selection import train_test_split

    bunch = _sk_digits()
    x = torch.tensor(bunch.data / 16.0, dtype=torch.float32)
    y = torch.tensor(bunch.target, dtype=torch.long)
    tr_idx, te_idx = train_test_split(
        np.arange(len(y)), test_size=test_fraction, random_state=seed, stratify=bunch.target
    )
    enc = _resolve_encoder(encoder, "static", steps)
    if enc is None:
        detail = "the digits are images: they need an encoder to become spikes (rate, latency or current), got none"
        raise about("encoder", ValueError(f"load_digits: encoder: {detail}"), detail)
    t = int(getattr(enc, "steps", None) or 1)
    classes = tuple(str(c) for c in range(10))
    meta = {
        "source": "sklearn.datasets.load_digits",
        "image_shape": [8, 8],
        "seed": seed,
        "test_fraction": test_fraction,
        "scale": "pixel / 16",
    }

    def split(idx: np.ndarray, which: str) -> Split:
        index = torch.from_numpy(np.sort(idx))
        return Split(
            x[index],
            y[index],
            torch.full((len(index),), t, dtype=torch.long),
            classes,
            "static",
            enc,
            which,
            meta,
        )

    return SpikeDataset("digits", split(tr_idx, "train"), split(te_idx, "test"), meta=meta)


# --------------------------------------------------------------------------------------------------
# SHD / SSC (Spiking Heidelberg Digits, Spiking Speech Commands) HDF5 files
# --------------------------------------------------------------------------------------------------

_SHD_LAYOUT = "HDF5 with datasets 'spikes/times' (seconds), 'spikes/units' (channel ids) and 'labels'"


def _open_h5(path: Path) -> Any:
    import h5py

    if not path.is_file():
        raise DatasetNotFoundError(
            f"{path}: file not found (expected an SHD/SSC {_SHD_LAYOUT}; download from {SHD_URL})"
        )
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise DatasetError(f"{path}: not a readable HDF5 file (truncated or corrupt?): {exc}") from exc


def _shd_arrays(path: Path) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray, list[str] | None]:
    import h5py

    f = _open_h5(path)
    try:
        with f:
            missing = [k for k in ("spikes/times", "spikes/units", "labels") if k not in f]
            if missing:
                raise DatasetError(
                    f"{path}: wrong layout, missing {missing}; expected {_SHD_LAYOUT}; found top-level keys "
                    f"{sorted(f.keys())}"
                )
            times, units, labels = f["spikes/times"], f["spikes/units"], f["labels"]
            for key, ds in (("spikes/times", times), ("spikes/units", units), ("labels", labels)):
                if not isinstance(ds, h5py.Dataset) or ds.ndim != 1:
                    raise DatasetError(f"{path}: '{key}' must be a 1-D dataset (one entry per sample)")
            n = labels.shape[0]
            if times.shape[0] != n or units.shape[0] != n:
                raise DatasetError(
                    f"{path}: 'spikes/times', 'spikes/units' and 'labels' must have one entry per sample; "
                    "got "
                    f"{times.shape[0]}, {units.shape[0]} and {n}"
                )
            t_all = [np.asarray(v, dtype=np.float64).reshape(-1) for v in times[:]]
            u_all = [np.asarray(v).reshape(-1) for v in units[:]]
            lab = np.asarray(labels[:])
            keys = None
            if "extra/keys" in f:
                keys = [k.decode() if isinstance(k, bytes) else str(k) for k in f["extra/keys"][:]]
    except DatasetError:
        raise
    except (OSError, KeyError, ValueError, TypeError, RuntimeError) as exc:
        raise DatasetError(f"{path}: cannot read the SHD layout ({_SHD_LAYOUT}): {exc}") from exc
    if lab.dtype.kind not in "iu":
        raise DatasetError(f"{path}: 'labels' must hold integer class ids; got dtype {lab.dtype}")
    return t_all, u_all, lab.astype(np.int64), keys


def read_shd(
    path: str | Path,
    *,
    steps: int = DEFAULT_SPIKE_STEPS,
    duration: float | None = None,
    channels: int = 700,
    binary: bool = True,
    classes: Sequence[str] | None = None,
    name: str = "",
) -> Split:
    """Read one SHD/SSC HDF5 file into a :class:`Split` of binned spikes ``[N, T=steps, C=channels]``.

    Spike times (seconds) in ``[0, duration)`` are binned into ``steps`` equal bins (later spikes are
    dropped; ``duration`` defaults to this file's last spike time). ``binary=True`` keeps at most one spike
    per bin and channel, else bins hold counts. Raises :class:`DatasetError` naming the file if it is
    missing, not HDF5, or not in the SHD layout.
    """
    path = Path(path)
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise about("steps", ValueError(f"read_shd: steps must be an int >= 1; got {steps!r}"),
                    f"expected an integer >= 1, got {steps!r}")
    t_all, u_all, labels, keys = _shd_arrays(path)
    n = len(labels)
    for i, (t, u) in enumerate(zip(t_all, u_all)):
        if t.shape != u.shape:
            raise DatasetError(f"{path}: sample {i}: {t.size} spike times but {u.size} units")
    sizes = np.array([t.size for t in t_all], dtype=np.int64)
    t_cat = np.concatenate(t_all) if n else np.zeros(0)
    u_cat = np.concatenate(u_all) if n else np.zeros(0, dtype=np.int64)
    if t_cat.size and (not np.isfinite(t_cat).all() or t_cat.min() < 0):
        raise DatasetError(f"{path}: 'spikes/times' must be finite, non-negative times in seconds")
    if u_cat.size and (u_cat.dtype.kind not in "iu" or u_cat.min() < 0 or u_cat.max() >= channels):
        raise DatasetError(
            f"{path}: 'spikes/units' must be integer channel ids in [0, {channels}); "
            f"got dtype {u_cat.dtype}, "
            f"range [{u_cat.min()}, {u_cat.max()}] (pass channels=... for another sensor)"
        )
    if duration is None:
        duration = float(t_cat.max()) * (1 + 1e-9) if t_cat.size else 1.0
        duration = duration if duration > 0 else 1.0
    if not duration > 0:
        raise ValueError(f"read_shd: duration must be > 0 seconds; got {duration!r}")
    sample = np.repeat(np.arange(n, dtype=np.int64), sizes)
    bins = np.floor(t_cat / duration * steps).astype(np.int64)
    keep = bins < steps
    key = (sample[keep] * steps + bins[keep]) * channels + u_cat[keep].astype(np.int64)
    uniq, counts = np.unique(key, return_counts=True)
    s_of = uniq // (steps * channels)
    offsets = np.searchsorted(s_of, np.arange(n + 1), side="left")
    events = EventTensor(
        offsets=torch.from_numpy(offsets.astype(np.int64)),
        steps_idx=torch.from_numpy(((uniq // channels) % steps).astype(np.int32)),
        units=torch.from_numpy((uniq % channels).astype(np.int32)),
        counts=torch.ones(len(uniq)) if binary else torch.from_numpy(counts.astype(np.float32)),
        steps=steps,
        channels=channels,
    )
    if classes is None:
        count = max(int(labels.max()) + 1 if n else 0, len(keys or []))
        classes = keys if keys is not None and len(keys) >= count else [str(i) for i in range(count)]
    if n and labels.max() >= len(classes):
        raise DatasetError(f"{path}: label {int(labels.max())} but only {len(classes)} classes")
    meta = {
        "file": str(path),
        "duration_s": duration,
        "dt_s": duration / steps,
        "binary": binary,
        "spikes_dropped_after_duration": int((~keep).sum()),
    }
    return Split(
        events,
        torch.from_numpy(labels),
        torch.full((n,), steps, dtype=torch.long),
        tuple(classes),
        "spikes",
        None,
        name,
        meta,
    )


def _shd_files(path: Path) -> dict[str, Path]:
    if path.is_dir():
        found: dict[str, Path] = {}
        for which in ("train", "test", "valid"):
            hits = sorted(p for p in path.glob("*.h5") if which in p.stem.lower())
            if len(hits) > 1:
                raise DatasetError(f"{path}: several '{which}' HDF5 files {[h.name for h in hits]}; pass one file")
            if hits:
                found[which] = hits[0]
        if "train" not in found or "test" not in found:
            raise DatasetNotFoundError(
                f"{path}: expected shd_train.h5 and shd_test.h5 (or ssc_*) in this folder; found "
                f"{sorted(p.name for p in path.glob('*.h5')) or 'no .h5 files'}. Download from {SHD_URL}"
            )
        return found
    if not path.exists():
        raise DatasetNotFoundError(
            f"{path}: file not found (expected an SHD/SSC {_SHD_LAYOUT}; download from {SHD_URL})"
        )
    found = {"train": path}
    test = _sibling(path, "TRAIN", "TEST")
    if test is None or not test.is_file():
        raise DatasetNotFoundError(
            f"{path}: cannot find the matching test file (expected "
            f"{test.name if test else '*_test.h5'} beside it); pass a folder holding *_train.h5 and *_test.h5"
        )
    found["test"] = test
    valid = _sibling(path, "TRAIN", "VALID")
    if valid is not None and valid.is_file():
        found["valid"] = valid
    return found


def load_shd(
    path: str | Path,
    *,
    steps: int = DEFAULT_SPIKE_STEPS,
    duration: float | None = None,
    channels: int = 700,
    binary: bool = True,
    encoder: EncoderSpec = None,
) -> SpikeDataset:
    """Spiking Heidelberg Digits / Spiking Speech Commands from local HDF5 files (download them from
    https://zenkelab.org/resources/spiking-heidelberg-datasets-shd/).

    ``path``: a folder with ``*_train.h5`` and ``*_test.h5`` (and ``*_valid.h5`` for SSC), or the train
    file (its ``_test`` sibling is used). Spikes are binned to ``steps`` bins over ``duration`` seconds
    (default: the training file's last spike time, also used for the other splits).
    """
    files = _shd_files(Path(path))
    train = read_shd(files["train"], steps=steps, duration=duration, channels=channels, binary=binary, name="train")
    duration = float(train.meta["duration_s"])
    others = {
        which: read_shd(
            f,
            steps=steps,
            duration=duration,
            channels=channels,
            binary=binary,
            classes=train.classes,
            name=which,
        )
        for which, f in files.items()
        if which != "train"
    }
    enc = _resolve_encoder(encoder, "spikes", steps)
    if enc is not None:
        train = train.with_encoder(enc)
        others = {k: v.with_encoder(enc) for k, v in others.items()}
    stem = files["train"].stem.lower()
    name = "SSC" if stem.startswith("ssc") else "SHD" if stem.startswith("shd") else files["train"].stem
    meta = {
        "source": "hdf5 spikes",
        "files": {k: str(v) for k, v in files.items()},
        "steps": steps,
        "duration_s": duration,
        "channels": channels,
        "binary": binary,
    }
    return SpikeDataset(name, train, others["test"], others.get("valid"), meta)


# --------------------------------------------------------------------------------------------------
# Event cameras through tonic (optional)
# --------------------------------------------------------------------------------------------------


def load_tonic(
    name: str, data_dir: str | Path, *, steps: int = 30, binary: bool = True, max_samples: int | None = None
) -> SpikeDataset:
    """An event-camera (or other event) data set of ``tonic`` (optional dependency), already on disk
    under ``data_dir`` (tonic's ``save_to``): events binned into ``steps`` frames with tonic's
    ``ToFrame`` and flattened to ``[T, B, P*H*W]``. Nothing is downloaded: a missing folder is an error.
    """
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            import tonic
            import tonic.transforms
    except ImportError as exc:
        raise DatasetError(
            f"dataset 'tonic:{name}' needs the optional package 'tonic' (pip install tonic): {exc}"
        ) from exc
    cls = getattr(tonic.datasets, name, None)
    if cls is None or not isinstance(cls, type):
        avail = sorted(n for n in dir(tonic.datasets) if not n.startswith("_") and n[0].isupper())
        raise DatasetError(f"dataset 'tonic:{name}': tonic has no such data set; it has {avail}")
    root = Path(data_dir)
    folder = root / cls.__name__
    if not folder.is_dir() or not any(folder.iterdir()):
        raise DatasetNotFoundError(
            f"dataset 'tonic:{name}': {folder} not found or empty. Nothing is downloaded here: fetch it once "
            f"with tonic.datasets.{cls.__name__}(save_to={str(root)!r}) on a machine with internet"
        )
    sensor = tuple(int(v) for v in cls.sensor_size)
    width = int(np.prod(sensor))
    to_frame = tonic.transforms.ToFrame(sensor_size=sensor, n_time_bins=steps)
    params = inspect.signature(cls.__init__).parameters
    parts: dict[str, tuple[EventTensor, list[int]]] = {}
    names: Any = None
    for which in ("train", "test"):
        kwargs: dict[str, Any] = {"train": which == "train"} if "train" in params else {"split": which}
        try:
            ds = cls(save_to=str(root), **kwargs)
        except Exception as exc:
            raise DatasetError(f"dataset 'tonic:{name}' in {folder}: tonic could not open it: {exc}") from exc
        names = names if names is not None else getattr(ds, "classes", None)
        count = len(ds) if max_samples is None else min(len(ds), max_samples)
        offsets, t_idx, u_idx, vals, labels = [0], [np.zeros(0)], [np.zeros(0)], [np.zeros(0)], []
        for i in range(count):
            events, label = ds[i]
            if len(events):
                frames = np.asarray(to_frame(events), dtype=np.float32).reshape(-1, width)[:steps]
            else:
                frames = np.zeros((steps, width), dtype=np.float32)
            t, u = np.nonzero(frames)
            t_idx.append(t)
            u_idx.append(u)
            vals.append(np.ones(len(t), np.float32) if binary else frames[t, u])
            offsets.append(offsets[-1] + len(t))
            labels.append(int(label))
        ev = EventTensor(
            torch.tensor(offsets, dtype=torch.long),
            torch.from_numpy(np.concatenate(t_idx).astype(np.int32)),
            torch.from_numpy(np.concatenate(u_idx).astype(np.int32)),
            torch.from_numpy(np.concatenate(vals).astype(np.float32)),
            steps,
            width,
        )
        parts[which] = (ev, labels)
    n_cls = max([*parts["train"][1], *parts["test"][1]], default=-1) + 1
    if names is not None and len(names) >= n_cls:
        classes = tuple(c.decode() if isinstance(c, bytes) else str(c) for c in names)
    else:
        classes = tuple(str(i) for i in range(n_cls))
    splits = {
        which: Split(
            ev,
            torch.tensor(labels, dtype=torch.long),
            torch.full((len(labels),), steps, dtype=torch.long),
            classes,
            "spikes",
            None,
            which,
            {"sensor_size": list(sensor)},
        )
        for which, (ev, labels) in parts.items()
    }
    meta = {"source": "tonic", "folder": str(folder), "sensor_size": list(sensor), "steps": steps}
    return SpikeDataset(f"tonic:{cls.__name__}", splits["train"], splits["test"], meta=meta)


# --------------------------------------------------------------------------------------------------
# One entry point
# --------------------------------------------------------------------------------------------------

_JV_ALIASES = {"", "default", "japanesevowels", "japanese_vowels", "japanese-vowels", "jv"}
_DIGITS_ALIASES = {"digits", "sklearn:digits", "load_digits"}
_ARCHIVE_PREFIXES = ("ucr:", "uea:", "aeon:")
_H5_SUFFIXES = (".h5", ".hdf5")


def load_dataset(
    name_or_path: str | Path | None = None,
    *,
    encoder: EncoderSpec = "default",
    steps: int | None = None,
    normalize: str = "standard",
    seed: int = 0,
    data_dir: str | Path | None = None,
    downsample: int = 1,
    **options: Any,
) -> SpikeDataset:
    """Load a data set by name or path, ready for :func:`~spikeforge.data.batches`.

    ``name_or_path``:

    * ``None`` / ``"JapaneseVowels"`` / ``"uea:JapaneseVowels"`` — the default (files shipped with aeon);
    * ``"ucr:NAME"``, ``"uea:NAME"``, ``"aeon:NAME"`` or a bare shipped name — a UCR/UEA problem shipped with
      aeon, or found in ``data_dir`` (``data_dir/NAME/NAME_TRAIN.ts``);
    * ``"path/to/NAME_TRAIN.ts"`` (or ``.arff``; the ``_TEST`` sibling is used), or a folder holding them;
    * ``"digits"`` — scikit-learn's 8x8 digits (``seed`` fixes the split; ``steps`` the code length, 25);
    * ``"shd:PATH"``, ``"ssc:PATH"``, or a ``.h5`` path / folder — SHD/SSC spikes binned to ``steps`` (100);
    * ``"tonic:NAME"`` — a tonic data set stored under ``data_dir`` (needs tonic);
    * ``"adding:T"`` — the adding problem of length ``T`` (:mod:`spikeforge.data.adding`; a regression set
      generated from ``seed``; options ``train_size``, ``test_size``).

    ``encoder``: ``"default"`` (delta for series, rate for images, none for spikes), ``None`` (raw values),
    a name (``"delta"``, ``"rate"``, ``"latency"``, ``"current"``), a mapping ``{"name": ..., **params}``
    or an encoder instance. ``steps`` sets T for digits, spike and tonic sets (series keep their own length:
    passing it there is an error); ``downsample`` averages each that many steps of a time series into one
    (:func:`load_timeseries`; other kinds of data take only 1). Extra ``options`` go to the specific loader (e.g.
    ``duration``, ``binary``,
    ``test_fraction``). Errors name the file or data set and what is wrong.
    """
    if name_or_path is None:
        name_or_path = DEFAULT_DATASET
    if not isinstance(name_or_path, (str, Path)):
        raise TypeError(f"load_dataset: name_or_path must be a str or Path; got {type(name_or_path).__name__}")
    text = str(name_or_path).strip()
    low = text.lower()
    prefix, _, rest = text.partition(":")
    plow = prefix.lower()
    _check_downsample(downsample, "load_dataset: downsample")

    if plow in ("shd", "ssc"):
        _series_only(downsample, text)
        return load_shd(rest, steps=steps or DEFAULT_SPIKE_STEPS, encoder=encoder, **options)
    if plow == "tonic":
        _series_only(downsample, text)
        if data_dir is None:
            raise DatasetError(f"dataset {text!r}: pass data_dir= the folder that tonic saved the data set to")
        return load_tonic(rest, data_dir, steps=steps or 30, **options)
    if low in _DIGITS_ALIASES:
        _series_only(downsample, text)
        return load_digits(encoder=encoder, steps=steps, seed=seed, **options)
    if plow == "adding":
        _series_only(downsample, text)
        return _load_adding(text, rest, encoder, steps, seed, options)
    path = Path(text).expanduser()
    if path.suffix.lower() in _H5_SUFFIXES or (path.is_dir() and any(path.glob("*.h5"))):
        _series_only(downsample, text)
        return load_shd(path, steps=steps or DEFAULT_SPIKE_STEPS, encoder=encoder, **options)
    _no_options(options, text)
    if steps is not None:
        message = (f"load_dataset: steps={steps!r} applies to digits, SHD/SSC and tonic sets; the time series "
                   f"{text!r} keeps its own length (pass steps=None)")
        detail = (f"applies to digits, SHD/SSC and tonic sets only; the time series {text!r} keeps its own length "
                  f"(leave the option out), got {steps!r}")
        raise about("steps", ValueError(message), detail)

    archive = _archive_name(text)
    if archive is not None:
        train, test = find_archive_files(archive, data_dir)
        return load_timeseries(train, test, encoder=encoder, normalize=normalize, name=archive, downsample=downsample)

    if path.suffix.lower() in (".ts", ".arff"):
        return load_timeseries(path, encoder=encoder, normalize=normalize, downsample=downsample)
    if path.is_dir():
        trains = sorted(path.glob("*_TRAIN.ts")) or sorted(path.glob("*_TRAIN.arff"))
        if len(trains) != 1:
            found = [p.name for p in trains] or "none"
            raise DatasetNotFoundError(
                f"{path}: expected one NAME_TRAIN.ts (or .arff) file with its NAME_TEST sibling in this folder, "
                f"or shd/ssc *_train.h5 files; found {found}"
            )
        return load_timeseries(trains[0], encoder=encoder, normalize=normalize, downsample=downsample)
    if path.exists():
        raise DatasetError(f"{path}: unknown file type {path.suffix!r}; expected .ts, .arff, .h5 or .hdf5")
    detail = (
        f"{text!r}: no such file or folder, and not a known name. Known: 'JapaneseVowels' (default), "
        f"'digits', 'ucr:NAME'/'uea:NAME' with NAME in {shipped_datasets()} (or under data_dir), "
        "'path/NAME_TRAIN.ts', 'shd:PATH', 'ssc:PATH', 'tonic:NAME', 'adding:T'"
    )
    raise about("dataset", DatasetNotFoundError(f"dataset {detail}"), detail)


def _load_adding(text: str, rest: str, encoder: EncoderSpec, steps: int | None, seed: int,
                 options: Mapping[str, Any]) -> SpikeDataset:
    """``adding:T``: the adding problem; raw inputs unless an encoder is named."""
    from spikeforge.data.adding import load_adding

    if not re.fullmatch(r"\d+", rest.strip()) or int(rest) < 2:
        detail = f"expected 'adding:T' with T an integer >= 2 (the sequence length), got {text!r}"
        raise about("dataset", DatasetError(f"dataset {detail}"), detail)
    length = int(rest)
    if steps is not None and steps != length:
        detail = f"the adding problem's length is given in its name ({text!r}); leave steps out, got {steps!r}"
        raise about("steps", ValueError(f"load_dataset: steps: {detail}"), detail)
    unknown = sorted(set(options) - {"train_size", "test_size"})
    if unknown:
        raise TypeError(f"load_dataset: options {unknown} are not used by dataset {text!r} (it takes train_size, "
                        "test_size)")
    enc = None if isinstance(encoder, str) and encoder.strip().lower() == "default" else \
        _resolve_encoder(encoder, "series", None)
    return load_adding(length, seed=seed, encoder=enc, **options)


def _series_only(downsample: int, text: str) -> None:
    """Refuse a ``downsample`` other than 1 for the data set ``text``, which is not a time series."""
    if downsample != 1:
        detail = f"averages steps of UCR/UEA time series only; the data set {text!r} is not one, got {downsample!r}"
        raise about("downsample", ValueError(f"load_dataset: downsample {detail}"), detail)


def _archive_name(text: str) -> str | None:
    """The UCR/UEA problem that ``load_dataset(text)`` loads by name (``ucr:``/``uea:``/``aeon:`` stripped, the
    aliases of the default giving ``"JapaneseVowels"``), or None when ``text`` is a path or no such name."""
    low = text.lower()
    if any(low.startswith(p) for p in _ARCHIVE_PREFIXES):
        archive = text.partition(":")[2]
    elif not _looks_like_path(text) and (low in _JV_ALIASES or text in shipped_datasets()):
        archive = text
    else:
        return None
    return "JapaneseVowels" if archive.lower() in _JV_ALIASES else archive


def is_default_dataset(name: str | Path | None) -> bool:
    """Whether ``load_dataset(name)`` loads the default data set, JapaneseVowels (shipped with aeon), by name."""
    return name is None or _archive_name(str(name).strip()) == "JapaneseVowels"


def _looks_like_path(text: str) -> bool:
    return "/" in text or "\\" in text or text.lower().endswith((".ts", ".arff", *_H5_SUFFIXES))


def _no_options(options: Mapping[str, Any], text: str) -> None:
    if options:
        raise TypeError(f"load_dataset: options {sorted(options)} are not used by dataset {text!r}")

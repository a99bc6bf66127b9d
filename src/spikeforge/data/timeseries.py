"""Readers for the UCR/UEA time-series classification archive formats (``.ts`` and ``.arff``).

``.ts`` files are parsed here (a few milliseconds for JapaneseVowels, no aeon import needed); ``.arff``
files and ``.ts`` files with time stamps go through aeon's readers. The files that the ``aeon`` package
ships are found inside the installed package; nothing is downloaded.
"""

from __future__ import annotations

import importlib.util
import math
import warnings
from pathlib import Path

import numpy as np

from spikeforge.data.errors import DatasetError, DatasetNotFoundError

__all__ = [
    "aeon_data_dir",
    "find_archive_files",
    "read_arff",
    "read_series_file",
    "read_ts",
    "shipped_datasets",
]

Series = list[np.ndarray]  # one float64 array [L_i, C] per case


def aeon_data_dir() -> Path | None:
    """The folder of data sets shipped inside the installed ``aeon`` package (not imported), or None."""
    spec = importlib.util.find_spec("aeon")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"
    return path if path.is_dir() else None


def shipped_datasets() -> list[str]:
    """Names of the classification problems shipped with aeon (``NAME_TRAIN`` and ``NAME_TEST`` files)."""
    root = aeon_data_dir()
    if root is None:
        return []
    names = []
    for d in sorted(root.iterdir()):
        if not d.is_dir():
            continue
        for ext in (".ts", ".arff"):
            if (d / f"{d.name}_TRAIN{ext}").is_file() and (d / f"{d.name}_TEST{ext}").is_file():
                names.append(d.name)
                break
    return names


def find_archive_files(name: str, data_dir: str | Path | None = None) -> tuple[Path, Path]:
    """Locate ``NAME_TRAIN`` / ``NAME_TEST`` (``.ts`` preferred, else ``.arff``) in ``data_dir/NAME/``,
    ``data_dir/``, then among the files aeon ships."""
    roots: list[Path] = []
    if data_dir is not None:
        data_dir = Path(data_dir)
        roots += [data_dir / name, data_dir]
    shipped_root = aeon_data_dir()
    if shipped_root is not None:
        roots.append(shipped_root / name)
    for root in roots:
        for ext in (".ts", ".arff"):
            train, test = root / f"{name}_TRAIN{ext}", root / f"{name}_TEST{ext}"
            if train.is_file() and test.is_file():
                return train, test
    where = "among the data sets aeon ships" if data_dir is None else f"in {data_dir}, {data_dir}/{name} or aeon's data"
    hint = f" (shipped: {', '.join(shipped_datasets()) or 'none; is aeon installed?'})"
    raise DatasetNotFoundError(
        f"dataset {name!r}: no {name}_TRAIN.ts/{name}_TEST.ts (or .arff) found {where}{hint}. Nothing is "
        "downloaded: get the archive from timeseriesclassification.com and pass the path of NAME_TRAIN.ts "
        "or data_dir=FOLDER."
    )


def _parse_values(text: str, path: Path, lineno: int) -> list[float]:
    out = []
    for tok in text.split(","):
        tok = tok.strip()
        if tok in ("?", "") or tok.lower() == "nan":
            out.append(math.nan)
            continue
        try:
            out.append(float(tok))
        except ValueError:
            raise DatasetError(f"{path}: line {lineno}: expected comma-separated numbers, got {tok[:40]!r}") from None
    return out


def read_ts(path: str | Path) -> tuple[Series, list[str], dict[str, object]]:
    """Read a ``.ts`` classification file: ``(series, labels, header)``.

    ``series`` is a list of float arrays ``[L_i, C]`` (time, channels); ``labels`` the class label strings;
    ``header`` the ``@`` tags (lower-case keys). Raises :class:`DatasetError` naming the file and line.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetNotFoundError(f"{path}: file not found (expected a .ts time-series file)")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read as a UTF-8 .ts text file ({exc})") from exc
    header: dict[str, object] = {}
    lines = text.splitlines()
    start = None
    for i, raw in enumerate(lines):
        line = raw.strip()
        if not line or line.startswith(("#", "%")):  # aeon's UnitTest files open with '%' comment lines
            continue
        if not line.startswith("@"):
            raise DatasetError(
                f"{path}: line {i + 1}: expected a '@tag' header line or '@data' before the data; "
                f"got {line[:60]!r}. Is this a .ts file?"
            )
        tokens = line.split()
        key = tokens[0][1:].lower()
        if key == "data":
            start = i + 1
            break
        header[key] = tokens[1:]
    if start is None:
        raise DatasetError(f"{path}: no '@data' line; not a .ts time-series file (header tags: {sorted(header)})")
    if _flag(header, "timestamps"):
        return _read_with_aeon(path, "ts")
    class_tag = header.get("classlabel")
    if not class_tag or str(class_tag[0]).lower() != "true":
        raise DatasetError(
            f"{path}: header has no '@classLabel true ...'; expected a classification problem "
            f"(got @classLabel {' '.join(map(str, class_tag or [])) or 'missing'})"
        )
    series: Series = []
    labels: list[str] = []
    channels = None
    for i in range(start, len(lines)):
        line = lines[i].strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(":")
        if len(parts) < 2:
            raise DatasetError(
                f"{path}: line {i + 1}: expected 'v,v,...[:v,v,...]:label' (channels separated by ':', "
                f"class label last); got {line[:60]!r}"
            )
        if channels is None:
            channels = len(parts) - 1
        elif len(parts) - 1 != channels:
            raise DatasetError(f"{path}: line {i + 1}: {len(parts) - 1} channels, but earlier cases have {channels}")
        values = [_parse_values(p, path, i + 1) for p in parts[:-1]]
        length = len(values[0])
        if any(len(v) != length for v in values):
            raise DatasetError(
                f"{path}: line {i + 1}: channels of one case have different lengths {sorted({len(v) for v in values})}"
            )
        series.append(np.asarray(values, dtype=np.float64).T)
        labels.append(parts[-1].strip())
    if not series:
        raise DatasetError(f"{path}: no cases after '@data'")
    return series, labels, header


def _flag(header: dict[str, object], key: str) -> bool:
    value = header.get(key)
    return bool(value) and str(value[0]).lower() == "true"  # type: ignore[index]


def _read_with_aeon(path: Path, kind: str) -> tuple[Series, list[str], dict[str, object]]:
    try:
        with warnings.catch_warnings():
            # aeon pulls in numba, which may warn about its own deprecations at import.
            warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"(numba|aeon)(\.|$)")
            from aeon.datasets import load_from_arff_file, load_from_ts_file
    except ImportError as exc:
        raise DatasetError(f"{path}: reading .{kind} files of this kind needs the 'aeon' package ({exc})") from exc
    try:
        if kind == "arff":
            data, y = load_from_arff_file(str(path))
        else:
            data, y = load_from_ts_file(str(path))
    except (OSError, ValueError, IndexError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: not a valid .{kind} classification file ({exc})") from exc
    if len(data) == 0:
        raise DatasetError(f"{path}: no cases found; not a valid .{kind} classification file")
    series = [np.asarray(case, dtype=np.float64).T for case in data]  # aeon: [C, L] per case
    if any(s.ndim != 2 for s in series) or len(y) != len(series):
        raise DatasetError(f"{path}: unexpected layout from the .{kind} reader")
    return series, [str(v).strip() for v in y], {}


def read_arff(path: str | Path) -> tuple[Series, list[str], dict[str, object]]:
    """Read a WEKA ``.arff`` classification file (uni- or multivariate) through aeon's reader."""
    path = Path(path)
    if not path.is_file():
        raise DatasetNotFoundError(f"{path}: file not found (expected an .arff time-series file)")
    try:
        head = path.read_text(encoding="utf-8", errors="strict")[:100_000].lower()
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read as a UTF-8 .arff text file ({exc})") from exc
    if "@data" not in head or "@attribute" not in head:
        raise DatasetError(f"{path}: no '@attribute'/'@data' sections; not an .arff file")
    return _read_with_aeon(path, "arff")


def read_series_file(path: str | Path) -> tuple[Series, list[str], dict[str, object]]:
    """Read a ``.ts`` or ``.arff`` file by its extension; clean missing values (see :func:`fill_missing`)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".ts":
        series, labels, header = read_ts(path)
    elif suffix == ".arff":
        series, labels, header = read_arff(path)
    else:
        raise DatasetError(f"{path}: unknown time-series file type {suffix!r}; expected .ts or .arff")
    return [fill_missing(s) for s in series], labels, header


def fill_missing(case: np.ndarray) -> np.ndarray:
    """Drop trailing all-missing steps (padding of unequal lengths), then fill gaps forward, then with 0."""
    finite = np.isfinite(case)
    keep = np.nonzero(finite.any(axis=1))[0]
    if keep.size == 0:
        return np.zeros((1, case.shape[1]))
    case = case[: keep[-1] + 1].copy()
    if not np.isfinite(case).all():
        for c in range(case.shape[1]):
            col = case[:, c]
            last = 0.0
            for t in range(col.shape[0]):
                if np.isfinite(col[t]):
                    last = col[t]
                else:
                    col[t] = last
    return case

"""Typed catalogs of neuromorphic chips, GPUs/accelerators/Green500 systems and the human brain.

The data are package files in :mod:`spikeforge.hardware.data` (loaded with :mod:`importlib.resources`):

* ``neuromorphic_platforms.csv`` -- the table of 15 neuromorphic chips "that went public in the last
  decade" published in the essay "Spikes are the next digits" (Digica), :data:`TABLE_SOURCE`. Its values
  *are* the catalog's values (release date, process, neurons, synapses, J/SOP, ...).
* ``neuromorphic.csv`` -- a year checked against the chips' papers and announcements, its basis and
  sources, for the same 15 chips. Where a source disagrees with the table (release year, J/SOP) the
  disagreement is stated in :attr:`Platform.disagreements`; the table's value is kept.
* ``accelerators.csv`` -- 145 GPUs, TPUs and Green500 #1 systems with peak (or measured) efficiency.
* ``human_brain.csv`` -- low/central/high estimates of the brain's synaptic-operation efficiency.

``SOURCES.md`` (same folder) describes every source. Every record is a frozen dataclass;
:meth:`Platform.to_row` / :meth:`Accelerator.to_row` / :meth:`BrainQuantity.to_row` format a record back
into the exact CSV strings it was parsed from, which the tests use to show that parsing loses nothing.
"""

from __future__ import annotations

import csv
import datetime as _dt
import functools
import io
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources

__all__ = [
    "ACCELERATOR_COLUMNS",
    "BRAIN_COLUMNS",
    "PLATFORM_COLUMNS",
    "TABLE_SOURCE",
    "Accelerator",
    "BrainQuantity",
    "HumanBrain",
    "Platform",
    "accelerator",
    "accelerators",
    "human_brain",
    "normalize_name",
    "platform",
    "platforms",
    "read_data_text",
]

PLATFORM_COLUMNS: tuple[str, ...] = (
    "platform",
    "developer",
    "release",
    "process_nm",
    "neurons",
    "neuron_type",
    "synapses",
    "synapse_type",
    "on_device_training",
    "freq_mhz",
    "j_per_sop",
    "w_per_synapse",
    "library",
)
ACCELERATOR_COLUMNS: tuple[str, ...] = (
    "name",
    "vendor",
    "family",
    "release_date",
    "process_nm",
    "fp32_tflops",
    "tdp_w",
    "precision",
    "peak_tflops",
    "gflops_per_w",
    "efficiency_basis",
    "source",
    "notes",
)
BRAIN_COLUMNS: tuple[str, ...] = ("quantity", "low", "central", "high", "unit", "source", "notes")

#: The published source of every value of ``neuromorphic_platforms.csv``.
TABLE_SOURCE = 'the table of neuromorphic platforms in the essay "Spikes are the next digits" (Digica)'
#: Its short name in notes and tables.
TABLE = "the Digica table"

# Values of the table's ``on_device_training`` column that mean "any rule, the cores are programmable".
# "yes" appears only for SpiNNaker-1/2, whose neurons and plasticity run as software on ARM cores.
_PROGRAMMABLE_TRAINING = frozenset({"programmable", "yes"})


# --------------------------------------------------------------------------------------------- helpers
def read_data_text(filename: str) -> str:
    """Text of one package data file (``spikeforge/hardware/data/<filename>``)."""
    return resources.files("spikeforge.hardware").joinpath("data", filename).read_text(encoding="utf-8")


def _read_csv(filename: str, columns: tuple[str, ...]) -> list[dict[str, str]]:
    reader = csv.DictReader(io.StringIO(read_data_text(filename), newline=""))
    if tuple(reader.fieldnames or ()) != columns:
        raise ValueError(f"{filename}: expected columns {list(columns)}, found {reader.fieldnames!r}")
    return list(reader)


def normalize_name(name: str) -> str:
    """Case- and punctuation-insensitive key: ``"Loihi 2"``, ``"loihi-2"`` and ``"LOIHI_2"`` agree."""
    text = str(name).casefold().replace("µ", "u").replace("μ", "u")
    return re.sub(r"[^0-9a-z]+", "", text)


def _opt_float(text: str) -> float | None:
    text = text.strip()
    return None if text == "" else float(text)


def _opt_int_count(text: str) -> int | None:
    """Counts written as ``1.60e4`` are exact integers; keep them as ``int``."""
    value = _opt_float(text)
    if value is None:
        return None
    if value != round(value):
        raise ValueError(f"count must be an integer, got {text!r}")
    return round(value)


def _split_list(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _fmt_sci(value: float | None) -> str:
    """Format like the Digica table: three significant digits, ``1.60e4`` / ``1.13e-8``."""
    if value is None:
        return ""
    exponent = math.floor(math.log10(abs(value)))
    mantissa = value / 10.0**exponent
    if round(mantissa, 2) >= 10.0:  # 9.999e3 rounds to 10.00e3
        exponent += 1
        mantissa = value / 10.0**exponent
    return f"{mantissa:.2f}e{exponent}"


def _fmt_plain(value: float | None) -> str:
    """Shortest round-tripping decimal, without a trailing ``.0`` (``250``, ``0.9072``, ``1432.29``)."""
    if value is None:
        return ""
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def _decimal_year(text: str) -> float:
    """``YYYY-MM-DD`` -> exact; ``YYYY-MM`` -> middle of the month; ``YYYY`` -> middle of the year."""
    parts = text.split("-")
    year = int(parts[0])
    start = _dt.date(year, 1, 1).toordinal()
    days = _dt.date(year + 1, 1, 1).toordinal() - start
    if len(parts) == 1:
        return year + 0.5
    month = int(parts[1])
    if len(parts) == 2:
        first = _dt.date(year, month, 1).toordinal()
        nxt = _dt.date(year + (month == 12), month % 12 + 1, 1).toordinal()
        return year + ((first + nxt) / 2 - start) / days
    day = _dt.date(year, month, int(parts[2])).toordinal()
    return year + (day - start) / days


# --------------------------------------------------------------------------------------------- chips
@dataclass(frozen=True)
class Platform:
    """One neuromorphic chip: the Digica table's columns (:data:`TABLE_SOURCE`), parsed, plus derived
    fields and the checks of ``neuromorphic.csv``.

    Fields mirror ``neuromorphic_platforms.csv``: ``name`` (column ``platform``), ``developer``,
    ``release`` (date), ``process_nm``, ``neurons``, ``neuron_type`` (``"programmable"``, ``"LIF"``,
    ``"exp-LIF"``, ``"AdEx-IF"`` or ``None`` where the table leaves it blank), ``synapses``,
    ``synapse_type`` (tuple), ``on_device_training`` (the raw cell: ``yes``/``no``/``programmable``/a rule
    name), ``freq_mhz`` (``None`` for asynchronous or blank), ``asynchronous``, ``j_per_sop``,
    ``w_per_synapse`` and ``library`` (tuple). ``None`` means the table gives no value.

    From ``neuromorphic.csv``: ``checked_year`` with its ``year_basis`` and ``sources`` (addresses),
    ``year_check`` (how it compares with the table's date), ``disagreements`` (plain statements of where a
    published source gives another value than the table; the table's value is kept), ``remarks``
    (caveats) and ``j_per_sop_check`` (what a chip paper says of the table's J/SOP, where one was checked).
    ``notes`` is ``disagreements + remarks``. :meth:`source_of` names the published source of each value.
    """

    name: str
    developer: str
    release: _dt.date
    process_nm: int
    neurons: int
    neuron_type: str | None
    synapses: int | None
    synapse_type: tuple[str, ...]
    on_device_training: str
    freq_mhz: float | None
    asynchronous: bool
    j_per_sop: float
    w_per_synapse: float | None
    library: tuple[str, ...]
    # from neuromorphic.csv / SOURCES.md
    checked_year: int | None = None
    year_basis: str = ""
    year_check: str = ""
    sources: str = ""
    source_notes: str = ""
    notes: tuple[str, ...] = field(default=())
    disagreements: tuple[str, ...] = field(default=())
    remarks: tuple[str, ...] = field(default=())
    j_per_sop_check: str = ""

    # ---- derived
    @property
    def synapses_per_neuron(self) -> float | None:
        """Synapses / neurons (an average); the essay argues ~1e3 is needed to map dense ~1000-wide layers."""
        if self.synapses is None:
            return None
        return self.synapses / self.neurons

    @property
    def sop_per_s_per_w(self) -> float:
        """Synaptic operations per second per watt, ``1 / (J/SOP)``."""
        return 1.0 / self.j_per_sop

    @property
    def programmable_neurons(self) -> bool:
        return self.neuron_type == "programmable"

    @property
    def has_on_device_training(self) -> bool:
        return self.on_device_training != "no"

    @property
    def programmable_training(self) -> bool:
        """True for ``programmable`` and for SpiNNaker's ``yes`` (plasticity runs as software)."""
        return self.on_device_training in _PROGRAMMABLE_TRAINING

    @property
    def training_rules(self) -> tuple[str, ...]:
        """The learning rules the chip supports on device: ``("*",)`` = any (programmable), ``()`` = none."""
        if self.programmable_training:
            return ("*",)
        if not self.has_on_device_training:
            return ()
        return (self.on_device_training,)

    @property
    def release_year(self) -> float:
        """Release date as a decimal year (for trend fits)."""
        return _decimal_year(self.release.isoformat())

    def supports_rule(self, rule: str) -> bool:
        """Whether ``rule`` (e.g. ``"STDP"``, ``"e-prop"``, ``"bptt"``) can be trained on the chip."""
        if self.programmable_training:
            return True
        return any(normalize_name(rule) == normalize_name(r) for r in self.training_rules)

    def source_of(self, name: str) -> str:
        """The published source of the value ``name`` (a key of :meth:`as_dict`), in plain words."""
        if name in _TABLE_FIELDS:
            if name == "j_per_sop" and self.j_per_sop_check:
                return f"{TABLE}; {self.j_per_sop_check}"
            return TABLE
        if name in _DERIVED:
            return _DERIVED[name]
        if name == "checked_year":
            basis = f"{self.year_basis}: " if self.year_basis else ""
            return f"{basis}{self.sources}" if self.sources else "not checked"
        if name == "year_check":
            return f"checked year against {TABLE}"
        if name in ("sources", "notes", "disagreements", "remarks"):
            return "SOURCES.md of spikeforge.hardware.data"
        raise KeyError(f"field {name!r} not known; fields: {', '.join(self.as_dict())}")

    def to_row(self) -> dict[str, str]:
        """The record as the CSV strings it came from (exact round trip)."""
        return {
            "platform": self.name,
            "developer": self.developer,
            "release": self.release.isoformat(),
            "process_nm": str(self.process_nm),
            "neurons": _fmt_sci(self.neurons),
            "neuron_type": self.neuron_type or "",
            "synapses": _fmt_sci(self.synapses),
            "synapse_type": ", ".join(self.synapse_type),
            "on_device_training": self.on_device_training,
            "freq_mhz": "async" if self.asynchronous else _fmt_plain(self.freq_mhz),
            "j_per_sop": _fmt_sci(self.j_per_sop),
            "w_per_synapse": _fmt_sci(self.w_per_synapse),
            "library": ", ".join(self.library),
        }

    def as_dict(self) -> dict[str, object]:
        """All fields and derived fields, for tables and ``show``."""
        return {
            "name": self.name,
            "developer": self.developer,
            "release": self.release.isoformat(),
            "process_nm": self.process_nm,
            "neurons": self.neurons,
            "neuron_type": self.neuron_type,
            "synapses": self.synapses,
            "synapse_type": ", ".join(self.synapse_type) or None,
            "synapses_per_neuron": self.synapses_per_neuron,
            "on_device_training": self.on_device_training,
            "training_rules": ", ".join(self.training_rules) or None,
            "programmable_neurons": self.programmable_neurons,
            "programmable_training": self.programmable_training,
            "freq_mhz": "async" if self.asynchronous else self.freq_mhz,
            "j_per_sop": self.j_per_sop,
            "sop_per_s_per_w": self.sop_per_s_per_w,
            "w_per_synapse": self.w_per_synapse,
            "library": ", ".join(self.library) or None,
            "checked_year": self.checked_year,
            "year_check": self.year_check,
            "sources": self.sources,
            "disagreements": " | ".join(self.disagreements),
            "notes": " | ".join(self.remarks),
        }


def _parse_platform(row: Mapping[str, str]) -> Platform:
    freq = row["freq_mhz"].strip()
    return Platform(
        name=row["platform"],
        developer=row["developer"],
        release=_dt.date.fromisoformat(row["release"]),
        process_nm=int(row["process_nm"]),
        neurons=_opt_int_count(row["neurons"]) or 0,
        neuron_type=row["neuron_type"] or None,
        synapses=_opt_int_count(row["synapses"]),
        synapse_type=_split_list(row["synapse_type"]),
        on_device_training=row["on_device_training"],
        freq_mhz=None if freq in ("", "async") else float(freq),
        asynchronous=freq == "async",
        j_per_sop=float(row["j_per_sop"]),
        w_per_synapse=_opt_float(row["w_per_synapse"]),
        library=_split_list(row["library"]),
    )


# Clauses of ``neuromorphic.csv``'s notes, in the words of whoever compiled the file, and what a user is
# told instead: ``None`` drops a clause (the J/SOP's source is named by ``source_of``), ``("j", text)``
# is what a chip paper says of the table's J/SOP, ``("disagree", text)`` a disagreement between sources
# and ``("remark", text)`` a caveat. A test checks that no user-facing text keeps the compiler's words.
_NOTE_CLAUSES: dict[str, tuple[str, str] | None] = {
    "J/SOP value supplied by the caller from a review table (not re-derived)": None,
    "paper title quotes 12.7 pJ/SOP (total), review value 8.4 pJ": (
        "disagree",
        f"J/SOP: {TABLE} gives 8.4 pJ/SOP; the title of the ODIN paper (Frenkel et al., IEEE TBioCAS 2018) "
        "states 12.7 pJ/SOP, presumably the total rather than the incremental energy per SOP; the catalog "
        "keeps 8.4 pJ",
    ),
    "paper abstract states 0.221 pJ/SOP, matching the supplied value": (
        "j",
        "agrees with the abstract of the SNE paper (Di Mauro et al., DATE 2022, arXiv:2204.10687): 0.221 pJ/SOP",
    ),
    "title states 1.5 pJ/SOP, matching the supplied value": (
        "j",
        "agrees with the title of the ANP-I paper (Zhang et al., IEEE JSSC 2024): 1.5 pJ/SOP",
    ),
    "same J/SOP value as Darwin-3 in the supplied table (check the review if this matters)": (
        "remark",
        f"{TABLE} gives ReckOn and Darwin-3 the identical J/SOP (5.47 pJ), possibly a transcription slip; "
        "not checked against either paper",
    ),
    "same J/SOP value as ReckOn in the supplied table": (
        "remark",
        f"{TABLE} gives Darwin-3 and ReckOn the identical J/SOP (5.47 pJ), possibly a transcription slip; "
        "not checked against either paper",
    ),
    "the SOP-equivalent is the review's conversion": ("remark", f"the SOP-equivalent is {TABLE}'s conversion"),
}
# The same for the year columns: the file calls the Digica table "seed".
_YEAR_WORDS: tuple[tuple[str, str], ...] = (
    (r"\s*\(seed: [^)]*\)", ""),
    (r"\(seed process_nm 7 = Intel 4, formerly '7 nm'\)", "(the table's 7 nm is Intel 4, formerly called '7 nm')"),
    (r"\bseed (\d{4}(?:-\d\d){0,2}) likely", r"the table's \1 is likely"),
    (r"\bseed (\d{4}(?:-\d\d){0,2}) presumably", r"the table's \1 is presumably"),
    (r"\bseed (\d{4}(?:-\d\d){0,2})", r"the table's \1"),
)


def _plain_year_text(text: str) -> str:
    for pattern, repl in _YEAR_WORDS:
        text = re.sub(pattern, repl, text)
    return text


def _split_notes(cell: str) -> tuple[list[str], list[str], list[str]]:
    """``neuromorphic.csv``'s notes cell -> (J/SOP checks, disagreements, remarks), in plain words."""
    j_checks: list[str] = []
    disagree: list[str] = []
    remarks: list[str] = []
    for clause in (c.strip() for c in cell.split(";")):
        if not clause:
            continue
        if clause not in _NOTE_CLAUSES:
            remarks.append(clause)
            continue
        mapped = _NOTE_CLAUSES[clause]
        if mapped is None:
            continue
        kind, text = mapped
        {"j": j_checks, "disagree": disagree, "remark": remarks}[kind].append(text)
    return j_checks, disagree, remarks


def _with_checks(chip: Platform, check: Mapping[str, str] | None) -> Platform:
    """Attach ``neuromorphic.csv``'s checked year and sources; state every disagreement with the table."""
    if check is None:
        return chip
    j_checks, disagreements, remarks = _split_notes(check["notes"])
    plain_notes = "; ".join([*j_checks, *disagreements, *remarks])
    year = int(check["year"])
    basis = _plain_year_text(check["year_basis"])
    if year != chip.release.year:
        disagreements.insert(
            0,
            f"release year: {TABLE} gives {chip.release.isoformat()}; {basis} gives {year}; "
            f"the catalog keeps the table's date",
        )
    if check["seed_release"] != chip.release.isoformat():
        disagreements.append(
            f"release date: neuromorphic.csv copies the table's date as {check['seed_release']!r}, "
            f"the table says {chip.release.isoformat()!r}"
        )
    checked_j = float(check["j_per_sop"])
    if not math.isclose(checked_j, chip.j_per_sop, rel_tol=1e-9):
        disagreements.append(f"J/SOP: {TABLE} gives {chip.j_per_sop:.3g}, neuromorphic.csv {checked_j:.3g}")
    return Platform(
        **{f: getattr(chip, f) for f in chip.__dataclass_fields__ if f not in _CHECK_FIELDS},
        checked_year=year,
        year_basis=basis,
        year_check=_plain_year_text(check["year_check"]),
        sources=check["year_source"],
        source_notes=plain_notes,
        notes=(*disagreements, *remarks),
        disagreements=tuple(disagreements),
        remarks=tuple(remarks),
        j_per_sop_check="; ".join(j_checks),
    )


_CHECK_FIELDS = frozenset(
    {"checked_year", "year_basis", "year_check", "sources", "source_notes", "notes", "disagreements", "remarks",
     "j_per_sop_check"}
)
_TABLE_FIELDS = frozenset(PLATFORM_COLUMNS) | {"name"}
_DERIVED = {
    "synapses_per_neuron": "derived: synapses / neurons (an average, not a per-neuron limit)",
    "sop_per_s_per_w": "derived: 1 / j_per_sop",
    "training_rules": "derived from on_device_training",
    "programmable_neurons": "derived from neuron_type",
    "programmable_training": "derived from on_device_training",
}
_CHECK_COLUMNS: tuple[str, ...] = (
    "name",
    "developer",
    "year",
    "year_basis",
    "seed_release",
    "year_check",
    "j_per_sop",
    "pj_per_sop",
    "sop_per_s_per_w",
    "year_source",
    "notes",
)


@functools.cache
def platforms() -> tuple[Platform, ...]:
    """The 15 neuromorphic chips of the Digica table (:data:`TABLE_SOURCE`), in its order (by release date)."""
    checks = {normalize_name(r["name"]): r for r in _read_csv("neuromorphic.csv", _CHECK_COLUMNS)}
    chips = []
    for row in _read_csv("neuromorphic_platforms.csv", PLATFORM_COLUMNS):
        chip = _parse_platform(row)
        chips.append(_with_checks(chip, checks.get(normalize_name(chip.name))))
    return tuple(chips)


def _lookup(kind: str, name: str, records: tuple, key, prefer=None) -> object:
    if not isinstance(name, str):
        raise TypeError(f"{kind} name must be a str, got {type(name).__name__}: {name!r}")
    wanted = normalize_name(name)
    exact = [r for r in records if normalize_name(key(r)) == wanted]
    if len(exact) == 1:
        return exact[0]
    partial = [r for r in records if wanted and wanted in normalize_name(key(r))]
    if len(partial) > 1 and prefer is not None:
        preferred = [r for r in partial if prefer(r)]
        if len(preferred) == 1:
            return preferred[0]
        partial = preferred or partial
    if len(partial) > 1:  # "RTX 4090" -> "GeForce RTX 4090", not "... 4090 Mobile"
        suffix = [r for r in partial if normalize_name(key(r)).endswith(wanted)]
        if len(suffix) == 1:
            return suffix[0]
    if len(partial) == 1:
        return partial[0]
    names = ", ".join(key(r) for r in (partial if len(partial) > 1 else records))
    what = "is ambiguous; candidates" if len(partial) > 1 else "not found; known names"
    raise KeyError(f"{kind} {name!r} {what}: {names}")


def platform(name: str) -> Platform:
    """One chip by name, case- and punctuation-insensitive (``"loihi 2"`` finds ``Loihi-2``).

    A unique partial match is accepted too (``"northpole"``, ``"brainscales"``); otherwise a
    :class:`KeyError` lists the known names.
    """
    return _lookup("platform", name, platforms(), lambda r: r.name)  # type: ignore[return-value]


# --------------------------------------------------------------------------------------- accelerators
@dataclass(frozen=True)
class Accelerator:
    """One GPU, TPU or Green500 #1 system of ``accelerators.csv``.

    ``gflops_per_w`` is peak FP32 (bf16 for TPUs) FLOP/s over TDP for chips, or the measured FP64 HPL
    FLOP/s per W of the whole system for Green500 rows (``family == "supercomputer"``).
    ``release_date`` keeps the CSV's precision (``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD``).
    """

    name: str
    vendor: str
    family: str
    release_date: str
    process_nm: int | None
    fp32_tflops: float | None
    tdp_w: float | None
    precision: str
    peak_tflops: float | None
    gflops_per_w: float
    efficiency_basis: str
    source: str
    notes: str

    @property
    def flops_per_w(self) -> float:
        """FLOP/s per W (peak for chips, measured HPL for systems)."""
        return self.gflops_per_w * 1e9

    @property
    def j_per_flop(self) -> float:
        return 1.0 / self.flops_per_w

    @property
    def is_system(self) -> bool:
        """A Green500 whole-system entry rather than a single chip/board."""
        return self.family == "supercomputer"

    @property
    def release_year(self) -> float:
        """Decimal year: exact for full dates, mid-month for ``YYYY-MM``, mid-year for ``YYYY``."""
        return _decimal_year(self.release_date)

    def to_row(self) -> dict[str, str]:
        return {
            "name": self.name,
            "vendor": self.vendor,
            "family": self.family,
            "release_date": self.release_date,
            "process_nm": "" if self.process_nm is None else str(self.process_nm),
            "fp32_tflops": _fmt_plain(self.fp32_tflops),
            "tdp_w": _fmt_plain(self.tdp_w),
            "precision": self.precision,
            "peak_tflops": _fmt_plain(self.peak_tflops),
            "gflops_per_w": _fmt_plain(self.gflops_per_w),
            "efficiency_basis": self.efficiency_basis,
            "source": self.source,
            "notes": self.notes,
        }

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = dict(
            (k, getattr(self, k)) for k in ACCELERATOR_COLUMNS if k not in ("source", "notes")
        )
        out["flops_per_w"] = self.flops_per_w
        out["release_year"] = round(self.release_year, 3)
        out["source"] = self.source
        out["notes"] = self.notes
        return out


def _parse_accelerator(row: Mapping[str, str]) -> Accelerator:
    _decimal_year(row["release_date"])  # validate early
    nm = row["process_nm"].strip()
    return Accelerator(
        name=row["name"],
        vendor=row["vendor"],
        family=row["family"],
        release_date=row["release_date"],
        process_nm=None if nm == "" else int(nm),
        fp32_tflops=_opt_float(row["fp32_tflops"]),
        tdp_w=_opt_float(row["tdp_w"]),
        precision=row["precision"],
        peak_tflops=_opt_float(row["peak_tflops"]),
        gflops_per_w=float(row["gflops_per_w"]),
        efficiency_basis=row["efficiency_basis"],
        source=row["source"],
        notes=row["notes"],
    )


@functools.cache
def accelerators() -> tuple[Accelerator, ...]:
    """All 145 rows of ``accelerators.csv`` (GPUs, Jetson, Instinct, TPUs, Green500 #1 systems)."""
    return tuple(_parse_accelerator(r) for r in _read_csv("accelerators.csv", ACCELERATOR_COLUMNS))


def accelerator(name: str) -> Accelerator:
    """One accelerator by name, case/punctuation-insensitive; a unique partial match is accepted
    (``"V100"`` finds ``Tesla V100 SXM2``, ``"A100"`` finds ``A100 SXM4 40 GB``); when a partial name
    matches a chip and Green500 systems built from it, the chip wins."""
    return _lookup(  # type: ignore[return-value]
        "accelerator", name, accelerators(), lambda r: r.name, prefer=lambda r: not r.is_system
    )


# ------------------------------------------------------------------------------------------------ brain
@dataclass(frozen=True)
class BrainQuantity:
    """One row of ``human_brain.csv``. ``low``/``high`` are the pessimistic/optimistic ends for
    efficiency rows (so for ``j_per_sop`` ``low`` is numerically the largest)."""

    quantity: str
    low: float
    central: float | None
    high: float
    unit: str
    source: str
    notes: str

    def to_row(self) -> dict[str, str]:
        return {
            "quantity": self.quantity,
            "low": _fmt_brain(self.low),
            "central": _fmt_brain(self.central),
            "high": _fmt_brain(self.high),
            "unit": self.unit,
            "source": self.source,
            "notes": self.notes,
        }


def _fmt_brain(value: float | None) -> str:
    """``human_brain.csv`` writes floats with Python's ``%g``-like forms: ``1e+14``, ``8.33e+14``, ``12``."""
    if value is None:
        return ""
    return f"{value:g}"


@dataclass(frozen=True)
class HumanBrain:
    """The human-brain efficiency (HBE) estimates, one :class:`BrainQuantity` per CSV row."""

    synapse_count: BrainQuantity
    mean_firing_rate_hz: BrainQuantity
    synaptic_ops_per_s: BrainQuantity
    brain_power_w: BrainQuantity
    sop_per_s_per_w: BrainQuantity
    j_per_sop: BrainQuantity

    @property
    def band(self) -> tuple[float, float]:
        """(low, high) SOP/s per W: the human-brain efficiency band of the chart."""
        return (self.sop_per_s_per_w.low, self.sop_per_s_per_w.high)

    def rows(self) -> tuple[BrainQuantity, ...]:
        return tuple(getattr(self, f) for f in self.__dataclass_fields__)


@functools.cache
def human_brain() -> HumanBrain:
    """The brain band from ``human_brain.csv`` (SOP/s per W: 5e11 low, 5e13 central, 8.33e14 high)."""
    rows = {}
    for r in _read_csv("human_brain.csv", BRAIN_COLUMNS):
        rows[r["quantity"]] = BrainQuantity(
            quantity=r["quantity"],
            low=float(r["low"]),
            central=_opt_float(r["central"]),
            high=float(r["high"]),
            unit=r["unit"],
            source=r["source"],
            notes=r["notes"],
        )
    missing = set(HumanBrain.__dataclass_fields__) - set(rows)
    if missing:
        raise ValueError(f"human_brain.csv lacks rows {sorted(missing)}")
    return HumanBrain(**{k: rows[k] for k in HumanBrain.__dataclass_fields__})

"""The efficiency chart: efficiency against release date, trend fits and the year each family reaches
the human-brain efficiency (HBE) band.

Series (y in "FLOP/s per W", log scale):

* GPUs/TPUs per family (``accelerators.csv``): peak FLOP/s per W;
* Green500 #1 systems: measured FP64 HPL FLOP/s per W;
* the 15 neuromorphic chips: SOP/s per W divided by ``sop_per_flop`` (default 10, as in the essay
  "Spikes are the next digits", whose table is the chip catalog), each labelled with its name;
* the human-brain band: SOP/s per W from ``human_brain.csv``, low..high (5e11 .. 8.33e14), plotted as
  given (not divided by ``sop_per_flop``; pass ``brain_per_flop=True`` to divide it too).

Per family a least-squares line is fitted to ``log10(efficiency)`` against the decimal release year
(:func:`numpy.polyfit`); the projected year of entering the band is where the line crosses the band's
low edge, and of reaching its centre where it crosses the central value (5e13). "In N years" counts from
``now``: by default today's date as a decimal year (:func:`current_year`), drawn as a labelled line.
"""

from __future__ import annotations

import datetime as _dt
import itertools
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spikeforge._io import atomic_path
from spikeforge.hardware.catalog import _decimal_year, accelerators, human_brain, platforms
from spikeforge.hardware.counts import _render

__all__ = [
    "NEUROMORPHIC",
    "SEED_NOW",
    "ProjectionTable",
    "Trend",
    "current_year",
    "efficiency_chart",
    "efficiency_series",
    "projections",
]

NEUROMORPHIC = "neuromorphic"
GREEN500 = "supercomputer"
#: The essay's "now": its latest chip (Darwin-3) is from Dec 2023 and it calls 2024 work "this year".
#: Pass it as ``now=`` to read the projections as the essay did; the default ``now`` is today.
SEED_NOW = 2024.0
COMBINED_GEFORCE = "GeForce GTX/RTX"


@dataclass(frozen=True)
class Point:
    name: str
    family: str
    year: float
    efficiency: float  # FLOP/s per W (chips: SOP/s per W / sop_per_flop)


@dataclass(frozen=True)
class Trend:
    """Log-linear fit ``log10(eff) = intercept + slope × year`` of one family."""

    family: str
    n: int
    first_year: float
    last_year: float
    slope: float
    intercept: float
    best: float  # most efficient point of the family
    band_low: float
    band_central: float

    @property
    def doubling_years(self) -> float:
        return math.log10(2) / self.slope if self.slope > 0 else math.inf

    def fitted(self, year: float) -> float:
        return 10 ** (self.intercept + self.slope * year)

    def year_reaching(self, efficiency: float) -> float:
        """Year the trend line reaches ``efficiency`` (``inf`` if it never does, i.e. slope <= 0)."""
        if self.slope <= 0:
            return math.inf
        return (math.log10(efficiency) - self.intercept) / self.slope

    @property
    def year_enter_band(self) -> float:
        return self.year_reaching(self.band_low)

    @property
    def year_band_central(self) -> float:
        return self.year_reaching(self.band_central)


@dataclass(frozen=True)
class ProjectionTable:
    trends: tuple[Trend, ...]
    sop_per_flop: float
    band: tuple[float, float]
    band_central: float
    now: float
    fit_until: float | None

    def trend(self, family: str) -> Trend:
        for t in self.trends:
            if t.family.casefold() == family.casefold():
                return t
        raise KeyError(f"family {family!r} not fitted; families: {[t.family for t in self.trends]}")

    def to_rich(self):
        from rich.table import Table

        upto = "" if self.fit_until is None else f", data up to {self.fit_until:g}"
        table = Table(
            title=(
                f"Trend fits and projected human-brain-efficiency years (chips ÷ {self.sop_per_flop:g} "
                f"SOP/FLOP; band {self.band[0]:.3g}..{self.band[1]:.3g}; now = {now_label(self.now)}{upto})"
            )
        )
        cols = ("family", "n", "years", "best [FLOP/s/W]", "×/year", "doubling \\[y]", "enters band", "in", "centre")
        for col in cols:
            table.add_column(col, justify="left" if col == "family" else "right")
        for t in self.trends:
            enter = t.year_enter_band
            table.add_row(
                t.family,
                str(t.n),
                f"{int(t.first_year)}-{int(t.last_year)}",
                f"{t.best:.3g}",
                f"{10**t.slope:.3g}",
                _year(t.doubling_years, width=False),
                _year(enter),
                "" if not math.isfinite(enter) else f"{round(enter - self.now):+d} y",
                _year(t.year_band_central),
            )
        return table

    def __str__(self) -> str:
        return _render(self.to_rich())


def current_year(today: _dt.date | None = None) -> float:
    """Today's date (or ``today``) as a decimal year, e.g. 2026-03-05 -> 2026.17."""
    return _decimal_year((today or _dt.date.today()).isoformat())


def now_label(now: float) -> str:
    """``2024.0`` -> ``"2024"``; ``2026.17`` -> ``"2026-03"`` (year and month)."""
    if now == int(now):
        return f"{int(now)}"
    year = math.floor(now)
    month = min(12, int((now - year) * 12) + 1)
    return f"{year}-{month:02d}"


def _check_now(now: float | None) -> float:
    if now is None:
        return current_year()
    if isinstance(now, bool) or not isinstance(now, (int, float)) or not math.isfinite(now):
        raise ValueError(f"now: expected a year such as 2026 or 2026.5, got {now!r}")
    return float(now)


def _year(y: float, width: bool = True) -> str:
    if not math.isfinite(y):
        return "never"
    return f"{y:.0f}" if width else f"{y:.2g}"


def efficiency_series(sop_per_flop: float = 10.0) -> dict[str, list[Point]]:
    """All points by family: accelerator families, ``"supercomputer"`` (Green500) and ``"neuromorphic"``."""
    _check_ratio(sop_per_flop)
    series: dict[str, list[Point]] = {}
    for a in accelerators():
        series.setdefault(a.family, []).append(Point(a.name, a.family, a.release_year, a.flops_per_w))
    series[NEUROMORPHIC] = [
        Point(p.name, NEUROMORPHIC, p.release_year, p.sop_per_s_per_w / sop_per_flop) for p in platforms()
    ]
    return series


def _check_ratio(sop_per_flop: float) -> None:
    if isinstance(sop_per_flop, bool) or not isinstance(sop_per_flop, (int, float)):
        raise TypeError(f"sop_per_flop: expected a positive number, got {sop_per_flop!r}")
    if not (math.isfinite(sop_per_flop) and sop_per_flop > 0):
        raise ValueError(f"sop_per_flop: expected a positive finite number, got {sop_per_flop!r}")


def _fit(family: str, pts: Sequence[Point], low: float, central: float) -> Trend | None:
    if len(pts) < 2 or len({p.year for p in pts}) < 2:
        return None
    years = np.array([p.year for p in pts])
    logs = np.log10([p.efficiency for p in pts])
    slope, intercept = np.polyfit(years, logs, 1)
    return Trend(
        family=family,
        n=len(pts),
        first_year=float(years.min()),
        last_year=float(years.max()),
        slope=float(slope),
        intercept=float(intercept),
        best=float(max(p.efficiency for p in pts)),
        band_low=low,
        band_central=central,
    )


def projections(
    sop_per_flop: float = 10.0,
    *,
    fit_until: float | None = None,
    now: float | None = None,
    brain_per_flop: bool = False,
) -> ProjectionTable:
    """Trend fit per family and the projected year each reaches the human-brain band.

    Args:
        sop_per_flop: chips' SOP/s per W are divided by this to compare with FLOP/s per W.
        fit_until: fit only points released before this decimal year (e.g. 2024.5 for what the essay saw).
        now: the reference year for "in N years" (default: today, :func:`current_year`; the essay's
            present was :data:`SEED_NOW` = 2024).
        brain_per_flop: divide the brain band by ``sop_per_flop`` too (consistent units); default keeps
            the band in SOP/s per W, as the essay's chart does.
    """
    _check_ratio(sop_per_flop)
    now = _check_now(now)
    brain = human_brain()
    scale = sop_per_flop if brain_per_flop else 1.0
    low, high = brain.band[0] / scale, brain.band[1] / scale
    central = (brain.sop_per_s_per_w.central or math.sqrt(low * high * scale * scale)) / scale
    series = efficiency_series(sop_per_flop)
    if fit_until is not None:
        series = {k: [p for p in v if p.year < fit_until] for k, v in series.items()}
    geforce = series.get("GeForce GTX", []) + series.get("GeForce RTX", [])
    if geforce:
        series[COMBINED_GEFORCE] = geforce
    trends = [t for fam, pts in series.items() if (t := _fit(fam, pts, low, central)) is not None]
    trends.sort(key=lambda t: (t.year_enter_band, t.family))
    return ProjectionTable(
        trends=tuple(trends),
        sop_per_flop=float(sop_per_flop),
        band=(low, high),
        band_central=central,
        now=now,
        fit_until=fit_until,
    )


_COLORS = {
    "GeForce GTX": "#2ca02c",
    "GeForce RTX": "#98df8a",
    "GeForce mobile": "#bcbd22",
    "Jetson": "#7f7f7f",
    "Tesla/datacenter": "#17becf",
    "Radeon desktop": "#d62728",
    "Radeon mobile RX": "#ff7f0e",
    "Radeon Embedded": "#8c564b",
    "Instinct": "#e377c2",
    "TPU": "#9467bd",
    GREEN500: "#000000",
    NEUROMORPHIC: "#1f77b4",
}


def _label_chips(ax, pts: Sequence[Point], gap: float = 0.24, year_per_char: float = 0.32) -> None:
    """Name every chip next to its point. A label that would overlap one already placed (its text spans
    about ``year_per_char`` years per character) moves to the nearest free height, ``gap`` decades
    apart; a thin line then joins it to its point."""
    placed: list[tuple[float, float, float]] = []  # (first year, last year, log10 y) of each label
    for p in sorted(pts, key=lambda p: -p.efficiency):  # from the top down
        y0 = math.log10(p.efficiency)
        x0, x1 = p.year + 0.5, p.year + 0.5 + year_per_char * len(p.name)
        # the nearest free slot: y0, y0 - gap, y0 + gap, y0 - 2 gap, ...
        for step in itertools.chain.from_iterable((-k, k) for k in range(40)):
            y = y0 + step * gap
            if all(b1 < x0 or x1 < b0 or abs(ly - y) >= gap - 1e-9 for b0, b1, ly in placed):
                break
        placed.append((x0, x1, y))
        moved = abs(y - math.log10(p.efficiency)) > 1e-9
        ax.annotate(
            p.name,
            (p.year, p.efficiency),
            xytext=(p.year + 0.5, 10**y),
            textcoords="data",
            fontsize=6.5,
            va="center",
            color=_COLORS[NEUROMORPHIC],
            bbox={"boxstyle": "square,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.75},
            arrowprops={"arrowstyle": "-", "lw": 0.4, "color": _COLORS[NEUROMORPHIC]} if moved else None,
            zorder=5,
        )


def efficiency_chart(
    out: str | os.PathLike[str],
    sop_per_flop: float = 10.0,
    *,
    fit_until: float | None = None,
    now: float | None = None,
    brain_per_flop: bool = False,
    until: float = 2070.0,
    dpi: int = 120,
) -> ProjectionTable:
    """Draw the chart to ``out`` (format from its suffix: .png, .svg, .pdf), written atomically.

    ``now`` (default today) is drawn as a labelled vertical line; every chip is labelled with its name.
    Returns the :class:`ProjectionTable` of the fitted lines drawn on it.
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    path = Path(out)
    fmt = path.suffix.lstrip(".").lower()
    if fmt not in ("png", "svg", "pdf"):
        raise ValueError(f"out: expected a file name ending in .png, .svg or .pdf, got {str(out)!r}")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"out: folder {str(path.parent)!r} does not exist")
    table = projections(sop_per_flop, fit_until=fit_until, now=now, brain_per_flop=brain_per_flop)
    now = table.now
    series = efficiency_series(sop_per_flop)

    fig = Figure(figsize=(11, 7))
    ax = fig.add_subplot(1, 1, 1)
    ax.set_yscale("log")
    lo, hi = table.band
    ax.axhspan(lo, hi, color="#f4c542", alpha=0.25, label=f"human brain ({lo:.2g}..{hi:.2g} SOP/s/W)")
    x_end = until
    for family, pts in series.items():
        color = _COLORS.get(family, None)
        marker = "s" if family == NEUROMORPHIC else ("^" if family == GREEN500 else "o")
        label = {
            NEUROMORPHIC: f"neuromorphic (SOP/s/W ÷ {sop_per_flop:g})",
            GREEN500: "Green500 #1 (FP64 HPL)",
        }.get(family, family)
        chips = family == NEUROMORPHIC
        ax.scatter([p.year for p in pts], [p.efficiency for p in pts], s=30 if chips else 18, color=color,
                   marker=marker, label=label, zorder=4 if chips else 2, edgecolors="white" if chips else "face",
                   linewidths=0.5)
        try:
            trend = table.trend(family)
        except KeyError:
            continue
        xs = np.linspace(trend.first_year, x_end, 50)
        ax.plot(xs, [trend.fitted(x) for x in xs], color=color, lw=0.8, ls="--")
    ax.set_xlim(2009, x_end)
    lowest = min(p.efficiency for pts in series.values() for p in pts)
    y_lo, y_hi = 10 ** math.floor(math.log10(lowest)), max(1e16, 10 * hi)
    ax.set_ylim(y_lo, y_hi)
    ax.axvline(now, color="#444444", lw=0.9, ls=":")
    ax.text(now, y_lo * 1.5, f" now = {now_label(now)}", rotation=90, va="bottom", ha="right", fontsize=8,
            color="#444444")
    _label_chips(ax, series[NEUROMORPHIC])
    ax.set_xlabel("release date")
    ax.set_ylabel("efficiency [FLOP/s per W]  (chips: SOP/s per W ÷ SOP-per-FLOP)")
    ax.set_title("Computational efficiency vs release date, with log-linear trends per family")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=7, loc="lower right", ncol=2)
    fig.tight_layout()

    with atomic_path(path, make_parents=False) as tmp:
        fig.savefig(tmp, format=fmt, dpi=dpi)
    return table

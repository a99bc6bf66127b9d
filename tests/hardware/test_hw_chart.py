"""Efficiency chart: trend fits checked with hand least squares, file written atomically."""

from __future__ import annotations

import datetime as dt
import html
import math

import matplotlib
import pytest

from spikeforge.hardware import accelerators, efficiency_chart, human_brain, platforms, projections
from spikeforge.hardware.chart import SEED_NOW, current_year, efficiency_series, now_label


def _least_squares(xs, ys):
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
    return slope, my - slope * mx


def test_trend_matches_hand_least_squares_and_band_crossing():
    table = projections()
    rx = [a for a in accelerators() if a.family == "Radeon mobile RX"]
    slope, intercept = _least_squares([a.release_year for a in rx], [math.log10(a.flops_per_w) for a in rx])
    trend = table.trend("Radeon mobile RX")
    assert trend.n == 12
    assert trend.slope == pytest.approx(slope, rel=1e-9)
    assert trend.intercept == pytest.approx(intercept, rel=1e-9)
    low = human_brain().band[0]
    assert trend.year_enter_band == pytest.approx((math.log10(low) - intercept) / slope)
    assert trend.year_band_central == pytest.approx((math.log10(5e13) - intercept) / slope)
    assert trend.doubling_years == pytest.approx(math.log10(2) / slope)


def test_chips_are_divided_by_the_ratio():
    for ratio in (1.0, 10.0, 45.0):
        pts = {p.name: p for p in efficiency_series(ratio)["neuromorphic"]}
        assert pts["SNE"].efficiency == pytest.approx(1 / 2.21e-13 / ratio)
    table1, table10 = projections(1.0), projections(10.0)
    chips1, chips10 = table1.trend("neuromorphic"), table10.trend("neuromorphic")
    # dividing every point by 10 shifts the line down one decade, the slope is unchanged
    assert chips10.slope == pytest.approx(chips1.slope)
    assert chips10.intercept == pytest.approx(chips1.intercept - 1)
    assert chips10.year_enter_band == pytest.approx(chips1.year_enter_band + 1 / chips1.slope)
    assert table10.trend("GeForce GTX").slope == table1.trend("GeForce GTX").slope
    assert len(efficiency_series()["neuromorphic"]) == len(platforms())


def test_combined_family_and_fit_until_and_brain_scaling():
    table = projections()
    both = table.trend("GeForce GTX/RTX")
    assert both.n == 28
    early = projections(fit_until=2024.5)
    assert early.trend("GeForce RTX").n == 9  # 2025 cards left out
    scaled = projections(brain_per_flop=True)
    assert scaled.band == pytest.approx((5e10, 8.33e13))
    years = [t.year_enter_band for t in table.trends]
    assert years == sorted(years)
    with pytest.raises(ValueError, match="sop_per_flop: expected a positive finite number"):
        projections(0.0)


def test_chart_written_atomically(tmp_path):
    out = tmp_path / "chart.png"
    table = efficiency_chart(out, sop_per_flop=10)
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chart.png"]  # no temp file left
    assert "Radeon mobile RX" in str(table) and "enters band" in str(table)
    with pytest.raises(ValueError, match=r"out: expected a file name ending in \.png"):
        efficiency_chart(tmp_path / "chart.gif")
    with pytest.raises(FileNotFoundError, match="out: folder"):
        efficiency_chart(tmp_path / "missing" / "chart.png")


def test_now_defaults_to_today_and_can_be_set():
    """Issue 10 item 14: "in N years" counts from today, not from 2024; ``now=`` sets it."""
    assert current_year(dt.date(2026, 1, 1)) == 2026.0
    assert current_year(dt.date(2026, 7, 2)) == pytest.approx(2026 + 182 / 365)
    today = current_year()
    assert dt.date.today().year <= today < dt.date.today().year + 1
    assert projections().now == pytest.approx(today, abs=1 / 365)
    essay = projections(now=SEED_NOW)
    assert essay.now == 2024.0 and "now = 2024" in str(essay)
    rx = essay.trend("Radeon mobile RX")
    assert f"{round(rx.year_enter_band - 2024):+d} y" in str(essay)
    assert now_label(2026.5) == "2026-07" and now_label(2024.0) == "2024"
    with pytest.raises(ValueError, match="now: expected a year"):
        projections(now=float("nan"))


def test_chart_labels_the_now_line_and_every_chip(tmp_path):
    out = tmp_path / "chart.svg"
    with matplotlib.rc_context({"svg.fonttype": "none"}):  # keep text as text in the SVG
        efficiency_chart(out, now=2030.25)
    svg = out.read_text()
    assert "now = 2030-04" in svg
    for chip in platforms():
        assert f">{html.escape(chip.name)}<" in svg, chip.name

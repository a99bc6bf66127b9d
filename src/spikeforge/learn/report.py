"""One self-contained HTML page for a run folder (pictures embedded as base64, no external files)."""

from __future__ import annotations

import base64
import html
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["write_report"]

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#222}
h1{font-size:1.6em}h2{margin-top:1.6em;border-bottom:1px solid #ddd;padding-bottom:.2em}
table{border-collapse:collapse;margin:.6em 0;font-size:.92em}
td,th{border:1px solid #ddd;padding:.25em .6em;text-align:right}
th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}
.big{font-size:1.25em;font-weight:600}.note{color:#666;font-size:.9em}
img{max-width:100%;border:1px solid #eee;margin:.4em 0}
pre{background:#f7f7f7;padding:.8em;overflow:auto;font-size:.85em}
.ok{color:#1a7f37}.no{color:#b42318}
"""


def _e(x: Any) -> str:
    return html.escape(str(x))


def _num(x: Any, fmt: str = ".4g") -> str:
    if isinstance(x, (int, float)) and not isinstance(x, bool):
        return format(x, fmt)
    return _e(x)


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _img(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<figure><img alt="{_e(alt)}" src="data:image/png;base64,{data}"><figcaption class="note">{_e(alt)}' \
           "</figcaption></figure>"


def _fit_section(fit: Mapping[str, Any] | None) -> str:
    if not fit:
        return "<p class='note'>No fit verdicts.</p>"
    if not fit.get("available", True):
        return f"<p class='note'>{_e(fit.get('note', 'no fit verdicts'))}</p>"
    needs = fit.get("needs") or {}
    head = ""
    if needs:
        listed = ", ".join(f"{_e(k.replace('_', ' '))} {_num(v, ',')}" for k, v in needs.items())
        head = f"<p>The model needs {listed}.</p>"
    rows = []
    for chip, v in (fit.get("chips") or {}).items():
        verdict = v.get("verdict", "yes" if v.get("fits") else "no")
        css = {"yes": "ok", "no": "no"}.get(verdict, "")
        chips = v.get("chips_needed")
        chips_text = _e(chips) if chips is not None else ("-" if verdict == "no" else "?")
        if "hard_limits" in v:
            rows.append([_e(chip), f"<span class='{css}'>{_e(verdict)}</span>", chips_text, _e(v["hard_limits"]),
                         _e(v.get("heuristic", ""))])
        else:  # metrics.json of an older run: its reasons do not say which kind of check they are
            rows.append([_e(chip), f"<span class='{css}'>{_e(verdict)}</span>", chips_text,
                         _e("; ".join(str(r) for r in v.get("reasons", []))), ""])
    note = ("<p class='note'>fits follows the hard limits only (neurons, synapses, neuron model, on-chip "
            "learning rule). The heuristic compares the largest fan-in with the chip's <em>average</em> synapses "
            "per neuron and never decides. Chips needed: - where no number of chips helps, ? where unknown.</p>")
    return head + _table(["chip", "fits", "chips needed", "hard limits", "heuristic"], rows) + note


def write_report(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Write ``report.html`` (or ``out``) for a finished run folder; draws missing pictures first."""
    from spikeforge.learn.plots import PLOTS
    from spikeforge.learn.trainer import VALID_OF_FINAL, _check_run, read_history

    run_dir = _check_run(run_dir)
    metrics_path = run_dir / "metrics.json"
    if not metrics_path.is_file():
        raise FileNotFoundError(
            f"run: {run_dir} has no metrics.json (the run has not finished; 'spikeforge resume {run_dir}' first)"
        )
    metrics = json.loads(metrics_path.read_text())
    config = json.loads((run_dir / "config.json").read_text())
    info = json.loads((run_dir / "run.json").read_text()) if (run_dir / "run.json").is_file() else {}
    history = read_history(run_dir)
    plots = run_dir / "plots"
    missing = [name for name in PLOTS if not (plots / f"{name}.png").is_file()
               and (name != "energy" or metrics.get("energy")) and (name != "learning_curves" or history)]
    if missing:
        _redraw(run_dir, metrics, history, config)

    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>spikeforge run "
             f"{_e(run_dir.name)}</title><style>{_CSS}</style></head><body>"]
    parts.append(f"<h1>spikeforge run <code>{_e(run_dir.name)}</code></h1>")
    ds = info.get("dataset", {})
    parts.append(f"<p class='big'>Test accuracy {metrics['test_accuracy']:.4f} on {_e(metrics.get('dataset', ''))}"
                 f" after {metrics.get('epochs')} epochs</p>")
    if ds.get("summary"):
        parts.append(f"<p>{_e(ds['summary'])}</p>")
    summary = [
        ["test accuracy", _num(metrics["test_accuracy"], ".4f")],
        ["test loss", _num(metrics.get("test_loss"))],
        ["validation accuracy", "none (no validation split)" if metrics.get("valid_accuracy") is None
         else _num(metrics["valid_accuracy"], ".4f") + (
             "" if metrics.get("valid_of") in (None, VALID_OF_FINAL) else f" (of {metrics['valid_of']})")],
        ["train accuracy", _num(metrics.get("train_accuracy"), ".4f")],
        ["parameters", _num(metrics.get("parameters"), "d")],
        ["spike events per sample (hidden layers)", _num(metrics.get("spikes_per_sample"), ".1f")],
        ["input spike events per sample", _num(metrics.get("input_spikes_per_sample"), ".1f")],
    ]
    for key, label in (("synaptic_ops_per_sample", "synaptic operations per sample"),
                       ("dense_macs_per_sample", "dense MACs per sample (GPU-style)"),
                       ("neuron_updates_per_sample", "neuron updates per sample")):
        if key in metrics:
            summary.append([label, _num(metrics[key])])
    summary.append(["training time", f"{metrics.get('train_seconds', 0):.1f} s"])
    parts.append("<h2>Summary</h2>" + _table(["quantity", "value"], summary))

    def section(name: str, title: str) -> None:
        path = plots / f"{name}.png"
        if path.is_file():
            parts.append(f"<h2>{_e(title)}</h2>" + _img(path, PLOTS[name]))

    section("learning_curves", "Learning curves")
    if history:
        # Per-epoch figures are on the validation split (an older run folder's rows have test_* instead).
        held = "test" if "test_accuracy" in history[0] and "valid_accuracy" not in history[0] else "valid"

        def cell(r: Mapping[str, float], key: str, fmt: str) -> str:
            return _num(r.get(key, math.nan), fmt)

        rows = [[int(r["epoch"]), cell(r, "lr", ".2e"), cell(r, "train_loss", ".4g"),
                 cell(r, "train_accuracy", ".4f"), cell(r, f"{held}_loss", ".4g"), cell(r, f"{held}_accuracy", ".4f"),
                 cell(r, f"{held}_spikes_per_sample", ".1f"), cell(r, "seconds", ".2f")] for r in history]
        parts.append("<details><summary>per-epoch metrics</summary>" + _table(
            ["epoch", "lr", "train loss", "train acc", f"{held} loss", f"{held} acc", f"{held} spikes/sample", "s"],
            rows) + "</details>")
    section("raster", "Spikes and membrane potentials")
    section("firing_rates", "Firing rates")
    energy = metrics.get("energy")
    if energy:
        parts.append("<h2>Energy per sample</h2>")
        from spikeforge.learn.analysis import energy_headline

        for quantity, value in energy_headline(metrics):
            parts.append(f"<p class='big'>{_e(quantity[0].upper() + quantity[1:])}: {_e(value)}</p>")
        parts.append(f"<p class='note'>{_e(energy.get('note', ''))}. Ratio column: against {_e(energy['reference'])}."
                     "</p>")
        path = plots / "energy.png"
        if path.is_file():
            parts.append(_img(path, PLOTS["energy"]))
        verdicts = {k: v.get("verdict", "") for k, v in ((metrics.get("fit") or {}).get("chips") or {}).items()}
        rows = [[_e(r["device"]), _e(r["family"]), f"{r['ops']:.3g} {_e(r['op_unit'])}", _num(r["j_per_op"], ".3g"),
                 _num(r["energy_j"], ".3g"), _num(r["ratio"], ".3g"), _e(verdicts.get(r["device"], ""))]
                for r in energy["rows"] if r["kind"] == "neuromorphic" or r["device"] == energy["reference"]
                or r["device"] == energy.get("best_gpu")]
        parts.append(_table(["device", "kind", "ops", "J/op", "energy [J]", f"x {energy['reference']}", "fits"],
                            rows))
    parts.append("<h2>Fit on neuromorphic chips</h2>" + _fit_section(metrics.get("fit")))
    probe = json.loads((run_dir / "probe.json").read_text()) if (run_dir / "probe.json").is_file() else None
    if probe:  # written by `spikeforge codes probe` (spikeforge.learn.probe: the definitions)
        rows = [[_e(n), _num(r["counts_accuracy"], ".4f"), _num(r["timing_accuracy"], ".4f"),
                 _num(r["both_accuracy"], ".4f"), _num(r.get("shuffled_network_accuracy"), ".4f")]
                for n, r in probe["layers"].items()]
        parts.append(f"<h2>Counts or timing (probe; network test accuracy {probe['network_accuracy']:.4f})</h2>"
                     + _table(["layer", "decoded from counts", "from timing", "from both",
                               "network, layer time-shuffled"], rows))
    if metrics.get("confusion"):
        classes = ds.get("classes") or [str(k) for k in range(len(metrics["confusion"]))]
        rows = [[_e(classes[i]), *[str(c) for c in row]] for i, row in enumerate(metrics["confusion"])]
        parts.append("<h2>Confusion matrix (test; rows: true, columns: predicted)</h2>"
                     + _table(["", *[str(c) for c in classes]], rows))
    parts.append("<h2>Configuration</h2><pre>" + _e(json.dumps(config, indent=2)) + "</pre>")
    if info.get("model", {}).get("repr"):
        parts.append("<h2>Model</h2><pre>" + _e(info["model"]["repr"]) + "</pre>")
    if info.get("versions"):
        parts.append("<p class='note'>" + _e(", ".join(f"{k} {v}" for k, v in info["versions"].items()))
                     + f"; device {_e(info.get('device', '?'))}</p>")
    parts.append("</body></html>\n")
    out_path = Path(out) if out is not None else run_dir / "report.html"
    from spikeforge.learn.checkpoint import atomic_write_text

    atomic_write_text(out_path, "".join(parts))
    return out_path


def _redraw(run_dir: Path, metrics: Mapping[str, Any], history: list[dict[str, float]],
            config: Mapping[str, Any]) -> None:
    """Draw the pictures again from the saved run (model and data set reloaded)."""
    from spikeforge.data import load_dataset
    from spikeforge.learn.plots import draw_all
    from spikeforge.learn.trainer import load_run

    model = load_run(run_dir)
    dataset = load_dataset(config["dataset"], encoder=config["encoder"], steps=config.get("steps"),
                           normalize=config.get("normalize", "standard"), downsample=config.get("downsample", 1))
    draw_all(run_dir, model=model, dataset=dataset, history=history, metrics=metrics)

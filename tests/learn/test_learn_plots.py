"""The run folder's pictures and summaries as a person reads them (issue 10, items 15 and 16)."""

from __future__ import annotations

from types import SimpleNamespace

import matplotlib
import pytest
import torch

from spikeforge import hardware as hw
from spikeforge.learn import plots
from spikeforge.learn.analysis import energy_headline
from spikeforge.learn.report import _fit_section
from spikeforge.nets import mlp
from spikeforge.neuron import LIF


def _metrics(sizes=(24, 256, 9)):
    """An energy table and fit verdicts as ``hardware_analysis`` writes them, for a model of ``sizes``."""
    from spikeforge.hardware.fit import mlp as fit_mlp
    from spikeforge.learn.analysis import _fit_verdicts

    table = hw.energy(SimpleNamespace(synaptic_ops=2.56e4, dense_macs=1.3e5))
    rows = [{"device": r.device, "kind": r.kind, "family": r.family, "ops": r.ops, "op_unit": r.op_unit,
             "j_per_op": r.j_per_op, "energy_j": r.energy_j, "ratio": r.ratio, "basis": r.basis} for r in table.rows]
    energy = {"reference": table.reference, "per_sample_j": {r["device"]: r["energy_j"] for r in rows},
              "rows": rows, "best_chip": next(r["device"] for r in rows if r["kind"] == "neuromorphic")}
    return {"energy": energy, "fit": _fit_verdicts(fit_mlp(list(sizes)), None)}


def test_headline_is_the_lowest_energy_chip_the_model_fits():
    metrics = _metrics()
    fit = metrics["fit"]["chips"]
    assert metrics["energy"]["best_chip"] == "SNE" and fit["SNE"]["verdict"] == "unknown"
    fitting = [r for r in metrics["energy"]["rows"] if r["kind"] == "neuromorphic" and fit[r["device"]]["fits"]]
    best = min(fitting, key=lambda r: r["energy_j"])["device"]
    assert best == "Tianjic"
    rows = energy_headline(metrics)
    assert rows[0] == ("lowest energy per sample, chips the model fits",
                       f"{metrics['energy']['per_sample_j']['Tianjic']:.3g} J on Tianjic")
    assert rows[1][0] == "energy on Tesla V100 SXM2"
    # hardware_analysis records the chip; the headline uses it
    metrics["energy"]["best_fitting_chip"] = "Loihi-1"
    assert energy_headline(metrics)[0][1].endswith("J on Loihi-1")
    # a model that fits no chip says so instead of naming one
    none = _metrics()
    none["fit"]["fits_on"] = []
    assert energy_headline(none)[0][1] == "none: the model fits no chip"
    none["energy"]["best_fitting_chip"] = None
    assert energy_headline(none)[0][1] == "none: the model fits no chip"
    assert energy_headline({}) == []


def test_fit_section_separates_hard_limits_from_heuristics():
    html = _fit_section(_metrics()["fit"])
    assert "<th>hard limits</th><th>heuristic</th>" in html
    assert "fan-in 256 &gt; 128 average synapses per neuron" in html  # Loihi-2: a warning, not a no
    assert "never decides" in html
    loihi2 = _metrics()["fit"]["chips"]["Loihi-2"]
    assert loihi2["verdict"] == "yes" and loihi2["decided_by"] == "hard limits met; heuristic warns: fan-in"


def _texts(ax) -> list[str]:
    return [t.get_text() for t in ax.texts]


def test_energy_picture_names_tpus_and_shows_the_fit():
    metrics = _metrics()
    fig = plots.energy_figure(metrics["energy"], fit=metrics["fit"])
    ax = fig.axes[0]
    names = [t.get_text() for t in ax.get_yticklabels()]
    notes = dict(zip(names, _texts(ax)))
    title = ax.get_title()
    assert "GPUs and TPUs" in title and "GPUs (" not in title
    for name, note in notes.items():
        family = next(r["family"] for r in metrics["energy"]["rows"] if r["device"] == name)
        if family == "TPU":
            assert note.startswith("TPU"), (name, note)  # never called a GPU
        elif family == "neuromorphic":
            verdict = metrics["fit"]["chips"][name]["verdict"]
            assert note == {"yes": "fits", "no": "does not fit", "unknown": "fit unknown"}[verdict]
    assert any(name.startswith("TPU") for name in names)
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "TPU (peak bf16 / TDP)" in legend and "GPU (peak FP32 / TDP)" in legend
    assert "chip the model fits" in legend and "chip the model does not fit (a hard limit)" in legend
    assert "lowest among chips the model fits: Tianjic" in title
    matplotlib.pyplot.close(fig)


def _model(channels: int, classes: int = 3) -> torch.nn.Module:
    torch.manual_seed(0)
    model = mlp([channels, 16, classes], neuron=LIF(tau=5.0, threshold=0.3))
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(3.0)
    return model


def _bbox(artist, fig):
    fig.canvas.draw()
    return artist.get_window_extent(fig.canvas.get_renderer())


@pytest.mark.parametrize("steps", [10, 23])
def test_raster_ticks_legends_and_classes(steps):
    x = (torch.rand(steps, 1, 2, generator=torch.Generator().manual_seed(1)) < 0.5).float()  # 2 input channels
    model = _model(2)
    classes = ["a", "b", "c"]
    rec = plots.record_sample(model, x)
    predicted = plots.predicted_class(rec["readout"], "last")
    assert predicted == int(rec["readout"][-1].argmax())
    label = (predicted + 1) % 3  # a wrong prediction: both classes must be named
    fig = plots.raster_figure(model, x, label, classes, title="test sample 0", reduce="last")
    axes = fig.axes
    assert axes[0].get_title() == f"test sample 0: true class {classes[label]}, predicted {classes[predicted]} (wrong)"
    fig.canvas.draw()
    # integer ticks: time steps on the shared x axis, channels on the 2-channel input axis
    lo, hi = axes[-1].get_xlim()
    xticks = [t for t in axes[-1].get_xticks() if lo <= t <= hi]
    assert xticks and all(float(t).is_integer() for t in xticks)
    lo, hi = axes[0].get_ylim()
    yticks = [t for t in axes[0].get_yticks() if lo <= t <= hi]
    assert yticks == [0.0, 1.0]
    lo, hi = axes[1].get_ylim()  # 16 hidden neurons: ticks within 0..15, integers
    yticks = [t for t in axes[1].get_yticks() if lo <= t <= hi]
    assert yticks and all(float(t).is_integer() and 0 <= t <= 15 for t in yticks)
    # the readout legend names the true and the predicted class, and sits beside the traces, not on them
    legend = axes[-1].get_legend()
    labels = [t.get_text() for t in legend.get_texts()]
    assert f"{classes[label]} (true)" in labels and f"{classes[predicted]} (predicted)" in labels
    for ax in axes[1:]:
        if ax.get_legend() is not None:
            assert _bbox(ax.get_legend(), fig).x0 >= _bbox(ax, fig).x1
    matplotlib.pyplot.close(fig)


def test_raster_names_one_class_both_true_and_predicted():
    x = (torch.rand(12, 1, 5, generator=torch.Generator().manual_seed(2)) < 0.5).float()
    model = _model(5)
    predicted = plots.predicted_class(plots.record_sample(model, x)["readout"], "max")
    fig = plots.raster_figure(model, x, predicted, ["x", "y", "z"], reduce="max")
    labels = [t.get_text() for t in fig.axes[-1].get_legend().get_texts()]
    assert f"{'xyz'[predicted]} (true, predicted)" in labels
    assert fig.axes[0].get_title().endswith("(correct)")
    matplotlib.pyplot.close(fig)


@pytest.mark.parametrize("held", ["valid", None, "test"])
def test_learning_curves_draw_train_and_validation_rows(tmp_path, monkeypatch, held):
    # fit()'s rows (valid_*), rows without a validation split (valid_fraction 0: empty cells, read as nan),
    # and an older run folder's test_* rows.
    labels = []
    real_legend = matplotlib.axes.Axes.legend

    def legend(ax, *args, **kwargs):
        labels.append(tuple(line.get_label() for line in ax.get_lines()))
        return real_legend(ax, *args, **kwargs)

    monkeypatch.setattr(matplotlib.axes.Axes, "legend", legend)
    rows = []
    for e in range(1, 4):
        row = {"epoch": e, "train_loss": 1.0 / e, "train_accuracy": 0.5 + 0.1 * e, "train_spikes_per_sample": 10.0}
        for what, value in (("loss", 1.2 / e), ("accuracy", 0.4 + 0.1 * e), ("spikes_per_sample", 9.0)):
            row[f"{held or 'valid'}_{what}"] = value if held else float("nan")
        rows.append(row)
    path = plots.learning_curves(rows, tmp_path / "curves.png")
    assert path.read_bytes()[:4] == b"\x89PNG"
    expected = {"valid": ("train", "validation"), None: ("train",), "test": ("train", "test")}[held]
    assert labels == [expected] * 3


def test_the_analysis_bounds_the_sample_steps_of_one_pass():
    from spikeforge.learn.analysis import MAX_SAMPLE_STEPS, analysis_batch

    assert analysis_batch(29, 256) == 256  # short series: the batch as asked
    assert analysis_batch(1460, 256) == MAX_SAMPLE_STEPS // 1460 < 256
    assert analysis_batch(10**6, 256) == 1 and analysis_batch(0, 8) == 8

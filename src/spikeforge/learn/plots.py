"""The pictures of a run folder (matplotlib, Agg backend, PNG files under ``plots/``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

__all__ = ["PLOTS", "draw_all", "energy_chart", "energy_figure", "firing_rates", "learning_curves", "neuron_rates",
           "predicted_class", "raster_and_traces", "raster_figure", "record_sample"]

PLOTS = {
    "learning_curves": "Learning curves",
    "raster": "Spike raster and membrane traces of one test sample",
    "firing_rates": "Firing rate per layer",
    "energy": "Energy per sample: neuromorphic chips (coloured by fit) against GPUs and TPUs",
}


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    from spikeforge._io import atomic_path

    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip(".") or "png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path


def learning_curves(history: Sequence[Mapping[str, float]], path: Path, loss: str = "last") -> Path:
    """Loss, accuracy and hidden-layer spikes per epoch: train, and validation where the rows have it (rows of
    :func:`spikeforge.learn.fit`; an older run's ``test_*`` columns are drawn as "test"). ``loss``: the run's
    loss name (it labels the axis)."""
    import math

    plt = _plt()
    epochs = [r["epoch"] for r in history]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    held = next((p for p in ("valid", "test") if any(math.isfinite(float(r.get(f"{p}_accuracy", math.nan)))
                                                     for r in history)), None)
    for ax, what, ylabel, title in zip(axes, ("loss", "accuracy", "spikes_per_sample"),
                                       ("squared error" if loss == "mse" else "cross-entropy",
                                        "share |error| < 0.04" if loss == "mse" else "accuracy",
                                        "spike events / sample"),
                                       ("loss", "accuracy", "hidden-layer spikes")):
        for part in ("train", held):
            if part is not None:
                values = [float(r.get(f"{part}_{what}", math.nan)) for r in history]
                ax.plot(epochs, values, "o-", ms=3, label="validation" if part == "valid" else part)
        ax.set(xlabel="epoch", ylabel=ylabel, title=title)
        ax.grid(alpha=0.3)
        ax.legend()
    axes[0].set_yscale("log")
    axes[1].set_ylim(0, 1.02)
    if held is None:
        axes[1].set_title("accuracy (no validation split)")
    fig.tight_layout()
    return _save(fig, path)


class _Spikes:
    """A counter of the counting context (:mod:`spikeforge._counting`) keeping each spiking population's output,
    in the order the populations report."""

    def __init__(self) -> None:
        self.out: dict[int, tuple[nn.Module, torch.Tensor]] = {}

    def record(self, module: nn.Module, role: str, tensor: torch.Tensor, spiking: bool) -> None:
        if role == "neuron" and spiking:
            self.out[id(module)] = (module, tensor)


def _potentials(model: nn.Module, state: Any) -> dict[int, torch.Tensor]:
    """``{id(neuron module): v [B, ...]}`` from a network's per-layer state (a population's own state, or the
    ``neuron`` part of a recurrent population's)."""
    out: dict[int, torch.Tensor] = {}
    layers = list(model.children()) if isinstance(model, nn.Sequential) else []
    for layer, st in zip(layers, state if isinstance(state, tuple) else ()):
        neuron = getattr(layer, "neuron", layer)
        inner = getattr(st, "neuron", st) if neuron is not layer else st
        v = getattr(inner, "v", None)
        if isinstance(v, torch.Tensor):
            out[id(neuron)] = v
    return out


@torch.no_grad()
def record_sample(model: nn.Module, x: torch.Tensor) -> dict[str, Any]:
    """Run ``x [T, 1, C]`` one step at a time and record, per spiking layer (every population that reports
    spikes to the counting context: the general neuron and the declared models, AdEx, Izhikevich, ...), spikes
    ``[T, N]`` and the membrane potential after each step ``[T, N]``, and the readout ``[T, classes]``."""
    from spikeforge._counting import counting

    was_training = model.training
    model.eval()
    state = None
    spikes: dict[int, list[torch.Tensor]] = {}
    volts: dict[int, list[torch.Tensor]] = {}
    readout = []
    try:
        for t in range(x.shape[0]):
            seen = _Spikes()
            with counting(seen):
                out, state = model(x[t:t + 1], state, return_state=True)
            v_of = _potentials(model, state)
            for key, (_module, s) in seen.out.items():
                s = s[0, 0]
                v = v_of.get(key)
                v = s if v is None else v[0]  # (a population whose potential is not found: its output)
                v = v.real if v.is_complex() else v
                s = s.abs() if s.is_complex() else s
                spikes.setdefault(key, []).append(s.reshape(-1).float().cpu())
                volts.setdefault(key, []).append(v.reshape(-1).float().cpu())
            readout.append(out[0, 0].float().cpu())
    finally:
        model.train(was_training)
    return {
        "spikes": [torch.stack(v) for v in spikes.values()],
        "v": [torch.stack(v) for v in volts.values()],
        "readout": torch.stack(readout),
    }


def _integer_ticks(axis) -> None:
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))


def predicted_class(readout: torch.Tensor, reduce: str = "last") -> int:
    """The class the trainer predicts from a readout ``[T, classes]`` of one sample: the argmax of its
    ``reduce`` over time (the training loss's reduction, :func:`spikeforge.learn.losses.readout_logits`)."""
    from spikeforge.learn.losses import readout_logits

    return int(readout_logits(readout[:, None, :], reduce=reduce)[0].argmax())


def raster_and_traces(model: nn.Module, x: torch.Tensor, label: int, classes: Sequence[str], path: Path,
                      title: str = "", reduce: str = "last") -> Path:
    """Input raster, hidden rasters, membrane traces of the most active neurons, readout per class.

    The title and the readout legend name the true class (``label``) and the predicted one (the argmax of
    the readout reduced over time by ``reduce``, as the trainer predicts). Time steps, input channels
    and neuron indices are integer ticks; legends sit right of the traces, never over them.
    """
    return _save(raster_figure(model, x, label, classes, title, reduce), path)


def raster_figure(model: nn.Module, x: torch.Tensor, label: int, classes: Sequence[str], title: str = "",
                  reduce: str = "last"):
    """The figure of :func:`raster_and_traces` (not saved)."""
    plt = _plt()
    rec = record_sample(model, x)
    layers = len(rec["spikes"])
    ro = rec["readout"]
    predicted = predicted_class(ro, reduce)
    verdict = "correct" if predicted == label else "wrong"
    heading = f"true class {classes[label]}, predicted {classes[predicted]} ({verdict})"
    fig, axes = plt.subplots(layers + 3, 1, figsize=(11.5, 2.2 * (layers + 3)), sharex=True)
    steps = x.shape[0]
    inp = x[:, 0].cpu()
    channels = inp.reshape(steps, -1).shape[1]
    t_idx, c_idx = torch.nonzero(inp.reshape(steps, -1), as_tuple=True)
    axes[0].scatter(t_idx, c_idx, s=6, marker="|", color="black")
    axes[0].set(ylabel="input channel", title=f"{title}: {heading}" if title else heading,
                ylim=(-0.5, channels - 0.5))
    _integer_ticks(axes[0].yaxis)
    for k in range(layers):
        s = rec["spikes"][k]
        t_idx, n_idx = torch.nonzero(s, as_tuple=True)
        axes[1 + k].scatter(t_idx, n_idx, s=4, marker="|", color=f"C{k}")
        axes[1 + k].set(ylabel=f"hidden {k + 1}\nneuron", ylim=(-0.5, s.shape[1] - 0.5))
        _integer_ticks(axes[1 + k].yaxis)
    ax_v = axes[layers + 1]
    legend = {"loc": "upper left", "bbox_to_anchor": (1.01, 1.0), "fontsize": 7, "frameon": False,
              "borderaxespad": 0.0}
    if layers:
        v, s = rec["v"][0], rec["spikes"][0]
        top = torch.argsort(s.sum(0), descending=True)[:4]
        for j, n in enumerate(top.tolist()):
            ax_v.plot(v[:, n], color=f"C{j}", label=f"neuron {n}")
            st = torch.nonzero(s[:, n]).flatten()
            ax_v.scatter(st, v[st, n], color=f"C{j}", marker="^", s=15)
        ax_v.legend(title="▲ spike", title_fontsize=7, **legend)
    ax_v.set(ylabel="membrane v\n(hidden 1)")
    ax_r = axes[layers + 2]
    for c in range(ro.shape[1]):
        tags = [t for t, hit in (("true", c == label), ("predicted", c == predicted)) if hit]
        strong = bool(tags)
        ax_r.plot(ro[:, c], lw=2.5 if strong else 1, alpha=1 if strong else 0.5, ls="--" if tags == ["predicted"]
                  else "-", label=f"{classes[c]}{' (' + ', '.join(tags) + ')' if tags else ''}")
    ax_r.set(ylabel="readout potential", xlabel="time step", xlim=(-0.5, steps - 0.5))
    ax_r.legend(ncol=1 if ro.shape[1] <= 12 else 2, **legend)
    _integer_ticks(ax_r.xaxis)
    for ax in axes:
        ax.grid(alpha=0.2)
    fig.tight_layout()
    return fig


@torch.no_grad()
def neuron_rates(model: nn.Module, split, device: torch.device | str = "cpu", batch_size: int = 256):
    """Spikes per step of every neuron of every spiking layer (each population that reports spikes to the
    counting context) over a split's valid steps, and of the input channels: ``({layer name: rates [N]},
    input rates [C])``."""
    from spikeforge._counting import counting
    from spikeforge.data import batches
    from spikeforge.learn.analysis import analysis_batch
    from spikeforge.learn.losses import valid_mask

    names = {id(m): n for n, m in model.named_modules()}
    totals: dict[str, torch.Tensor] = {}
    steps = 0.0
    inp: torch.Tensor | float = 0.0
    was_training = model.training
    model.eval()
    try:
        with torch.random.fork_rng(devices=[]):
            per = analysis_batch(split.steps, batch_size)  # (a wide network on long series: memory)
            for batch in batches(split, per, generator=torch.Generator().manual_seed(0)):
                x = batch.x.to(device)
                mask = valid_mask(batch.lengths.to(device), x.shape[0], x.shape[1], x.device)
                seen = _Spikes()
                with counting(seen):
                    model(x)
                for key, (_module, s) in seen.out.items():
                    if key in names:
                        nz = (s != 0).to(torch.float32) * mask.reshape(mask.shape + (1,) * (s.dim() - 2))
                        name = names[key]
                        totals[name] = totals.get(name, 0) + nz.sum((0, 1)).reshape(-1).cpu()
                steps += float(mask.sum())
                inp = inp + ((x != 0).to(torch.float32) * mask.unsqueeze(-1)).sum((0, 1)).cpu()
    finally:
        model.train(was_training)
    return {n: t / max(steps, 1.0) for n, t in totals.items()}, torch.as_tensor(inp) / max(steps, 1.0)


def firing_rates(rates: Mapping[str, torch.Tensor], labels: Sequence[str], input_rates: torch.Tensor | None,
                 path: Path) -> Path:
    """Left: mean firing rate per layer (input channels first). Right: distribution over neurons."""
    plt = _plt()
    names = list(rates)
    lab = list(labels) if len(labels) == len(names) else names
    bars, values = [], []
    if input_rates is not None and input_rates.numel():
        bars.append(f"input ({input_rates.numel()})")
        values.append(float(input_rates.mean()))
    bars += lab
    values += [float(rates[n].mean()) for n in names]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.6))
    ax1.bar(bars, values, color=["C7"] + [f"C{k}" for k in range(len(names))] if len(bars) > len(names)
            else [f"C{k}" for k in range(len(names))])
    ax1.set(ylabel="spikes / neuron / step", title="mean firing rate per layer (test set)")
    ax1.tick_params(axis="x", labelsize=8)
    for k, n in enumerate(names):
        r = rates[n].float()
        ax2.hist(r.numpy(), bins=30, range=(0.0, max(float(r.max()), 1e-3)), histtype="step", lw=1.5, color=f"C{k}",
                 label=f"{lab[k]}: {int((r == 0).sum())} silent")
    ax2.set(xlabel="spikes / step", ylabel="neurons", title="firing rate of each neuron")
    ax2.legend(fontsize=8)
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return _save(fig, path)


_FIT_STYLE = {
    "yes": {"facecolor": "#2ca02c", "label": "chip the model fits"},
    "no": {"facecolor": "#c7c7c7", "label": "chip the model does not fit (a hard limit)"},
    "unknown": {"facecolor": "#e5f5e0", "hatch": "////", "edgecolor": "#2ca02c",
                "label": "chip, fit unknown (catalog cell blank)"},
    None: {"facecolor": "#2ca02c", "label": "chip (no fit verdicts)"},
}


def _accelerator_kind(row: Mapping[str, Any]) -> str:
    family = str(row.get("family", ""))
    if family == "TPU":
        return "TPU"
    if family == "supercomputer":
        return "system"
    return "GPU"


def energy_chart(energy: Mapping[str, Any], path: Path, max_gpus: int = 8,
                 fit: Mapping[str, Any] | None = None) -> Path:
    """Horizontal bars (log scale) of energy per sample: every chip and the most efficient GPUs and
    TPUs plus the reference. With ``fit`` (``metrics["fit"]``) the chips are coloured by their verdict
    (fits / does not fit / unknown) and the one of lowest energy among those the model fits is named."""
    return _save(energy_figure(energy, max_gpus, fit), path)


def energy_figure(energy: Mapping[str, Any], max_gpus: int = 8, fit: Mapping[str, Any] | None = None):
    """The figure of :func:`energy_chart` (not saved)."""
    from matplotlib.patches import Patch

    plt = _plt()
    rows = list(energy["rows"])
    chips = [r for r in rows if r["kind"] == "neuromorphic"]
    gpus = [r for r in rows if r["kind"] == "accelerator"]
    ref = energy["reference"]
    keep_gpus = sorted(gpus, key=lambda r: r["energy_j"])[:max_gpus]
    if ref not in {r["device"] for r in keep_gpus}:
        keep_gpus += [r for r in gpus if r["device"] == ref]
    shown = sorted(chips + keep_gpus, key=lambda r: r["energy_j"], reverse=True)
    verdicts = {name: v.get("verdict") for name, v in ((fit or {}).get("chips") or {}).items()}
    have_fit = bool(verdicts)
    fig, ax = plt.subplots(figsize=(10, 0.3 * len(shown) + 1.6))
    acc_colors = {"GPU": "#1f77b4", "TPU": "#9467bd", "system": "#7f7f7f"}
    names, used = [], {}
    for i, r in enumerate(shown):
        value = max(r["energy_j"], 1e-30)
        if r["kind"] == "neuromorphic":
            style = dict(_FIT_STYLE[verdicts.get(r["device"], "unknown") if have_fit else None])
            key = style.pop("label")
            note = {"yes": "fits", "no": "does not fit", "unknown": "fit unknown"}.get(
                verdicts.get(r["device"], "unknown") if have_fit else "", "")
        elif r["device"] == ref:
            kind = _accelerator_kind(r)
            style, key, note = {"facecolor": "#d62728"}, f"reference {kind} ({ref})", f"{kind}, reference"
        else:
            kind = _accelerator_kind(r)
            style = {"facecolor": acc_colors[kind]}
            key = {"GPU": "GPU (peak FP32 / TDP)", "TPU": "TPU (peak bf16 / TDP)", "system": "system"}[kind]
            note = kind
        ax.barh(i, value, **style)
        used.setdefault(key, style)
        ax.text(value * 1.08, i, note, va="center", fontsize=7, color="#333333")
        names.append(r["device"])
    ax.set_yticks(range(len(shown)), names)
    ax.set_xscale("log")
    lo = min(max(r["energy_j"], 1e-30) for r in shown)
    hi = max(r["energy_j"] for r in shown)
    ax.set_xlim(lo / 3, hi * 12)  # room for the notes right of the longest bar
    best = energy.get("best_fitting_chip")
    if have_fit and best is None and "best_fitting_chip" not in energy:
        fitting = [r for r in chips if verdicts.get(r["device"]) == "yes"]
        best = min(fitting, key=lambda r: r["energy_j"])["device"] if fitting else None
    headline = (f"lowest among chips the model fits: {best}" if best else
                "the model fits none of the chips" if have_fit else "")
    ax.set(xlabel="energy per sample [J] (lower bound)",
           title="Energy per inference: neuromorphic chips against GPUs and TPUs"
           + (f"\n{headline}" if headline else ""))
    ax.tick_params(axis="y", labelsize=8)
    ax.grid(alpha=0.3, axis="x")
    order = [st["label"] for st in _FIT_STYLE.values()] + ["GPU (peak FP32 / TDP)", "TPU (peak bf16 / TDP)", "system"]
    keys = sorted(used, key=lambda k: order.index(k) if k in order else len(order))
    ax.legend(handles=[Patch(label=k, **used[k]) for k in keys],
              loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


def _run_loss(run_dir: Path) -> str:
    """The loss reduction of a run folder's ``config.json`` (``"last"`` if it has none)."""
    import json

    try:
        return str(json.loads((Path(run_dir) / "config.json").read_text()).get("loss", "last"))
    except (OSError, ValueError, AttributeError):
        return "last"


def draw_all(run_dir: Path, *, model: nn.Module, dataset, history: Sequence[Mapping[str, float]],
             metrics: Mapping[str, Any], device: torch.device | str = "cpu", sample: int = 0,
             reduce: str | None = None) -> dict[str, Path]:
    """Draw every picture of a run folder into ``run_dir/plots``; returns ``{name: path}``.

    ``reduce`` is the readout reduction the run trains with (its ``loss``), used to name the predicted
    class of the raster's sample; by default it is read from ``run_dir/config.json``.
    """
    from spikeforge.learn.models import describe_layers

    reduce = reduce or _run_loss(run_dir)
    plots = Path(run_dir) / "plots"
    out: dict[str, Path] = {}
    if history:
        out["learning_curves"] = learning_curves(history, plots / "learning_curves.png", reduce)
    split = dataset.test
    if len(split) and not getattr(split, "regression", False):  # the raster names classes; a regression set has none
        idx = torch.tensor([min(sample, len(split) - 1)])
        length = int(split.lengths[idx].item()) if split.kind == "series" else split.steps
        gen = torch.Generator().manual_seed(0)
        x = split.encode(idx, generator=gen)[: max(length, 1)].to(device)
        label = int(split.y[idx].item())
        out["raster"] = raster_and_traces(model, x, label, [str(c) for c in split.classes], plots / "raster.png",
                                          title=f"test sample {int(idx)}", reduce=reduce)
    if len(split):
        rates, inp = neuron_rates(model, split, device)
        if rates:
            labels = [str(r["label"]) for r in describe_layers(model)]
            out["firing_rates"] = firing_rates(rates, labels, inp, plots / "firing_rates.png")
    if metrics.get("energy"):
        out["energy"] = energy_chart(metrics["energy"], plots / "energy.png", fit=metrics.get("fit"))
    return out

"""The pictures of a run folder (matplotlib, Agg backend, PNG files under ``plots/``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

__all__ = ["PLOTS", "draw_all", "energy_chart", "firing_rates", "learning_curves", "neuron_rates",
           "raster_and_traces", "record_sample"]

PLOTS = {
    "learning_curves": "Learning curves",
    "raster": "Spike raster and membrane traces of one test sample",
    "firing_rates": "Firing rate per layer",
    "energy": "Energy per sample: neuromorphic chips against GPUs",
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


def learning_curves(history: Sequence[Mapping[str, float]], path: Path) -> Path:
    plt = _plt()
    epochs = [r["epoch"] for r in history]
    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(13, 3.6))
    ax1.plot(epochs, [r["train_loss"] for r in history], "o-", ms=3, label="train")
    ax1.plot(epochs, [r["test_loss"] for r in history], "o-", ms=3, label="test")
    ax1.set(xlabel="epoch", ylabel="cross-entropy", title="loss", yscale="log")
    ax2.plot(epochs, [r["train_accuracy"] for r in history], "o-", ms=3, label="train")
    ax2.plot(epochs, [r["test_accuracy"] for r in history], "o-", ms=3, label="test")
    ax2.set(xlabel="epoch", ylabel="accuracy", title="accuracy", ylim=(0, 1.02))
    ax3.plot(epochs, [r["train_spikes_per_sample"] for r in history], "o-", ms=3, label="train")
    ax3.plot(epochs, [r["test_spikes_per_sample"] for r in history], "o-", ms=3, label="test")
    ax3.set(xlabel="epoch", ylabel="spike events / sample", title="hidden-layer spikes")
    for ax in (ax1, ax2, ax3):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    return _save(fig, path)


@torch.no_grad()
def record_sample(model: nn.Module, x: torch.Tensor) -> dict[str, Any]:
    """Run ``x [T, 1, C]`` one step at a time and record, per spiking layer, spikes ``[T, N]`` and the
    membrane potential after each step ``[T, N]``, and the readout ``[T, classes]``."""
    from spikeforge.neuron import NeuronState

    was_training = model.training
    model.eval()
    state = None
    spikes: dict[int, list[torch.Tensor]] = {}
    volts: dict[int, list[torch.Tensor]] = {}
    readout = []
    for t in range(x.shape[0]):
        out, state = model(x[t:t + 1], state, return_state=True)
        for k, st in enumerate(state):
            if isinstance(st, NeuronState):
                v = st.v.real if st.v.is_complex() else st.v
                s = st.s.abs() if st.s.is_complex() else st.s
                spikes.setdefault(k, []).append(s[0].float().cpu())
                volts.setdefault(k, []).append(v[0].float().cpu())
        readout.append(out[0, 0].float().cpu())
    model.train(was_training)
    return {
        "spikes": [torch.stack(spikes[k]) for k in sorted(spikes)],
        "v": [torch.stack(volts[k]) for k in sorted(volts)],
        "readout": torch.stack(readout),
    }


def raster_and_traces(model: nn.Module, x: torch.Tensor, label: int, classes: Sequence[str], path: Path,
                      title: str = "") -> Path:
    """Input raster, hidden rasters, membrane traces of the most active neurons, readout per class."""
    plt = _plt()
    rec = record_sample(model, x)
    layers = len(rec["spikes"])
    fig, axes = plt.subplots(layers + 3, 1, figsize=(10, 2.2 * (layers + 3)), sharex=True)
    inp = x[:, 0].cpu()
    t_idx, c_idx = torch.nonzero(inp, as_tuple=True)
    axes[0].scatter(t_idx, c_idx, s=6, marker="|", color="black")
    axes[0].set(ylabel="input channel", title=title or "one test sample")
    for k in range(layers):
        s = rec["spikes"][k]
        t_idx, n_idx = torch.nonzero(s, as_tuple=True)
        axes[1 + k].scatter(t_idx, n_idx, s=4, marker="|", color=f"C{k}")
        axes[1 + k].set(ylabel=f"hidden {k + 1}\nneuron", ylim=(-1, s.shape[1]))
    ax_v = axes[layers + 1]
    if layers:
        v, s = rec["v"][0], rec["spikes"][0]
        top = torch.argsort(s.sum(0), descending=True)[:4]
        for j, n in enumerate(top.tolist()):
            ax_v.plot(v[:, n], color=f"C{j}", label=f"neuron {n}")
            st = torch.nonzero(s[:, n]).flatten()
            ax_v.scatter(st, v[st, n], color=f"C{j}", marker="^", s=15)
        ax_v.legend(fontsize=7, loc="upper right", ncol=4)
    ax_v.set(ylabel="membrane v\n(hidden 1)")
    ax_r = axes[layers + 2]
    ro = rec["readout"]
    for c in range(ro.shape[1]):
        ax_r.plot(ro[:, c], lw=2.5 if c == label else 1, alpha=1 if c == label else 0.5,
                  label=f"{classes[c]}{' (true)' if c == label else ''}")
    ax_r.set(ylabel="readout potential", xlabel="time step")
    ax_r.legend(fontsize=7, ncol=min(ro.shape[1], 10), loc="upper left")
    for ax in axes:
        ax.grid(alpha=0.2)
    fig.tight_layout()
    return _save(fig, path)


@torch.no_grad()
def neuron_rates(model: nn.Module, split, device: torch.device | str = "cpu", batch_size: int = 256):
    """Spikes per step of every neuron of every spiking layer over a split's valid steps, and of the
    input channels: ``({layer name: rates [N]}, input rates [C])``."""
    from spikeforge.data import batches
    from spikeforge.learn.losses import valid_mask
    from spikeforge.neuron import Neuron

    modules = [(n, m) for n, m in model.named_modules() if isinstance(m, Neuron)]
    totals: dict[str, torch.Tensor] = {}
    mask_now: list[torch.Tensor] = []

    def hook_for(name):
        def hook(_m, _a, output):
            s = output[0] if isinstance(output, tuple) else output
            nz = (s != 0).to(torch.float32) * mask_now[0].unsqueeze(-1)
            totals[name] = totals.get(name, 0) + nz.sum((0, 1)).cpu()
        return hook

    handles = [m.register_forward_hook(hook_for(n)) for n, m in modules]
    steps = 0.0
    inp: torch.Tensor | float = 0.0
    was_training = model.training
    model.eval()
    try:
        with torch.random.fork_rng(devices=[]):
            for batch in batches(split, batch_size, generator=torch.Generator().manual_seed(0)):
                x = batch.x.to(device)
                mask = valid_mask(batch.lengths.to(device), x.shape[0], x.shape[1], x.device)
                mask_now[:] = [mask]
                model(x)
                steps += float(mask.sum())
                inp = inp + ((x != 0).to(torch.float32) * mask.unsqueeze(-1)).sum((0, 1)).cpu()
    finally:
        for h in handles:
            h.remove()
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


def energy_chart(energy: Mapping[str, Any], path: Path, max_gpus: int = 8) -> Path:
    """Horizontal bars (log scale) of energy per sample: every chip and the most efficient GPUs plus the
    reference."""
    plt = _plt()
    rows = list(energy["rows"])
    chips = [r for r in rows if r["kind"] == "neuromorphic"]
    gpus = [r for r in rows if r["kind"] == "accelerator"]
    ref = energy["reference"]
    keep_gpus = sorted(gpus, key=lambda r: r["energy_j"])[:max_gpus]
    if ref not in {r["device"] for r in keep_gpus}:
        keep_gpus += [r for r in gpus if r["device"] == ref]
    shown = sorted(chips + keep_gpus, key=lambda r: r["energy_j"], reverse=True)
    fig, ax = plt.subplots(figsize=(9, 0.28 * len(shown) + 1.2))
    colors = ["C2" if r["kind"] == "neuromorphic" else ("C3" if r["device"] == ref else "C0") for r in shown]
    values = [max(r["energy_j"], 1e-30) for r in shown]
    ax.barh([r["device"] for r in shown], values, color=colors)
    ax.set_xscale("log")
    ax.set(xlabel="energy per sample [J] (lower bound)",
           title=f"energy per inference: chips (green) vs GPUs (blue; reference {ref} red)")
    ax.tick_params(axis="y", labelsize=8)
    ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    return _save(fig, path)


def draw_all(run_dir: Path, *, model: nn.Module, dataset, history: Sequence[Mapping[str, float]],
             metrics: Mapping[str, Any], device: torch.device | str = "cpu", sample: int = 0) -> dict[str, Path]:
    """Draw every picture of a run folder into ``run_dir/plots``; returns ``{name: path}``."""
    from spikeforge.learn.models import describe_layers

    plots = Path(run_dir) / "plots"
    out: dict[str, Path] = {}
    if history:
        out["learning_curves"] = learning_curves(history, plots / "learning_curves.png")
    split = dataset.test
    if len(split):
        idx = torch.tensor([min(sample, len(split) - 1)])
        length = int(split.lengths[idx].item()) if split.kind == "series" else split.steps
        gen = torch.Generator().manual_seed(0)
        x = split.encode(idx, generator=gen)[: max(length, 1)].to(device)
        label = int(split.y[idx].item())
        out["raster"] = raster_and_traces(model, x, label, [str(c) for c in split.classes], plots / "raster.png",
                                          title=f"test sample {int(idx)} (class {split.classes[label]})")
    if len(split):
        rates, inp = neuron_rates(model, split, device)
        if rates:
            labels = [str(r["label"]) for r in describe_layers(model)]
            out["firing_rates"] = firing_rates(rates, labels, inp, plots / "firing_rates.png")
    if metrics.get("energy"):
        out["energy"] = energy_chart(metrics["energy"], plots / "energy.png")
    return out

"""What a trained network costs on hardware: operations, spikes and energy per sample, and whether it
fits each neuromorphic chip (:mod:`spikeforge.hardware`, imported lazily).

Counts are exact per sample: the test samples are grouped by length and each group runs trimmed to its
own length, so padding steps never count (a chip would not run them).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

import torch
from torch import nn

__all__ = ["FIELDS", "MAX_SAMPLE_STEPS", "analysis_batch", "count_split", "energy_headline", "hardware_analysis"]

FIELDS = ("synaptic_ops", "effective_acs", "effective_macs", "dense_macs", "neuron_updates", "spikes")
#: Sample-steps (``T·B``) of one per-step forward pass of the analysis: a wide network on long series (the
#: ``rocket`` family's 2688 neurons on ACSF1's 1460 steps) holds ``T·B·width`` values per layer.
MAX_SAMPLE_STEPS = 2**16


def analysis_batch(steps: int, batch_size: int) -> int:
    """The samples of one analysis pass over series of ``steps`` steps: ``batch_size``, fewer where ``T·B``
    would pass :data:`MAX_SAMPLE_STEPS` (at least one). The counts per sample of a deterministic network and
    encoding do not depend on it."""
    return max(1, min(int(batch_size), MAX_SAMPLE_STEPS // max(int(steps), 1)))


@torch.no_grad()
def count_split(model: nn.Module, split, device: torch.device, batch_size: int = 256) -> dict[str, Any]:
    """Average per-sample counts of :func:`spikeforge.hardware.count_ops` over a whole split."""
    from spikeforge.hardware import count_ops

    groups: dict[int, list[int]] = defaultdict(list)
    for i, length in enumerate(split.lengths.tolist()):
        groups[int(length)].append(i)
    totals = dict.fromkeys(FIELDS, 0.0)
    layer_totals: dict[str, dict[str, float]] = {}
    n = 0
    last = None
    example = None
    gen = torch.Generator().manual_seed(0)
    with torch.random.fork_rng(devices=[]):
        for length in sorted(groups):
            idx = groups[length]
            per = analysis_batch(length, batch_size)
            for start in range(0, len(idx), per):
                chunk = torch.tensor(idx[start:start + per])
                x = split.encode(chunk, generator=gen)[: max(length, 1)].to(device)
                counts = count_ops(model, x)
                b = len(chunk)
                for f in FIELDS:
                    totals[f] += getattr(counts, f) * b
                for la in counts.layers:
                    acc = layer_totals.setdefault(la.name, {"type": la.type, "kind": la.kind, "synaptic_ops": 0.0,
                                                            "dense_macs": 0.0, "spikes": 0.0})
                    acc["synaptic_ops"] += la.synaptic_ops * b
                    acc["dense_macs"] += la.dense_macs * b
                    if la.kind == "neuron" and la.spiking:
                        acc["spikes"] += la.nonzero_outputs * b
                n += b
                last = counts
                example = x[:, :1]  # one sample: the fit verdicts ask the network's structure, not the batch
    per = {f: totals[f] / n for f in FIELDS}
    layers = {name: {k: (v / n if isinstance(v, float) else v) for k, v in acc.items()}
              for name, acc in layer_totals.items()}
    return {"per_sample": per, "layers": layers, "parameters": last.parameters if last else 0,
            "memory_bytes": last.memory_bytes if last else 0, "samples": n, "example": example}


def _fit_verdicts(model: nn.Module, example: torch.Tensor | None) -> dict[str, Any]:
    """Fit verdicts of :func:`spikeforge.hardware.fit_all` (inference only), one entry per chip."""
    import spikeforge.hardware as hw

    fit_all = getattr(hw, "fit_all", None)
    if fit_all is None:
        return {"available": False, "note": "this spikeforge.hardware has no fit_all; no verdicts"}
    table = fit_all(model, example)
    chips = {}
    for r in table.rows:
        chips[r.platform] = {
            "verdict": r.verdict,
            "fits": bool(r.fits),
            "chips_needed": r.chips_needed,
            "neurons_needed": r.neurons_needed,
            "neurons_available": r.neurons_available,
            "synapses_needed": r.synapses_needed,
            "synapses_available": r.synapses_available,
            "neuron_model": r.neuron_model,
            "decided_by": getattr(r, "basis", ""),
            "hard_limits": getattr(r, "hard_text", ""),
            "heuristic": getattr(r, "heuristic_text", ""),
            "reasons": list(r.reasons),
        }
    needs = getattr(table, "needs", None)
    return {
        "available": True,
        "fits_on": [name for name, v in chips.items() if v["fits"]],
        "needs": {k: getattr(needs, k) for k in ("neurons", "synapses", "max_fan_in") if hasattr(needs, k)},
        "chips": chips,
    }


def hardware_analysis(model: nn.Module, split, device: torch.device, batch_size: int = 256) -> dict[str, Any]:
    """The hardware part of ``metrics.json``: per-sample counts, energy on every chip and accelerator
    (lower bounds, :func:`spikeforge.hardware.energy`), and fit verdicts."""
    from spikeforge.hardware import energy

    counted = count_split(model, split, device, batch_size)
    per = counted["per_sample"]
    table = energy(SimpleNamespace(synaptic_ops=per["synaptic_ops"], dense_macs=per["dense_macs"]))
    rows = [
        {"device": r.device, "kind": r.kind, "family": r.family, "ops": r.ops, "op_unit": r.op_unit,
         "j_per_op": r.j_per_op, "energy_j": r.energy_j, "ratio": r.ratio, "basis": r.basis}
        for r in table.rows
    ]
    chips = [r for r in rows if r["kind"] == "neuromorphic"]
    gpus = [r for r in rows if r["kind"] == "accelerator"]
    out: dict[str, Any] = {
        "synaptic_ops_per_sample": per["synaptic_ops"],
        "effective_acs_per_sample": per["effective_acs"],
        "effective_macs_per_sample": per["effective_macs"],
        "dense_macs_per_sample": per["dense_macs"],
        "neuron_updates_per_sample": per["neuron_updates"],
        "spike_events_per_sample": per["spikes"],
        "memory_bytes": counted["memory_bytes"],
        "layer_ops": counted["layers"],
        "energy": {
            "reference": table.reference,
            "note": "lower bounds: chips = synaptic ops x J/SOP; GPUs = 2 x dense MACs at peak FLOP/s per W",
            "per_sample_j": {r["device"]: r["energy_j"] for r in rows},
            "vs_reference": {r["device"]: r["ratio"] for r in rows},
            "best_chip": min(chips, key=lambda r: r["energy_j"])["device"] if chips else None,
            "best_gpu": min(gpus, key=lambda r: r["energy_j"])["device"] if gpus else None,
            "rows": rows,
        },
    }
    if chips and gpus:
        best_chip = min(r["energy_j"] for r in chips)
        best_gpu = min(r["energy_j"] for r in gpus)
        out["energy"]["best_chip_vs_best_gpu"] = best_chip / best_gpu if best_gpu > 0 else math.nan
    out["fit"] = _fit_verdicts(model, counted["example"])
    fitting = [r for r in chips if r["device"] in set(out["fit"].get("fits_on", ()))]
    # the headline: the lowest energy among the chips the model fits (never one whose fit is no/unknown)
    out["energy"]["best_fitting_chip"] = min(fitting, key=lambda r: r["energy_j"])["device"] if fitting else None
    return out


def energy_headline(metrics: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The summary rows of a run's energy: ``[(quantity, value), ...]``.

    The first row is the lowest energy per sample among the chips the model *fits* (hard limits met,
    :func:`spikeforge.hardware.fit_all`), not the lowest of all chips, whose fit may be "no" or
    "unknown"; then the reference GPU. Empty when the run has no energy analysis.
    """
    energy = metrics.get("energy")
    if not energy:
        return []
    joules = energy["per_sample_j"]
    ref = energy["reference"]
    rows: list[tuple[str, str]] = []
    best = energy.get("best_fitting_chip")
    if best is None and "best_fitting_chip" not in energy:  # metrics.json of an older run
        fits_on = set((metrics.get("fit") or {}).get("fits_on", ()))
        chips = [r for r in energy["rows"] if r["kind"] == "neuromorphic" and r["device"] in fits_on]
        best = min(chips, key=lambda r: r["energy_j"])["device"] if chips else None
    if best is not None:
        rows.append(("lowest energy per sample, chips the model fits", f"{joules[best]:.3g} J on {best}"))
    else:
        rows.append(("lowest energy per sample, chips the model fits", "none: the model fits no chip"))
    rows.append((f"energy on {ref}", f"{joules[ref]:.3g} J"))
    return rows

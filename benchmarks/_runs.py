"""Runs of ``spikeforge train`` as a user types them, over seeds and variants (the benchmarks that compare
settings of one method by their run folders' ``metrics.json``)."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path


def train(argv: Sequence[str], out: Path) -> dict[str, float]:
    """``spikeforge train *argv --out out`` in a fresh process (one thread, no progress, no plots); the run's
    figures and the command's wall seconds."""
    cmd = [sys.executable, "-m", "spikeforge.cli.main", "train", *argv, "--threads", "1", "--no-progress",
           "--no-plots", "--out", str(out)]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    m = json.loads((out / "metrics.json").read_text())
    return {"test_accuracy": m["test_accuracy"], "valid_accuracy": m["valid_accuracy"],
            "train_seconds": m["train_seconds"], "wall_seconds": wall, "spikes_per_sample": m["spikes_per_sample"],
            "synaptic_ops_per_sample": m.get("synaptic_ops_per_sample")}


def seed_grid(key: str, variants: Mapping[str, Sequence[str]], seeds: Sequence[int], base: Sequence[str],
              folder: Path, spikes_format: str = ".0f") -> tuple[list[dict], dict[str, dict], tuple[float, float]]:
    """Every variant (its arguments after ``base``) at every seed, a markdown row printed per run; returns the
    rows (``key``: the variant's name), a summary per variant (test accuracy mean/min/max, median training
    seconds) and the 1-minute load average before and after."""
    load0 = os.getloadavg()[0]
    rows = []
    print(f"| {key} | seed | test accuracy | train [s] | wall [s] | spikes / test sample |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, extra in variants.items():
        for seed in seeds:
            r = {key: name, "seed": seed, **train([*base, "--seed", str(seed), *extra], folder / f"{name}-seed{seed}")}
            rows.append(r)
            print(f"| {name} | {seed} | {r['test_accuracy']:.4f} | {r['train_seconds']:.1f} | "
                  f"{r['wall_seconds']:.1f} | {r['spikes_per_sample']:{spikes_format}} |", flush=True)
    load1 = os.getloadavg()[0]
    summary = {}
    for name in variants:
        acc = [r["test_accuracy"] for r in rows if r[key] == name]
        summary[name] = {"test_accuracy_mean": statistics.mean(acc), "test_accuracy_min": min(acc),
                         "test_accuracy_max": max(acc),
                         "train_seconds_median": statistics.median(r["train_seconds"] for r in rows
                                                                   if r[key] == name)}
        print(f"{name}: test accuracy {min(acc):.4f}-{max(acc):.4f}, mean {statistics.mean(acc):.4f}")
    print(f"{os.cpu_count()} CPUs, 1-minute load average {load0:.2f} before, {load1:.2f} after (other jobs ran)")
    return rows, summary, (load0, load1)


def paired(argv: Sequence[str], variants: Mapping[str, Sequence[str]], seed: int, folder: Path) -> dict[str, dict]:
    """One run of every variant (its arguments after ``argv``) with ``--seed seed``: the same split, data order
    and epochs, so that the variants' figures pair up. Name -> the run's figures (:func:`train`) and
    ``other_cores``, other processes' CPU during it."""
    from _quiet import OtherCPU

    pair = {}
    for k, (name, extra) in enumerate(variants.items()):
        with OtherCPU() as other:
            r = train([*argv, "--seed", str(seed), *extra], folder / f"seed{seed}-variant{k}")
        pair[name] = {**r, "other_cores": other.cores}
    return pair


def pair_counts(diffs: Sequence[float]) -> dict[str, float]:
    """How paired differences (second variant minus first) fall: ``pairs``, ``second_better``,
    ``first_better``, ``ties``, ``mean_difference``."""
    return {"pairs": len(diffs), "second_better": sum(d > 0 for d in diffs), "first_better": sum(d < 0 for d in diffs),
            "ties": sum(d == 0 for d in diffs), "mean_difference": statistics.mean(diffs)}

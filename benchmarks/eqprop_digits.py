"""Equilibrium propagation (``spikeforge train --method eqprop``) on scikit-learn's 8x8 digits: test accuracy,
training time and spikes per test sample, for the spiking network (sigma-delta spikes) and its rate-based
twin, over seeds.

Each run is the command a user types (a fresh process; the run folder's ``metrics.json`` gives the figures):

    spikeforge train --method eqprop --dataset digits --epochs 30 --seed S --out DIR       (variant "default")
    spikeforge train --method eqprop --dataset digits --hidden 128 --epochs 30 --batch-size 32 \\
        --optimizer sgd --lr 0.01 --seed S --out DIR [--method-param spiking=false]    ("spiking", "rate")

("default": the config's defaults, 256 hidden units, Adam, lr 3e-3, batches of 16; rate code, 25 steps per
digit; the method's defaults beta = 1, positive nudging, 10 nudged steps, eps 0.5).
``spikes_per_sample`` counts the spikes of the hidden and output layers in the free phase (what evaluation
runs); training also runs the nudged phase. Results go to ``benchmarks/results/eqprop_digits.json``.

    python benchmarks/eqprop_digits.py                       # seeds 0 1 2, three variants: ~5-8 min on 2 cores
    python benchmarks/eqprop_digits.py --seeds 0 --epochs 5  # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "eqprop_digits.json"
SGD = ["--hidden", "128", "--batch-size", "32", "--optimizer", "sgd", "--lr", "0.01"]
VARIANTS = {"default": [], "spiking": SGD, "rate": [*SGD, "--method-param", "spiking=false"]}


def run(seed: int, variant: str, args: argparse.Namespace, folder: Path) -> dict[str, float]:
    out = folder / f"{variant}-seed{seed}"
    cmd = [sys.executable, "-m", "spikeforge.cli.main", "train", "--method", "eqprop", "--dataset", "digits",
           "--epochs", str(args.epochs), "--seed", str(seed), "--threads", "1", "--no-progress", "--no-plots",
           "--out", str(out), *VARIANTS[variant]]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    m = json.loads((out / "metrics.json").read_text())
    return {"variant": variant, "seed": seed, "test_accuracy": m["test_accuracy"],
            "valid_accuracy": m["valid_accuracy"], "train_seconds": m["train_seconds"], "wall_seconds": wall,
            "spikes_per_sample": m["spikes_per_sample"], "synaptic_ops_per_sample": m.get("synaptic_ops_per_sample")}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--variants", nargs="+", choices=sorted(VARIANTS), default=["default", "spiking", "rate"])
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--no-save", action="store_true", help="do not write benchmarks/results/eqprop_digits.json")
    args = p.parse_args(argv)
    load0 = os.getloadavg()[0]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        print("| variant | seed | test accuracy | train [s] | wall [s] | spikes / test sample |")
        print("|---|---:|---:|---:|---:|---:|")
        for variant in args.variants:
            for seed in args.seeds:
                r = run(seed, variant, args, Path(tmp))
                rows.append(r)
                print(f"| {variant} | {seed} | {r['test_accuracy']:.4f} | {r['train_seconds']:.1f} | "
                      f"{r['wall_seconds']:.1f} | {r['spikes_per_sample']:.0f} |", flush=True)
    load1 = os.getloadavg()[0]
    summary = {}
    for variant in args.variants:
        acc = [r["test_accuracy"] for r in rows if r["variant"] == variant]
        summary[variant] = {"test_accuracy_mean": statistics.mean(acc), "test_accuracy_min": min(acc),
                            "test_accuracy_max": max(acc),
                            "train_seconds_median": statistics.median(r["train_seconds"] for r in rows
                                                                      if r["variant"] == variant)}
        print(f"{variant}: test accuracy {min(acc):.4f}-{max(acc):.4f}, mean {statistics.mean(acc):.4f}")
    print(f"{os.cpu_count()} CPUs, 1-minute load average {load0:.2f} before, {load1:.2f} after (other jobs ran)")
    if not args.no_save:
        RESULTS.parent.mkdir(exist_ok=True)
        RESULTS.write_text(json.dumps({
            "command": "python benchmarks/eqprop_digits.py " + " ".join(argv if argv is not None else sys.argv[1:]),
            "settings": {"epochs": args.epochs, "steps": 25, "encoder": "rate (default)",
                         "variants": {v: " ".join(VARIANTS[v]) or "(config defaults)" for v in args.variants}},
            "machine": {"cpus": os.cpu_count(), "load_before": load0, "load_after": load1,
                        "note": "shared machine: other jobs ran at the same time; times are noisy"},
            "runs": rows, "summary": summary}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

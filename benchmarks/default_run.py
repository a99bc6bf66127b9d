"""The default job, ``spikeforge train`` with no options, for several seeds: wall time and test accuracy.

Each seed runs the command as a user types it (``spikeforge train --seed S --out DIR``, a fresh process:
import, data, 30 epochs, analysis, pictures, report) and is timed from start to exit; the accuracy is the
run's ``metrics.json``. The README's and ``spikeforge train --help``'s numbers for the default run come
from this script:

    python benchmarks/default_run.py            # seeds 0-4, about a minute on 2 cores
    python benchmarks/default_run.py --seeds 0  # the bare default only
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


def run_seed(seed: int, folder: Path) -> dict[str, float]:
    out = folder / f"seed{seed}"
    cmd = [sys.executable, "-m", "spikeforge.cli.main", "train", "--seed", str(seed), "--out", str(out)]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    metrics = json.loads((out / "metrics.json").read_text())
    tests = json.loads((out / "run.json").read_text())["dataset"]["test_size"]
    return {"seed": seed, "accuracy": metrics["test_accuracy"], "correct": round(metrics["test_accuracy"] * tests),
            "tests": tests, "wall_s": wall, "train_s": metrics["train_seconds"]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--keep", type=Path, default=None, metavar="DIR", help="keep the run folders in DIR")
    args = p.parse_args(argv)

    load0 = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep if args.keep is not None else Path(tmp)
        rows = []
        print("| seed | test accuracy | correct | wall time of `spikeforge train` [s] | of it training [s] |")
        print("|---:|---:|---:|---:|---:|")
        for seed in args.seeds:
            r = run_seed(seed, folder)
            rows.append(r)
            print(f"| {seed} | {r['accuracy']:.4f} | {r['correct']} / {r['tests']} | {r['wall_s']:.1f} | "
                  f"{r['train_s']:.1f} |", flush=True)
    load1 = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    acc = [r["accuracy"] for r in rows]
    wall = [r["wall_s"] for r in rows]
    spread = f" ± {statistics.stdev(acc):.4f} (sample std)" if len(acc) > 1 else ""
    print(f"\nseeds {args.seeds}: test accuracy {min(acc):.4f}–{max(acc):.4f}, mean {statistics.mean(acc):.4f}"
          f"{spread}")
    print(f"wall time per run {min(wall):.1f}–{max(wall):.1f} s, median {statistics.median(wall):.1f} s; "
          f"{os.cpu_count()} CPUs, 1-minute load average {load0:.2f} before, {load1:.2f} after")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Data-parallel scaling on this machine: ``spikeforge train`` in 1 process against ``--nproc 2``.

For each workload the same run (same config, same global batch) is trained three ways, each a fresh
``python -m spikeforge train`` subprocess:

* 1 process, ``--threads 1`` (one core);
* 1 process, ``--threads 2`` (both cores, intra-op threads: the fair comparison on a 2-core machine);
* ``--nproc 2``, ``--threads 1`` each (two gloo workers, DistributedDataParallel).

Measured: the median epoch time from the run's ``metrics.csv`` (epochs after the first; training plus the
validation pass every rank makes) and the wall time of the whole command (start-up of the workers, data
loading, the final analysis included). Before each measurement the script waits for a quiet CPU
(benchmarks/_quiet.py) and records the other processes' CPU use while it ran.

    python benchmarks/distributed_scaling.py            # print the table
    python benchmarks/distributed_scaling.py --write-docs  # and write it into docs/distributed.md
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _docs import write_section
from _quiet import OtherCPU, describe, wait_quiet

DOC = Path(__file__).resolve().parent.parent / "docs" / "distributed.md"
SECTION = "distributed_scaling"
COMMON = ["--no-plots", "--no-report", "--no-progress", "--quiet"]
WORKLOADS = {
    # the default run (JapaneseVowels, MLP 256, batch 16): small steps
    "default run (JapaneseVowels, MLP [24, 256, 9], batch 16)": ["--epochs", "6"],
    # a wider network on more rows: larger steps
    "digits, MLP [64, 1024, 1024, 10], batch 64": ["--dataset", "digits", "--hidden", "1024,1024", "--batch-size",
                                                     "64", "--epochs", "4"],
}
WAYS = (("1 process, 1 thread", ["--threads", "1"]), ("1 process, 2 threads", ["--threads", "2"]),
        ("2 processes (gloo), 1 thread each", ["--threads", "1", "--nproc", "2"]))


def measure(args: list[str], out: Path) -> dict[str, float]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    others_before = wait_quiet(timeout=120)
    with OtherCPU() as other:
        t0 = time.perf_counter()
        res = subprocess.run([sys.executable, "-m", "spikeforge", "train", *args, *COMMON, "--out", str(out)],
                             capture_output=True, text=True, env=env)
        wall = time.perf_counter() - t0
    if res.returncode != 0:
        raise SystemExit(f"spikeforge train {' '.join(args)} failed:\n{res.stderr}")
    with (out / "metrics.csv").open() as fh:
        epochs = [float(r["seconds"]) for r in csv.DictReader(fh)]
    metrics = json.loads((out / "metrics.json").read_text())
    return {"epoch_s": statistics.median(epochs[1:] if len(epochs) > 1 else epochs), "wall_s": wall,
            "others": other.cores, "others_before": others_before, "test_accuracy": metrics["test_accuracy"]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=2, help="measurements of each way (the best is kept)")
    p.add_argument("--write-docs", action="store_true", help=f"write the table into {DOC.name}")
    opts = p.parse_args(argv)
    readings: list[float | None] = []
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, workload in WORKLOADS.items():
            results = {}
            for way, extra in WAYS:
                runs = [measure([*workload, *extra], Path(tmp) / f"run{len(readings)}-{k}")
                        for k in range(opts.repeats)]
                readings += [r["others"] for r in runs]
                results[way] = min(runs, key=lambda r: r["epoch_s"])
                print(f"{name} | {way}: epoch {results[way]['epoch_s']:.3f} s, wall {results[way]['wall_s']:.1f} s, "
                      f"others {results[way]['others']}", flush=True)
            base = results[WAYS[0][0]]["epoch_s"]
            for way, _ in WAYS:
                r = results[way]
                others = "" if r["others"] is None else f"{r['others']:.2f}"
                rows.append(f"| {name} | {way} | {r['epoch_s']:.3f} | {base / r['epoch_s']:.2f}x | {r['wall_s']:.1f} | "
                            f"{r['test_accuracy']:.4f} | {others} |")
    cpus = os.cpu_count()
    body = "\n".join([
        f"Measured by `benchmarks/distributed_scaling.py` on {time.strftime('%Y-%m-%d')}: {cpus} CPU cores, "
        f"torch {__import__('torch').__version__}, Python {platform.python_version()}; best of {opts.repeats} "
        "runs per row; the epoch time is the median of the epochs after the first (training plus validation), "
        "the wall time the whole command.",
        "",
        "| workload | processes | epoch [s] | epoch speed-up vs 1 process, 1 thread | wall [s] | test accuracy "
        "| others' CPU [cores] |",
        "|---|---|---:|---:|---:|---:|---:|",
        *rows,
        "",
        describe(readings) + ".",
    ])
    print(body)
    if opts.write_docs:
        write_section(SECTION, body, DOC)
        print(f"written into {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

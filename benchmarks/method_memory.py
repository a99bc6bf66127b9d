"""Peak memory of training against the sequence length T, per training method.

Each (method, T) pair runs in its own process: the adding problem of length T (``spikeforge.data.load_adding``),
a fixed model (the ``mlp`` family, 2 input channels -> ``--hidden`` LIF neurons -> one leaky-integrator readout,
the network every method here trains), Adam, loss ``mse``, the method's default options (``tbptt``: k=50), and
``--batches`` optimisation batches of ``--batch`` samples. Setup (imports; one warm-up batch of T=10 on a
4-neuron model of its own, so that lazily loaded code is in memory but none of the measured model's buffers is
pooled; then the data, the model and the optimizer) comes first; then the peak resident memory is reset
(Linux: ``5 > /proc/self/clear_refs`` resets ``VmHWM``) and the measured batches run. The
figure is **the training's own peak** (the median of ``--repeats`` processes, 3): ``VmHWM`` after the batches
minus ``VmRSS`` just before them (MiB);
elsewhere ``ru_maxrss`` minus the RSS after setup, which can only over-state it.

    python benchmarks/method_memory.py [bptt tbptt fptt ...] [--steps 100 1000] [--batch 32] [--hidden 1024]

The default size (1024 neurons, batch 32) makes the online methods' working set (one step's graph, gradients,
optimizer state: a few MiB) large against the page-granular noise of the resident size (~0.5 MiB); with 256
neurons and batch 16 it is ~0.2 MiB and the ratio below measures noise.

Default methods: ``bptt``, ``tbptt``, ``fptt`` and, where :func:`spikeforge.learn.methods.methods` has them,
``ottt`` and ``eprop``. Writes ``benchmarks/results/method_memory.json`` and prints a table with each method's
ratio of the peak at the longest T to the one at the shortest. Other processes' CPU use is recorded (the
machine may be shared; memory does not depend on it, times do).
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _quiet import OtherCPU, describe  # noqa: E402

RESULTS = HERE / "results" / "method_memory.json"
WANTED = ("bptt", "tbptt", "fptt", "ottt", "eprop")


def _status(key: str) -> float | None:
    """``VmRSS`` / ``VmHWM`` of this process in MiB (None where /proc is missing)."""
    try:
        text = Path("/proc/self/status").read_text()
    except OSError:
        return None
    m = re.search(rf"{key}:\s+(\d+)\s+kB", text)
    return int(m.group(1)) / 1024 if m else None


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def child(method: str, steps: int, batch: int, hidden: int, batches: int) -> dict:
    """One measurement in this process (see the module docstring)."""
    import torch

    from spikeforge.data import batches as iterate
    from spikeforge.data import load_adding
    from spikeforge.learn import TrainConfig
    from spikeforge.learn.loop import Objective, make_optimizer
    from spikeforge.learn.methods import method_named
    from spikeforge.learn.models import build_model

    torch.set_num_threads(1)
    torch.manual_seed(0)
    m = method_named(method)
    config = TrainConfig(dataset=f"adding:{steps}", model="mlp", hidden=[hidden], loss="mse", method=method, seed=0)
    objective = Objective(loss="mse", method_params=m.params({}))
    # warm-up on a small model of its own: code paths loaded, none of the measured model's buffers pooled
    small = build_model(config.replace(hidden=[4]), 2, 1)
    warm = load_adding(10, train_size=batch, test_size=1)
    m(small, next(iterate(warm.train, batch)), make_optimizer("adam", small.parameters(), 1e-3), objective)
    del small, warm
    model = build_model(config, 2, 1)
    optimizer = make_optimizer("adam", model.parameters(), 1e-3)
    data = load_adding(steps, train_size=batch * batches, test_size=1)
    todo = list(iterate(data.train, batch))
    gc.collect()
    before = _status("VmRSS")
    exact = _reset_peak() and before is not None
    if not exact:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 if before is None else before
    t0 = time.perf_counter()
    for b in todo:
        m(model, b, optimizer, objective)
    seconds = time.perf_counter() - t0
    peak = _status("VmHWM") if exact else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"method": method, "steps": steps, "batch": batch, "hidden": hidden, "batches": batches,
            "rss_before_mib": before, "peak_mib": peak, "training_peak_mib": peak - before,
            "peak_rule": "VmHWM - VmRSS (clear_refs)" if exact else "ru_maxrss - RSS after setup",
            "seconds": seconds, "seconds_per_batch": seconds / len(todo)}


def run(method: str, steps: int, args) -> dict:
    """``--repeats`` fresh processes; the row of the one with the median training peak, with every peak."""
    rows = []
    for _ in range(args.repeats):
        with OtherCPU() as other:
            proc = subprocess.run([sys.executable, __file__, "--child", method, str(steps), str(args.batch),
                                   str(args.hidden), str(args.batches)], capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"{method} T={steps} failed:\n{proc.stderr[-2000:]}")
        row = json.loads(proc.stdout.strip().splitlines()[-1])
        row["other_cpu_cores"] = other.cores
        rows.append(row)
    rows.sort(key=lambda r: r["training_peak_mib"])
    row = dict(rows[len(rows) // 2])
    row["training_peaks_mib"] = [r["training_peak_mib"] for r in rows]
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("methods", nargs="*")
    parser.add_argument("--steps", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--hidden", type=int, default=1024)
    parser.add_argument("--batches", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3, help="processes per (method, T); the median is reported")
    parser.add_argument("--json", type=Path, default=RESULTS)
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        method, steps, batch, hidden, batches = args.child
        print(json.dumps(child(method, int(steps), int(batch), int(hidden), int(batches))))
        return
    from spikeforge.learn.methods import methods

    known = methods()
    names = args.methods or [n for n in WANTED if n in known]
    rows = []
    for name in names:
        for steps in args.steps:
            row = run(name, steps, args)
            rows.append(row)
            print(f"{name:>6} T={steps:>5}: training peak {row['training_peak_mib']:8.1f} MiB  "
                  f"({row['seconds_per_batch']:.2f} s/batch)", flush=True)
    lo, hi = min(args.steps), max(args.steps)
    ratios = {}
    for name in names:
        by = {r["steps"]: r["training_peak_mib"] for r in rows if r["method"] == name}
        ratios[name] = by[hi] / by[lo] if by[lo] > 0 else float("nan")
    print(f"\n| method | peak T={lo} [MiB] | peak T={hi} [MiB] | ratio | s/batch T={hi} |\n|---|---|---|---|---|")
    for name in names:
        a = next(r for r in rows if r["method"] == name and r["steps"] == lo)
        b = next(r for r in rows if r["method"] == name and r["steps"] == hi)
        print(f"| {name} | {a['training_peak_mib']:.1f} | {b['training_peak_mib']:.1f} | {ratios[name]:.2f} | "
              f"{b['seconds_per_batch']:.2f} |")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({
        "what": "the training's own peak resident memory (MiB) per method and sequence length; see "
                "benchmarks/method_memory.py",
        "machine": {"platform": platform.platform(), "python": platform.python_version(), "threads": 1},
        "model": f"mlp [2, {args.hidden}, 1] LIF, LI readout; Adam; loss mse; adding:T inputs; "
                 f"batch {args.batch}, {args.batches} batches; median of {args.repeats} processes",
        "other_cpu": describe([r["other_cpu_cores"] for r in rows]),
        "rows": rows, "ratio_longest_to_shortest": ratios}, indent=2) + "\n")
    print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()

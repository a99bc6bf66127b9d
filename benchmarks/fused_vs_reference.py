"""Issue-2 benchmark: one training step of ``mlp([700, 256, 256, 20])`` (LIF, Gaussian firing noise, LI
readout), T=100, batch 32, 5 % Bernoulli input, Adam: the scan backends against the naive per-step
autograd reference. Each backend in its own process; median ms and peak RSS.

    python benchmarks/fused_vs_reference.py --write-docs
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

BACKENDS = ["reference", "torch", "fast", "auto"]
LABEL = {"reference": "reference (per-step autograd)", "torch": "torch (generic fused BPTT)",
         "fast": "fast (specialised LIF path)", "auto": "auto (default)"}


def worker(backend: str, steps: int, reps: int, threads: int) -> dict:
    import torch
    from peers import _rss_mb

    import spikeforge as sf

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    net = sf.nets.mlp([700, 256, 256, 20], neuron=sf.LIF(firing=sf.Gaussian(0.5), backend=backend))
    x = (torch.rand(steps, 32, 700) < 0.05).float()
    y = torch.randint(0, 20, (32,))
    opt = torch.optim.Adam(net.parameters(), 1e-3)

    def step():
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(net(x).mean(0), y).backward()
        opt.step()

    step()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        step()
        ts.append((time.perf_counter() - t0) * 1e3)
    return {"backend": backend, "times": ts, "peak_rss_mb": _rss_mb("VmHWM")}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--backends", nargs="+", default=BACKENDS)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--write-docs", action="store_true")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, args.steps, args.reps, args.threads)))
        return 0
    pooled: dict[str, dict] = {}
    for rnd in range(args.rounds):  # interleaved rounds, each backend in its own process
        for b in args.backends:
            env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
            res = subprocess.run([sys.executable, __file__, "--worker", b, "--steps", str(args.steps), "--reps",
                                  str(args.reps), "--threads", str(args.threads)], capture_output=True, text=True,
                                 env=env, check=True)
            r = json.loads(res.stdout.strip().splitlines()[-1])
            acc = pooled.setdefault(b, {"backend": b, "times": [], "peak_rss_mb": 0.0})
            acc["times"] += r["times"]
            acc["peak_rss_mb"] = max(acc["peak_rss_mb"], r["peak_rss_mb"])
            print(f"round {rnd + 1} {LABEL[b]:32s} {statistics.median(r['times']):8.1f} ms", flush=True)
    rows = []
    for b in args.backends:
        acc = pooled[b]
        rows.append({**acc, "median_ms": statistics.median(acc["times"]), "min_ms": min(acc["times"])})
    ref = next((r["median_ms"] for r in rows if r["backend"] == "reference"), None)
    ref_min = next((r["min_ms"] for r in rows if r["backend"] == "reference"), None)
    lines = ["| backend | train step ms median | best | speed-up vs reference (median, best) | peak RSS MB |",
             "|---|---|---|---|---|"]
    for r in rows:
        sp = f"{ref / r['median_ms']:.1f}×, {ref_min / r['min_ms']:.1f}×" if ref else "-"
        lines.append(f"| {LABEL[r['backend']]} | {r['median_ms']:.1f} | {r['min_ms']:.1f} | {sp} | "
                     f"{r['peak_rss_mb']:.0f} |")
    print("\n".join(lines))
    if args.write_docs:
        from _docs import write_section
        from peers import machine

        write_section("fused", "\n".join([
            f"Machine: {machine()}; {args.threads} threads. Command: `python benchmarks/fused_vs_reference.py "
            f"--write-docs`. `mlp([700, 256, 256, 20])`, LIF with Gaussian firing noise, LI readout, T={args.steps}, "
            f"B=32, 5 % Bernoulli input, Adam; one training step; {args.rounds} interleaved rounds.", "", *lines]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

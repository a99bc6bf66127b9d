"""Peer benchmark: spikeforge vs snnTorch, Norse, SpikingJelly and the dense-ANN roofline.

SHD-shaped network 700→256→256→20, LIF (λ = 0.9, θ = 1, soft reset), 5 % Bernoulli input, batch 32,
Adam, float32, 2 threads. Each measurement (implementation × T × train/infer) runs in its own process.
Before timing, every implementation is checked to emit the same spikes as spikeforge on a fixed input
(float64, same weights; conventions aligned as documented in ``benchmarks/_nets.py``).

    python benchmarks/peers.py                 # quick: T = 100
    python benchmarks/peers.py --steps 50 100 200 400 --write-docs
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _quiet import QUIET_CORES, OtherCPU, describe, wait_quiet  # noqa: E402 (benchmarks/ on the path first)

IMPLS = ["spikeforge", "spikeforge-dense", "snntorch", "norse", "spikingjelly", "dense"]
PEERS = ["snntorch", "norse", "spikingjelly"]


def _rss_mb(key: str = "VmRSS") -> float:
    """Current (``VmRSS``) or peak (``VmHWM``) resident memory of this process in MiB.

    (``getrusage``'s ``ru_maxrss`` survives ``exec`` on Linux, so a child would report its parent's peak.)
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def worker(impl: str, steps: int, mode: str, reps: int, threads: int, budget_s: float) -> dict:
    import _nets
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    train_step, infer_step = _nets.steps_for(impl, steps)
    base_rss = _rss_mb()
    step = train_step if mode == "train" else infer_step
    for _ in range(2):
        step()
    times = []
    t_end = time.perf_counter() + budget_s
    while len(times) < reps or (time.perf_counter() < t_end and len(times) < 5 * reps):
        t0 = time.perf_counter()
        step()
        times.append((time.perf_counter() - t0) * 1e3)
        if len(times) >= 3 and time.perf_counter() > t_end + budget_s:
            break
    peak = _rss_mb("VmHWM")
    return {"impl": impl, "steps": steps, "mode": mode, "median_ms": statistics.median(times),
            "min_ms": min(times), "n": len(times), "times": times, "peak_rss_mb": peak, "base_rss_mb": base_rss}


def check_equal(steps: int = 100, batch: int = 8) -> list[dict]:
    """Spike counts per layer of every implementation on one fixed float64 input, against spikeforge."""
    import _nets
    import torch

    torch.set_num_threads(2)
    w = _nets.shared_weights(dtype=torch.float64)
    x, _ = _nets.make_input(steps, batch, dtype=torch.float64)
    rows = []
    torch.set_default_dtype(torch.float64)
    try:
        with torch.no_grad():
            _, ref_default = _nets.build_spikeforge(w)[1](x)
            _, ref_snn = _nets.build_spikeforge(w, order="integrate-reset-fire", detach_reset=True)[1](x)
            for impl in ["spikeforge", "spikeforge-reference", "snntorch", "norse", "spikingjelly"]:
                _, spikes = _nets.BUILDERS[impl](w)[1](x)
                ref = ref_snn if impl == "snntorch" else ref_default
                same = all(torch.equal(a, b.to(a.dtype)) for a, b in zip(spikes, ref))
                rows.append({"impl": impl, "counts": [int(s.sum()) for s in spikes], "identical_spikes": same,
                             "against": "spikeforge order=integrate-reset-fire, detach_reset"
                             if impl == "snntorch" else "spikeforge (default order)"})
    finally:
        torch.set_default_dtype(torch.float32)
    return rows


def run_one(impl: str, steps: int, mode: str, args) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", impl, "--steps", str(steps),
           "--mode", mode, "--reps", str(args.reps), "--threads", str(args.threads),
           "--budget", str(args.budget)]
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    wait_quiet(timeout=args.quiet_timeout)
    with OtherCPU() as others:
        res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)
    if res.returncode != 0:
        return {"impl": impl, "steps": steps, "mode": mode, "error": res.stderr.strip().splitlines()[-1:]}
    out = json.loads(res.stdout.strip().splitlines()[-1])
    out["others_cores"] = others.cores
    return out


def machine() -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, torch {torch.__version__}, "
            f"{platform.system()} {platform.release()}")


def versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for p in ["spikeforge", "snntorch", "norse", "spikingjelly", "numba"]:
        try:
            out.append(f"{p} {version(p)}")
        except PackageNotFoundError:
            out.append(f"{p} (absent)")
    return ", ".join(out)


def table(results: list[dict], impls: list[str], steps_list: list[int]) -> str:
    lines = ["| T | implementation | train ms median | train ms best | infer ms median | infer ms best | "
             "train / spikeforge (median, best) | infer / spikeforge (median, best) | train peak RSS MB | "
             "infer peak RSS MB |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    by = {(r["impl"], r["steps"], r["mode"]): r for r in results}

    def f(r, key="median_ms", fmt="{:.1f}"):
        return fmt.format(r[key]) if key in r else ("error" if "error" in r else "-")

    for steps in steps_list:
        sf_tr = by.get(("spikeforge", steps, "train"), {})
        sf_in = by.get(("spikeforge", steps, "infer"), {})
        for impl in impls:
            tr, inf = by.get((impl, steps, "train"), {}), by.get((impl, steps, "infer"), {})

            def ratio(r, ref):
                if "median_ms" not in r or "median_ms" not in ref:
                    return "-"
                return f"{r['median_ms'] / ref['median_ms']:.2f}×, {r['min_ms'] / ref['min_ms']:.2f}×"

            lines.append(f"| {steps} | {impl} | {f(tr)} | {f(tr, 'min_ms')} | {f(inf)} | {f(inf, 'min_ms')} | "
                         f"{ratio(tr, sf_tr)} | {ratio(inf, sf_in)} | "
                         f"{f(tr, 'peak_rss_mb', '{:.0f}')} | {f(inf, 'peak_rss_mb', '{:.0f}')} |")
    return "\n".join(lines)


def targets(results: list[dict], steps: int = 100) -> list[str]:
    out = []
    for key, label in (("median_ms", "median"), ("min_ms", "best")):
        by = {(r["impl"], r["steps"], r["mode"]): r.get(key) for r in results}
        sf_tr, sf_in = by.get(("spikeforge", steps, "train")), by.get(("spikeforge", steps, "infer"))
        d_tr, d_in = by.get(("dense", steps, "train")), by.get(("dense", steps, "infer"))
        ev_tr, ev_in = by.get(("spikeforge-dense", steps, "train")), by.get(("spikeforge-dense", steps, "infer"))
        peers = [(p, by.get((p, steps, "train"))) for p in PEERS if by.get((p, steps, "train"))]
        parts = []
        if sf_tr and peers:
            best, t = min(peers, key=lambda kv: kv[1])
            parts.append(f"training {t / sf_tr:.2f}× faster than the fastest peer ({best}) [target ≥ 2.5×]")
        if sf_tr and d_tr:
            parts.append(f"training {sf_tr / d_tr:.2f}× the dense roofline [≤ 1.2×]")
        if sf_in and d_in:
            parts.append(f"inference {sf_in / d_in:.2f}× the roofline [≤ 1.3×]")
        if ev_tr and d_tr and peers:
            best, t = min(peers, key=lambda kv: kv[1])
            parts.append(f"with dense synapses only: training {t / ev_tr:.2f}× faster than {best}, "
                         f"{ev_tr / d_tr:.2f}× the roofline" + (f", inference {ev_in / d_in:.2f}×" if ev_in and d_in
                                                                 else ""))
        if parts:
            out.append(f"- T={steps}, {label} times: " + "; ".join(parts) + ".")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, nargs="+", default=[100], help="sequence lengths T (default: 100)")
    ap.add_argument("--impls", nargs="+", default=IMPLS, help=f"implementations (default: {' '.join(IMPLS)})")
    ap.add_argument("--modes", nargs="+", default=["train", "infer"])
    ap.add_argument("--reps", type=int, default=7, help="minimum timed repetitions per measurement")
    ap.add_argument("--budget", type=float, default=4.0, help="seconds of timing per measurement (soft)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=2, help="interleaved rounds (times pooled across rounds)")
    ap.add_argument("--skip-check", action="store_true")
    ap.add_argument("--write-docs", action="store_true", help="write the results into docs/performance.md")
    ap.add_argument("--json", type=Path, help="also dump raw results here")
    ap.add_argument("--section", default="peers", help="name of the docs/performance.md section to write")
    ap.add_argument("--quiet-timeout", type=float, default=300.0,
                    help="seconds to wait for a quiet machine before each measurement (then it runs anyway, "
                         "and is reported as taken under load)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--mode", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, args.steps[0], args.mode, args.reps, args.threads, args.budget)))
        return 0
    check = []
    if not args.skip_check:
        check = check_equal()
        print("Equivalence check (float64, T=100, B=8, same weights and input): spike counts per hidden layer")
        for r in check:
            print(f"  {r['impl']:22s} {r['counts']}  identical spikes: {r['identical_spikes']} (vs {r['against']})")
        if not all(r["identical_spikes"] for r in check):
            print("WARNING: implementations differ; timings compare different computations")
    raw: dict[tuple, list[dict]] = {}
    load0 = os.getloadavg()
    for rnd in range(args.rounds):  # interleaved rounds: every implementation sees the same machine load
        for steps in args.steps:
            for impl in args.impls:
                for mode in args.modes:
                    r = run_one(impl, steps, mode, args)
                    raw.setdefault((impl, steps, mode), []).append(r)
                    msg = f"{r['median_ms']:.1f} ms, peak RSS {r['peak_rss_mb']:.0f} MB, others' CPU " \
                          f"{r['others_cores'] if r['others_cores'] is not None else float('nan'):.2f} cores" \
                        if "median_ms" in r else f"ERROR {r['error']}"
                    print(f"round {rnd + 1} T={steps:4d} {impl:18s} {mode:5s} {msg}", flush=True)
    results = []
    readings = [r.get("others_cores") for rs in raw.values() for r in rs]
    for (impl, steps, mode), rs in raw.items():
        ok = [r for r in rs if "median_ms" in r]
        if not ok:
            results.append(rs[-1])
            continue
        quiet = [r for r in ok if r.get("others_cores") is not None and r["others_cores"] < QUIET_CORES]
        ok = quiet or ok  # headline figures from the quiet measurements where there are any
        times = [t for r in ok for t in r["times"]]
        results.append({"impl": impl, "steps": steps, "mode": mode, "median_ms": statistics.median(times),
                        "min_ms": min(times), "n": len(times), "peak_rss_mb": max(r["peak_rss_mb"] for r in ok),
                        "base_rss_mb": min(r["base_rss_mb"] for r in ok)})
    tab = table(results, args.impls, args.steps)
    tgt = targets(results)
    print()
    print(tab)
    print("\n".join(tgt))
    print(describe(readings))
    if args.json:
        args.json.write_text(json.dumps({"check": check, "results": results}, indent=1))
    if args.write_docs:
        from _docs import write_section

        body = [f"Machine: {machine()}; {versions()}. Threads: {args.threads}; {args.rounds} interleaved rounds; "
                f"load average at the start {load0[0]:.2f}; {describe(readings)}; medians pool the quiet "
                "measurements. Command: `python benchmarks/peers.py " + " ".join(sys.argv[1:]) + "`.", ""]
        if check:
            body += ["Equivalence check before timing (float64, T=100, B=8, same weights and input; spike counts "
                     "of hidden layers 1 and 2):", ""]
            body += [f"- {r['impl']}: {r['counts']}, identical spikes: {r['identical_spikes']} (vs {r['against']})"
                     for r in check]
            body.append("")
        body += ["Median ms per training step (forward, backward, Adam) and per inference pass; peak RSS of the "
                 "measuring process (includes the imported libraries).", "", tab, ""]
        body += tgt
        write_section(args.section, "\n".join(body))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Where the time of one SHD training step goes (torch.profiler), for spikeforge and the dense roofline.

    python benchmarks/profile_step.py --impls spikeforge spikeforge-dense dense --steps 100
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

HERE = Path(__file__).resolve().parent
_WRAPPERS = {"ProfilerStep*"}
sys.path.insert(0, str(HERE))


def profile_impl(impl: str, steps: int, reps: int, rows: int, mode: str) -> str:
    import _nets

    train, infer = _nets.steps_for(impl, steps)
    fn = train if mode == "train" else infer
    for _ in range(3):
        fn()
    t0 = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(reps):
            fn()
    wall = (time.perf_counter() - t0) / reps * 1e3
    total = sum(e.self_cpu_time_total for e in prof.key_averages() if e.key not in _WRAPPERS) / reps / 1e3
    lines = [f"#### {impl}, {mode}, T={steps}: {wall:.1f} ms wall per step (profiled), {total:.1f} ms self time "
             "in ops", "",
             "| op | self ms / step | share |", "|---|---|---|"]
    evs = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)[:rows]
    for e in evs:
        ms = e.self_cpu_time_total / reps / 1e3
        lines.append(f"| `{e.key}` | {ms:.2f} | {ms / total:.0%} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--impls", nargs="+", default=["spikeforge", "spikeforge-dense", "dense"])
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--rows", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--mode", default="train", choices=["train", "infer"])
    ap.add_argument("--write-docs", action="store_true")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    parts = [profile_impl(i, args.steps, args.reps, args.rows, args.mode) for i in args.impls]
    text = "\n\n".join(parts)
    print(text)
    if args.write_docs:
        from _docs import write_section

        write_section(f"profile-{args.mode}", f"Command: `python benchmarks/profile_step.py --mode {args.mode} "
                      f"--write-docs` ({args.threads} threads).\n\n" + text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

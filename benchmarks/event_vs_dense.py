"""Event-driven vs dense synapses: time against input activity, and where the crossover lies.

1. Inference on a 4096→4096 layer (512 rows = time steps × batch): ``F.linear`` against
   :func:`spikeforge.kernels.event.event_linear` (``mode="event"``), same outputs, exact synop count.
2. Training-shaped SHD layer 1 (700→256, 3200 rows = T 100 × B 32): forward + weight gradient, dense GEMMs
   against the event path (gather-and-sum forward, weight gradient over active inputs only).

Writes ``docs/event_vs_dense.png`` and a section of ``docs/performance.md`` with ``--write-docs``.

    python benchmarks/event_vs_dense.py --write-docs
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import time
from pathlib import Path

import torch
from torch.nn import functional as F

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _quiet import OtherCPU, describe, wait_quiet  # noqa: E402 (benchmarks/ on the path first)

ACTIVITIES = [0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5]


READINGS: list[float | None] = []  # other processes' CPU use during each timing (benchmarks/_quiet.py)


def _time2(fa, fb, reps: int) -> tuple[tuple[float, float], tuple[float, float]]:
    """Time two functions alternately (so that both see the same load), on a quiet machine; ``(median,
    best)`` ms of each. Records the other processes' CPU use during the timing in ``READINGS``."""
    fa()
    fb()
    ta, tb = [], []
    wait_quiet()
    with OtherCPU() as others:
        for _ in range(reps):
            for fn, ts in ((fa, ta), (fb, tb)):
                t0 = time.perf_counter()
                fn()
                ts.append((time.perf_counter() - t0) * 1e3)
    READINGS.append(others.cores)
    return (statistics.median(ta), min(ta)), (statistics.median(tb), min(tb))


def _stored_transposed(w: torch.Tensor) -> torch.Tensor:
    """The weight in the memory layout of ``spikeforge.synapse.Linear`` (``Wᵀ`` contiguous), which both paths
    read without a copy (the dense GEMM reads either layout)."""
    return w.t().contiguous().t()


def run_inference(rows: int, k: int, n: int, acts, reps: int):
    from spikeforge.kernels.event import event_linear

    g = torch.Generator().manual_seed(0)
    w = _stored_transposed(torch.randn(n, k, generator=g) / k ** 0.5)
    b = torch.randn(n, generator=g) * 0.01
    out = []
    for p in acts:
        x = (torch.rand(rows, k, generator=g) < p).float()
        with torch.inference_mode():
            ref = F.linear(x, w, b)
            res = event_linear(x, w, b, mode="event")
            err = float((res.out - ref).abs().max())
            assert res.synops == int(torch.count_nonzero(x)) * n
            td, te = _time2(lambda x=x: F.linear(x, w, b), lambda x=x: event_linear(x, w, b, mode="event"), reps)
        out.append({"p": p, "dense": td, "event": te, "max_abs_err": err, "synops": res.synops})
        print(f"infer {k}->{n} p={p:<6} dense {td[0]:8.2f} ms  event {te[0]:8.2f} ms  "
              f"speed-up {td[0] / te[0]:5.2f}×  max|Δ| {err:.1e}  synops {res.synops}", flush=True)
    return out


def run_training(rows: int, k: int, n: int, acts, reps: int):
    from spikeforge.kernels.event import event_linear

    g = torch.Generator().manual_seed(0)
    w = _stored_transposed(torch.randn(n, k, generator=g) / k ** 0.5).requires_grad_()
    b = torch.zeros(n, requires_grad=True)
    delta = torch.randn(rows, n, generator=g)
    out = []
    for p in acts:
        x = (torch.rand(rows, k, generator=g) < p).float()

        def dense(x=x):
            y = F.linear(x, w, b)
            torch.autograd.grad(y, [w, b], delta)

        def ev(x=x):
            y = event_linear(x, w, b, mode="event").out
            torch.autograd.grad(y, [w, b], delta)

        td, te = _time2(dense, ev, reps)
        out.append({"p": p, "dense": td, "event": te})
        print(f"train {k}->{n} p={p:<6} dense {td[0]:8.2f} ms  event {te[0]:8.2f} ms  speed-up {td[0] / te[0]:5.2f}×",
              flush=True)
    return out


def crossover(rows) -> str:
    for a, b in itertools.pairwise(rows):
        if a["event"][0] <= a["dense"][0] and b["event"][0] > b["dense"][0]:
            return f"between {a['p']:.0%} and {b['p']:.0%}"
    if all(r["event"][0] <= r["dense"][0] for r in rows):
        return f"above {rows[-1]['p']:.0%} (event path faster everywhere measured)"
    return "below the lowest activity measured" if rows[0]["event"][0] > rows[0]["dense"][0] else "not bracketed"


def plot(inf, trn, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, rows, name in [(axes[0], inf, "inference, 4096→4096, 512 rows"),
                           (axes[1], trn, "training (fwd + weight grad), 700→256, 3200 rows")]:
        ps = [r["p"] * 100 for r in rows]
        ax.plot(ps, [r["dense"][0] for r in rows], "o-", label="dense GEMM")
        ax.plot(ps, [r["event"][0] for r in rows], "s-", label="event-driven")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("input activity (%)")
        ax.set_ylabel("median time (ms)")
        ax.set_title(name, fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--activities", type=float, nargs="+", default=ACTIVITIES)
    ap.add_argument("--write-docs", action="store_true")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    inf = run_inference(512, 4096, 4096, args.activities, args.reps)
    trn = run_training(3200, 700, 256, args.activities, args.reps)
    at2 = next((r for r in inf if abs(r["p"] - 0.02) < 1e-9), None)
    lines = []
    if at2:
        lines.append(f"- 4096→4096 inference at 2 % activity: dense {at2['dense'][0]:.1f} ms, event "
                     f"{at2['event'][0]:.1f} ms: **{at2['dense'][0] / at2['event'][0]:.1f}× faster** (target ≥ 4×); "
                     f"max |Δ| {at2['max_abs_err']:.1e}; synops {at2['synops']} (exact).")
    lines.append(f"- crossover, inference 4096→4096: {crossover(inf)}; training 700→256 (fwd + weight grad): "
                 f"{crossover(trn)}.")
    lines.append(f"- {describe(READINGS)}.")
    print("\n".join(lines))
    if args.write_docs:
        from _docs import write_section
        from peers import machine

        png = HERE.parent / "docs" / "event_vs_dense.png"
        png.parent.mkdir(exist_ok=True)
        plot(inf, trn, png, f"{machine()}, {args.threads} threads")
        tab = ["| activity | infer dense ms | infer event ms | speed-up | train dense ms | train event ms | speed-up |",
               "|---|---|---|---|---|---|---|"]
        for a, b in zip(inf, trn):
            tab.append(f"| {a['p']:.1%} | {a['dense'][0]:.2f} | {a['event'][0]:.2f} | "
                       f"{a['dense'][0] / a['event'][0]:.2f}× | {b['dense'][0]:.2f} | {b['event'][0]:.2f} | "
                       f"{b['dense'][0] / b['event'][0]:.2f}× |")
        body = [f"Machine: {machine()}; {args.threads} threads. Command: "
                "`python benchmarks/event_vs_dense.py --write-docs`. Median ms.", "", *tab, "", *lines, "",
                "![time against activity](event_vs_dense.png)"]
        write_section("event", "\n".join(body))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

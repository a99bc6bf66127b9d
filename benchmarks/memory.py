"""BPTT activation memory: bytes the autograd graph keeps for the backward pass, per implementation.

Counts every tensor saved for backward during one training forward pass (``saved_tensors_hooks``; each
storage once), i.e. the activation memory of backpropagation through time, exactly and independently of
the allocator. The network input itself is excluded (it exists anyway). Also times a training step of the
memory-lean spikeforge layers (spikes saved as bits, potentials recomputed) against the default ones.

    python benchmarks/memory.py --steps 400 --write-docs
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

IMPLS = ["spikeforge", "spikeforge-lean", "spikeforge-torch", "snntorch", "norse", "spikingjelly", "dense"]


def saved_bytes(impl: str, steps: int) -> int:
    import _nets

    weights = _nets.shared_weights()
    model, forward = _nets.BUILDERS[impl](weights)
    x, y = _nets.make_input(steps)
    seen: dict[int, int] = {}
    skip = x.untyped_storage().data_ptr()

    def pack(t: torch.Tensor):
        st = t.untyped_storage()
        if st.data_ptr() != skip:
            seen[st.data_ptr()] = st.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out, _ = forward(x)
        loss = torch.nn.functional.cross_entropy(out.mean(0), y)
    loss.backward()
    # parameters are not activations
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    return sum(b for ptr, b in seen.items() if ptr not in params)


def time_train(impl: str, steps: int, reps: int) -> float:
    import _nets

    step, _ = _nets.steps_for(impl, steps)
    step()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        step()
        ts.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(ts)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--impls", nargs="+", default=IMPLS)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--write-docs", action="store_true")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = []
    for impl in args.impls:
        mb = saved_bytes(impl, args.steps) / 2**20
        rows.append((impl, mb))
        print(f"T={args.steps} {impl:18s} saved for backward: {mb:8.1f} MiB", flush=True)
    base = dict(rows)
    lines = [f"| implementation | activation memory (MiB), T={args.steps}, B=32 | vs spikeforge |", "|---|---|---|"]
    lines += [f"| {i} | {m:.1f} | {m / base['spikeforge']:.2f}× |" for i, m in rows] if "spikeforge" in base else []
    extra = []
    if "spikeforge" in base and "spikeforge-lean" in base:
        cut = base["spikeforge"] / base["spikeforge-lean"]
        t_fast = time_train("spikeforge", args.steps, args.reps)
        t_lean = time_train("spikeforge-lean", args.steps, args.reps)
        extra.append(f"- bits + recompute (`spikeforge.kernels.lean.LinearLIF`, `PackedLinear`) cut BPTT activation "
                     f"memory **{cut:.1f}×** (target ≥ 2×); training step {t_lean:.1f} ms vs {t_fast:.1f} ms "
                     f"(×{t_lean / t_fast:.2f}, one more GEMM and scan per layer in the backward).")
    peers = [m for i, m in rows if i in ("snntorch", "norse", "spikingjelly")]
    if peers and "spikeforge" in base:
        extra.append(f"- leanest peer: {min(peers):.1f} MiB; spikeforge default {base['spikeforge']:.1f} MiB, lean "
                     f"{base.get('spikeforge-lean', float('nan')):.1f} MiB.")
    print("\n".join([*lines, "", *extra]))
    if args.write_docs:
        from _docs import write_section
        from peers import machine

        body = [f"Machine: {machine()}; {args.threads} threads. Command: `python benchmarks/memory.py --steps "
                f"{args.steps} --write-docs`. Bytes of all tensors saved for the backward pass during one "
                "training forward (saved-tensor hooks, each storage once, network input and parameters "
                "excluded).", "", *lines, "", *extra]
        write_section("memory", "\n".join(body))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

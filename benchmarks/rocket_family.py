"""The ``rocket`` family's training step: its fast path (``SpikingRocket.sequence_logits``, spike counts per
dilation slot) against the per-step network (``forward`` and the ``mean`` reduction), on one core.

One training step = the loss of 16 random univariate series, backward, on 2688 neurons (the default), at the
lengths of the long aeon sets (PickupGestureWiimoteZ 361, ACSF1 downsampled 730, ACSF1 1460). The two paths
compute the same logits (``tests/nets/test_rocket.py``); the ratio is measured interleaved, each timing after a
wait for a quiet CPU. Writes ``benchmarks/results/rocket_family.json``:

    python benchmarks/rocket_family.py
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _quiet import OtherCPU, describe, wait_quiet  # noqa: E402 (benchmarks/ on the path first)

RESULTS = HERE / "results" / "rocket_family.json"
LENGTHS = (361, 730, 1460)
BATCH = 16
REPEATS = 5


def main() -> int:
    import torch

    from spikeforge.learn.losses import readout_logits
    from spikeforge.nets import rocket

    torch.set_num_threads(1)
    rows, loads = [], []
    for steps in LENGTHS:
        torch.manual_seed(0)
        x = torch.randn(steps, BATCH, 1)
        y = torch.randint(0, 10, (BATCH,))
        net = rocket([1, 2688, 10]).train()
        net[0].fit(x)

        def fast(net=net, x=x, y=y) -> None:
            torch.nn.functional.cross_entropy(net.sequence_logits(x), y).backward()

        def slow(net=net, x=x, y=y) -> None:
            torch.nn.functional.cross_entropy(readout_logits(net(x), None, "mean"), y).backward()

        times: dict[str, list[float]] = {"fast": [], "per_step": []}
        for f in (fast, slow):
            f()  # warm-up
        for _ in range(REPEATS):  # interleaved
            for name, f in (("fast", fast), ("per_step", slow)):
                wait_quiet()
                with OtherCPU() as other:
                    t0 = time.perf_counter()
                    f()
                    times[name].append(time.perf_counter() - t0)
                loads.append(other.cores)
        best = {k: min(v) * 1000 for k, v in times.items()}
        rows.append({"steps": steps, "batch": BATCH, "neurons": 2688, "fast_ms": best["fast"],
                     "per_step_ms": best["per_step"], "ratio": best["per_step"] / best["fast"]})
        print(f"T={steps:5d}  fast {best['fast']:7.1f} ms  per-step {best['per_step']:7.1f} ms  "
              f"x{best['per_step'] / best['fast']:.1f}")
    load = describe(loads)
    print(load)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    tmp = RESULTS.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({"rows": rows, "load": load, "date": time.strftime("%Y-%m-%d"),
                               "rule": f"best of {REPEATS} interleaved timings of one training step"}, indent=2) + "\n")
    tmp.replace(RESULTS)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

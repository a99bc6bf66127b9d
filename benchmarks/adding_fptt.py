"""FPTT against BPTT on the adding problem (Hochreiter & Schmidhuber 1997) at a long sequence length.

Both methods train the same network from the same initial weights on the same data for the same number of
epochs: the ``recurrent`` family (2 inputs -> ``--hidden`` recurrent LIF neurons -> one leaky-integrator
readout), Adam, loss ``mse`` (the readout at the last step against the sum of the two marked values),
``spikeforge.data.load_adding(T)`` with ``--train`` / ``--test`` samples. Each method runs in its own process,
so its peak resident memory is its own: ``VmHWM`` after training minus ``VmRSS`` before it (Linux, ``VmHWM``
reset through ``/proc/self/clear_refs`` after setup). Reported: test mse, test accuracy (the share of samples
with ``|prediction - target| < 0.04``, Hochreiter & Schmidhuber's criterion), training seconds, that peak,
and the closed-form mse of always predicting the mean, ``Var(u_a + u_b) = 1/6``, as the bar to beat.

    python benchmarks/adding_fptt.py [--steps 500] [--epochs 8] [--hidden 64] [--train 512] [--test 256]
        [--fptt-k 10] [--alpha 0.1] [--lr 3e-3]

FPTT updates every ``--fptt-k`` steps (Kag & Saligrama's K = T / k updates per sequence; here 50). With an
update per step and the same learning rate (``--epochs 3 --fptt-k 1 --methods fptt``) Adam takes 500 steps per
batch and the run diverged (test mse 3.99, T=500); at ``--lr 3e-4`` it stayed at the mean predictor's level
(0.169).

Writes ``benchmarks/results/adding_fptt.json``. Times depend on the machine's load: other processes' CPU use is
recorded.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _quiet import OtherCPU, describe  # noqa: E402

RESULTS = HERE / "results" / "adding_fptt.json"
METHODS = ("bptt", "fptt")


def _status(key: str) -> float | None:
    try:
        m = re.search(rf"{key}:\s+(\d+)\s+kB", Path("/proc/self/status").read_text())
    except OSError:
        return None
    return int(m.group(1)) / 1024 if m else None


def child(method: str, args) -> dict:
    import torch

    from spikeforge.data import load_adding
    from spikeforge.learn import TrainConfig
    from spikeforge.learn.loop import Objective, evaluate, fit, make_optimizer
    from spikeforge.learn.models import build_model

    torch.set_num_threads(1)
    data = load_adding(args.steps, seed=0, train_size=args.train, test_size=args.test)
    config = TrainConfig(dataset=f"adding:{args.steps}", model="recurrent", hidden=[args.hidden], loss="mse",
                         method=method, readout_tau=args.readout_tau, seed=0)
    config = config.replace(neuron_params={**config.neuron_params, "tau": args.tau})
    torch.manual_seed(0)
    model = build_model(config, 2, 1)
    optimizer = make_optimizer("adam", model.parameters(), args.lr)
    before = _status("VmRSS")
    try:
        Path("/proc/self/clear_refs").write_text("5")
        exact = before is not None
    except OSError:
        exact = False
    t0 = time.perf_counter()
    method_params = {"k": args.fptt_k, "alpha": args.alpha} if method == "fptt" else {}
    objective = Objective(loss="mse", grad_clip=1.0, method_params=method_params)
    state = fit(model, method, data.train, optimizer, epochs=args.epochs, batch_size=args.batch,
                objective=objective, generator=torch.Generator().manual_seed(0))
    seconds = time.perf_counter() - t0
    peak = _status("VmHWM") if exact else None
    test = evaluate(model, data.test, Objective(loss="mse"))
    return {"method": method, "test_mse": test["mse"], "test_accuracy": test["accuracy"],
            "train_loss_per_epoch": [r["train_loss"] for r in state.history], "train_seconds": seconds,
            "training_peak_mib": None if peak is None else peak - before}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--train", type=int, default=512)
    parser.add_argument("--test", type=int, default=256)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--tau", type=float, default=20.0)
    parser.add_argument("--readout-tau", type=float, default=20.0)
    parser.add_argument("--fptt-k", type=int, default=10, help="FPTT: steps per update (Kag & Saligrama's T/K)")
    parser.add_argument("--alpha", type=float, default=0.1, help="FPTT: alpha")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--json", type=Path, default=RESULTS)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args)))
        return
    passed = [a for a in sys.argv[1:] if a != "--json" and not a.endswith(".json")]
    rows = []
    for method in args.methods.split(","):
        with OtherCPU() as other:
            proc = subprocess.run([sys.executable, __file__, *passed, "--child", method], capture_output=True,
                                  text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"{method} failed:\n{proc.stderr[-3000:]}")
        row = json.loads(proc.stdout.strip().splitlines()[-1])
        row["other_cpu_cores"] = other.cores
        rows.append(row)
        print(f"{method}: test mse {row['test_mse']:.4f}, accuracy {row['test_accuracy']:.3f}, "
              f"{row['train_seconds']:.0f} s, peak {row['training_peak_mib']:.1f} MiB", flush=True)
    print(f"\nmean predictor: mse {1 / 6:.4f} (closed form)\n")
    print("| method | test mse | test accuracy (|err| < 0.04) | train s | training peak MiB |\n|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['method']} | {r['test_mse']:.4f} | {r['test_accuracy']:.3f} | {r['train_seconds']:.0f} | "
              f"{r['training_peak_mib']:.1f} |")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({
        "what": "FPTT against BPTT on the adding problem; see benchmarks/adding_fptt.py",
        "machine": {"platform": platform.platform(), "python": platform.python_version(), "threads": 1},
        "setup": {k: getattr(args, k) for k in ("steps", "epochs", "hidden", "train", "test", "batch", "lr", "tau",
                                               "readout_tau", "fptt_k", "alpha")},
        "model": f"recurrent [2, {args.hidden}, 1] LIF tau {args.tau}, LI readout tau {args.readout_tau}; Adam; "
                 f"grad_clip 1; fptt: alpha {args.alpha}, beta 0.5, k {args.fptt_k}, linear weighting",
        "mean_predictor_mse": 1 / 6, "other_cpu": describe([r["other_cpu_cores"] for r in rows]),
        "rows": rows}, indent=2) + "\n")
    print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()

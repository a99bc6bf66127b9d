"""Unsupervised STDP in Diehl & Cook's network (``spikeforge train --method stdp``) on scikit-learn's 8x8
digits: test accuracy of the class votes (neurons labelled on the training split only), training time and
spikes per test sample, over seeds.

Each run is the command a user types (a fresh process; the run folder's ``metrics.json`` gives the figures):

    spikeforge train --method stdp --dataset digits --steps 50 --hidden N --epochs E --seed S --out DIR \\
        --method-param online=true|false

(rate code, 50 steps per digit; the method's defaults otherwise). ``--neurons`` (N, default 400), ``--epochs``
(E, default 1) and ``--modes`` (``online``: one sample at a time, as the paper; ``batch``, the method's
default: batches of 16 at once, the batch's mean weight change per step) are options. Chance is 0.10. Results go to
``benchmarks/results/stdp_digits.json``, one entry per setting (neurons, epochs, steps; a run of another
setting adds its entry, the same setting replaces it).

    python benchmarks/stdp_digits.py                          # 400 neurons, 1 epoch, seeds 0 1 2, both modes
    python benchmarks/stdp_digits.py --epochs 3 --steps 100   # longer: about 10 min on 2 loaded cores
    python benchmarks/stdp_digits.py --neurons 100 --seeds 0  # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _runs import seed_grid

RESULTS = Path(__file__).resolve().parent / "results" / "stdp_digits.json"
MODES = {"online": ["--method-param", "online=true"], "batch": ["--method-param", "online=false"]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--modes", nargs="+", choices=sorted(MODES), default=["online", "batch"])
    p.add_argument("--neurons", type=int, default=400, help="excitatory neurons (--hidden)")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--steps", type=int, default=50, help="presentation time per digit (steps of the rate code)")
    p.add_argument("--no-save", action="store_true", help="do not write benchmarks/results/stdp_digits.json")
    args = p.parse_args(argv)
    base = ["--method", "stdp", "--dataset", "digits", "--steps", str(args.steps), "--hidden", str(args.neurons),
            "--epochs", str(args.epochs)]
    with tempfile.TemporaryDirectory() as tmp:
        rows, summary, (load0, load1) = seed_grid("mode", {m: MODES[m] for m in args.modes}, args.seeds, base,
                                                  Path(tmp), spikes_format=".1f")
    if not args.no_save:
        RESULTS.parent.mkdir(exist_ok=True)
        known = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
        settings = known.get("settings", {}) if isinstance(known, dict) else {}
        key = f"neurons={args.neurons} epochs={args.epochs} steps={args.steps}"
        settings[key] = {
            "command": "python benchmarks/stdp_digits.py " + " ".join(argv if argv is not None else sys.argv[1:]),
            "settings": {"neurons": args.neurons, "epochs": args.epochs, "steps": args.steps,
                         "encoder": "rate (default)", "labels": "assigned on the training split (finalize)"},
            "machine": {"cpus": os.cpu_count(), "load_before": load0, "load_after": load1,
                        "note": "shared machine: other jobs ran at the same time; times are noisy"},
            "runs": rows, "summary": summary}
        RESULTS.write_text(json.dumps({"settings": settings}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

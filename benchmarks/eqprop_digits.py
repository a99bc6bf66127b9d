"""Equilibrium propagation (``spikeforge train --method eqprop``) on scikit-learn's 8x8 digits: test accuracy,
training time and spikes per test sample, for the spiking network (sigma-delta spikes) and its rate-based
twin, over seeds.

Each run is the command a user types (a fresh process; the run folder's ``metrics.json`` gives the figures):

    spikeforge train --method eqprop --dataset digits --epochs 30 --seed S --out DIR       (variant "default")
    spikeforge train --method eqprop --dataset digits --hidden 128 --epochs 30 --batch-size 32 \\
        --optimizer sgd --lr 0.01 --seed S --out DIR [--method-param spiking=false]    ("spiking", "rate")

("default": the config's defaults, 256 hidden units, Adam, lr 3e-3, batches of 16; rate code, 25 steps per
digit; the method's defaults beta = 1, positive nudging, 10 nudged steps, eps 0.5).
``spikes_per_sample`` counts the spikes of the hidden and output layers in the free phase (what evaluation
runs); training also runs the nudged phase. Results go to ``benchmarks/results/eqprop_digits.json``.

    python benchmarks/eqprop_digits.py                       # seeds 0 1 2, three variants: ~5-8 min on 2 cores
    python benchmarks/eqprop_digits.py --seeds 0 --epochs 5  # a quick look
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

RESULTS = Path(__file__).resolve().parent / "results" / "eqprop_digits.json"
SGD = ["--hidden", "128", "--batch-size", "32", "--optimizer", "sgd", "--lr", "0.01"]
VARIANTS = {"default": [], "spiking": SGD, "rate": [*SGD, "--method-param", "spiking=false"]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--variants", nargs="+", choices=sorted(VARIANTS), default=["default", "spiking", "rate"])
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--no-save", action="store_true", help="do not write benchmarks/results/eqprop_digits.json")
    args = p.parse_args(argv)
    base = ["--method", "eqprop", "--dataset", "digits", "--epochs", str(args.epochs)]
    with tempfile.TemporaryDirectory() as tmp:
        rows, summary, (load0, load1) = seed_grid("variant", {v: VARIANTS[v] for v in args.variants}, args.seeds,
                                                  base, Path(tmp))
    if not args.no_save:
        RESULTS.parent.mkdir(exist_ok=True)
        RESULTS.write_text(json.dumps({
            "command": "python benchmarks/eqprop_digits.py " + " ".join(argv if argv is not None else sys.argv[1:]),
            "settings": {"epochs": args.epochs, "steps": 25, "encoder": "rate (default)",
                         "variants": {v: " ".join(VARIANTS[v]) or "(config defaults)" for v in args.variants}},
            "machine": {"cpus": os.cpu_count(), "load_before": load0, "load_after": load1,
                        "note": "shared machine: other jobs ran at the same time; times are noisy"},
            "runs": rows, "summary": summary}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

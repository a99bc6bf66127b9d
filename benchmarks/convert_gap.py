"""ANN -> SNN conversion: the accuracy gap between the converted SNN and its ANN as a function of T.

For each input code and seed the ``convert`` method (:mod:`spikeforge.learn.methods.convert`) trains its ReLU MLP
``[64, 128, 64, 10]`` on the digits' training split (Adam, lr 3e-3, batch 32, ``--epochs`` epochs, the input
averaged over ``TRAIN_STEPS`` steps), the ANN's test accuracy is measured, then ``finalize`` converts it
(IF neurons, soft reset, weights normalised by the 99.9th percentile of the training activations; also by
the maximum, percentile 100, Diehl et al. 2015) and the SNN's test accuracy and spikes per sample are
measured with the test split encoded over each T of ``STEPS``. Codes:

* ``current`` -- the pixels as constant input currents (the ANN's input is exactly the pixels, whatever T);
* ``rate`` -- Poisson (Bernoulli) rate code; the ANN is then evaluated on the same T-step code averaged over
  time (its accuracy depends on T too).

The JapaneseVowels series are not converted here: T is the data's own length (7-29 steps), not a free
parameter, and the ANN of the ``convert`` method sees only the time average of a series.
Writes ``benchmarks/results/convert_gap.json``; prints the table. Not part of CI (minutes on 2 cores):

    python benchmarks/convert_gap.py [--seeds 0 1 2] [--epochs 15]
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _quiet import OtherCPU  # noqa: E402 (benchmarks/ on the path first)

RESULTS = HERE / "results" / "convert_gap.json"
STEPS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
TRAIN_STEPS = 32
HIDDEN = [128, 64]
CODES = ("current", "rate")
PERCENTILES = (99.9, 100.0)


def run(code: str, seed: int, epochs: int) -> list[dict]:
    from spikeforge.data import load_dataset
    from spikeforge.learn.config import TrainConfig
    from spikeforge.learn.loop import evaluate, fit, make_optimizer
    from spikeforge.learn.methods.convert import finalize
    from spikeforge.learn.models import build_model

    cfg = TrainConfig(dataset="digits", encoder=code, steps=TRAIN_STEPS, method="convert", hidden=HIDDEN, seed=seed,
                      lr=3e-3, batch_size=32, epochs=epochs)
    ds = load_dataset("digits", encoder=code, steps=TRAIN_STEPS, seed=0)
    torch.manual_seed(seed)
    ann = build_model(cfg, ds.in_channels, ds.num_classes)
    t0 = time.perf_counter()
    fit(ann, "convert", ds.train, make_optimizer("adam", ann.parameters(), cfg.lr), epochs=epochs,
        batch_size=cfg.batch_size, objective=cfg, generator=torch.Generator().manual_seed(seed))
    train_seconds = time.perf_counter() - t0
    tests = {t: load_dataset("digits", encoder=code, steps=t, seed=0).test for t in STEPS}
    ann_acc = {t: evaluate(ann, tests[t], cfg, seed=seed)["accuracy"] for t in (STEPS if code == "rate" else STEPS[:1])}
    rows = []
    for p in PERCENTILES:
        snn = copy.deepcopy(ann)
        finalize(snn, ds.train, cfg.replace(method_params={"percentile": p}), "cpu")
        for t in STEPS:
            ev = evaluate(snn, tests[t], cfg, seed=seed)
            a = ann_acc[t] if code == "rate" else ann_acc[STEPS[0]]
            rows.append({"code": code, "seed": seed, "percentile": p, "steps": t, "ann_accuracy": a,
                         "snn_accuracy": ev["accuracy"], "gap": a - ev["accuracy"],
                         "spikes_per_sample": ev["spikes_per_sample"], "scales": snn.scales.tolist(),
                         "train_seconds": round(train_seconds, 1)})
    return rows


def table(rows: list[dict]) -> str:
    lines = ["| code | percentile | T | ANN accuracy | SNN accuracy | gap (ANN - SNN) | hidden spikes / sample |",
             "|---|---|---|---|---|---|---|"]
    keys = sorted({(r["code"], r["percentile"], r["steps"]) for r in rows}, key=lambda k: (CODES.index(k[0]), k[1],
                                                                                          k[2]))
    for code, p, t in keys:
        sel = [r for r in rows if (r["code"], r["percentile"], r["steps"]) == (code, p, t)]

        def mean(key: str, sel=sel) -> float:
            return statistics.fmean(r[key] for r in sel)

        def sd(key: str, sel=sel) -> float:
            return statistics.stdev(r[key] for r in sel) if len(sel) > 1 else 0.0

        lines.append(f"| {code} | {p:g} | {t} | {mean('ann_accuracy'):.4f} | {mean('snn_accuracy'):.4f} ± "
                     f"{sd('snn_accuracy'):.4f} | {mean('gap'):+.4f} | {mean('spikes_per_sample'):.0f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--codes", nargs="+", default=list(CODES), choices=CODES)
    args = ap.parse_args()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        rows: list[dict] = []
        with OtherCPU() as other:
            t0 = time.perf_counter()
            for code in args.codes:
                for seed in args.seeds:
                    rows += run(code, seed, args.epochs)
                    print(f"{code} seed {seed} done ({time.perf_counter() - t0:.0f} s)", flush=True)
        result = {
            "what": "ANN -> SNN conversion (method convert) on digits: test accuracy of the ANN and of the converted "
                    "SNN against the time steps T; mean over seeds in the table",
            "model": [64, *HIDDEN, 10], "train_steps": TRAIN_STEPS, "epochs": args.epochs, "seeds": args.seeds,
            "optimizer": "adam lr 3e-3, batch 32, constant lr", "threads": 1,
            "other_cpu_cores": None if other.cores is None else round(other.cores, 2),
            "seconds": round(time.perf_counter() - t0, 1),
            "rows": rows,
            "table": table(rows),
        }
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(result, indent=1) + "\n")
        print(result["table"])
        print(f"other processes' CPU during the run: {result['other_cpu_cores']} cores; {result['seconds']} s")
    finally:
        torch.set_num_threads(threads)


if __name__ == "__main__":
    main()

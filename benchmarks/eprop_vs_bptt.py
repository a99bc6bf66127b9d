"""e-prop against BPTT on the recurrent family: test accuracy with the same network, data, epochs and seeds.

Each row is one ``spikeforge train --model recurrent`` run (one hidden population of recurrent LIF neurons,
the config's defaults otherwise: hard reset, tau 5, LI readout, loss at the last valid step, Adam, cosine
schedule), with ``--method bptt``, ``--method eprop`` (symmetric feedback) and ``--method eprop
--method-param feedback=random``; the test accuracy and training seconds come from the run's
``metrics.json``. The machine is shared: other processes' CPU use during each run is recorded
(``others_cores``), the seconds are comparable within one table only.

    python benchmarks/eprop_vs_bptt.py [--datasets uea:JapaneseVowels,digits] [--epochs 20] [--seeds 0,1]
        [--hidden 128] [--json benchmarks/results/eprop_vs_bptt.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _quiet import OtherCPU  # noqa: E402

#: (label, extra ``spikeforge train`` arguments)
VARIANTS = (
    ("bptt", ["--method", "bptt"]),
    ("eprop", ["--method", "eprop"]),
    ("eprop-random", ["--method", "eprop", "--method-param", "feedback=random"]),
)


def run_one(label: str, extra: list[str], dataset: str, epochs: int, seed: int, hidden: int, workdir: Path) -> dict:
    from spikeforge.cli.main import main

    out = workdir / f"{label}-{dataset.replace(':', '_')}-{seed}"
    argv = ["train", "--dataset", dataset, "--model", "recurrent", "--hidden", str(hidden), "--epochs", str(epochs),
            "--seed", str(seed), "--threads", "1", "--out", str(out), "--quiet", "--no-plots", "--no-report", *extra]
    t0 = time.perf_counter()
    with OtherCPU() as others:
        code = main(argv)
    row: dict = {"variant": label, "dataset": dataset, "seed": seed, "epochs": epochs, "hidden": hidden,
                 "wall_seconds": round(time.perf_counter() - t0, 2), "others_cores": others.cores}
    if code != 0:
        row["error"] = f"spikeforge train exited with {code}"
        return row
    metrics = json.loads((out / "metrics.json").read_text())
    row.update(test_accuracy=metrics["test_accuracy"], valid_accuracy=metrics.get("valid_accuracy"),
               train_seconds=metrics.get("train_seconds"), spikes_per_sample=metrics.get("spikes_per_sample"))
    return row


def summarise(rows: list[dict]) -> list[dict]:
    out = []
    for dataset in dict.fromkeys(r["dataset"] for r in rows):
        for label, _ in VARIANTS:
            acc = [r["test_accuracy"] for r in rows if r["dataset"] == dataset and r["variant"] == label
                   and "test_accuracy" in r]
            secs = [r["train_seconds"] for r in rows if r["dataset"] == dataset and r["variant"] == label
                    and r.get("train_seconds") is not None]
            if acc:
                out.append({"dataset": dataset, "variant": label, "runs": len(acc),
                            "test_accuracy_mean": round(statistics.fmean(acc), 4),
                            "test_accuracy_min": min(acc), "test_accuracy_max": max(acc),
                            "train_seconds_mean": round(statistics.fmean(secs), 1) if secs else None})
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", default="uea:JapaneseVowels,digits")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--seeds", default="0,1")
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--json", type=Path, default=HERE / "results" / "eprop_vs_bptt.json")
    args = p.parse_args()
    import torch

    torch.set_num_threads(1)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for dataset in args.datasets.split(","):
            for seed in (int(s) for s in args.seeds.split(",")):
                for label, extra in VARIANTS:
                    row = run_one(label, extra, dataset, args.epochs, seed, args.hidden, Path(tmp))
                    rows.append(row)
                    print(json.dumps(row), flush=True)
    summary = summarise(rows)
    for s in summary:
        print(f"{s['dataset']:22s} {s['variant']:13s} test accuracy {s['test_accuracy_mean']:.4f} "
              f"[{s['test_accuracy_min']:.4f}, {s['test_accuracy_max']:.4f}] over {s['runs']} seeds, "
              f"{s['train_seconds_mean']} s")
    result = {"command": "python benchmarks/eprop_vs_bptt.py " + " ".join(sys.argv[1:]),
              "setup": {"model": "recurrent", "hidden": args.hidden, "epochs": args.epochs,
                        "seeds": args.seeds, "note": "shared 2-core machine; others_cores: other processes' CPU "
                                                     "use during each run"},
              "summary": summary, "runs": rows}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()

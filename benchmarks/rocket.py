"""ROCKET (aeon's RocketClassifier, 10,000 kernels, seed 0) on every aeon-shipped classification set.

The reference column of the aeon table (``benchmarks/aeon_table.py``, ``docs/training.md``). Each set is read
by spikeforge's own loader (``spikeforge.data.load_dataset("ucr:NAME", normalize="none")``), so ROCKET sees
the same train/test split and the same cases as a spikeforge run; series of unequal length (JapaneseVowels,
PickupGestureWiimoteZ) are zero-padded to the longest, as spikeforge pads them (ROCKET normalises each
series itself). Sets whose files declare a regression target (``@targetLabel``) rather than class labels
are skipped and listed with the reason. Writes ``benchmarks/results/rocket.json``:

    python benchmarks/rocket.py                      # every shipped classification set
    python benchmarks/rocket.py --datasets GunPoint  # one set
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _quiet import OtherCPU, describe  # noqa: E402 (benchmarks/ on the path first)

RESULTS = HERE / "results" / "rocket.json"


def task_of(name: str) -> str:
    """``"classification"`` or ``"regression"``, from the header of the set's shipped ``_TRAIN`` file."""
    from spikeforge.data.timeseries import find_archive_files

    train, _ = find_archive_files(name)
    with train.open(errors="replace") as fh:
        for line in fh:
            words = line.strip().lower().split()
            if not words:
                continue
            if words[0] == "@data":
                break
            if words[0] == "@targetlabel" and words[1:2] == ["true"]:
                return "regression"
            if words[0] == "@classlabel" and words[1:2] == ["true"]:
                return "classification"
    return "classification" if train.suffix == ".arff" else "regression"


def classification_sets() -> tuple[list[str], dict[str, str]]:
    """The aeon-shipped sets to classify, and the skipped ones with the reason."""
    from spikeforge.data.loaders import shipped_datasets

    keep, skipped = [], {}
    for name in shipped_datasets():
        if task_of(name) == "classification":
            keep.append(name)
        else:
            skipped[name] = "regression problem (@targetLabel: a real-valued target, no classes)"
    return keep, skipped


def as_numpy(split):
    """``[N, C, L]`` float64 values (zero-padded) and the labels of a spikeforge split."""
    x = split.raw().transpose(0, 1)  # [T, N, C] -> [N, T, C]
    return x.permute(0, 2, 1).double().numpy(), split.y.numpy()


def rocket(name: str, n_kernels: int = 10_000, seed: int = 0) -> dict:
    from aeon.classification.convolution_based import RocketClassifier

    from spikeforge.data import load_dataset

    ds = load_dataset(f"ucr:{name}", encoder=None, normalize="none")
    xtr, ytr = as_numpy(ds.train)
    xte, yte = as_numpy(ds.test)
    with OtherCPU() as load:
        t0 = time.perf_counter()
        clf = RocketClassifier(n_kernels=n_kernels, random_state=seed, n_jobs=1)
        clf.fit(xtr, ytr)
        acc = float((clf.predict(xte) == yte).mean())
        seconds = time.perf_counter() - t0
    return {"dataset": name, "accuracy": acc, "seconds": seconds, "other_cores": load.cores,
            "train_size": len(ytr), "test_size": len(yte), "length": int(xtr.shape[2]),
            "channels": int(xtr.shape[1]), "classes": ds.num_classes}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", nargs="+", default=None, help="names (default: every shipped classification set)")
    p.add_argument("--kernels", type=int, default=10_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    names, skipped = classification_sets()
    if args.datasets:
        names = args.datasets
    previous = json.loads(args.out.read_text()) if args.out.is_file() else {}
    rows = dict(previous.get("results", {}))
    print("| data set | ROCKET test accuracy | seconds | other processes' CPU [cores] |")
    print("|---|---:|---:|---:|")
    for name in names:
        r = rocket(name, args.kernels, args.seed)
        rows[name] = r
        cores = "n/a" if r["other_cores"] is None else f"{r['other_cores']:.2f}"
        print(f"| {name} | {r['accuracy']:.4f} | {r['seconds']:.1f} | {cores} |", flush=True)
    for name, why in skipped.items():
        print(f"skipped {name}: {why}")
    record = {
        "method": f"aeon RocketClassifier(n_kernels={args.kernels}, random_state={args.seed}, n_jobs=1)",
        "results": rows,
        "skipped": skipped,
        "load": describe([r["other_cores"] for r in rows.values()]),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=2) + "\n")
    os.replace(tmp, args.out)  # atomic: a reader sees the old file or the new one
    print(record["load"])
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Doubling dilations against FCN's undilated blocks in the temporal convolutional SNN (``--model tcn``).

Paired runs of ``spikeforge train --model tcn --encoder current --hidden 64,128,64 --loss mean`` (the medium
``tcn current`` candidate that ``--model auto`` chose on every univariate aeon set) with
``--model-param dilations=1`` (FCN: Wang, Yan & Oates 2017) and ``dilations=[1,2,4]`` (doubling, as the TCN of
Bai, Kolter & Koltun 2018), same seed, same split, same epochs: the epochs and normalisation that the default
run's final training used on each set (``benchmarks/aeon_table.py``, before this change). Test accuracy of the
shipped test split, validation accuracy of the carved split (fraction 0.2, stratified). Not part of CI (about
half an hour on one core). Writes ``benchmarks/results/tcn_dilations.json`` and prints the table of
``docs/models.md``:

    python benchmarks/tcn_dilations.py
    python benchmarks/tcn_dilations.py --datasets ucr:GunPoint --seeds 0
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _docs import write_section  # noqa: E402 (benchmarks/ on the path first)
from _runs import pair_counts, paired  # noqa: E402

RESULTS = HERE / "results" / "tcn_dilations.json"
DOCS = HERE.parent / "docs" / "models.md"
#: data set -> (epochs, normalisation) of the default run's final training (aeon table of 2026-12-03).
SETS = {
    "ucr:ACSF1": (52, "standard"),
    "ucr:ArrowHead": (750, "standard"),
    "ucr:Covid3Month_disc": (215, "instance"),
    "ucr:GunPoint": (500, "standard"),
    "ucr:ItalyPowerDemand": (375, "standard"),
    "ucr:OSULeaf": (117, "standard"),
    "ucr:PickupGestureWiimoteZ": (500, "standard"),
}
VARIANTS = {"undilated (FCN)": ["--model-param", "dilations=1"],
            "doubling 1, 2, 4": ["--model-param", "dilations=[1,2,4]"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--datasets", nargs="+", default=list(SETS), choices=list(SETS))
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    args = ap.parse_args()
    rows = []
    lines = ["| data set | seed | epochs | undilated: test (valid) | doubling 1, 2, 4: test (valid) "
             "| difference [pt] |",
             "|---|---:|---:|---:|---:|---:|"]
    print("\n".join(lines))
    with tempfile.TemporaryDirectory() as tmp:
        for ds in args.datasets:
            epochs, norm = SETS[ds]
            base = ["--dataset", ds, "--model", "tcn", "--encoder", "current", "--hidden", "64,128,64", "--loss",
                    "mean", "--epochs", str(epochs), "--normalize", norm]
            for seed in args.seeds:
                pair = paired(base, VARIANTS, seed, Path(tmp) / ds.split(":")[-1])
                a, b = (pair[n]["test_accuracy"] for n in VARIANTS)
                va, vb = (pair[n]["valid_accuracy"] for n in VARIANTS)
                rows.append({"dataset": ds, "seed": seed, "epochs": epochs, "normalize": norm, "runs": pair,
                             "difference": b - a})
                lines.append(f"| {ds.split(':')[-1]} | {seed} | {epochs} | {a:.3f} ({va:.3f}) | {b:.3f} ({vb:.3f}) | "
                             f"{100 * (b - a):+.1f} |")
                print(lines[-1], flush=True)
    diffs = [r["difference"] for r in rows]
    counts = pair_counts(diffs)
    summary = {"pairs": counts["pairs"], "doubling_better": counts["second_better"],
               "undilated_better": counts["first_better"], "ties": counts["ties"],
               "mean_difference": counts["mean_difference"]}
    others = [run["other_cores"] for r in rows for run in r["runs"].values() if run["other_cores"] is not None]
    summary["other_cores_max"] = max(others) if others else None
    lines += ["", f"Doubling better in {summary['doubling_better']} of {len(diffs)} pairs, undilated in "
              f"{summary['undilated_better']} ({summary['ties']} ties); mean difference "
              f"{100 * summary['mean_difference']:+.1f} points of test accuracy. Other processes' CPU during the "
              f"runs: at most {summary['other_cores_max'] or 0:.2f} cores (accuracy does not depend on it)."]
    print(lines[-1])
    RESULTS.write_text(json.dumps({"rows": rows, "summary": summary}, indent=1) + "\n")
    write_section("tcn-dilations", "\n".join(lines), DOCS)


if __name__ == "__main__":
    main()

"""The readout of the temporal convolutional SNN (``--model tcn``): its last step against its mean over time.

Paired runs of ``spikeforge train --model tcn --encoder current --hidden 64,128,64`` with ``--loss mean``
(FCN's global average pooling, behind the readout) and ``--loss last`` (the leaky readout's last valid
step), same seed, same split, same epochs (those of the default run's final training, ``benchmarks/aeon_table.py``
of 2026-12-03). The medium network's receptive field (kernels 8, 5, 3 at dilations 1, 2, 4) is 24 steps:
on ItalyPowerDemand and UnitTest (24 steps) one step sees the whole series, and the mean averages 24 views of
which all but the last see part of it; GunPoint (150 steps) and Covid3Month_disc (84) are the controls where
no step sees the whole series. ``--model auto`` and ``spikeforge tune`` read a tcn out at its last step where
the receptive field covers the series (:func:`spikeforge.learn.models.readout_reduction`). Test accuracy of the
shipped test split, validation accuracy of the carved split (fraction 0.2, stratified). Not part of CI (about
a quarter of an hour on one core). Writes ``benchmarks/results/tcn_readout.json`` and the table of
``docs/models.md``:

    python benchmarks/tcn_readout.py
    python benchmarks/tcn_readout.py --datasets ucr:UnitTest --seeds 0
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

RESULTS = HERE / "results" / "tcn_readout.json"
DOCS = HERE.parent / "docs" / "models.md"
#: data set -> (steps, epochs, normalisation, seeds) of the default run's final training (aeon table of
#: 2026-12-03); the series covered by the receptive field get more seeds (their runs are short).
SETS = {
    "ucr:ItalyPowerDemand": (24, 375, "standard", (0, 1, 2, 3, 4)),
    "ucr:UnitTest": (24, 1500, "standard", (0, 1, 2, 3, 4)),
    "ucr:GunPoint": (150, 500, "standard", (0, 1)),
    "ucr:Covid3Month_disc": (84, 215, "instance", (0, 1)),
}
RECEPTIVE_FIELD = 24
VARIANTS = {"mean": ["--loss", "mean"], "last": ["--loss", "last"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--datasets", nargs="+", default=list(SETS), choices=list(SETS))
    ap.add_argument("--seeds", nargs="+", type=int, default=None, help="default: per data set (SETS)")
    args = ap.parse_args()
    rows = []
    lines = ["| data set | steps (receptive field 24) | seed | epochs | mean: test (valid) | last: test (valid) "
             "| last − mean [pt] |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    print("\n".join(lines))
    with tempfile.TemporaryDirectory() as tmp:
        for ds in args.datasets:
            steps, epochs, norm, seeds = SETS[ds]
            base = ["--dataset", ds, "--model", "tcn", "--encoder", "current", "--hidden", "64,128,64",
                    "--epochs", str(epochs), "--normalize", norm]
            for seed in args.seeds if args.seeds is not None else seeds:
                pair = paired(base, VARIANTS, seed, Path(tmp) / ds.split(":")[-1])
                a, b = (pair[n]["test_accuracy"] for n in VARIANTS)
                va, vb = (pair[n]["valid_accuracy"] for n in VARIANTS)
                rows.append({"dataset": ds, "steps": steps, "covered": steps <= RECEPTIVE_FIELD, "seed": seed,
                             "epochs": epochs, "normalize": norm, "runs": pair, "difference": b - a})
                lines.append(f"| {ds.split(':')[-1]} | {steps} | {seed} | {epochs} | {a:.3f} ({va:.3f}) | "
                             f"{b:.3f} ({vb:.3f}) | {100 * (b - a):+.1f} |")
                print(lines[-1], flush=True)
    summary = {}
    for covered, label in ((True, "covered"), (False, "longer")):
        diffs = [r["difference"] for r in rows if r["covered"] == covered]
        if diffs:
            c = pair_counts(diffs)
            summary[label] = {"pairs": c["pairs"], "last_better": c["second_better"], "mean_better": c["first_better"],
                              "ties": c["ties"], "mean_difference": c["mean_difference"]}
    others = [run["other_cores"] for r in rows for run in r["runs"].values() if run["other_cores"] is not None]
    summary["other_cores_max"] = max(others) if others else None
    lines.append("")
    for label, what in (("covered", "Series the receptive field covers"), ("longer", "Longer series")):
        s = summary.get(label)
        if s:
            lines.append(f"{what}: the last step better in {s['last_better']} of {s['pairs']} pairs, the mean in "
                         f"{s['mean_better']} ({s['ties']} ties); mean difference {100 * s['mean_difference']:+.1f} "
                         "points of test accuracy.")
    lines.append(f"Other processes' CPU during the runs: at most {summary['other_cores_max'] or 0:.2f} cores "
                 "(accuracy does not depend on it).")
    print("\n".join(lines[-3:]))
    RESULTS.write_text(json.dumps({"rows": rows, "summary": summary}, indent=1) + "\n")
    write_section("tcn-readout", "\n".join(lines), DOCS)


if __name__ == "__main__":
    main()

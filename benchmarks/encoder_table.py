"""Train with each encoder of the registry: test accuracy against input spikes and energy per sample.

For every data set (``uea:JapaneseVowels``, the default, and ``digits``) and every name in
``spikeforge.encode.ENCODERS`` at run time, runs ``spikeforge train --dataset D --encoder NAME --epochs E
--out TMP`` (a fresh process; the rest of the configuration is the default: MLP [256], LIF, BPTT, seed 0) and
reads the run's ``metrics.json``: ``test_accuracy``, ``input_spikes_per_sample`` (non-zero input slots per
sample: for ``current`` every analogue value counts), ``spikes_per_sample`` (hidden), ``synaptic_ops_per_sample``
and the energy per sample on Loihi-2 and SpiNNaker-2 (``energy.per_sample_j``: synaptic ops x J/SOP, a lower
bound). An encoder that does not apply to a data set (the train command refuses it) is listed with the
command's one-line error. Not part of CI (minutes on 2 cores). Writes ``benchmarks/results/encoder_table.json``
and prints the table of ``docs/codes.md``:

    python benchmarks/encoder_table.py                          # both data sets, 30 epochs each (the default)
    python benchmarks/encoder_table.py --datasets digits --epochs-digits 3
    python benchmarks/encoder_table.py --table                  # the table of the saved results
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _quiet import OtherCPU  # noqa: E402 (benchmarks/ on the path first)

RESULTS = HERE / "results" / "encoder_table.json"
CHIPS = ("Loihi-2", "SpiNNaker-2")


def run_one(dataset: str, encoder: str, epochs: int, out: Path) -> dict:
    exe = Path(sys.executable).with_name("spikeforge")
    cmd = [str(exe), "train", "--dataset", dataset, "--encoder", encoder, "--epochs", str(epochs),
           "--out", str(out)]
    t0 = time.perf_counter()
    with OtherCPU() as other:
        proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"})
    wall = time.perf_counter() - t0
    row = {"dataset": dataset, "encoder": encoder, "epochs": epochs,
           "command": " ".join(["spikeforge", *cmd[1:-2]]), "wall_seconds": wall, "others_cores": other.cores}
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
        row["error"] = lines[-1] if lines else f"exit status {proc.returncode}"
        return row
    m = json.loads((out / "metrics.json").read_text())
    energy = m.get("energy", {}).get("per_sample_j", {})
    row.update(
        test_accuracy=m["test_accuracy"],
        input_spikes_per_sample=m["input_spikes_per_sample"],
        hidden_spikes_per_sample=m["spikes_per_sample"],
        synaptic_ops_per_sample=m["synaptic_ops_per_sample"],
        energy_j_per_sample={c: energy.get(c) for c in CHIPS},
        train_seconds=m["train_seconds"],
        encoder_config=json.loads((out / "config.json").read_text()).get("encoder"),
    )
    return row


def table(rows: list[dict]) -> str:
    head = ("| data set | encoder | epochs | test acc | input spikes / sample | hidden spikes / sample | "
            "synaptic ops / sample | energy / sample, Loihi-2 [nJ] | SpiNNaker-2 [nJ] | wall [s] |")
    lines = [head, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    skipped = []
    for r in rows:
        if "error" in r:
            why = r["error"].split("error: ", 1)[-1]
            skipped.append(f"* {r['dataset']}, {r['encoder']}: does not apply ({why.split(', but ')[0]})")
            continue
        e = r["energy_j_per_sample"]
        nj = [("—" if e[c] is None else f"{e[c] * 1e9:.1f}") for c in CHIPS]
        lines.append(f"| {r['dataset']} | {r['encoder']} | {r['epochs']} | {r['test_accuracy']:.3f} | "
                     f"{r['input_spikes_per_sample']:.1f} | {r['hidden_spikes_per_sample']:.1f} | "
                     f"{r['synaptic_ops_per_sample']:.0f} | {nj[0]} | {nj[1]} | {r['wall_seconds']:.0f} |")
    return "\n".join(lines + (["", *skipped] if skipped else []))


def main() -> None:
    from spikeforge.encode import ENCODERS

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--datasets", default="uea:JapaneseVowels,digits")
    ap.add_argument("--encoders", default=None, help="comma-separated names (default: every registry encoder)")
    ap.add_argument("--epochs-series", type=int, default=30, help="epochs on time-series sets (default 30)")
    ap.add_argument("--epochs-digits", type=int, default=30, help="epochs on digits (default 30)")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--table", action="store_true", help="only print the table of the results file (--out)")
    args = ap.parse_args()
    if args.table:
        print(table(json.loads(args.out.read_text())["rows"]))
        return
    names = args.encoders.split(",") if args.encoders else list(ENCODERS)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for ds in args.datasets.split(","):
            epochs = args.epochs_digits if ds == "digits" else args.epochs_series
            for name in names:
                row = run_one(ds, name, epochs, Path(tmp) / f"{ds.replace(':', '_')}_{name}")
                rows.append(row)
                print(json.dumps({k: v for k, v in row.items() if k != "encoder_config"}), flush=True)
    payload = {"settings": {"datasets": args.datasets.split(","), "encoders": names,
                            "epochs_series": args.epochs_series, "epochs_digits": args.epochs_digits,
                            "cpu_count": os.cpu_count()},
               "rows": rows}
    args.out.parent.mkdir(exist_ok=True)
    args.out.write_text(json.dumps(payload, indent=2))
    print(table(rows))


if __name__ == "__main__":
    main()

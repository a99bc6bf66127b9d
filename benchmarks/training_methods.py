"""Every training method side by side: accuracy, training time, peak memory and synaptic operations per sample.

Each (method, data set) pair is one ``spikeforge train`` run in its own process (so its peak resident memory
is its own), with the method's defaults and a common budget of epochs; the figures come from the run's
``metrics.json`` (test accuracy, ``train_seconds``, ``synaptic_ops`` per test sample from the hardware
analysis) and the child's ``ru_maxrss``. Other processes' CPU use during each run is recorded (the machine
is shared: the times are comparable within one table only).

    python benchmarks/training_methods.py [--methods bptt,tbptt,...] [--datasets uea:JapaneseVowels,digits]
        [--epochs 10] [--json benchmarks/results/training_methods.json]

Extra ``spikeforge train`` arguments per method (a method's own model size, e.g.) are in ``EXTRA``; every run
gets ``--epochs``, ``--seed 0``, ``--threads 1`` and ``--valid-fraction 0.2``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _quiet import OtherCPU, describe  # noqa: E402

#: Per-method arguments beside the common ones (the methods' own defaults otherwise).
EXTRA: dict[str, list[str]] = {
    "tbptt": ["--tbptt", "8"],
}
#: Further rows: a label, the method and its arguments (run after the method's own row).
VARIANTS: dict[str, tuple[str, list[str]]] = {
    "eqprop (rates)": ("eqprop", ["--method-param", "spiking=false"]),
}
#: Per data set arguments (the same for every method).
DATA_EXTRA: dict[str, list[str]] = {"digits": ["--hidden", "128"], "uea:JapaneseVowels": ["--hidden", "128"]}


def _child(argv: list[str], out: str) -> None:
    """Run ``spikeforge train`` in this process and write its peak RSS (MiB) and wall seconds to ``out``."""
    import torch

    from spikeforge.cli.main import main

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    code = main(["train", *argv])
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    Path(out).write_text(json.dumps({"code": code, "wall_seconds": seconds, "peak_rss_mib": peak}))


def run_one(method: str, dataset: str, epochs: int, workdir: Path, label: str | None = None,
            extra: list[str] | None = None) -> dict:
    label = label or method
    out = workdir / f"{label.replace(' ', '_').replace('(', '').replace(')', '')}-{dataset.replace(':', '_')}"
    argv = ["--method", method, "--dataset", dataset, "--epochs", str(epochs), "--seed", "0", "--threads", "1",
            "--out", str(out), "--quiet", "--no-plots", *DATA_EXTRA.get(dataset, []), *EXTRA.get(method, []),
            *(extra or [])]
    if method in EXTRA and "--tbptt" in EXTRA[method]:
        argv = [a for i, a in enumerate(argv) if not (a == "--method" or (i > 0 and argv[i - 1] == "--method"))]
    info = workdir / f"{out.name}.child.json"
    with OtherCPU() as others:
        proc = subprocess.run([sys.executable, __file__, "--child", str(info), "--", *argv],
                              capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    row: dict = {"method": label, "dataset": dataset, "epochs": epochs, "others_cores": others.cores}
    child = json.loads(info.read_text()) if info.exists() else {"code": proc.returncode}
    if proc.returncode != 0 or child["code"] != 0:  # the train command refused or failed: its last line
        row["error"] = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        return row
    metrics = json.loads((out / "metrics.json").read_text())
    row.update(test_accuracy=metrics["test_accuracy"], valid_accuracy=metrics.get("valid_accuracy"),
               train_seconds=metrics["train_seconds"], wall_seconds=child["wall_seconds"],
               peak_rss_mib=child["peak_rss_mib"], synaptic_ops_per_sample=metrics.get("synaptic_ops_per_sample"),
               spikes_per_sample=metrics.get("spikes_per_sample"))
    return row


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        _child(sys.argv[sys.argv.index("--") + 1:], sys.argv[2])
        return
    from spikeforge.learn import methods

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--methods", default=",".join(methods()))
    p.add_argument("--datasets", default="uea:JapaneseVowels,digits")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--json", default=str(HERE / "results" / "training_methods.json"))
    args = p.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for dataset in args.datasets.split(","):
            for method in args.methods.split(","):
                runs = [(method, None, None)] + [(m, label, extra) for label, (m, extra) in VARIANTS.items()
                                                 if m == method]
                for name, label, extra in runs:
                    row = run_one(name, dataset, args.epochs, Path(tmp), label, extra)
                    rows.append(row)
                    print(json.dumps(row), flush=True)
    note = describe([r["others_cores"] for r in rows])
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps({"rows": rows, "load": note}, indent=2) + "\n")
    print("\n| method | data set | test acc. | train s | peak RSS MiB | synaptic ops / sample | spikes / sample |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for r in rows:
        if "error" in r:
            print(f"| {r['method']} | {r['dataset']} | error: {r['error']} | | | | |")
            continue
        print(f"| {r['method']} | {r['dataset']} | {r['test_accuracy']:.3f} | {r['train_seconds']:.1f} | "
              f"{r['peak_rss_mib']:.0f} | {r['synaptic_ops_per_sample'] or float('nan'):.3g} | "
              f"{r['spikes_per_sample'] or float('nan'):.3g} |")
    print(f"\n{note}")


if __name__ == "__main__":
    main()

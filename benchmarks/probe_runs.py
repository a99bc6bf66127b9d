"""What the hidden layers of trained runs carry: counts or timing (the table of docs/codes.md, "codes probe").

Trains the default run (``spikeforge train``: JapaneseVowels, delta code) and two digits runs (rate and latency
input), each with its defaults (30 epochs, seed 0), then probes each with ``spikeforge codes probe DIR``
(3 shuffles, seed 0) and writes every probe to ``benchmarks/results/probe_runs.json``:

    python benchmarks/probe_runs.py [--json FILE]

The runs are deterministic (bit-identical for any thread count), so the figures do not depend on the machine's
load; only the times do, and none are reported.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
RUNS = {
    "default (JapaneseVowels, delta)": [],
    "digits, rate": ["--dataset", "digits", "--encoder", "rate"],
    "digits, latency": ["--dataset", "digits", "--encoder", "latency"],
}


def main() -> None:
    import torch

    from spikeforge.cli.main import main as spikeforge
    from spikeforge.learn.probe import probe_run

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--json", type=Path, default=HERE / "results" / "probe_runs.json")
    args = p.parse_args()
    torch.set_num_threads(1)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, extra in RUNS.items():
            out = Path(tmp) / str(len(results))
            assert spikeforge(["train", "--out", str(out), "--quiet", "--no-plots", *extra]) == 0
            metrics = json.loads((out / "metrics.json").read_text())
            probe = probe_run(out, shuffles=3, seed=0)
            results[name] = {"command": " ".join(["spikeforge train", *extra]),
                             "test_accuracy": metrics["test_accuracy"], "probe": probe}
            layers = probe.get("layers", probe)
            print(name, metrics["test_accuracy"], json.dumps(layers)[:400], flush=True)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2, default=float) + "\n")


if __name__ == "__main__":
    main()

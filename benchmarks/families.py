"""Do the model families generalise? Each family (and encoder) on five aeon-shipped sets, selected on validation.

For every data set and family: the training split is carved into train and a stratified validation split
(``spikeforge.data.carve_validation``, fraction 0.2, seed 0); the model (``spikeforge.learn.models.build_model``
with the family's sizes below and its ``preferred_loss``) trains with Adam and a cosine schedule over as many
epochs as fit in ``--seconds`` of wall time (planned from the first epoch's time, at most ``--epochs``); the
epoch with the best validation accuracy is kept (the later one at a tie), and only that model is evaluated on
the test split, once. Not part of CI (minutes on 2 cores). Writes ``benchmarks/results/families.json`` and
prints the tables of ``docs/models.md``:

    python benchmarks/families.py                                   # every set, family and encoder below
    python benchmarks/families.py --datasets ucr:GunPoint --families tcn --encoders current
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import re
import sys
import time
import warnings
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _quiet import OtherCPU  # noqa: E402 (benchmarks/ on the path first)

RESULTS = HERE / "results" / "families.json"
DATASETS = ("uea:JapaneseVowels", "ucr:ItalyPowerDemand", "ucr:GunPoint", "ucr:OSULeaf", "uea:BasicMotions")
FAMILIES = ("mlp", "recurrent", "tcn", "adlif", "delays")
ENCODERS = {
    "current": {"name": "current"},
    "delta": {"name": "delta"},
    "multidelta": {"name": "multidelta", "thresholds": [0.1, 0.3, 1.0]},
    "population": {"name": "population", "neurons": 8},
}
SIZES = {"mlp": [128], "recurrent": [128], "tcn": [32, 64, 32], "adlif": [64], "delays": [64]}
PARAMS = {"delays": {"max_delay": 10}, "tcn": {"dilations": 1}}  # tcn: FCN's undilated blocks, as measured


def run_one(dataset: str, family: str, encoder: str, *, seconds: float, epochs: int, lr: float, batch_size: int,
            seed: int) -> dict:
    from spikeforge.data import batches, carve_validation, load_dataset
    from spikeforge.learn.config import TrainConfig
    from spikeforge.learn.losses import classification_loss, readout_logits
    from spikeforge.learn.models import build_model, parameter_count, preferred_loss

    ds = load_dataset(dataset, encoder=ENCODERS[encoder], seed=seed)
    train, valid = carve_validation(ds.train, 0.2, seed)
    cfg = TrainConfig(dataset=dataset, model=family, hidden=SIZES[family], model_params=PARAMS.get(family, {}),
                      loss=preferred_loss(family), seed=seed)
    torch.manual_seed(seed)
    model = build_model(cfg, ds.in_channels, ds.num_classes)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = None
    gen = torch.Generator().manual_seed(seed)

    def accuracy(split) -> tuple[float, float]:
        """(accuracy, mean cross-entropy) on ``split``."""
        model.eval()
        right, loss = 0, 0.0
        with torch.no_grad():
            for b in batches(split, 256):
                logits = readout_logits(model(b.x), b.lengths, cfg.loss)
                right += int((logits.argmax(1) == b.y).sum())
                loss += float(torch.nn.functional.cross_entropy(logits, b.y, reduction="sum"))
        model.train()
        return right / len(split), loss / len(split)

    start = time.perf_counter()
    best = (-1.0, math.inf, 0, None)  # (valid accuracy, valid loss, epoch, weights)
    done, planned = 0, epochs
    with OtherCPU() as other:
        while done < planned:
            t0 = time.perf_counter()
            for b in batches(train, batch_size, shuffle=True, generator=gen):
                loss, _ = classification_loss(model(b.x), b.y, b.lengths, cfg.loss)
                opt.zero_grad()
                loss.backward()
                opt.step()
            done += 1
            va, vl = accuracy(valid)
            if sched is None:  # the cosine schedule over the epochs that fit in the time cap
                planned = max(1, min(epochs, int(seconds / (time.perf_counter() - t0))))
                sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, planned)
            sched.step()
            if va >= best[0]:  # a tie goes to the later epoch (further down the schedule)
                best = (va, vl, done, copy.deepcopy(model.state_dict()))
            if time.perf_counter() - start > seconds:
                break
    model.load_state_dict(best[3])
    test = accuracy(ds.test)[0]
    return {"dataset": dataset, "family": family, "encoder": encoder, "hidden": SIZES[family],
            "model_params": PARAMS.get(family, {}), "loss": cfg.loss, "parameters": parameter_count(model),
            "epochs": done, "best_epoch": best[2], "valid_accuracy": round(best[0], 4), "valid_loss": round(best[1], 4),
            "test_accuracy": round(test, 4), "seconds": round(time.perf_counter() - start, 1),
            "other_cpu_cores": None if other.cores is None else round(other.cores, 2)}


def rocket_accuracy() -> dict[str, float]:
    """ROCKET's test accuracy per data set, from ``benchmarks/results/rocket.json`` (``benchmarks/rocket.py``)."""
    path = HERE / "results" / "rocket.json"
    if not path.exists():
        return {}
    return {name: r["accuracy"] for name, r in json.loads(path.read_text())["results"].items()}


def table(rows: list[dict]) -> str:
    """Every run, then per data set the run chosen on validation (accuracy, then loss) against ROCKET."""
    rocket = rocket_accuracy()
    lines = ["| data set | family | encoder | valid | valid loss | test | epochs | seconds |",
             "|---|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['dataset'].split(':')[-1]} | {r['family']} | {r['encoder']} | {r['valid_accuracy']:.3f} | "
                     f"{r.get('valid_loss', math.nan):.3f} | {r['test_accuracy']:.3f} | {r['epochs']} | "
                     f"{r['seconds']:.0f} |")
    lines += ["", "| data set | chosen on validation | valid | test | best test of all runs | ROCKET |",
              "|---|---|---:|---:|---:|---:|"]
    for dataset in dict.fromkeys(r["dataset"] for r in rows):
        mine = [r for r in rows if r["dataset"] == dataset]
        pick = max(mine, key=lambda r: (r["valid_accuracy"], -r.get("valid_loss", 0.0)))
        name = dataset.split(":")[-1]
        ref = f"{rocket[name]:.3f}" if name in rocket else ""
        lines.append(f"| {name} | {pick['family']} + {pick['encoder']} | {pick['valid_accuracy']:.3f} | "
                     f"{pick['test_accuracy']:.3f} | {max(r['test_accuracy'] for r in mine):.3f} | {ref} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", nargs="+", default=list(DATASETS))
    p.add_argument("--families", nargs="+", default=list(FAMILIES), choices=FAMILIES)
    p.add_argument("--encoders", nargs="+", default=["current", "delta"], choices=tuple(ENCODERS))
    p.add_argument("--seconds", type=float, default=60.0, help="wall-time cap of one training run")
    p.add_argument("--epochs", type=int, default=300, help="at most this many epochs")
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--render", type=Path, default=None, help="only print the table of this results file")
    args = p.parse_args(argv)
    if args.render is not None:
        print(table(json.loads(args.render.read_text())["rows"]))
        return
    torch.set_num_threads(1)
    # the schedule is made after the first epoch (when its length is known); torch warns about that order
    warnings.filterwarnings("ignore", message=re.escape("Detected call of `lr_scheduler.step()`"))
    rows = []
    for dataset in args.datasets:
        for family in args.families:
            for encoder in args.encoders:
                r = run_one(dataset, family, encoder, seconds=args.seconds, epochs=args.epochs, lr=args.lr,
                            batch_size=args.batch_size, seed=args.seed)
                rows.append(r)
                print(json.dumps(r), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(json.dumps({"rows": rows, "args": {k: str(v) for k, v in vars(args).items()}}, indent=1))
    tmp.replace(args.out)
    print(table(rows))
    if any(math.isnan(r["test_accuracy"]) for r in rows):
        raise SystemExit(1)


if __name__ == "__main__":
    main()

"""The aeon table: every aeon-shipped classification set, spikeforge's default run (``--model auto``), a small
``spikeforge tune``, and ROCKET (``benchmarks/rocket.py``), with wall times and the machine's load.

Each spikeforge figure is a fresh process run as a user types it, timed from start to exit:

* default: ``spikeforge train --dataset ucr:NAME --model auto --out DIR`` (search budget: auto's default
  unless ``--budget``), test accuracy from the run's ``metrics.json``;
* tuned: ``spikeforge tune --dataset ucr:NAME --trials K --budget B --out DIR``, test accuracy of
  ``DIR/best`` (the study chose on the validation split; the test split is evaluated once, in that run).

ROCKET's figures are read from ``benchmarks/results/rocket.json`` (run ``benchmarks/rocket.py`` first). Other
processes' CPU use is recorded around every run (``_quiet.OtherCPU``: the machine is shared). Results go to
``benchmarks/results/aeon_table.json`` (merged set by set, so a long job can be run in parts) and the markdown
table into the last section of ``docs/training.md``:

    python benchmarks/aeon_table.py                         # every set, both columns
    python benchmarks/aeon_table.py --only default --datasets GunPoint OSULeaf
    python benchmarks/aeon_table.py --only seeds --seeds 1 2   # the default run with other seeds (its spread)
    python benchmarks/aeon_table.py --write-docs-only       # the table from the results so far
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from _docs import write_section  # noqa: E402 (benchmarks/ on the path first)
from _quiet import OtherCPU, describe  # noqa: E402
from rocket import RESULTS as ROCKET_RESULTS  # noqa: E402
from rocket import classification_sets  # noqa: E402

RESULTS = HERE / "results" / "aeon_table.json"
DOCS = ROOT / "docs" / "training.md"
HEADING = "## Every aeon-shipped classification set"
SECTION = "aeon-table"  # docs/training.md markers <!-- aeon-table:begin --> ... <!-- aeon-table:end -->


def _spikeforge(args: list[str], log: Path) -> tuple[int, float, float | None]:
    cmd = [sys.executable, "-m", "spikeforge", *args]
    with OtherCPU() as load, log.open("w") as fh:
        t0 = time.perf_counter()
        rc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=ROOT).returncode
        wall = time.perf_counter() - t0
    return rc, wall, load.cores


def run_default(name: str, folder: Path, budget: float | None, seed: int | None = None) -> dict:
    """The default run (``seed`` None: the config's default seed, 0; else ``--seed seed``)."""
    tag = "default" if seed is None else f"default-seed{seed}"
    out = folder / name / tag
    args = ["train", "--dataset", f"ucr:{name}", "--model", "auto", "--out", str(out), "--overwrite", "--no-progress"]
    extra = ([] if budget is None else ["--budget", f"{budget:g}"]) + ([] if seed is None else ["--seed", str(seed)])
    rc, wall, cores = _spikeforge(args + extra, folder / name / f"{tag}.log")
    row = {"rc": rc, "wall_s": wall, "other_cores": cores, "command": " ".join(["spikeforge", *args[:5], *extra])}
    if rc == 0:
        m = json.loads((out / "metrics.json").read_text())
        a = m.get("auto") or {}
        chosen = a.get("chosen", {})
        # the validation accuracy the choice was made on (a refit run has no split held out after it)
        row.update(test_accuracy=m["test_accuracy"], valid_accuracy=chosen.get("valid_accuracy"),
                   refit=a.get("refit"), choice=chosen.get("name"), search_s=a.get("seconds"),
                   search_budget_s=a.get("budget_seconds"),
                   tried=len([c for c in a.get("candidates", []) if c["rungs"]]), epochs=m["epochs"],
                   train_s=m["train_seconds"], stopped=a.get("stopped"))
    else:
        row["error"] = (folder / name / f"{tag}.log").read_text()[-400:]
    return row


def run_tuned(name: str, folder: Path, trials: int, budget: float) -> dict:
    out = folder / name / "tune"
    args = ["tune", "--dataset", f"ucr:{name}", "--trials", str(trials), "--budget", str(budget), "--out", str(out),
            "--overwrite", "--no-progress"]
    rc, wall, cores = _spikeforge(args, folder / name / "tune.log")
    row = {"rc": rc, "wall_s": wall, "other_cores": cores, "trials": trials, "budget_s": budget,
           "command": "spikeforge " + " ".join(args[:7])}
    if rc == 0:
        m = json.loads((out / "best" / "metrics.json").read_text())
        s = json.loads((out / "study.json").read_text())
        best = s.get("best") or {}
        # the validation accuracy the study chose on (a refit best run has no split held out after it)
        row.update(test_accuracy=m["test_accuracy"], valid_accuracy=best.get("valid_accuracy"),
                   refit=best.get("refit"), trials_finished=s["trials_finished"], study_s=s["seconds"],
                   choice=best.get("params"), best_epochs=m["epochs"], best_train_s=m["train_seconds"])
    else:
        row["error"] = (folder / name / "tune.log").read_text()[-400:]
    return row


def _read(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {}


def _write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


def _acc(row: dict | None) -> str:
    if not row:
        return "not run"
    if row.get("rc", 0) != 0:
        return "failed"
    return f"{row['test_accuracy']:.3f}"


def seed_accuracies(entry: dict) -> list[float]:
    """Test accuracies of a set's default runs that finished: seed 0 (``default``), then ``seeds`` in order."""
    runs = [entry.get("default") or {}] + [entry.get("seeds", {})[k] for k in sorted(entry.get("seeds", {}), key=int)]
    return [r["test_accuracy"] for r in runs if r.get("rc") == 0]


def _spread(accs: list[float]) -> str:
    if len(accs) < 2:
        return ""
    return f"{sum(accs) / len(accs):.3f} ({min(accs):.2f}–{max(accs):.2f})"


def table(results: dict, rocket: dict) -> str:
    rows = results.get("sets", {})
    lines = ["| data set | T × C, classes, train / test | default (auto): test acc | its choice | wall [s] | "
             "default over seeds: mean (min–max) | tuned: test acc | wall [s] | ROCKET | default − ROCKET | "
             "mean − ROCKET |",
             "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name in sorted(set(rows) | set(rocket.get("results", {}))):
        r = rocket.get("results", {}).get(name, {})
        d, t = rows.get(name, {}).get("default"), rows.get(name, {}).get("tuned")
        shape = (f"{r['length']} × {r['channels']}, {r['classes']}, {r['train_size']} / {r['test_size']}" if r
                 else "")
        gap = (f"{100 * (d['test_accuracy'] - r['accuracy']):+.1f} pt" if d and d.get("rc") == 0 and r else "")
        d_wall = "" if not d else format(d["wall_s"], ".0f")
        t_wall = "" if not t else format(t["wall_s"], ".0f")
        accs = seed_accuracies(rows.get(name, {}))
        mean_gap = (f"{100 * (sum(accs) / len(accs) - r['accuracy']):+.1f} pt" if len(accs) > 1 and r else "")
        lines.append(f"| {name} | {shape} | {_acc(d)} | {(d or {}).get('choice') or ''} | {d_wall} | "
                     f"{_spread(accs)} | {_acc(t)} | {t_wall} | {'' if not r else format(r['accuracy'], '.3f')} | "
                     f"{gap} | {mean_gap} |")
    return "\n".join(lines)


def targets(results: dict, rocket: dict) -> str:
    """One sentence: how many sets meet issue 12's targets (default run within 5 minutes, test accuracy within
    5 points of ROCKET), and which miss."""
    done = {name: r["default"] for name, r in results.get("sets", {}).items()
            if r.get("default", {}).get("rc") == 0 and name in rocket.get("results", {})}
    if not done:
        return "No default run measured yet."
    close = {n for n, d in done.items() if d["test_accuracy"] >= rocket["results"][n]["accuracy"] - 0.05}
    fast = {n for n, d in done.items() if d["wall_s"] <= 300}
    above = {n for n, d in done.items() if d["test_accuracy"] >= rocket["results"][n]["accuracy"]}
    tuned = {n: r["tuned"] for n, r in results.get("sets", {}).items() if r.get("tuned", {}).get("rc") == 0
             and n in rocket.get("results", {})}
    tuned_close = {n for n, t in tuned.items() if t["test_accuracy"] >= rocket["results"][n]["accuracy"] - 0.05}
    misses = sorted(set(done) - (close & fast))
    means = {n: sum(a) / len(a) for n in done if len(a := seed_accuracies(results["sets"][n])) > 1}
    means_close = {n for n, m in means.items() if m >= rocket["results"][n]["accuracy"] - 0.05}
    return (f"Targets of issue 12 over the {len(done)} sets measured: default run within 5 points of ROCKET on "
            f"{len(close)}, at or above it on {len(above)}, within 5 minutes on {len(fast)}, both on "
            f"{len(close & fast)}" + (f" (misses: {', '.join(misses)})" if misses else "") + "; tuned within 5 points "
            f"on {len(tuned_close)} of {len(tuned)}"
            + (f"; the mean of the seeds' default runs within 5 points on {len(means_close)} of {len(means)}"
               if means else "") + ".")


def write_docs(results: dict, rocket: dict) -> None:
    loads = [row.get(col, {}).get("other_cores") for row in results.get("sets", {}).values()
             for col in ("default", "tuned")]
    info = results.get("settings", {})
    sets = results.get("sets", {}).values()
    budgets = sorted({f"{r['default']['search_budget_s']:g}" for r in sets if r.get("default", {}).get("rc") == 0})
    studies = sorted({f"--trials {r['tuned']['trials']} --budget {r['tuned']['budget_s']:g}" for r in sets
                      if "tuned" in r})
    body = "\n".join([
        table(results, rocket),
        "",
        *textwrap.wrap(targets(results, rocket), width=115, break_on_hyphens=False),
        "",
        *textwrap.wrap(
        f"Measured by `python benchmarks/aeon_table.py` (last on {info.get('date', '?')}), {info.get('cpus', '?')} "
        f"CPUs shared with other jobs: {describe(loads)}. Default: `spikeforge train --dataset ucr:NAME --model "
        f"auto`, the default family on these sets (search budget {' / '.join(budgets) or '?'} s, then the winner's "
        "training; wall time of the whole command, pictures and report included). Tuned: `spikeforge tune "
        "--dataset ucr:NAME "
        f"{' / '.join(studies) or '(not run)'}` (the study's budget in seconds; then the best configuration "
        "trained into DIR/best; wall time of the whole command). ROCKET: "
        f"{rocket.get('method', '?')}, `benchmarks/rocket.py`. Skipped (regression problems, no classes): "
        f"{', '.join(sorted(rocket.get('skipped', {}))) or 'none'}.", width=115, break_on_hyphens=False),
    ])
    write_section(SECTION, body, DOCS, heading=HEADING)


def _show(name: str, column: str, row: dict) -> None:
    print(name, column, {k: row.get(k) for k in ("test_accuracy", "choice", "wall_s", "other_cores")}, flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", nargs="+", default=None)
    p.add_argument("--only", choices=("default", "tuned", "seeds"), default=None,
                   help="one column; seeds: the default run again with --seed for each of --seeds")
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2], help="seeds of --only seeds (default 1 2)")
    p.add_argument("--budget", type=float, default=None, help="search budget of the default runs (auto's default)")
    p.add_argument("--trials", type=int, default=8, help="trials of the tuned runs (default 8)")
    p.add_argument("--tune-budget", type=float, default=240.0, help="study budget of the tuned runs (default 240 s)")
    p.add_argument("--keep", type=Path, default=None, metavar="DIR", help="keep the run folders in DIR")
    p.add_argument("--write-docs-only", action="store_true")
    args = p.parse_args(argv)
    results = _read(RESULTS)
    rocket = _read(ROCKET_RESULTS)
    if not args.write_docs_only:
        names = args.datasets or classification_sets()[0]
        results.setdefault("sets", {})
        results["settings"] = {"date": time.strftime("%Y-%m-%d"), "cpus": os.cpu_count()}
        with tempfile.TemporaryDirectory() as tmp:
            folder = args.keep if args.keep is not None else Path(tmp)
            for name in names:
                (folder / name).mkdir(parents=True, exist_ok=True)
                entry = results["sets"].setdefault(name, {})
                if args.only in (None, "default"):
                    entry["default"] = run_default(name, folder, args.budget)
                    _write_json(RESULTS, results)
                    _show(name, "default", entry["default"])
                if args.only == "seeds":
                    for seed in args.seeds:
                        entry.setdefault("seeds", {})[str(seed)] = run_default(name, folder, args.budget, seed)
                        _write_json(RESULTS, results)
                        _show(name, f"seed {seed}", entry["seeds"][str(seed)])
                if args.only in (None, "tuned"):
                    entry["tuned"] = run_tuned(name, folder, args.trials, args.tune_budget)
                    _write_json(RESULTS, results)
                    _show(name, "tuned", entry["tuned"])
    write_docs(results, rocket)
    print(table(results, rocket))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The default run's numbers in the README, docs/training.md and ``spikeforge train --help`` agree with
each other and name the script that measures them (benchmarks/default_run.py)."""

import re
import statistics
from pathlib import Path

import pytest

from spikeforge.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = "benchmarks/default_run.py"


def _training_rows():
    text = (ROOT / "docs" / "training.md").read_text()
    seeds = re.search(r"\| test accuracy, seeds 0–4 \| ([0-9., ]+): \*\*([0-9.]+) ± ([0-9.]+)\*\* "
                      r"\(range ([0-9.]+)–([0-9.]+)\) \|", text)
    wall = re.search(r"\| wall time of `spikeforge train` [^|]*\| ([0-9.]+)–([0-9.]+) s ", text)
    assert seeds and wall, "docs/training.md: the rows of the default run are not where expected"
    assert SCRIPT in text
    accs = [float(a) for a in seeds.group(1).split(", ")]
    return accs, seeds, (float(wall.group(1)), float(wall.group(2)))


def test_seed_row_is_consistent():
    accs, seeds, _ = _training_rows()
    assert len(accs) == 5
    assert f"{statistics.mean(accs):.4f}" == seeds.group(2)
    assert f"{statistics.stdev(accs):.4f}" == seeds.group(3)
    assert (f"{min(accs):.4f}", f"{max(accs):.4f}") == (seeds.group(4), seeds.group(5))


def test_readme_range_and_time_are_the_measured_ones():
    accs, _, (lo, hi) = _training_rows()
    readme = (ROOT / "README.md").read_text()
    m = re.search(r"\*\*([0-9.]+)–([0-9.]+) test accuracy over seeds 0–4, (\d+)–(\d+) s per run on 2 cores\*\*",
                  readme)
    assert m, "README: the default run's sentence is not where expected"
    assert (float(m.group(1)), float(m.group(2))) == (min(accs), max(accs))
    assert all(float(m.group(1)) <= a <= float(m.group(2)) for a in accs)
    assert (int(m.group(3)), int(m.group(4))) == (round(lo), round(hi))
    assert SCRIPT in readme[m.start():m.start() + 400]


def test_train_help_states_the_measured_time(capsys):
    _, _, (lo, hi) = _training_rows()
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert f"{round(lo)}-{round(hi)} s on 2 cores" in help_text and SCRIPT in help_text
    assert "minute" not in help_text

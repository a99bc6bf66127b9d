"""Imports go one way (neuron <- kernels <- synapse <- nets <- the rest <- cli): the import-linter contract of
pyproject.toml holds, and it does catch an upward import."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("importlinter", reason="import-linter is in the test extra: pip install -e '.[test]'")

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "spikeforge"


def _lint(config: Path, pythonpath: Path | None = None) -> subprocess.CompletedProcess:
    code = ("import sys\nfrom importlinter.cli import lint_imports\n"
            f"sys.exit(lint_imports(config_filename={str(config)!r}, no_cache=True, no_logo=True))\n")
    env = None
    if pythonpath is not None:
        import os

        env = {**os.environ, "PYTHONPATH": str(pythonpath)}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=config.parent, env=env,
                          timeout=300)


def test_the_layers_contract_holds():
    res = _lint(ROOT / "pyproject.toml")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "1 kept, 0 broken" in res.stdout


@pytest.mark.parametrize(("module", "line"), [
    ("neuron/backends.py", "from spikeforge import kernels"),  # the cycle this contract removed
    ("kernels/event.py", "from spikeforge.synapse import layers"),  # the re-export it removed
    ("hardware/fit.py", "import spikeforge.interop"),  # independent siblings
    ("nets/sequential.py", "import spikeforge.learn.trainer"),
])
def test_an_upward_import_breaks_the_contract(tmp_path, module, line):
    copy = tmp_path / "spikeforge"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    target = copy / module
    target.write_text(target.read_text() + f"\n{line}  # noqa\n")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    res = _lint(tmp_path / "pyproject.toml", pythonpath=tmp_path)
    assert res.returncode != 0, res.stdout
    assert "BROKEN" in res.stdout and "0 kept, 1 broken" in res.stdout, res.stdout + res.stderr

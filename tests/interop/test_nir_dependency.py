"""NIR is a core verb of the CLI (``spikeforge export`` / ``import``): ``nir`` must come with a plain install."""

import re
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python >= 3.11

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def _names(requirements):
    return {re.split(r"[\s<>=!~\[;]", r.strip(), maxsplit=1)[0].lower() for r in requirements}


def test_nir_is_a_runtime_dependency():
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    assert "nir" in _names(project["dependencies"])


def test_the_nir_extra_still_exists_for_old_install_lines():
    extras = tomllib.loads(PYPROJECT.read_text())["project"]["optional-dependencies"]
    assert "nir" in extras and "nir" in _names(extras["nir"])

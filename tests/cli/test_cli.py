"""The ``spikeforge`` command."""

import subprocess
import sys

import pytest

import spikeforge
from spikeforge.cli.main import main


def test_version(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    assert spikeforge.__version__ in capsys.readouterr().out


def test_help_lists_verbs(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    assert "usage: spikeforge" in out


def test_console_script_runs():
    r = subprocess.run([sys.executable, "-m", "spikeforge.cli.main", "--version"], capture_output=True, text=True)
    assert r.returncode == 0 and spikeforge.__version__ in r.stdout

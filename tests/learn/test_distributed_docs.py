"""docs/distributed.md: its Python example runs (here in one process: the code is the same under torchrun),
and its scaling table is the one benchmarks/distributed_scaling.py writes, consistent with itself."""

import re
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "distributed.md"


def _python_example() -> str:
    m = re.search(r"```python\n(.*?)```", DOC.read_text(), re.S)
    assert m, "docs/distributed.md: no Python example"
    return m.group(1)


def test_the_python_example_runs_in_one_process(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = _python_example().replace("epochs=2", "epochs=1")
    with torch.random.fork_rng():  # (the example seeds torch's global generator)
        exec(compile(code, str(DOC), "exec"), {"__name__": "__doc_example__"})
    state = torch.load(tmp_path / "model.pt")
    assert state and all(torch.isfinite(v).all() for v in state.values())


def test_the_scaling_table_is_the_scripts_and_adds_up():
    text = DOC.read_text()
    block = text.split("<!-- distributed_scaling:begin -->", 1)[1].split("<!-- distributed_scaling:end -->", 1)[0]
    if "not measured yet" in block:
        pytest.fail("docs/distributed.md: run python benchmarks/distributed_scaling.py --write-docs")
    assert "benchmarks/distributed_scaling.py" in block and "other processes' CPU use" in block
    assert (ROOT / "benchmarks" / "distributed_scaling.py").is_file()
    rows = re.findall(r"^\| (.+?) \| (.+?) \| ([0-9.]+) \| ([0-9.]+)x \| ([0-9.]+) \| ([0-9.]+) \| ([0-9.]*) \|$",
                      block, re.M)
    assert len(rows) >= 3 and len(rows) % 3 == 0
    for k in range(0, len(rows), 3):
        group = rows[k:k + 3]
        assert len({r[0] for r in group}) == 1  # one workload, three ways
        assert [r[1] for r in group] == ["1 process, 1 thread", "1 process, 2 threads",
                                         "2 processes (gloo), 1 thread each"]
        base = float(group[0][2])
        for r in group:
            assert abs(base / float(r[2]) - float(r[3])) <= 0.006, r  # the speed-up column is epoch / epoch

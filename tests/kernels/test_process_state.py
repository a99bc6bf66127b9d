"""No process-wide state in the kernels: the worker threads belong to an object that shuts its pools down,
the kernel choice is read from the environment once and chosen in code by a context manager that restores."""

import itertools
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import torch

from spikeforge.kernels import _cpu, _threads


def _threads_named(prefix: str) -> int:
    return sum(t.name.startswith(prefix) for t in threading.enumerate())


def _wait_for(cond, timeout: float = 10.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.01)
    return cond()


@pytest.fixture
def num_threads():
    old = torch.get_num_threads()
    yield torch.set_num_threads
    torch.set_num_threads(old)


def test_split_covers_the_range_in_order(num_threads):
    num_threads(3)
    with _threads.Workers(min_work=0) as w:
        parts = w.split(lambda lo, hi: (lo, hi, threading.current_thread().name), 10, work=10)
        assert [(lo, hi) for lo, hi, _ in parts] == [(0, 3), (3, 6), (6, 10)]
        assert parts[-1][2] == threading.current_thread().name  # the caller computes the last block
        assert w.size == 2
        cum = np.array([0, 0, 0, 0, 0, 0, 0, 0, 0, 9, 9])  # all work in item 8: blocks of equal work
        bounds = [(lo, hi) for lo, hi, _ in w.split(lambda lo, hi: (lo, hi, 0), 10, 10, cum)]
        assert bounds[0][0] == 0 and bounds[-1][1] == 10
        assert all(a[1] == b[0] for a, b in itertools.pairwise(bounds))
    with _threads.Workers() as w:  # default min_work: small work stays on the calling thread, no pool
        assert w.split(lambda lo, hi: (lo, hi), 10, work=10) == [(0, 10)]
        assert w.size == 0


def test_a_larger_pool_replaces_and_shuts_down_the_old_one(num_threads):
    name = "sf-test-replace"
    w = _threads.Workers(min_work=0, name=name)
    num_threads(2)
    w.split(lambda lo, hi: time.sleep(0.01), 4, 4)
    assert w.size == 1 and _wait_for(lambda: _threads_named(name) == 1)
    num_threads(4)
    w.split(lambda lo, hi: time.sleep(0.01), 4, 4)
    assert w.size == 3
    # the old pool's thread exits: only the new pool's threads (at most 3) are left
    assert _wait_for(lambda: _threads_named(name) <= 3)
    num_threads(2)  # fewer threads asked for: the larger pool serves, nothing is replaced
    w.split(lambda lo, hi: None, 4, 4)
    assert w.size == 3
    w.close()
    assert w.closed and w.size == 0 and _threads_named(name) == 0  # close waits for the threads
    with pytest.raises(RuntimeError, match="closed"):
        w.split(lambda lo, hi: None, 4, 4)


def test_work_handed_out_before_a_replacement_finishes(num_threads):
    """Concurrent callers growing the pool: every block of every call is computed exactly once."""
    w = _threads.Workers(min_work=0, name="sf-test-concurrent")
    errors, results = [], []

    def caller():
        try:
            for _ in range(20):
                parts = w.split(lambda lo, hi: list(range(lo, hi)), 50, 50)
                results.append([i for p in parts for i in p] == list(range(50)))
        except Exception as exc:  # reported below
            errors.append(exc)

    num_threads(4)
    ts = [threading.Thread(target=caller) for _ in range(3)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    w.close()
    assert not errors and len(results) == 60 and all(results)


def test_using_chooses_the_workers_and_restores(num_threads):
    default = _threads.current()
    assert _threads.current() is default
    with _threads.Workers(min_work=0) as mine:
        with _threads.using(mine):
            assert _threads.current() is mine
            other = []
            t = threading.Thread(target=lambda: other.append(_threads.current()))
            t.start()
            t.join()
            assert other == [default]  # another thread keeps its own choice
        assert _threads.current() is default
    with pytest.raises(TypeError, match="workers: expected"):
        _threads.using(4).__enter__()
    with pytest.raises(ValueError, match="min_work: expected an integer >= 0"):
        _threads.Workers(min_work=-1)


def test_kernels_use_the_current_workers(num_threads):
    from spikeforge.kernels.event import event_linear

    if not (_cpu.available("c", "event") or _cpu.available("numba", "event")):
        pytest.skip("no compiled kernels")
    num_threads(3)
    x = (torch.rand(64, 30) < 0.2).float()
    w = torch.randn(70, 30)
    with _threads.Workers(min_work=0) as mine, _threads.using(mine):
        out = event_linear(x, w, mode="event").out
        assert mine.size == 2
    torch.testing.assert_close(out, x @ w.t())


def test_environment_is_read_once(monkeypatch):
    first = _cpu.preference()
    monkeypatch.setenv("SPIKEFORGE_KERNELS", "torch" if first else "c")
    monkeypatch.setenv("SPIKEFORGE_NO_NUMBA", "1")
    assert _cpu.preference() == first  # read at the first use, not at every call


def test_parse_reads_the_environment_mapping():
    assert _cpu.parse({}) == ("c", "numba")
    assert _cpu.parse({"SPIKEFORGE_KERNELS": " Numba "}) == ("numba",)
    assert _cpu.parse({"SPIKEFORGE_KERNELS": "torch"}) == ()
    assert _cpu.parse({"SPIKEFORGE_KERNELS": ""}) == ("c", "numba")
    assert _cpu.parse({"SPIKEFORGE_NO_NUMBA": "1"}) == ("c",)
    assert _cpu.parse({"SPIKEFORGE_NO_NUMBA": "0"}) == ("c", "numba")
    with pytest.raises(ValueError, match="SPIKEFORGE_KERNELS: expected 'auto', 'c', 'numba' or 'torch', got 'x'"):
        _cpu.parse({"SPIKEFORGE_KERNELS": "x"})


def test_using_chooses_the_kernels_and_restores():
    from spikeforge.kernels.fast_lif import resolve_impl

    before = _cpu.preference()
    x = torch.zeros(3, 2)
    with _cpu.using("torch") as order:
        assert order == () and _cpu.kernels("lif") == (None, None) and resolve_impl(x, None) == "torch"
        with _cpu.using("auto"):
            assert _cpu.preference() == _cpu.IMPLS
            other = []
            t = threading.Thread(target=lambda: other.append(_cpu.preference()))
            t.start()
            t.join()
            assert other == [before]  # another thread keeps its own choice
        assert _cpu.preference() == ()
    assert _cpu.preference() == before
    with pytest.raises(ValueError, match="choice: expected"):
        _cpu.using("fortran").__enter__()
    assert _cpu.preference() == before


def test_the_environment_variable_is_honoured_at_startup():
    code = (
        "import os, torch\n"
        "from spikeforge.kernels import _cpu\n"
        "from spikeforge.kernels.fast_lif import resolve_impl\n"
        "from spikeforge.synapse import Linear\n"
        "x = torch.zeros(2, 1, 100); x[..., :2] = 1\n"
        "assert resolve_impl(x, None) == 'torch' and Linear(100, 80)._product(x)[2] == 'dense'\n"
        "os.environ['SPIKEFORGE_KERNELS'] = 'auto'\n"
        "assert _cpu.preference() == ()\n"
        "print('ok')\n"
    )
    env = {**__import__("os").environ, "SPIKEFORGE_KERNELS": "torch"}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "ok"
    bad = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         env={**env, "SPIKEFORGE_KERNELS": "fortran"})
    assert bad.returncode != 0 and "SPIKEFORGE_KERNELS: expected" in bad.stderr


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="fork is POSIX")
def test_a_forked_child_gets_its_own_default_workers(num_threads):
    # the parent's pool threads do not exist in a forked child (a DataLoader worker): the child must not
    # submit to them (it would wait forever)
    import os

    num_threads(2)
    parent = _threads.current()
    parent.split(lambda lo, hi: hi - lo, 1 << 20, work=1 << 30)  # starts the parent's pool threads
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        ok = _threads.current() is not parent
        parts = _threads.current().split(lambda lo, hi: hi - lo, 1 << 20, work=1 << 30)
        os._exit(0 if ok and sum(parts) == 1 << 20 else 1)
    deadline = time.monotonic() + 60
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        assert time.monotonic() < deadline, "the forked child hung on the parent's pool"
        time.sleep(0.05)
    assert os.waitstatus_to_exitcode(status) == 0


def test_the_kernel_choice_has_a_public_name():
    from spikeforge import kernels

    assert kernels.using_kernels is _cpu.using and "using_kernels" in kernels.__all__
    with kernels.using_kernels("torch") as chosen:
        assert chosen == ()

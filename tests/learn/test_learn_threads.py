"""The trainer computes with ``config.threads`` threads and gives the caller's thread count back."""

import json

import pytest
import torch
from rich.console import Console

from spikeforge.learn import TrainConfig, Trainer, evaluate_run
from spikeforge.learn.models import build_model

TINY = {"hidden": [16], "batch_size": 32, "threads": 1, "epochs": 1}


@pytest.fixture
def caller_threads():
    old = torch.get_num_threads()
    torch.set_num_threads(3)  # the caller's count, not the config's
    yield 3
    torch.set_num_threads(old)


def test_fit_finalize_and_evaluate_restore_the_thread_count(tmp_path, caller_threads):
    seen = []

    def factory(config, in_channels, num_classes):  # records the thread count whenever the model runs
        model = build_model(config, in_channels, num_classes)
        model.register_forward_pre_hook(lambda *_: seen.append(torch.get_num_threads()))
        return model

    tr = Trainer(TrainConfig(**TINY), tmp_path, progress=False, console=Console(quiet=True), plots=False,
                 hardware=False, model_factory=factory)
    assert torch.get_num_threads() == caller_threads
    tr.start()
    assert tr.fit() == "finished"
    assert torch.get_num_threads() == caller_threads
    assert seen and set(seen) == {1}  # the config's count while training and evaluating
    tr.evaluate("test")
    tr.train_epoch()
    tr.finalize()
    assert torch.get_num_threads() == caller_threads and set(seen) == {1}
    assert json.loads((tmp_path / "run.json").read_text())["threads"] == 1


def test_an_error_restores_the_thread_count(tmp_path, caller_threads, monkeypatch):
    tr = Trainer(TrainConfig(**TINY), tmp_path, progress=False, console=Console(quiet=True), plots=False,
                 hardware=False)
    tr.start()

    def fail(*args, **kwargs):
        assert torch.get_num_threads() == 1
        raise RuntimeError("boom")

    monkeypatch.setattr(tr, "step_fn", fail)
    with pytest.raises(RuntimeError, match="boom"):
        tr.fit()
    assert torch.get_num_threads() == caller_threads


def test_evaluate_run_restores_the_thread_count(tmp_path, caller_threads):
    tr = Trainer(TrainConfig(**TINY), tmp_path, progress=False, console=Console(quiet=True), plots=False,
                 hardware=False)
    tr.start()
    tr.fit()
    tr.finalize()
    result = evaluate_run(tmp_path)
    assert 0 <= result["accuracy"] <= 1
    assert torch.get_num_threads() == caller_threads

"""The training-method plug-in contract: discovery, options, config and command-line plumbing."""

import pickle

import pytest
import torch

from spikeforge.cli.main import build_parser
from spikeforge.cli.train import build_config
from spikeforge.learn import METHODS, Method, Objective, StepResult, TrainConfig, fit, method_named, methods
from spikeforge.learn.config import ConfigError
from spikeforge.learn.methods.bptt import bptt_step


def test_bptt_is_discovered_first_and_is_its_own_step_function():
    found = methods()
    assert next(iter(found)) == "bptt"
    assert "bptt" in METHODS and METHODS["bptt"] is found["bptt"]
    assert method_named("bptt").step is bptt_step
    with pytest.raises(ValueError, match=r"method: expected one of .*'bptt'.*got 'nope'"):
        method_named("nope")


def _toy_step(model, batch, optimizer, objective):
    return StepResult(float(objective.method_params["scale"]), torch.zeros(batch.y.shape[0], 2))


def _check(params):
    if not params["scale"] > 0:
        raise ValueError(f"scale: expected a number > 0, got {params['scale']!r}")


TOY = Method("toy", _toy_step, "a test method", options=(("scale", 2.0),), check=_check)


def test_options_are_defaults_with_the_given_on_top_and_bad_ones_name_the_key():
    assert TOY.params() == {"scale": 2.0}
    assert TOY.params({"scale": 3}) == {"scale": 3}
    with pytest.raises(ValueError, match=r"^other: not an option of method 'toy'; expected one of \['scale'\]"):
        TOY.params({"other": 1})
    with pytest.raises(ValueError, match=r"^scale: expected a number > 0, got -1"):
        TOY.params({"scale": -1})
    assert pickle.loads(pickle.dumps(TOY)) == TOY


def test_config_refuses_an_option_the_method_does_not_have():
    with pytest.raises(ConfigError, match=r"config method_params: k: not an option of method 'bptt'") as info:
        TrainConfig(method_params={"k": 5})
    assert info.value.field == "method_params" and info.value.key == "k"
    with pytest.raises(ConfigError, match=r"config rate_reg: expected a number >= 0, got -1"):
        TrainConfig(rate_reg=-1)


def test_fit_fills_in_a_method_objects_defaults():
    from spikeforge.data import load_dataset

    ds = load_dataset("digits", steps=4)
    model = torch.nn.Linear(64, 10)
    seen = []

    def record(model, batch, optimizer, objective):
        seen.append(dict(objective.method_params))
        return _toy_step(model, batch, optimizer, objective)

    toy = Method("toy", record, "records", options=(("scale", 2.0),))
    train = ds.train
    fit(model, toy, train, torch.optim.SGD(model.parameters(), lr=0.1), epochs=1, batch_size=len(train),
        objective=Objective(method_params={"scale": 5.0}))
    assert seen == [{"scale": 5.0}]


def _args(*argv):
    return build_parser().parse_args(["train", *argv])


def test_command_line_method_options():
    assert build_config(_args("--rate-reg", "0.1", "--rate-target", "0.02")).rate_reg == 0.1
    with pytest.raises(ValueError, match=r"--tbptt: sets the method tbptt; expected no --method or --method "
                                         r"tbptt, got --method bptt"):
        build_config(_args("--tbptt", "5", "--method", "bptt"))
    with pytest.raises(ConfigError, match=r"k: not an option of method 'bptt'"):
        build_config(_args("--method-param", "k=3"))


def test_a_family_named_on_the_command_line_gets_its_preferred_loss_unless_a_loss_is_given():
    assert build_config(_args("--model", "tcn")).loss == "mean"
    assert build_config(_args("--model", "tcn", "--loss", "last")).loss == "last"
    assert build_config(_args("--model", "mlp")).loss == "last"
    assert build_config(_args("--model", "tcn", "--model-param", "kernel_sizes=[7,5,3]")).model_params == {
        "kernel_sizes": [7, 5, 3]}


def test_another_packages_method_is_found_through_its_entry_point_and_a_broken_one_skipped(monkeypatch):
    from importlib.metadata import EntryPoint

    from spikeforge import _plugins
    from spikeforge.learn.methods import ENTRY_POINT_GROUP

    eps = [EntryPoint(name="toy", value=f"{__name__}:TOY", group=ENTRY_POINT_GROUP),
           EntryPoint(name="bad", value="math:pi", group=ENTRY_POINT_GROUP)]
    monkeypatch.setattr(_plugins, "entry_points", lambda group: eps if group == ENTRY_POINT_GROUP else [])
    with pytest.warns(RuntimeWarning, match=r"entry point 'bad'.*expected a spikeforge.learn.methods.Method"):
        found = methods()
    assert found["toy"] is TOY and "bad" not in found and next(iter(found)) == "bptt"
    with pytest.warns(RuntimeWarning):
        assert TrainConfig(method="toy", method_params={"scale": 3.0}).method == "toy"


def test_a_methods_check_data_refuses_before_a_model_is_built_naming_the_method(monkeypatch, tmp_path):
    from spikeforge import _plugins
    from spikeforge.learn import Trainer
    from spikeforge.learn.methods import ENTRY_POINT_GROUP

    def static_only(split):
        if split.kind != "static":
            raise ValueError(f"picky: expected static data, got {split.kind}")

    picky = Method("picky", _toy_step, "refuses series", check_data=static_only)
    monkeypatch.setattr(_plugins, "entry_points", lambda group: [] if group != ENTRY_POINT_GROUP else [
        type("EP", (), {"name": "picky", "value": "x", "load": staticmethod(lambda: picky)})()])
    with pytest.raises(ConfigError, match=r"config method: picky: expected static data, got series"):
        Trainer(TrainConfig(method="picky"), tmp_path / "r", progress=False, plots=False)

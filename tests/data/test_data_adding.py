"""The adding problem (``load_dataset("adding:T")``): two channels, two markers one per half, the target the sum
of the marked values; a pure function of the seed; a regression split carved at random."""

import pytest
import torch

from spikeforge.data import DatasetError, Split, batches, carve_validation, load_adding, load_dataset
from spikeforge.data.adding import TEST_SIZE, TOLERANCE, TRAIN_SIZE
from spikeforge.learn.loop import Objective


@pytest.mark.parametrize("steps", [2, 7, 40])
def test_markers_one_per_half_and_the_target_is_their_sum(steps):
    ds = load_dataset(f"adding:{steps}", seed=3, train_size=50, test_size=20)
    assert ds.name == f"adding:{steps}" and ds.regression and ds.classes == ("sum",) and ds.in_channels == 2
    for split in (ds.train, ds.test):
        assert split.y.dtype == torch.float32 and split.x.shape[1:] == (steps, 2)
        assert bool((split.lengths == steps).all())
        values, markers = split.x[..., 0], split.x[..., 1]
        assert bool(((values >= 0) & (values < 1)).all())
        for i in range(len(split)):
            where = torch.nonzero(markers[i]).flatten().tolist()
            assert len(where) == 2 and where[0] < steps // 2 <= where[1], where
            assert set(markers[i].tolist()) <= {0.0, 1.0}
            expected = float(values[i, where[0]].double() + values[i, where[1]].double())
            assert float(split.y[i]) == pytest.approx(expected, abs=1e-6)


def test_a_pure_function_of_the_seed_with_the_documented_sizes():
    a, b, c = load_dataset("adding:30", seed=1), load_dataset("adding:30", seed=1), load_dataset("adding:30", seed=2)
    assert (len(a.train), len(a.test)) == (TRAIN_SIZE, TEST_SIZE) == (1000, 200)
    assert torch.equal(a.train.x, b.train.x) and torch.equal(a.test.y, b.test.y)
    assert not torch.equal(a.train.x, c.train.x)
    assert not torch.equal(a.train.x[:200], a.test.x)  # the test samples are other draws
    assert torch.equal(load_adding(30, seed=1).train.x, a.train.x)


def test_batches_pass_the_raw_values_and_the_real_targets():
    ds = load_dataset("adding:12", train_size=10, test_size=3)
    assert ds.encoder is None
    batch = next(batches(ds.train, 4))
    assert batch.x.shape == (12, 4, 2) and torch.equal(batch.x, ds.train.x[:4].transpose(0, 1))
    assert torch.equal(batch.y, ds.train.y[:4])


def test_the_mean_predictor_scores_the_closed_form_variance():
    # y = u_a + u_b, u ~ U[0, 1] independent: E[y] = 1, Var(y) = 2/12
    y = load_dataset("adding:10", train_size=40000, test_size=1).train.y.double()
    assert float(y.mean()) == pytest.approx(1.0, abs=0.01)
    assert float(((y - 1.0) ** 2).mean()) == pytest.approx(1 / 6, abs=0.005)
    assert TOLERANCE == 0.04


@pytest.mark.parametrize("name, options, match", [
    ("adding:x", {}, "adding:T"), ("adding:1", {}, "adding:T"), ("adding:", {}, "adding:T"),
    ("adding:10", {"size": 3}, "train_size"), ("adding:10", {"train_size": 0}, "train_size"),
    ("adding:10", {"steps": 11}, "steps"),
])
def test_bad_requests_name_what_is_wrong(name, options, match):
    with pytest.raises((ValueError, TypeError, DatasetError), match=match):
        load_dataset(name, **options)


def test_a_regression_split_is_carved_at_random_and_reproducibly():
    split = load_dataset("adding:5", train_size=50, test_size=2).train
    train, valid = carve_validation(split, 0.2, seed=4)
    again, _ = carve_validation(split, 0.2, seed=4)
    other, _ = carve_validation(split, 0.2, seed=5)
    assert (len(train), len(valid)) == (40, 10) and valid.regression
    rows = {tuple(r.flatten().tolist()) for r in train.x} | {tuple(r.flatten().tolist()) for r in valid.x}
    assert len(rows) == 50  # a partition of the rows
    assert torch.equal(train.x, again.x) and not torch.equal(train.x, other.x)


def test_a_float_target_split_needs_one_output_name_and_finite_targets():
    x, lengths = torch.zeros(3, 4, 1), torch.full((3,), 4, dtype=torch.long)
    with pytest.raises(ValueError, match="one output name"):
        Split(x, torch.zeros(3), lengths, ("a", "b"), "series")
    with pytest.raises(ValueError, match="finite"):
        Split(x, torch.tensor([0.0, float("nan"), 1.0]), lengths, ("a",), "series")
    assert Split(x, torch.zeros(3), lengths, ("a",), "series").regression
    assert not Split(x, torch.zeros(3, dtype=torch.long), lengths, ("a",), "series").regression


def test_evaluate_reports_the_mse_and_the_share_within_the_tolerance():
    from spikeforge.learn.loop import evaluate

    class Constant(torch.nn.Module):
        """Predicts each sample's target plus a known error (read from the batch order)."""

        def __init__(self, errors):
            super().__init__()
            self.errors = errors

        def forward(self, x):
            values, markers = x[..., 0], x[..., 1]
            target = (values * markers).sum(0)
            return (target + self.errors[: x.shape[1]]).reshape(1, -1, 1).expand(x.shape[0], -1, 1)

    split = load_dataset("adding:8", train_size=2, test_size=6).test
    errors = torch.tensor([0.0, 0.039, -0.039, 0.041, -0.5, 0.2])
    result = evaluate(Constant(errors), split, Objective(loss="mse"), batch_size=6)
    assert result["accuracy"] == pytest.approx(3 / 6) and result["confusion"] is None
    assert result["mse"] == result["loss"] == pytest.approx(float((errors.double() ** 2).mean()), abs=1e-6)
    assert result["predictions"] == pytest.approx((split.y + errors).tolist(), abs=1e-6)
    with pytest.raises(ValueError, match="loss: a regression split"):
        evaluate(Constant(errors), split, Objective(loss="last"))


@pytest.mark.parametrize("args, match", [
    ([], "--loss: the data set 'adding:10' is a regression task"),
    (["--loss", "mse", "--model", "auto"], "--model: 'auto' chooses by validation accuracy among classifiers"),
])
def test_a_regression_set_refuses_a_classification_loss_and_model_auto(args, match, tmp_path, capsys):
    from spikeforge.cli.main import main

    assert main(["train", "--dataset", "adding:10", "--out", str(tmp_path / "run"), "--epochs", "1", *args]) != 0
    assert match in capsys.readouterr().err

"""Readout reductions and the classification loss."""

import pytest
import torch

from spikeforge.learn.losses import REDUCTIONS, classification_loss, readout_logits, valid_mask


def _out():
    g = torch.Generator().manual_seed(0)
    return torch.randn(6, 3, 4, generator=g)


def test_reductions_match_manual_on_valid_steps():
    out = _out()
    lengths = torch.tensor([6, 2, 4])
    for b, n in enumerate(lengths.tolist()):
        valid = out[:n, b]
        assert torch.allclose(readout_logits(out, lengths, "last")[b], valid[-1])
        assert torch.allclose(readout_logits(out, lengths, "mean")[b], valid.mean(0))
        assert torch.allclose(readout_logits(out, lengths, "max")[b], valid.max(0).values)
        assert torch.allclose(readout_logits(out, lengths, "sum")[b], valid.sum(0))


@pytest.mark.parametrize("reduce", REDUCTIONS)
def test_padding_never_changes_logits(reduce):
    out = _out()
    lengths = torch.tensor([3, 2, 4])
    padded = out.clone()
    padded[4:] = 1e6  # steps beyond every length
    padded[3:, 0] = -1e6
    padded[2:, 1] = 7.0
    assert torch.equal(readout_logits(out, lengths, reduce), readout_logits(padded, lengths, reduce))


def test_without_lengths_all_steps_count():
    out = _out()
    assert torch.allclose(readout_logits(out, None, "mean"), out.mean(0))
    assert torch.equal(readout_logits(out, None, "last"), out[-1])


def test_loss_is_cross_entropy_and_differentiable():
    out = _out().requires_grad_(True)
    y = torch.tensor([0, 3, 1])
    loss, logits = classification_loss(out, y, torch.tensor([6, 2, 4]), "last")
    assert torch.allclose(loss, torch.nn.functional.cross_entropy(logits, y))
    loss.backward()
    assert out.grad[2:, 1].abs().sum() == 0  # sample 1's logits come from step 1 only
    assert out.grad[1, 1].abs().sum() > 0


def test_errors_name_argument_and_values():
    out = _out()
    with pytest.raises(ValueError, match="reduce: expected one of"):
        readout_logits(out, None, "median")
    with pytest.raises(ValueError, match=r"out: expected the readout \[T, B, classes\]"):
        readout_logits(out[0], None)
    with pytest.raises(ValueError, match=r"lengths: expected values in \[1, T=6\]"):
        valid_mask(torch.tensor([7, 1, 1]), 6, 3, out.device)
    with pytest.raises(ValueError, match=r"y: expected labels of shape \[B\]"):
        classification_loss(out, torch.tensor([0, 1]))


def test_mse_is_the_squared_error_of_the_readout_at_each_samples_last_valid_step():
    torch.manual_seed(0)
    out, y, lengths = torch.randn(5, 3, 1, dtype=torch.float64), torch.randn(3, dtype=torch.float64), \
        torch.tensor([5, 2, 3])
    loss, pred = classification_loss(out, y, lengths, "mse")
    expected = sum((out[int(n) - 1, b, 0] - y[b]) ** 2 for b, n in enumerate(lengths)) / 3
    assert torch.allclose(loss, expected) and pred.shape == (3, 1)
    with pytest.raises(ValueError, match=r"mse: expected a readout \[T, B, 1\] and targets \[B\]"):
        classification_loss(torch.randn(5, 3, 2), y, lengths, "mse")

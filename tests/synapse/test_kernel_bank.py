"""KernelBank: MiniRocket's kernels, responses against a direct sum, the fit against numpy's quantiles."""

import itertools
import math

import numpy as np
import pytest
import torch

from spikeforge.synapse.kernel_bank import KERNEL_LENGTH, KERNELS, KernelBank, minirocket_kernels


def _bank(c=2, dilations=3, biases=2, seed=0, **kw):
    torch.manual_seed(seed)
    return KernelBank(c, dilations=dilations, biases=biases, **kw)


def test_the_kernels_are_minirockets_84():
    w = minirocket_kernels()
    assert w.shape == (KERNELS, KERNEL_LENGTH) == (84, 9)
    assert torch.all(w.sum(1) == 0)
    assert torch.all((w == 2).sum(1) == 3) and torch.all((w == -1).sum(1) == 6)
    twos = {tuple(int(i) for i in torch.nonzero(row == 2).flatten()) for row in w}
    assert twos == set(itertools.combinations(range(9), 3))


def _direct(bank: KernelBank, x: np.ndarray, slot: int) -> np.ndarray:
    """y[t, b, f] = Σ_i Σ_c w[f, c, i] x[t − i·d, b, c], zero before the series starts."""
    w = bank.weight_of(slot).detach().double().numpy()
    d = int(bank.dilation[slot])
    t_, b_, _ = x.shape
    y = np.zeros((t_, b_, w.shape[0]))
    for t in range(t_):
        for i in range(KERNEL_LENGTH):
            if t - i * d >= 0:
                y[t] += x[t - i * d] @ w[:, :, i].T
    return y


def test_responses_equal_the_direct_sum_at_each_dilation():
    bank = _bank(c=3, dilations=4).double()
    x = torch.randn(70, 2, 3, dtype=torch.float64)
    bank.fit(x)
    assert bank.dilation.tolist() == [math.floor(2 ** e) for e in np.linspace(0, math.log2(69 / 8), 4)]
    for j in range(4):
        np.testing.assert_allclose(bank.responses(x, j).numpy(), _direct(bank, x.numpy(), j), atol=1e-12)


def test_each_kernel_sums_a_subset_of_the_channels():
    bank = _bank(c=12, dilations=2, biases=1)
    for j in range(2):
        used = (bank.weight_of(j) != 0).any(-1)  # [84, C]
        assert torch.all(used.sum(1) >= 1) and torch.all(used.sum(1) <= 9)
        w = bank.weight_of(j)
        for f in range(KERNELS):
            rows = w[f][used[f]]
            assert torch.equal(rows, minirocket_kernels()[f].expand_as(rows))


def test_fit_sets_each_bias_to_its_quantile_of_the_valid_responses():
    bank = _bank(c=2, dilations=3, biases=2).double()
    x = torch.randn(40, 3, 2, dtype=torch.float64)
    lengths = torch.tensor([40, 25, 31])
    bank.fit(x, lengths)
    per = KERNELS * 2
    for j in range(3):
        r = bank.responses(x, j).numpy()
        valid = np.concatenate([r[: int(n), b] for b, n in enumerate(lengths)])  # [n, 84P]
        q = bank.quantiles[j * per:(j + 1) * per].numpy()
        want = np.array([np.quantile(valid[:, f], q[f]) for f in range(per)])
        np.testing.assert_allclose(bank.bias[j * per:(j + 1) * per].numpy(), want, atol=1e-12)
    assert bool(bank.fitted)


def test_fit_without_lengths_leaves_out_trailing_zero_padding():
    x = torch.randn(30, 3, 2, dtype=torch.float64)
    lengths = torch.tensor([30, 12, 20])
    for b, n in enumerate(lengths):
        x[int(n):, b] = 0.0
    a, b_ = _bank().double(), _bank().double()
    a.fit(x, lengths)
    b_.fit(x)
    assert torch.equal(a.bias, b_.bias) and torch.equal(a.dilation, b_.dilation)


def test_outputs_are_response_minus_bias_plus_threshold():
    bank = _bank(threshold=0.5).double()
    x = torch.randn(20, 2, 2, dtype=torch.float64)
    bank.fit(x)
    out = bank(x)
    per = KERNELS * 2
    assert out.shape == (20, 2, bank.features) == (20, 2, 3 * per)
    for j in range(3):
        torch.testing.assert_close(out[..., j * per:(j + 1) * per],
                                   bank.responses(x, j) - bank.bias[j * per:(j + 1) * per] + 0.5)


def test_an_unfitted_bank_fits_on_its_first_training_call_and_refuses_evaluation():
    bank = _bank()
    x = torch.randn(20, 2, 2)
    with pytest.raises(RuntimeError, match="not fitted"):
        bank.eval()(x)
    bank.train()(x)
    assert bool(bank.fitted)
    ref = _bank().fit(x)
    assert torch.equal(bank.bias, ref.bias)


def test_state_dict_carries_the_fit_and_the_random_choices():
    a = _bank(seed=0)
    x = torch.randn(50, 2, 2)
    a.fit(x)
    b = _bank(seed=1)
    b.load_state_dict(a.state_dict())
    torch.testing.assert_close(b.eval()(x), a.eval()(x), rtol=0, atol=0)


def test_streaming_in_chunks_equals_the_whole_sequence():
    bank = _bank().double()
    x = torch.randn(60, 2, 2, dtype=torch.float64)
    bank.fit(x)
    whole = bank(x)
    y1, st = bank(x[:23], return_state=True)
    y2, _ = bank(x[23:], st, return_state=True)
    torch.testing.assert_close(torch.cat([y1, y2]), whole)


def test_nothing_in_the_bank_is_trained():
    bank = _bank()
    assert not any(p.requires_grad for p in bank.parameters())


@pytest.mark.parametrize("kw, match", [({"dilations": 0}, "dilations"), ({"biases": 1.5}, "biases"),
                                       ({"threshold": -1.0}, "threshold"), ({"max_channels": 5}, "max_channels")])
def test_bad_arguments_name_themselves(kw, match):
    with pytest.raises(ValueError, match=match):
        KernelBank(2, **kw)


def test_fit_refuses_lengths_outside_the_steps():
    with pytest.raises(ValueError, match=r"lengths: expected 2 values in \[1, 20\]"):
        _bank().fit(torch.randn(20, 2, 2), torch.tensor([20, 0]))

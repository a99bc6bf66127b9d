"""``spikeforge.learn.conversion.convert``: a user's ReLU network -> IF network, checked against the closed-form
IF rate, numpy's percentile, the ANN itself, and its refusals."""

import math

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from spikeforge.learn.conversion import ConvertedSNN, MeanReadout, convert, layer_scale, percentile
from spikeforge.learn.losses import recording_spikes


def test_percentile_is_numpys():
    g = torch.Generator().manual_seed(0)
    v = torch.randn(1001, generator=g)
    for q in (50.0, 99.9, 100.0, 3.7):
        assert percentile(v, q) == pytest.approx(float(np.percentile(v.numpy().astype(np.float64), q)), abs=1e-12)
    assert layer_scale(torch.zeros(5)) == 1.0
    with pytest.raises(ValueError, match=r"q: expected a number in \(0, 100\]"):
        percentile(v, 0)


def _far_from_integers(values, steps):
    t = torch.arange(1, steps + 1, dtype=torch.float64)[:, None]
    prod = t * values.to(torch.float64)[None, :]
    return float((prod - prod.round()).abs().min())


def test_a_converted_layer_fires_at_the_closed_form_if_rate():
    torch.manual_seed(0)
    ann = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 2))
    data = torch.rand(200, 4)
    snn = convert(ann, data, steps=150, percentile=99.0)
    with torch.no_grad():
        acts = F.relu(ann[0](data))
    pos = acts[acts > 0].double().numpy()
    lam = float(np.percentile(pos, 99.0))
    assert snn.scales[0] == pytest.approx(lam, rel=1e-6)
    x = torch.rand(3, 4)
    with torch.no_grad():
        a = F.relu(ann[0](x))  # [3, 6]
    current = (a / lam).double()
    inside = current[(current > 0) & (current < 1)]
    assert inside.numel() >= 5 and bool((current >= 1).any())  # some rates in (0, 1), one saturated
    assert _far_from_integers(inside, 150) > 1e-4  # no t·I on an integer: float rounding cannot flip a count
    with torch.no_grad(), recording_spikes(snn) as rec:
        snn(x)
    counts = rec.spikes[0].double().cumsum(0)  # [T, 3, 6]
    t = torch.arange(1, 151, dtype=torch.float64)[:, None, None]
    want = torch.floor(t * current.clamp(max=1)[None])
    assert torch.equal(counts, want)  # n_t = floor(t·a/λ): the soft reset keeps the remainder


@pytest.fixture(scope="module")
def digits():
    from spikeforge.data import load_dataset

    ds = load_dataset("digits", encoder="current")
    return ds.train.x, ds.train.y, ds.test.x, ds.test.y


def _train(ann, x, y, epochs=15):
    g = torch.Generator().manual_seed(0)
    opt = torch.optim.Adam(ann.parameters(), 3e-3)
    ann.train()
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=g)
        for i in range(0, len(x), 64):
            idx = perm[i:i + 64]
            loss = F.cross_entropy(ann(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return ann.eval()


def test_accuracy_approaches_the_anns_as_steps_grow(digits):
    torch.manual_seed(0)
    x, y, xt, yt = digits
    ann = _train(nn.Sequential(nn.Linear(64, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Dropout(0.1),
                               nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 10)), x, y, epochs=5)
    with torch.no_grad():
        logits = ann(xt)
        ann_acc = float((logits.argmax(1) == yt).float().mean())
        snn = convert(ann, x, steps=128)
        out = snn(xt)  # [128, B, 10]
        err = float((out - logits).abs().mean((1, 2))[[3, 127]].div(logits.abs().mean()).max())
    acc = {t: float((out[t - 1].argmax(1) == yt).float().mean()) for t in (1, 2, 128)}
    assert ann_acc > 0.9
    assert acc[128] >= ann_acc - 0.02, (acc, ann_acc)
    assert acc[1] < acc[128] - 0.1, acc
    gap = (out - logits).abs().mean((1, 2))
    assert float(gap[127]) < 0.1 * float(logits.abs().mean()) and float(gap[127]) < 0.5 * float(gap[3]), (err, gap)


def test_a_conv_net_with_batchnorm_and_pooling_converts(digits):
    torch.manual_seed(0)
    x, y, xt, _ = digits
    x, xt = x.reshape(-1, 1, 8, 8), xt.reshape(-1, 1, 8, 8)

    class Net(nn.Module):  # a custom module that only calls its modules in turn
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                                          nn.AvgPool2d(2))
            self.head = nn.Sequential(nn.Flatten(), nn.Linear(128, 10))

        def forward(self, v):
            return self.head(self.features(v))

    ann = _train(Net(), x, y, epochs=3)
    with torch.no_grad():
        snn = convert(ann, x[:500], steps=200)
        pred_ann = ann(xt).argmax(1)
        pred_snn = snn(xt)[-1].argmax(1)
    assert float((pred_ann == pred_snn).float().mean()) > 0.95


def test_batchnorm_is_folded_exactly():
    torch.manual_seed(0)
    ann = nn.Sequential(nn.Linear(5, 4), nn.BatchNorm1d(4), nn.Linear(4, 3)).eval()
    with torch.no_grad():
        ann[1].running_mean.normal_()
        ann[1].running_var.uniform_(0.5, 2.0)
        ann[1].weight.normal_()
        ann[1].bias.normal_()
    x = torch.randn(7, 5)
    snn = convert(ann, x, steps=3)
    with torch.no_grad():
        out = snn(x)
        assert torch.allclose(out, ann(x).expand(3, 7, 3), atol=1e-5)  # no ReLU: the readout is the ANN


def test_the_ann_is_not_changed_and_static_input_is_a_constant_current():
    torch.manual_seed(0)
    ann = nn.Sequential(nn.Linear(5, 4), nn.ReLU(), nn.Linear(4, 3))
    before = {k: v.clone() for k, v in ann.state_dict().items()}
    x = torch.rand(6, 5)
    snn = convert(ann, x, steps=9)
    assert isinstance(snn, ConvertedSNN) and isinstance(snn[-1], MeanReadout)
    assert all(torch.equal(before[k], v) for k, v in ann.state_dict().items())
    with torch.no_grad():
        assert torch.equal(snn(x), snn(x.unsqueeze(0).expand(9, 6, 5)))
        full = snn(x.unsqueeze(0).expand(9, 6, 5))
        a, state = snn(x.unsqueeze(0).expand(4, 6, 5), return_state=True)
        b, _ = snn(x.unsqueeze(0).expand(5, 6, 5), state, return_state=True)
        assert torch.allclose(torch.cat([a, b]), full, atol=1e-6)  # streaming in chunks
    with pytest.raises(ValueError, match=r"x: expected \[T, B, 5\]"):
        snn(torch.rand(2, 3, 4))


class _Functional(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.lin = nn.Linear(4, 4)
        self.fn = fn

    def forward(self, x):
        return self.fn(self.lin(x))


class _Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, x):
        return x + self.lin(x)


class _Branchy(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, x):
        if x.sum() > 0:  # data-dependent control flow: not traceable
            return self.lin(x)
        return x


@pytest.mark.parametrize("ann, pattern", [
    (nn.Sequential(nn.Linear(4, 4), _Functional(F.relu)), r"module '1' \(_Functional\) calls the function 'relu'"),
    (nn.Sequential(_Functional(torch.relu), nn.Linear(4, 2)), r"module '0' \(_Functional\) calls the function 'relu'"),
    (nn.Sequential(nn.Linear(4, 4), nn.Sigmoid()), r"module '1' \(Sigmoid\) is not an operation convert can"),
    (nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.LeakyReLU()), r"module '2' \(LeakyReLU\)"),
    (nn.Sequential(_Residual()), r"module '0' \(_Residual\) calls the function 'add'"),
    (_Branchy(), r"the model \(_Branchy\) cannot be traced by torch.fx"),
    (nn.Sequential(nn.ReLU(), nn.Linear(4, 2)), r"module '0' \(ReLU\) has no Linear/Conv2d"),
    (nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.BatchNorm1d(4)), r"module '2' \(BatchNorm1d\) does not follow"),
])
def test_refusals_name_the_module(ann, pattern):
    with pytest.raises(ValueError, match=pattern):
        convert(ann, torch.rand(8, 4), steps=4)


def test_shared_weights_and_bad_arguments_are_refused():
    lin = nn.Linear(4, 4)
    with pytest.raises(ValueError, match=r"module '0' \(Linear\) is called more than once"):
        convert(nn.Sequential(lin, nn.ReLU(), lin), torch.rand(8, 4), steps=4)
    ann = nn.Sequential(nn.Linear(4, 2))
    with pytest.raises(ValueError, match=r"steps: expected an integer >= 1, got 0"):
        convert(ann, torch.rand(8, 4), steps=0)
    with pytest.raises(ValueError, match=r"percentile: expected a number in \(0, 100\]"):
        convert(ann, torch.rand(8, 4), steps=4, percentile=101)
    with pytest.raises(TypeError, match="data: expected a tensor"):
        convert(ann, 3, steps=4)
    with pytest.raises(TypeError, match=r"ann: expected a torch\.nn\.Module"):
        convert(lambda v: v, torch.rand(8, 4), steps=4)
    loader = [(torch.rand(5, 4), torch.zeros(5)), (torch.rand(3, 4), torch.zeros(3))]
    assert math.isfinite(convert(nn.Sequential(nn.Linear(4, 3), nn.ReLU()), loader, steps=2).scales[0])

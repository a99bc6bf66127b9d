r"""How much of what a trained network's hidden layers carry is in spike counts, and how much in spike timing.

For each spiking population (hidden layer) of a run's model, its spikes ``s [T, B, N]`` are recorded on the train
and test splits (the counting context of :mod:`spikeforge._counting`, which every spiking layer reports to; only
the valid steps ``t < L_b`` of each sample count). Per sample and neuron:

* **counts**: ``n = Σ_t [s_t ≠ 0]``;
* **timing**: the first-spike time ``t_1 / L`` and the mean inter-spike interval ``(t_last - t_1) / ((n - 1) L)``,
  both in units of the sample's length ``L``; a neuron that never fires has first-spike time 1 (the end of the
  window), one that fires fewer than twice has mean interval 1 (no interval within the window).

The same decoder (standardised features, multinomial logistic regression, scikit-learn, ``C = 1``) is fitted on
the training split and scored on the test split with the counts, with the timing features, and with both.

**Shuffle test**: the spikes of layer ``l`` are permuted in time within each sample and neuron (a uniformly random
permutation of the valid steps: every neuron keeps its count, its timing is destroyed), the shuffled spikes are
fed to layer ``l + 1`` and the rest of the network (a forward hook replaces the layer's output), and the
network's own readout is scored on the test split; reported: its accuracy without and with the shuffle (mean
over ``shuffles`` draws) and the drop. In a recurrent layer (:class:`~spikeforge.synapse.Recurrent`) only what
the next layer receives is shuffled: the layer's own recurrence ran on its unshuffled spikes. A network that
reads only counts (at the end: a readout that integrates without leak) loses nothing; one that reads timing loses.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["decoder_accuracy", "probe_run", "recorded_spikes", "shuffle_times", "spike_features"]

PROBE_FILE = "probe.json"


def _valid(lengths: Tensor, steps: int) -> Tensor:
    """``[T, B]`` mask of the valid steps."""
    return torch.arange(steps).unsqueeze(1) < lengths.reshape(1, -1)


def spike_features(spikes: Tensor, lengths: Tensor | None = None) -> dict[str, Tensor]:
    """``counts [B, N]`` and ``timing [B, 2N]`` (first-spike times, then mean intervals) of ``spikes [T, B, N]``
    (see :mod:`spikeforge.learn.probe` for the definitions and the values of silent neurons)."""
    if not isinstance(spikes, Tensor) or spikes.dim() < 3:
        raise ValueError(f"spike_features: spikes must be a tensor [T, B, N]; got "
                         f"{tuple(spikes.shape) if isinstance(spikes, Tensor) else type(spikes).__name__}")
    steps, batch = spikes.shape[:2]
    s = (spikes.reshape(steps, batch, -1) != 0)
    if lengths is None:
        lengths = torch.full((batch,), steps, dtype=torch.long)
    lengths = torch.as_tensor(lengths).long().reshape(-1)
    if lengths.shape != (batch,) or bool((lengths < 1).any()) or bool((lengths > steps).any()):
        raise ValueError(f"spike_features: lengths must be [B] = [{batch}] with values in 1..{steps}; got "
                         f"{lengths.tolist()[:8]}")
    s = s & _valid(lengths, steps).unsqueeze(-1)
    counts = s.sum(0).to(torch.float64)
    t = torch.arange(steps, dtype=torch.float64).reshape(-1, 1, 1).expand(s.shape)
    big = torch.full_like(t, float(steps))
    first = torch.where(s, t, big).amin(0)
    last = torch.where(s, t, -big).amax(0)
    length = lengths.to(torch.float64).unsqueeze(-1)
    first_f = torch.where(counts > 0, first / length, torch.ones_like(first))
    isi = torch.where(counts > 1, (last - first) / ((counts - 1).clamp(min=1) * length), torch.ones_like(first))
    return {"counts": counts, "timing": torch.cat([first_f, isi], 1)}


def shuffle_times(spikes: Tensor, lengths: Tensor | None = None, generator: torch.Generator | None = None) -> Tensor:
    """``spikes [T, B, ...]`` with the valid steps of every (sample, neuron) put in a uniformly random order."""
    steps, batch = spikes.shape[:2]
    if lengths is None:
        lengths = torch.full((batch,), steps, dtype=torch.long)
    valid = _valid(torch.as_tensor(lengths).long().cpu(), steps).reshape(steps, batch, *([1] * (spikes.dim() - 2)))
    keys = torch.rand(spikes.shape, generator=generator)
    keys = torch.where(valid.expand(spikes.shape), keys, torch.full_like(keys, 2.0))  # padding sorts last
    order = keys.argsort(dim=0).to(spikes.device)
    return spikes.gather(0, order)


def decoder_accuracy(train_x: Tensor, train_y: Tensor, test_x: Tensor, test_y: Tensor) -> float:
    """Test accuracy of a multinomial logistic regression (standardised features, ``C = 1``) fitted on train."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    xtr, xte = train_x.double().numpy(), test_x.double().numpy()
    ytr, yte = train_y.long().numpy(), test_y.long().numpy()
    if len(set(ytr.tolist())) < 2:
        return float((yte == ytr[0]).mean())
    model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=500))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # the score is what is reported, converged or not
        model.fit(xtr, ytr)
    return float((model.predict(xte) == yte).mean())


class _Recorder:
    """A counter of :mod:`spikeforge._counting` that keeps every spiking population's output."""

    def __init__(self, model: nn.Module) -> None:
        self.names = {id(m): n for n, m in model.named_modules()}
        self.out: dict[str, Tensor] = {}

    def record(self, module: nn.Module, role: str, tensor: Tensor, spiking: bool) -> None:
        if role == "neuron" and spiking and id(module) in self.names:
            self.out[self.names[id(module)]] = tensor.detach().cpu()


@contextlib.contextmanager
def recorded_spikes(model: nn.Module) -> Iterator[dict[str, Tensor]]:
    """``with recorded_spikes(model) as spikes: model(x)`` -- ``spikes[name]`` is layer ``name``'s last output."""
    from spikeforge._counting import counting

    rec = _Recorder(model)
    with counting(rec):
        yield rec.out


@contextlib.contextmanager
def _replaced(module: nn.Module, fn):
    """A forward hook that replaces ``module``'s output (or the first item of an ``(output, state)`` pair)."""

    def hook(_m, _inp, out):
        if isinstance(out, tuple):
            return (fn(out[0]), *out[1:])
        return fn(out)

    handle = module.register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


def _collect(model: nn.Module, split, config, batch_size: int, seed: int) -> dict[str, Any]:
    """Recorded features per layer, labels, lengths, and the network's predictions on ``split``."""
    from spikeforge.data import batches
    from spikeforge.learn.losses import classification_loss

    feats: dict[str, dict[str, list[Tensor]]] = {}
    ys, preds = [], []
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for batch in batches(split, batch_size, generator=gen):
            with recorded_spikes(model) as rec:
                out = model(batch.x)
            _, logits = classification_loss(out, batch.y, batch.lengths, config.loss)
            preds.append(logits.argmax(1).cpu())
            ys.append(batch.y.cpu())
            for name, s in rec.items():
                if s.dim() < 3 or s.shape[:2] != batch.x.shape[:2]:
                    continue  # not a whole-sequence output [T, B, ...]
                f = spike_features(s, batch.lengths.cpu())
                d = feats.setdefault(name, {"counts": [], "timing": []})
                d["counts"].append(f["counts"])
                d["timing"].append(f["timing"])
    return {"features": {n: {k: torch.cat(v) for k, v in d.items()} for n, d in feats.items()},
            "y": torch.cat(ys), "pred": torch.cat(preds)}


def _shuffled_accuracy(model: nn.Module, module: nn.Module, split, config, batch_size: int, seed: int,
                       shuffle_seed: int) -> float:
    from spikeforge.data import batches
    from spikeforge.learn.losses import classification_loss

    correct = seen = 0
    gen = torch.Generator().manual_seed(seed)  # the same input encoding as the unshuffled pass
    sgen = torch.Generator().manual_seed(shuffle_seed)
    with torch.no_grad():
        for batch in batches(split, batch_size, generator=gen):
            with _replaced(module, lambda s, b=batch: shuffle_times(s, b.lengths.cpu(), sgen)):
                out = model(batch.x)
            _, logits = classification_loss(out, batch.y, batch.lengths, config.loss)
            correct += int((logits.argmax(1) == batch.y).sum())
            seen += int(batch.y.numel())
    return correct / max(seen, 1)


def probe_run(run_dir: str | Path, *, shuffles: int = 3, batch_size: int = 256, seed: int = 0,
              write: bool = False) -> dict[str, Any]:
    """Probe a run folder's hidden layers (see :mod:`spikeforge.learn.probe`); ``write``: also save
    ``RUN/probe.json`` (which ``spikeforge report`` shows)."""
    from spikeforge.learn.config import load_config
    from spikeforge.learn.loop import spiking_modules
    from spikeforge.learn.trainer import _check_run, _num_threads, load_run, load_training_data

    if isinstance(shuffles, bool) or not isinstance(shuffles, int) or shuffles < 1:
        raise ValueError(f"probe_run: shuffles must be an int >= 1; got {shuffles!r}")
    run_dir = _check_run(run_dir)
    config = load_config(run_dir / "config.json")
    with _num_threads(config.threads), torch.random.fork_rng(devices=[]):
        model = load_run(run_dir, map_location="cpu")
        dataset, config, _ = load_training_data(config)
        enc_seed = config.seed + 1  # what evaluate uses for random encoders
        train = _collect(model, dataset.train, config, batch_size, enc_seed)
        test = _collect(model, dataset.test, config, batch_size, enc_seed)
        base = float((test["pred"] == test["y"]).double().mean())
        modules = dict(spiking_modules(model))
        layers: dict[str, Any] = {}
        for name, ftr in train["features"].items():
            fte = test["features"][name]
            row: dict[str, Any] = {
                "neurons": int(ftr["counts"].shape[1]),
                "spikes_per_sample_test": float(fte["counts"].sum(1).mean()),
                "silent_fraction_test": float((fte["counts"] == 0).double().mean()),
            }
            for kind in ("counts", "timing"):
                row[f"{kind}_accuracy"] = decoder_accuracy(ftr[kind], train["y"], fte[kind], test["y"])
            both_tr = torch.cat([ftr["counts"], ftr["timing"]], 1)
            both_te = torch.cat([fte["counts"], fte["timing"]], 1)
            row["both_accuracy"] = decoder_accuracy(both_tr, train["y"], both_te, test["y"])
            if name in modules:
                accs = [_shuffled_accuracy(model, modules[name], dataset.test, config, batch_size, enc_seed,
                                           seed + r) for r in range(shuffles)]
                row["shuffled_network_accuracy"] = sum(accs) / len(accs)
                row["shuffled_network_accuracies"] = accs
                row["shuffle_drop"] = base - row["shuffled_network_accuracy"]
            layers[name] = row
    classes = int(test["y"].max()) + 1
    result = {
        "run": str(run_dir), "dataset": dataset.name, "network_accuracy": base,
        "train_samples": int(train["y"].numel()), "test_samples": int(test["y"].numel()),
        "chance": float(torch.bincount(test["y"], minlength=classes).max()) / int(test["y"].numel()),
        "decoder": "standardised features, multinomial logistic regression (scikit-learn, C=1), fit on train",
        "shuffles": shuffles, "layers": layers,
    }
    if write:
        (run_dir / PROBE_FILE).write_text(json.dumps(result, indent=2))
    return result

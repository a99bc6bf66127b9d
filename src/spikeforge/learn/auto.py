"""``--model auto``: choose the model family, encoding and size on a validation split, within a time budget.

:func:`resolve` turns a config whose ``model`` is ``"auto"`` into an ordinary one, by this scheme:

1. **Validation split.** The data set's own ``valid`` split where it has one, else one carved, stratified, from
   the training data (:func:`spikeforge.data.split.carve_validation` with ``config.valid_fraction`` and
   ``config.seed``: the carve the Trainer makes again for the run). The test split is never looked at.
2. **Candidates.** A short list chosen from the data's shape (:func:`spikeforge.learn.search.candidates`:
   length, channels, kind), points of the space ``spikeforge tune`` searches, each trained with its family's
   loss reduction on series of that length (:func:`spikeforge.learn.models.readout_reduction`).
3. **Successive halving.** Every candidate trains for a first rung of epochs (at least
   :data:`RUNG_STEPS` optimisation steps, constant learning rate, the config's optimizer, batch size and
   seed), validated after every epoch; the better half (by the best validation accuracy reached so far: a
   snapshot at a constant learning rate is noisy, and the winner is trained again to the end of a decaying
   schedule) trains on, twice the epochs in all, and so on until two are left or the epochs reach
   ``config.epochs``. Between two trainings the clock is read: once
   ``budget`` seconds are spent no new one starts, nor does a rung whose cost (estimated from the rung before)
   would end past the budget; a candidate's first training (but the rung's first) stops after one epoch when
   the rest of its rung, at that epoch's speed, would end past the budget.
4. **Choice.** At the last rung that all its candidates finished, by the one-standard-error rule (Breiman et
   al. 1984; Hastie, Tibshirani & Friedman, ESL 7.10): among the candidates whose validation accuracy lies
   within one standard error of the highest (:func:`standard_error`; with the 6-14 validation samples of the
   smallest sets that is 0.1-0.2), the earliest of the list wins, the list's order being the prior (families
   that led on the development sets first); halving ranks by the same rule. On a large validation split the
   standard error is small and the rule is the highest accuracy.
5. **Refit.** The winner is then trained **from scratch by the Trainer on the whole training split**: the carve
   and the validation split it was chosen on (``config.refit``, the default; the returned config has
   ``valid_fraction`` 0, so ``--config RUN/config.json`` loads the same samples; ``--no-refit`` keeps the carve
   and its per-epoch ``valid_*`` figures; a data set's own validation split is always kept). With the cosine
   schedule, for ``max(config.epochs, ceil(FINAL_STEPS / batches per epoch of the carve))`` epochs, cut to what
   fits in ``FINAL_SHARE * budget`` seconds at the winner's measured speed scaled to the samples it trains on
   (but not below the epochs it was chosen at). On the aeon sets the fifth of the data the validation split
   holds back is worth up to several points of test accuracy (docs/training.md); the test split is still
   evaluated once, at the end.

Everything is recorded: the validation accuracy and seconds of every candidate at every rung, the rule, the
winner and why, and the seconds spent (``metrics.json`` / ``run.json`` key ``auto``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch

from spikeforge.learn import loop
from spikeforge.learn.config import ConfigError, TrainConfig
from spikeforge.learn.search import Candidate, DataShape, candidates, may_downsample, may_renormalize

__all__ = [
    "DEFAULT_BUDGET",
    "FINAL_SHARE",
    "FINAL_STEPS",
    "RULE",
    "RUNG_STEPS",
    "ranking",
    "refit_data",
    "reload_variant",
    "resolve",
    "select",
    "standard_error",
    "validation_split",
    "wanted_epochs",
]

#: Seconds of search when ``config.budget`` is None (with the winner's training, a default run stays within
#: about 5 minutes on 2 cores: see docs/training.md).
DEFAULT_BUDGET = 100.0
#: The winner's training is cut to ``FINAL_SHARE * budget`` seconds (at its measured speed).
FINAL_SHARE = 1.0
#: Optimisation steps of the first rung (so that tiny training sets get more than a couple of epochs).
RUNG_STEPS = 60
#: Optimisation steps the winner's training gets at least (when they fit in the budget).
FINAL_STEPS = 1500
RULE = ("successive halving on validation accuracy: every candidate trains a first rung of epochs, the better "
        "half (best validation accuracy reached so far) goes on with twice the epochs, until two are left or the "
        "epochs reach config.epochs; ranked by the one-standard-error rule: the candidates within one standard "
        "error (sqrt(p(1-p)/n), p = (k+2)/(n+4)) of the highest validation accuracy come first, in list order, "
        "then the rest by accuracy (ties: the lower validation loss, then list order); the winner is the first at "
        "the last rung all its candidates finished; no new training starts once the budget is spent, and a first "
        "training (but a rung's first) stops after one epoch when its rung would end past the budget")


def standard_error(accuracy: float, n: int) -> float:
    """The standard error of an accuracy measured on ``n`` samples, ``sqrt(p(1 - p) / n)`` with ``p`` the
    Agresti-Coull "plus four" estimate ``(k + 2) / (n + 4)`` (``k`` the correct ones), so that 14 of 14 right
    is not taken as certain: one sample in 14 (0.071) is then within it (0.084)."""
    n = max(int(n), 1)
    p = (accuracy * n + 2.0) / (n + 4.0)
    return math.sqrt(p * (1.0 - p) / n)


def ranking(results: dict[int, tuple[float, float]], n_valid: int) -> list[int]:
    """Candidate indices best first under the one-standard-error rule: those whose validation accuracy lies
    within one :func:`standard_error` of the highest come first, in list order (the prior: the list puts the
    families that led on the development sets first), then the rest by accuracy (ties: the lower loss, then
    list order). ``results`` maps a candidate's index to its (validation accuracy, validation loss)."""
    top = max(acc for acc, _ in results.values())
    floor = top - standard_error(top, n_valid) - 1e-12

    def key(i: int) -> tuple[float, ...]:
        acc, loss = results[i]
        return (0, i) if acc >= floor else (1, -acc, loss, i)

    return sorted(results, key=key)


@dataclass
class _Run:
    """One candidate's training so far (model, optimizer, loop state and data order continue across rungs)."""

    cand: Candidate
    config: TrainConfig
    train: Any
    valid: Any
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    generator: torch.Generator
    state: loop.LoopState
    seconds: float = 0.0


def validation_split(config: TrainConfig, dataset: Any) -> tuple[Any, Any, str]:
    """``(train, valid, source)``: the data set's own validation split (``source`` ``"dataset"``) or one carved
    from its training split (``"carved"``) with ``config.valid_fraction`` and ``config.seed``."""
    from spikeforge.data.split import carve_validation

    if dataset.valid is not None:  # (the Trainer's carve, or the data set's own split)
        return dataset.train, dataset.valid, "carved" if "validation_carve" in dataset.valid.meta else "dataset"
    if config.valid_fraction <= 0:
        raise ConfigError("valid_fraction", "--model auto chooses on a validation split carved from the training "
                                            "data: expected a number in (0, 1), got 0")
    train, valid = carve_validation(dataset.train, config.valid_fraction, config.seed)
    return train, valid, "carved"


def _encoder_of(cand: Candidate, dataset: Any):
    from spikeforge.encode import make_encoder

    spec = cand.encoder_spec()
    if spec is None:
        return dataset.encoder
    spec = dict(spec)
    return make_encoder(spec.pop("name"), **spec)


def _start(cand: Candidate, config: TrainConfig, train: Any, valid: Any, dataset: Any,
           device: torch.device) -> _Run:
    from spikeforge.learn.models import build_model

    cfg = cand.apply(config, steps=train.steps)
    enc = _encoder_of(cand, dataset)
    tr, va = train.with_encoder(enc), valid.with_encoder(enc)
    torch.manual_seed(config.seed)  # every candidate starts from the same seed: a function of the config
    model = build_model(cfg, tr.in_channels, dataset.num_classes).to(device)
    optimizer = loop.make_optimizer(cfg.optimizer, model.parameters(), cfg.lr, cfg.weight_decay)
    return _Run(cand, cfg, tr, va, model, optimizer, torch.Generator().manual_seed(config.seed), loop.LoopState())


@dataclass(frozen=True)
class _FirstEpochDeadline:
    """A :func:`~spikeforge.learn.loop.fit` callback for a candidate's first training (started at ``start`` on
    the search's ``clock``, which started at ``t0``): after its first epoch, stop when the rest of the rung
    (``epochs``), at that epoch's speed, would end past the budget, so that a slow candidate late in the list
    costs one epoch, not a rung (ACSF1's recurrent network: 35-41 s for a first rung started a few seconds
    before the budget ended)."""

    clock: Callable[[], float]
    t0: float
    start: float
    budget: float
    epochs: int

    def on_epoch_end(self, state: loop.LoopState, row: dict[str, Any]) -> bool:
        if state.epoch != 1:
            return False
        now = self.clock()
        return now - self.t0 + (now - self.start) * (self.epochs - 1) > self.budget


def _train_to(run: _Run, epochs: int, device: torch.device,
              stop: _FirstEpochDeadline | None = None) -> tuple[float, float, float]:
    """Train ``run`` until ``epochs`` epochs are done (or ``stop`` ends it after the first), validating after
    each; returns the best validation accuracy reached so far (its lowest loss among equals) and the seconds
    of this call."""
    t0 = time.perf_counter()
    cfg = run.config
    loop.fit(run.model, cfg.method, run.train, run.optimizer, () if stop is None else (stop,), epochs=epochs,
             batch_size=cfg.batch_size,
             valid=run.valid, objective=cfg, generator=run.generator, state=run.state, device=device,
             eval_batch_size=cfg.eval_batch_size)
    seconds = time.perf_counter() - t0
    run.seconds += seconds
    acc, loss = max((r["valid_accuracy"], -r["valid_loss"]) for r in run.state.history)
    return float(acc), float(-loss), seconds


def wanted_epochs(epochs: int, batches: int) -> int:
    """The epochs the winner's training asks for, ``max(epochs, ceil(FINAL_STEPS / batches))`` (before the
    budget cuts them); the halving's rungs stop there too."""
    return max(int(epochs), math.ceil(FINAL_STEPS / max(int(batches), 1)))


def _rungs(batches: int, max_epochs: int) -> list[int]:
    first = max(1, min(max_epochs, math.ceil(RUNG_STEPS / max(batches, 1))))
    rungs = [first]
    while rungs[-1] * 2 <= max_epochs:
        rungs.append(rungs[-1] * 2)
    return rungs


def select(cands: list[Candidate], config: TrainConfig, dataset: Any, train: Any, valid: Any, *,
           budget: float, device: torch.device | str = "cpu", log: Callable[[str], None] | None = None,
           clock: Callable[[], float] = time.perf_counter,
           variants: Mapping[tuple, tuple[Any, Any, Any]] | None = None) -> dict[str, Any]:
    """Successive halving of ``cands`` on ``valid`` (see the module docstring); returns the record: ``rule``,
    ``candidates`` (each with its ``rungs``: epochs, valid_accuracy, seconds), ``chosen`` (index, rung,
    valid_accuracy, why), ``stopped`` (why the search ended early, or None), ``seconds``, ``seconds_per_epoch``
    of the winner. ``variants``: per :attr:`Candidate.data_key` other than ``()``, the ``(dataset, train,
    valid)`` loaded with those :meth:`Candidate.data_changes` (the same samples in the same splits)."""
    if not cands:
        raise ValueError("candidates: expected at least one, got none")
    device = torch.device(device)
    t0 = clock()
    batches = math.ceil(len(train) / config.batch_size)
    rungs = _rungs(batches, wanted_epochs(config.epochs, batches))
    runs: list[_Run | None] = [None] * len(cands)
    record = [{**c.to_dict(), "rungs": []} for c in cands]
    members = list(range(len(cands)))
    done: list[dict[int, tuple[float, float]]] = []  # per rung: candidate index -> validation accuracy, loss
    rung_members: list[list[int]] = []
    stopped = None
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        for k, epochs in enumerate(rungs):
            if k > 0:
                # the cost of this rung, estimated from the speed of its members in the rung before
                est = sum(runs[i].seconds / runs[i].state.epoch * (epochs - runs[i].state.epoch)  # type: ignore
                          for i in members)
                if clock() - t0 + est > budget:
                    stopped = (f"budget: rung {k + 1} ({epochs} epochs, about {est:.0f} s) would end past the "
                               f"budget of {budget:g} s")
                    break
            results: dict[int, tuple[float, float]] = {}
            done.append(results)
            rung_members.append(list(members))
            for i in members:
                if clock() - t0 >= budget:
                    stopped = f"budget: {budget:g} s spent during rung {k + 1}"
                    break
                stop = None
                if runs[i] is None:
                    key = cands[i].data_key
                    ds, tr, va = (dataset, train, valid) if not key else variants[key]  # type: ignore[index]
                    runs[i] = _start(cands[i], config, tr, va, ds, device)
                    # (not the rung's first: one candidate at least is always trained to the end of rung 1)
                    stop = _FirstEpochDeadline(clock, t0, clock(), budget, epochs) if epochs > 1 and results else None
                acc, loss, seconds = _train_to(runs[i], epochs, device, stop)  # type: ignore[arg-type]
                if runs[i].state.epoch < epochs:  # type: ignore[union-attr]
                    record[i]["stopped_after"] = {"epochs": runs[i].state.epoch,  # type: ignore[union-attr]
                                                  "valid_accuracy": acc, "seconds": seconds}
                    stopped = (f"budget: {cands[i].name} would end rung {k + 1} ({epochs} epochs, about "
                               f"{seconds * epochs:.0f} s at its first epoch's speed) past the budget of {budget:g} s")
                    if log is not None:
                        log(f"auto: {stopped}")
                    break
                results[i] = (acc, loss)
                record[i]["rungs"].append({"epochs": epochs, "valid_accuracy": acc, "valid_loss": loss,
                                           "seconds": seconds})
                if log is not None:
                    log(f"auto: rung {k + 1}/{len(rungs)}  {cands[i].name:<34} valid {acc:.4f} after {epochs} "
                        f"epochs  ({seconds:.1f} s)")
            if stopped is not None or len(members) <= 2:
                break
            ranked = ranking(results, len(valid))
            members = sorted(ranked[: max(2, math.ceil(len(members) / 2))])
            if k == len(rungs) - 1:
                break
    # the last rung every one of its members finished (rung 1 cut short: the candidates it reached)
    decide = len(done) - 1
    while decide > 0 and len(done[decide]) < len(rung_members[decide]):
        decide -= 1
    results = done[decide]
    if not results:
        raise RuntimeError(f"auto: the budget of {budget:g} s ended before any candidate was trained")
    order = ranking(results, len(valid))
    best = order[0]
    run = runs[best]
    assert run is not None
    top = max(acc for acc, _ in results.values())
    se = standard_error(top, len(valid))
    others = ", ".join(f"{cands[i].name} {results[i][0]:.4f}" for i in order[1:])
    if results[best][0] == top:
        why = f"highest validation accuracy {top:.4f} (loss {results[best][1]:.4f})"
    else:
        why = (f"validation accuracy {results[best][0]:.4f}, within one standard error ({se:.4f}) of the highest "
               f"({top:.4f}), and earliest in the list")
    why += (f" at rung {decide + 1} ({rungs[decide]} epochs) among {len(results)} candidate(s), "
            f"{len(valid)} validation samples")
    if others:
        why += f"; the others: {others}"
    return {
        "rule": RULE,
        "budget_seconds": float(budget),
        "rung_epochs": rungs[: len(done)],
        "candidates": record,
        "chosen": {"index": best, **cands[best].to_dict(), "rung": decide + 1, "epochs": rungs[decide],
                   "valid_accuracy": results[best][0], "valid_loss": results[best][1], "why": why},
        "stopped": stopped,
        "seconds": clock() - t0,
        "seconds_per_epoch": run.seconds / max(run.state.epoch, 1),
    }


def reload_variant(config: TrainConfig, like: Any) -> tuple[Any, Any, Any]:
    """``(dataset, train, valid)`` of ``config`` (the data set ``like`` with another normalisation or
    downsampling), split as the run splits it: the carve is a function of the labels, fraction and seed, so the
    samples are the same."""
    from spikeforge.learn.trainer import load_training_data  # (the trainer calls resolve: imported on use)

    dataset, _, _ = load_training_data(config)
    if len(dataset.train) != len(like.train) or not torch.equal(dataset.train.y, like.train.y):
        raise RuntimeError(f"auto: the data set {config.dataset!r} reloaded with normalize={config.normalize!r}, "
                           f"downsample={config.downsample!r} "
                           "does not hold the same training samples")
    train, valid, _ = validation_split(config, dataset)
    return dataset, train, valid


def resolve(config: TrainConfig, dataset: Any, *, budget: float | None = None, device: torch.device | str = "cpu",
            log: Callable[[str], None] | None = None, fixed_encoder: bool | None = None, world_size: int = 1,
            clock: Callable[[], float] = time.perf_counter,
            fixed_normalize: bool = True) -> tuple[TrainConfig, Any, dict[str, Any] | None]:
    """``(config, dataset, choice)``: for ``config.model == "auto"`` the config of the chosen candidate (family,
    encoder, hidden sizes, lr, loss, epochs), the data set with its encoder, and the record of the choice
    (:func:`select`, plus ``validation`` and ``final_epochs``); otherwise the arguments unchanged and None.

    ``budget``: seconds of search (default ``config.budget``, else :data:`DEFAULT_BUDGET`). ``fixed_encoder``:
    keep the data set's encoder rather than choose one (default: when ``config.encoder`` names one, i.e. is
    not ``"default"``). ``fixed_normalize``: keep ``config.normalize`` and ``config.downsample`` (default); False
    lets the search try ``"instance"`` normalisation on series whose scale varies widely between samples, where
    :func:`~spikeforge.learn.search.may_renormalize` allows it, and series averaged over
    :data:`~spikeforge.learn.search.DOWNSAMPLE` steps on long series, where
    :func:`~spikeforge.learn.search.may_downsample` allows it (the data set is then reloaded by
    ``config.dataset``; the Trainer passes False), and, with ``config.refit`` and a carved validation split, trains
    the winner on the whole training split (:func:`refit_data`: reloaded by ``config.dataset`` with
    ``valid_fraction`` 0, which the returned config records; the data set's own validation split is kept held
    out). ``world_size``
    > 1 (several processes) is refused: each would time its own search and might choose another model."""
    if config.model != "auto":
        return config, dataset, None
    if config.method != "bptt":
        raise ConfigError("model", f"'auto' chooses among families trained with bptt; with method "
                                   f"{config.method!r} expected a family (e.g. --model mlp), got 'auto'")
    if world_size > 1:
        raise ConfigError("model", f"'auto' chooses within a time budget on one process; with {world_size} "
                                   "processes expected a family (train with --model auto once, then --config "
                                   "RUN/config.json --nproc N)")
    from spikeforge.encode import encoder_config

    budget = float(config.budget if budget is None and config.budget is not None else budget or DEFAULT_BUDGET)
    if fixed_encoder is None:
        fixed_encoder = not (isinstance(config.encoder, str) and config.encoder == "default")
    train, valid, source = validation_split(config, dataset)
    shape = DataShape.of(dataset, train_size=len(train))
    # another normalisation is tried only on data loaded by name with the config's (it is reloaded with it)
    renormalize = not fixed_normalize and shape.kind == "series" and may_renormalize(config, dataset)
    downsample = not fixed_normalize and shape.kind == "series" and may_downsample(config, dataset)
    cands = candidates(shape, fixed_encoder=fixed_encoder, normalize=renormalize, downsample=downsample)
    variants = {c.data_key: reload_variant(config.replace(**c.data_changes()), dataset) for c in cands if c.data_key}
    base = config.replace(model="mlp")  # a buildable placeholder; each candidate sets its family
    before = torch.get_num_threads()
    torch.set_num_threads(config.threads)  # as the Trainer computes (restored after)
    try:
        record = select(cands, base, dataset, train, valid, budget=budget, device=device, log=log, clock=clock,
                        variants=variants)
    finally:
        torch.set_num_threads(before)
    chosen = cands[record["chosen"]["index"]]
    if chosen.data_key:
        dataset, train, valid = variants[chosen.data_key]
    batches = math.ceil(len(train) / config.batch_size)
    wanted = wanted_epochs(config.epochs, batches)
    refit = config.refit and source == "carved" and not fixed_normalize
    if refit:  # the winner trains on the carve and the validation split together (the data set's own is kept)
        dataset = refit_data(config.replace(**chosen.data_changes()), train, valid)
    # seconds per epoch of the data the winner trains on (an epoch's cost is proportional to its samples)
    per_epoch = record["seconds_per_epoch"] * len(dataset.train) / len(train)
    # the winner's seconds: FINAL_SHARE x the budget, less what the search ran past its budget (a rung started
    # within it may end after it), so that search and final training stay within (1 + FINAL_SHARE) x budget
    allowance = max(FINAL_SHARE * budget - max(record["seconds"] - budget, 0.0), 0.0)
    fits = int(allowance // max(per_epoch, 1e-9))
    epochs = max(min(wanted, fits), record["chosen"]["epochs"], 1)
    final = chosen.apply(base, steps=train.steps).replace(epochs=epochs)
    if refit:
        final = final.replace(valid_fraction=0.0)
    enc = _encoder_of(chosen, dataset)
    if chosen.encoder is not None:
        dataset = dataset.with_encoder(enc)
        final = final.replace(encoder=None if enc is None else encoder_config(enc))
    record["validation"] = {"source": source, "fraction": config.valid_fraction if source == "carved" else None,
                            "seed": config.seed, "train_size": len(train), "valid_size": len(valid)}
    record["final_epochs"] = {"epochs": epochs, "rule": (
        f"max(config.epochs={config.epochs}, ceil({FINAL_STEPS} steps / {batches} batches of the carved split)) = "
        f"{wanted}, cut to {fits} epochs that fit in {allowance:.0f} s ({FINAL_SHARE:g} x the budget less the "
        f"search's overrun) at {per_epoch:.2f} s per epoch, not below the {record['chosen']['epochs']} epochs of the "
        "choice"),
        "trained_on": (f"the whole training split, {len(dataset.train)} samples: the carve and the validation split "
                       "it was chosen on (refit; the test split is still untouched)") if refit
        else "the carved training split (the validation split stays held out)" if source == "carved"
        else "the training split"}
    record["refit"] = refit
    return final, dataset, record


def refit_data(config: TrainConfig, train: Any, valid: Any) -> Any:
    """The data set of ``config`` with nothing carved from its training split (``valid_fraction`` 0), as the
    chosen candidate loads it: the samples of the carve ``train`` and the validation split ``valid`` together,
    checked (the same count and labels)."""
    from spikeforge.learn.trainer import load_training_data  # (the trainer calls resolve: imported on use)

    dataset, _, _ = load_training_data(config.replace(valid_fraction=0.0))
    held = torch.cat([train.y, valid.y])
    if len(dataset.train) != len(held) or not torch.equal(dataset.train.y.sort().values, held.sort().values):
        raise RuntimeError(f"auto: the data set {config.dataset!r} reloaded without a validation carve does not "
                           f"hold the samples of the carve and its validation split ({len(dataset.train)} against "
                           f"{len(train)} + {len(valid)})")
    return dataset

"""``--model auto``: choose the model family, encoding and size on a validation split, within a time budget.

:func:`resolve` turns a config whose ``model`` is ``"auto"`` into an ordinary one, by this scheme:

1. **Validation split.** The data set's own ``valid`` split where it has one, else one carved, stratified, from
   the training data (:func:`spikeforge.data.split.carve_validation` with ``config.valid_fraction`` and
   ``config.seed``: the carve the Trainer makes again for the run). The test split is never looked at.
2. **Candidates.** A short list chosen from the data's shape (:func:`spikeforge.learn.search.candidates`:
   length, channels, kind), points of the space ``spikeforge tune`` searches.
3. **Successive halving.** Every candidate trains for a first rung of epochs (at least
   :data:`RUNG_STEPS` optimisation steps, constant learning rate, the config's optimizer, batch size and
   seed), validated after every epoch; the better half (by the best validation accuracy reached so far: a
   snapshot at a constant learning rate is noisy, and the winner is trained again to the end of a decaying
   schedule) trains on, twice the epochs in all, and so on until two are left or the epochs reach
   ``config.epochs``. Between two trainings the clock is read: once
   ``budget`` seconds are spent no new one starts, nor does a rung whose cost (estimated from the rung before)
   would end past the budget.
4. **Choice.** The highest validation accuracy at the last rung that all its candidates finished (a tie goes
   to the lower validation loss, then to the earlier, cheaper candidate of the list). The winner is then
   trained **from scratch by the Trainer on the same carved training split** (the validation split stays held
   out and gives the per-epoch ``valid_*`` figures), with the cosine schedule for ``max(config.epochs,
   ceil(FINAL_STEPS / batches per epoch))`` epochs, cut to what fits in ``FINAL_SHARE * budget`` seconds at
   the winner's measured speed (but not below the epochs it was chosen at).

Everything is recorded: the validation accuracy and seconds of every candidate at every rung, the rule, the
winner and why, and the seconds spent (``metrics.json`` / ``run.json`` key ``auto``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from spikeforge.learn import loop
from spikeforge.learn.config import ConfigError, TrainConfig
from spikeforge.learn.search import Candidate, DataShape, candidates

__all__ = ["DEFAULT_BUDGET", "FINAL_SHARE", "FINAL_STEPS", "RULE", "RUNG_STEPS", "resolve", "select",
           "validation_split"]

#: Seconds of search when ``config.budget`` is None (with the winner's training, a default run stays within
#: about 5 minutes on 2 cores: see docs/training.md).
DEFAULT_BUDGET = 100.0
#: The winner's training is cut to ``FINAL_SHARE * budget`` seconds (at its measured speed).
FINAL_SHARE = 1.2
#: Optimisation steps of the first rung (so that tiny training sets get more than a couple of epochs).
RUNG_STEPS = 40
#: Optimisation steps the winner's training gets at least (when they fit in the budget).
FINAL_STEPS = 400
RULE = ("successive halving on validation accuracy: every candidate trains a first rung of epochs, the better "
        "half (best validation accuracy reached so far) goes on with twice the epochs, until two are left or the "
        "epochs reach config.epochs; the winner is the highest validation accuracy at the last rung all its "
        "candidates finished (ties: the lower validation loss, then the earlier candidate of the list); no new "
        "training starts once the budget is spent")


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

    cfg = cand.apply(config)
    enc = _encoder_of(cand, dataset)
    tr, va = train.with_encoder(enc), valid.with_encoder(enc)
    torch.manual_seed(config.seed)  # every candidate starts from the same seed: a function of the config
    model = build_model(cfg, tr.in_channels, dataset.num_classes).to(device)
    optimizer = loop.make_optimizer(cfg.optimizer, model.parameters(), cfg.lr, cfg.weight_decay)
    return _Run(cand, cfg, tr, va, model, optimizer, torch.Generator().manual_seed(config.seed), loop.LoopState())


def _train_to(run: _Run, epochs: int, device: torch.device) -> tuple[float, float, float]:
    """Train ``run`` until ``epochs`` epochs are done, validating after each; returns the best validation
    accuracy reached so far (its lowest loss among equals) and the seconds of this call."""
    t0 = time.perf_counter()
    cfg = run.config
    loop.fit(run.model, cfg.method, run.train, run.optimizer, epochs=epochs, batch_size=cfg.batch_size,
             valid=run.valid, objective=cfg, generator=run.generator, state=run.state, device=device,
             eval_batch_size=cfg.eval_batch_size)
    seconds = time.perf_counter() - t0
    run.seconds += seconds
    acc, loss = max((r["valid_accuracy"], -r["valid_loss"]) for r in run.state.history)
    return float(acc), float(-loss), seconds


def _rungs(batches: int, max_epochs: int) -> list[int]:
    first = max(1, min(max_epochs, math.ceil(RUNG_STEPS / max(batches, 1))))
    rungs = [first]
    while rungs[-1] * 2 <= max_epochs:
        rungs.append(rungs[-1] * 2)
    return rungs


def select(cands: list[Candidate], config: TrainConfig, dataset: Any, train: Any, valid: Any, *,
           budget: float, device: torch.device | str = "cpu", log: Callable[[str], None] | None = None,
           clock: Callable[[], float] = time.perf_counter) -> dict[str, Any]:
    """Successive halving of ``cands`` on ``valid`` (see the module docstring); returns the record: ``rule``,
    ``candidates`` (each with its ``rungs``: epochs, valid_accuracy, seconds), ``chosen`` (index, rung,
    valid_accuracy, why), ``stopped`` (why the search ended early, or None), ``seconds``, ``seconds_per_epoch``
    of the winner."""
    if not cands:
        raise ValueError("candidates: expected at least one, got none")
    device = torch.device(device)
    t0 = clock()
    batches = math.ceil(len(train) / config.batch_size)
    rungs = _rungs(batches, config.epochs)
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
                if runs[i] is None:
                    runs[i] = _start(cands[i], config, train, valid, dataset, device)
                acc, loss, seconds = _train_to(runs[i], epochs, device)  # type: ignore[arg-type]
                results[i] = (acc, loss)
                record[i]["rungs"].append({"epochs": epochs, "valid_accuracy": acc, "valid_loss": loss,
                                           "seconds": seconds})
                if log is not None:
                    log(f"auto: rung {k + 1}/{len(rungs)}  {cands[i].name:<34} valid {acc:.4f} after {epochs} "
                        f"epochs  ({seconds:.1f} s)")
            if stopped is not None or len(members) <= 2:
                break
            ranked = sorted(members, key=lambda i: (-results[i][0], results[i][1], i))
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
    order = sorted(results, key=lambda i: (-results[i][0], results[i][1], i))
    best = order[0]
    run = runs[best]
    assert run is not None
    others = ", ".join(f"{cands[i].name} {results[i][0]:.4f}" for i in order[1:])
    why = (f"highest validation accuracy {results[best][0]:.4f} (loss {results[best][1]:.4f}) at rung {decide + 1} "
           f"({rungs[decide]} epochs) among {len(results)} candidate(s)")
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


def resolve(config: TrainConfig, dataset: Any, *, budget: float | None = None, device: torch.device | str = "cpu",
            log: Callable[[str], None] | None = None, fixed_encoder: bool | None = None, world_size: int = 1,
            clock: Callable[[], float] = time.perf_counter) -> tuple[TrainConfig, Any, dict[str, Any] | None]:
    """``(config, dataset, choice)``: for ``config.model == "auto"`` the config of the chosen candidate (family,
    encoder, hidden sizes, lr, loss, epochs), the data set with its encoder, and the record of the choice
    (:func:`select`, plus ``validation`` and ``final_epochs``); otherwise the arguments unchanged and None.

    ``budget``: seconds of search (default ``config.budget``, else :data:`DEFAULT_BUDGET`). ``fixed_encoder``:
    keep the data set's encoder rather than choose one (default: when ``config.encoder`` names one, i.e. is
    not ``"default"``). ``world_size`` > 1 (several processes) is refused: each would time its own search
    and might choose another model."""
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
    cands = candidates(shape, fixed_encoder=fixed_encoder)
    base = config.replace(model="mlp")  # a buildable placeholder; each candidate sets its family
    before = torch.get_num_threads()
    torch.set_num_threads(config.threads)  # as the Trainer computes (restored after)
    try:
        record = select(cands, base, dataset, train, valid, budget=budget, device=device, log=log, clock=clock)
    finally:
        torch.set_num_threads(before)
    chosen = cands[record["chosen"]["index"]]
    batches = math.ceil(len(train) / config.batch_size)
    wanted = max(config.epochs, math.ceil(FINAL_STEPS / batches))
    fits = int(FINAL_SHARE * budget // max(record["seconds_per_epoch"], 1e-9))
    epochs = max(min(wanted, fits), record["chosen"]["epochs"], 1)
    final = chosen.apply(base).replace(epochs=epochs)
    enc = _encoder_of(chosen, dataset)
    if chosen.encoder is not None:
        dataset = dataset.with_encoder(enc)
        final = final.replace(encoder=None if enc is None else encoder_config(enc))
    record["validation"] = {"source": source, "fraction": config.valid_fraction if source == "carved" else None,
                            "seed": config.seed, "train_size": len(train), "valid_size": len(valid)}
    record["final_epochs"] = {"epochs": epochs, "rule": (
        f"max(config.epochs={config.epochs}, ceil({FINAL_STEPS} steps / {batches} batches)) = {wanted}, cut to "
        f"{fits} epochs that fit in {FINAL_SHARE:g} x the budget at {record['seconds_per_epoch']:.2f} s per epoch, "
        "not below the "
        f"{record['chosen']['epochs']} epochs of the choice"),
        "trained_on": "the carved training split (the validation split stays held out)" if source == "carved"
        else "the training split"}
    return final, dataset, record

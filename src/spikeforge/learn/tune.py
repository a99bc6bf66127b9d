"""``spikeforge tune``: an Optuna study over the space of ``--model auto``, kept in a folder so that it resumes.

A study folder ``DIR`` holds ``tune.json`` (the study's settings: the base training config, the number of
trials, the time budget, the seeds), ``study.db`` (the Optuna study, SQLite), ``study.json`` (every trial:
state, validation accuracy, parameters, seconds; the best), ``plots/optimization_history.png`` and
``plots/param_importances.png``, ``report.html`` (the study on one page: :func:`write_report`), and
``best/``, an ordinary run folder of the best configuration: by default (``refit``) trained from scratch on the
whole training split, the carve and the validation split it was chosen on (as ``--model auto`` refits its
choice; a data set's own validation split stays held out); ``--no-refit`` trains it on the carve, as its trial.
Either way it trains at least ``final_steps`` optimisation steps (``--final-steps``, default auto's
:data:`~spikeforge.learn.auto.FINAL_STEPS`), cut to what fits in the study's budget at its trial's speed
(:meth:`Study.best_epochs`); with ``--final-steps 0``, for its trial's epochs (``--no-refit``: the trial
repeated exactly).

Each trial samples a :class:`~spikeforge.learn.search.Candidate` (:func:`spikeforge.learn.search.suggest`:
family, encoding, size, learning rate), trains it with :func:`spikeforge.learn.fit` on the training split
less a validation split carved from it (stratified, ``config.valid_fraction``, ``config.seed``; the test
split is never used), for ``config.epochs`` epochs with the run's cosine schedule, exactly as ``spikeforge
train`` would (same initial weights, data order and schedule). After every epoch the validation accuracy is
reported to the study; the median pruner (``MedianPruner``) stops a trial whose accuracy is below the
median of the earlier trials at the same epoch. The trial's value is its last validation accuracy. The TPE
sampler is seeded (``config.seed``; a resumed session continues with ``seed + trials already in the study``,
so it does not draw the first trials' parameters again).

Resuming (:func:`open_study`): trials left ``RUNNING`` by a killed process, or failed by a Ctrl-C, are marked
failed and their parameters queued again (once), so no trial is lost; finished (complete or pruned) trials
count towards ``trials``, so none is done twice. The budget is the seconds of all sessions together.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from spikeforge.data.errors import about
from spikeforge.learn import loop
from spikeforge.learn.checkpoint import atomic_write_text
from spikeforge.learn.config import TrainConfig
from spikeforge.learn.search import (
    DataShape,
    candidate_from_params,
    candidates,
    may_downsample,
    may_renormalize,
    suggest,
    trial_params,
)

__all__ = [
    "CHOICE_RULE",
    "MIN_STEPS",
    "REFIT_DROP",
    "SETTINGS",
    "STUDY_DB",
    "STUDY_NAME",
    "WARM_START",
    "Study",
    "TuneSettings",
    "create_study",
    "is_study",
    "open_study",
    "write_report",
]

SETTINGS = "tune.json"
STUDY_DB = "study.db"
STUDY_NAME = "spikeforge"
SETTINGS_VERSION = 1
#: A new study's first trials: the first points of ``--model auto``'s list (the prior), then TPE.
WARM_START = 2
CHOICE_RULE = ("the one-standard-error rule of --model auto: of the complete trials whose validation accuracy lies "
               "within one standard error (sqrt(p(1-p)/n), p = (k+2)/(n+4)) of the highest, the earliest (the "
               "warm-start trials, auto's prior, first)")
#: A refit best run whose final training accuracy ends more than this below its trial's failed to train: the best
#: run then trains as its trial (Study.check_refit).
REFIT_DROP = 0.1
#: Optimisation steps every trial gets at least (``--min-steps``): tiny training sets get more epochs than
#: ``--epochs``. Lower than auto's ``FINAL_STEPS`` because a trial, once started, runs to its end.
MIN_STEPS = 400


@dataclass(frozen=True)
class TuneSettings:
    """What decides a study (``tune.json``): the base training ``config`` (a dict), ``trials`` (finished trials
    wanted), ``budget`` (seconds of all sessions, None: no limit), ``startup_trials`` / ``warmup_epochs`` of the
    median pruner, ``random_trials`` (TPE's random start), ``refit`` (the best run trains on the whole training
    split; a study written before this field existed reads back with it true), ``final_steps`` (optimisation
    steps the best run gets at least, :meth:`Study.best_epochs`; a study written before this field existed reads
    back with 0: its trial's epochs)."""

    config: dict[str, Any]
    trials: int
    budget: float | None = None
    startup_trials: int = 2
    warmup_epochs: int = 1
    random_trials: int = 4
    min_steps: int = 0
    warm_start: int = 0
    refit: bool = True
    final_steps: int = 0
    version: int = SETTINGS_VERSION

    def __post_init__(self) -> None:
        if isinstance(self.trials, bool) or not isinstance(self.trials, int) or self.trials < 1:
            raise about("trials", ValueError(f"trials: expected an integer >= 1, got {self.trials!r}"),
                        f"expected an integer >= 1, got {self.trials!r}")
        b = self.budget
        if b is not None and (isinstance(b, bool) or not isinstance(b, (int, float)) or not math.isfinite(b)
                              or b <= 0):
            raise about("budget", ValueError(f"budget: expected a number of seconds > 0, got {b!r}"),
                        f"expected a number of seconds > 0, got {b!r}")
        for name in ("min_steps", "warm_start", "final_steps"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise about(name, ValueError(f"{name}: expected an integer >= 0, got {v!r}"),
                            f"expected an integer >= 0, got {v!r}")
        if not isinstance(self.refit, bool):
            raise about("refit", ValueError(f"refit: expected true or false, got {self.refit!r}"),
                        f"expected true or false, got {self.refit!r}")

    @classmethod
    def for_config(cls, config: TrainConfig, trials: int, budget: float | None = None, *,
                   min_steps: int | None = None, warm_start: int | None = None,
                   refit: bool = True, final_steps: int | None = None) -> TuneSettings:
        from spikeforge.learn.auto import FINAL_STEPS

        min_steps = MIN_STEPS if min_steps is None else min_steps
        final_steps = FINAL_STEPS if final_steps is None else final_steps
        warm_start = WARM_START if warm_start is None else warm_start
        return cls(config.to_dict(), trials, None if budget is None else float(budget),
                   warmup_epochs=max(1, config.epochs // 5), random_trials=min(10, max(2, trials // 3)),
                   min_steps=int(min_steps), warm_start=int(warm_start), refit=refit,
                   final_steps=int(final_steps))

    def train_config(self) -> TrainConfig:
        return TrainConfig.from_dict(self.config)


def is_study(folder: str | Path) -> bool:
    """Whether ``folder`` holds a study written by :func:`create_study` (``tune.json`` and ``study.db``)."""
    folder = Path(folder)
    return (folder / SETTINGS).is_file() and (folder / STUDY_DB).is_file()


@contextlib.contextmanager
def _quiet_optuna():
    """Optuna's own log lines and experimental-feature warnings off while a study runs (restored after)."""
    import optuna

    before = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            yield optuna
    finally:
        optuna.logging.set_verbosity(before)


class _Report:
    """fit() callback: the epoch's validation accuracy to the trial; prune (raise TrialPruned) when it says so."""

    def __init__(self, trial: Any) -> None:
        self.trial = trial

    def on_epoch_end(self, state: loop.LoopState, row: dict[str, float]) -> None:
        import optuna

        self.trial.report(float(row["valid_accuracy"]), state.epoch)
        if self.trial.should_prune():
            self.trial.set_user_attr("pruned_at_epoch", state.epoch)
            raise optuna.TrialPruned(f"validation accuracy {row['valid_accuracy']:.4f} at epoch {state.epoch} "
                                     "below the median of the earlier trials")


class Study:
    """A study folder: its :class:`TuneSettings`, the base config, the training data (with the carved validation
    split) and the Optuna study. Build it with :func:`create_study` or :func:`open_study`."""

    def __init__(self, out: Path, settings: TuneSettings, study: Any, dataset: Any, validation: dict[str, Any],
                 sampler_seed: int) -> None:
        self.out, self.settings, self.study, self.dataset, self.validation = out, settings, study, dataset, validation
        self.config = settings.train_config()
        self.sampler_seed = sampler_seed
        self.shape = DataShape.of(dataset, train_size=len(dataset.train))
        self.fixed_encoder, self.renormalize, self.downsample = _fixed_choices(self.config, dataset)
        self._variants: dict[tuple, Any] = {}

    # ------------------------------------------------------------------------------------------- trials
    def finished(self) -> list[Any]:
        """The trials that count towards ``settings.trials``: complete and pruned ones."""
        from optuna.trial import TrialState

        return [t for t in self.study.trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]

    def seconds(self) -> float:
        """Seconds spent in trials over all sessions."""
        return float(self.study.user_attrs.get("seconds", 0.0))

    def trial_config(self, params: dict[str, Any]) -> TrainConfig:
        """The training config of a trial's parameters: the base config with the candidate applied, for
        ``max(epochs, ceil(min_steps / batches per epoch))`` epochs (so that a tiny training set gets enough
        optimisation steps)."""
        cand = candidate_from_params(params)
        cfg = cand.apply(self.config, steps=self._data(cand).train.steps)
        batches = math.ceil(len(self.dataset.train) / cfg.batch_size)
        return cfg.replace(epochs=max(cfg.epochs, math.ceil(self.settings.min_steps / batches)))

    def _data(self, cand: Any) -> Any:
        """The data set ``cand`` trains on: the study's, or it reloaded with the candidate's
        :meth:`~spikeforge.learn.search.Candidate.data_changes` (the same samples and carve)."""
        key = cand.data_key
        if not key:
            return self.dataset
        if key not in self._variants:
            from spikeforge.learn.auto import reload_variant

            self._variants[key] = reload_variant(self.config.replace(**cand.data_changes()), self.dataset)[0]
        return self._variants[key]

    def _objective(self, trial: Any) -> float:
        import optuna

        from spikeforge.encode import make_encoder
        from spikeforge.learn.models import build_model
        from spikeforge.learn.trainer import lr_at

        cand = suggest(trial, self.shape, fixed_encoder=self.fixed_encoder, normalize=self.renormalize,
                       downsample=self.downsample)
        cfg = self.trial_config(trial.params)
        trial.set_user_attr("candidate", cand.name)
        spec = cand.encoder_spec()
        data = self._data(cand)
        enc = data.encoder if spec is None else make_encoder(spec.pop("name"), **spec)
        train, valid = data.train.with_encoder(enc), data.valid.with_encoder(enc)
        t0 = time.perf_counter()
        with torch.random.fork_rng():
            torch.manual_seed(cfg.seed)  # the initial weights of `spikeforge train` with this config
            model = build_model(cfg, train.in_channels, self.dataset.num_classes)
            optimizer = loop.make_optimizer(cfg.optimizer, model.parameters(), cfg.lr, cfg.weight_decay)
            total = math.ceil(len(train) / cfg.batch_size) * cfg.epochs
            try:
                state = loop.fit(model, cfg.method, train, optimizer, [_Report(trial)], epochs=cfg.epochs,
                                 batch_size=cfg.batch_size, valid=valid, objective=cfg,
                                 lr_schedule=lambda step: lr_at(cfg, step, total),
                                 generator=torch.Generator().manual_seed(cfg.seed), eval_batch_size=cfg.eval_batch_size)
            except FloatingPointError as exc:  # a diverged training is a result (the worst), not a failure
                trial.set_user_attr("diverged", str(exc))
                raise optuna.TrialPruned(f"diverged: {exc}") from None
            finally:
                trial.set_user_attr("seconds", time.perf_counter() - t0)
        last = state.history[-1]
        # what the choice's tie-break and the refit's check read (Study.best_trial, Study.check_refit)
        trial.set_user_attr("valid_loss", float(last.get("valid_loss", math.nan)))
        trial.set_user_attr("train_accuracy", float(last.get("train_accuracy", math.nan)))
        return float(last["valid_accuracy"])

    def run(self, *, log: Callable[[str], None] | None = None, threads: int | None = None) -> str:
        """Run trials until ``settings.trials`` are finished or the budget is spent; returns ``"finished"``
        (all trials done) or ``"budget"``. Ctrl-C propagates (the study stays resumable)."""
        remaining = self.settings.trials - len(self.finished())
        if remaining <= 0:
            return "finished"
        budget = self.settings.budget
        left = None if budget is None else budget - self.seconds()
        if left is not None and left <= 0:
            return "budget"
        spent_before, t0 = self.seconds(), time.perf_counter()

        def after_trial(study: Any, trial: Any) -> None:
            study.set_user_attr("seconds", spent_before + time.perf_counter() - t0)
            if log is not None:
                log(self._trial_line(trial))

        before = torch.get_num_threads()
        torch.set_num_threads(threads or self.config.threads)
        try:
            with _quiet_optuna():
                self.study.optimize(self._objective, n_trials=remaining, timeout=left, callbacks=[after_trial],
                                    catch=(), gc_after_trial=False)
        finally:
            torch.set_num_threads(before)
            self.write_summary()
        return "finished" if len(self.finished()) >= self.settings.trials else "budget"

    def _trial_line(self, trial: Any) -> str:
        from optuna.trial import TrialState

        done = len(self.finished())
        state = trial.state.name.lower()
        value = (f"valid {trial.value:.4f}" if trial.state == TrialState.COMPLETE else
                 f"pruned at epoch {trial.user_attrs.get('pruned_at_epoch', '?')}"
                 if "diverged" not in trial.user_attrs else "diverged")
        best = self.best_trial()
        best_text = "" if best is None else f"  chosen {best.value:.4f} (trial {best.number})"
        return (f"trial {done}/{self.settings.trials}  #{trial.number} {state:<8} {value:<22}"
                f"{trial.user_attrs.get('candidate', '')}  {trial.user_attrs.get('seconds', 0.0):.1f} s{best_text}")

    # -------------------------------------------------------------------------------------------- results
    def best_trial(self) -> Any | None:
        """The complete trial chosen by ``--model auto``'s one-standard-error rule
        (:func:`spikeforge.learn.auto.ranking`), trial numbers as the list order: of the trials whose validation
        accuracy lies within one standard error of the highest (on the validation split's size), the earliest,
        so the warm-start trials (auto's prior) and then the earlier draws win a lead within the noise of a small
        split; None before a trial completed."""
        from optuna.trial import TrialState

        from spikeforge.learn.auto import ranking

        done = {t.number: t for t in self.study.trials if t.state == TrialState.COMPLETE}
        if not done:
            return None
        results = {k: (float(t.value), _finite(t.user_attrs.get("valid_loss"))) for k, t in done.items()}
        return done[ranking(results, int(self.validation.get("valid_size") or 1))[0]]

    def highest_trial(self) -> Any | None:
        """The complete trial of the highest validation accuracy (the earliest of equals), or None."""
        from optuna.trial import TrialState

        done = [t for t in self.study.trials if t.state == TrialState.COMPLETE]
        return min(done, key=lambda t: (-t.value, t.number)) if done else None

    @property
    def refits(self) -> bool:
        """Whether the best run trains on the whole training split: ``settings.refit`` and a validation split
        carved from it (a data set's own validation split is never folded in)."""
        return self.settings.refit and self.validation.get("source") == "carved"

    def refit_failed(self) -> dict[int, float]:
        """The trials whose refit failed to train (:meth:`check_refit`), kept in the study: trial number ->
        the refit's final training accuracy."""
        return {int(k): float(v) for k, v in self.study.user_attrs.get("refit_failed", {}).items()}

    def best_refits(self) -> bool:
        """Whether the best run of the chosen trial trains on the whole training split: :attr:`refits`, unless
        that trial's refit failed to train (then it trains as its trial)."""
        return self._refit_of(self.best_trial())

    def _refit_of(self, best: Any | None) -> bool:
        return self.refits and best is not None and best.number not in self.refit_failed()

    def check_refit(self, train_accuracy: float | None) -> bool:
        """After the chosen trial's refit: True when its final training accuracy is within
        :data:`REFIT_DROP` of its trial's (or either is unknown); else the trial is recorded as
        :meth:`refit_failed` (so :meth:`best_config` is then its trial's own, also after a resume) and False.
        A refit that ends far below its trial on the data it trains on failed to optimise (a recurrent network
        that never leaves chance, say): the validation split that could tell is inside it."""
        best = self.best_trial()
        if not self._refit_of(best):
            return True
        before = best.user_attrs.get("train_accuracy")
        if train_accuracy is None or before is None or not (math.isfinite(before) and math.isfinite(train_accuracy)):
            return True
        if train_accuracy >= before - REFIT_DROP:
            return True
        failed = {str(k): v for k, v in self.refit_failed().items()}
        self.study.set_user_attr("refit_failed", {**failed, str(best.number): float(train_accuracy)})
        self.write_summary()
        return False

    def best_config(self) -> TrainConfig:
        """The config of the best run: the chosen trial's (:meth:`trial_config`) for :meth:`best_epochs`, with
        ``valid_fraction`` 0 when it :meth:`best_refits` (each epoch then passes over the carve and the validation
        split together)."""
        return self._config_of(self.best_trial())

    def best_epochs(self) -> int:
        """The best run's epochs, as ``--model auto`` sets its winner's: ``max(trial epochs, ceil(final_steps /
        batches per epoch of the carve))``, cut to the epochs that fit in the study's budget (seconds; none: no
        cut) at the trial's measured seconds per epoch (scaled by the samples the best run trains on), never
        below the trial's epochs. A trial is the study's first rung: on a small training set its epochs give a
        few hundred steps (``min_steps``), and the configuration chosen on them still gains from more."""
        return self.best_config().epochs

    def _epochs_of(self, best: Any, cfg: TrainConfig) -> int:
        batches = math.ceil(len(self.dataset.train) / cfg.batch_size)
        wanted = max(cfg.epochs, math.ceil(self.settings.final_steps / batches))
        seconds = best.user_attrs.get("seconds")
        if wanted == cfg.epochs or self.settings.budget is None or not seconds:
            return wanted
        samples = len(self.dataset.train) + (len(self.dataset.valid) if self._refit_of(best) else 0)
        per_epoch = float(seconds) / cfg.epochs * samples / len(self.dataset.train)
        return max(cfg.epochs, min(wanted, int(self.settings.budget // max(per_epoch, 1e-9))))

    def _config_of(self, best: Any | None) -> TrainConfig:
        if best is None:
            detail = f"no trial of {self.out} completed (all pruned or failed); run more trials with --resume"
            raise about("trials", ValueError(f"trials: {detail}"), detail)
        cfg = self.trial_config(best.params)
        cfg = cfg.replace(epochs=self._epochs_of(best, cfg))
        return cfg.replace(valid_fraction=0.0) if self._refit_of(best) else cfg

    def best_trained_on(self) -> str:
        """What the best run trains on, in words (``study.json`` ``best.trained_on``)."""
        return self._trained_on(self.best_trial())

    def _trained_on(self, best: Any | None) -> str:
        if self._refit_of(best):
            return ("the whole training split: the carve and the validation split the study chose on (refit; the "
                    "test split is still untouched)")
        if self.refits and best is not None:
            return (f"the carved training split, as its trial: its refit failed to train (training accuracy "
                    f"{self.refit_failed()[best.number]:.3f}, more than {REFIT_DROP:g} below its trial's "
                    f"{best.user_attrs.get('train_accuracy', math.nan):.3f})")
        return ("the carved training split, as its trial (the validation split stays held out)"
                if self.validation.get("source") == "carved" else "the training split, as its trial")

    def summary(self) -> dict[str, Any]:
        best = self.best_trial()
        trials = [{"number": t.number, "state": t.state.name.lower(), "valid_accuracy": t.value,
                   "params": t.params, "candidate": t.user_attrs.get("candidate"),
                   "seconds": t.user_attrs.get("seconds"), "pruned_at_epoch": t.user_attrs.get("pruned_at_epoch"),
                   "epochs_reported": len(t.intermediate_values)} for t in self.study.trials]
        return {"trials_wanted": self.settings.trials, "trials_finished": len(self.finished()),
                "budget_seconds": self.settings.budget, "seconds": self.seconds(), "validation": self.validation,
                "sampler": f"TPESampler(seed={self.sampler_seed}, n_startup_trials={self.settings.random_trials})",
                "pruner": f"MedianPruner(n_startup_trials={self.settings.startup_trials}, "
                          f"n_warmup_steps={self.settings.warmup_epochs})",
                "best": None if best is None else {"number": best.number, "valid_accuracy": best.value,
                                                   "params": best.params, "refit": self._refit_of(best),
                                                   "rule": CHOICE_RULE, "highest": self.highest_trial().number,
                                                   "trained_on": self._trained_on(best),
                                                   "config": self._config_of(best).to_dict()},
                "trials": trials}

    def write_summary(self) -> Path:
        path = self.out / "study.json"
        atomic_write_text(path, json.dumps(self.summary(), indent=2) + "\n")
        return path

    def plot(self) -> list[Path]:
        """``plots/optimization_history.png`` and ``plots/param_importances.png`` (optuna.visualization.matplotlib;
        with fewer than two complete trials the importances picture says why there are none)."""
        import matplotlib

        matplotlib.use("Agg", force=True)  # as spikeforge.learn.plots draws (files only)
        import matplotlib.pyplot as plt

        folder = self.out / "plots"
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        with _quiet_optuna() as optuna, warnings.catch_warnings():
            # trials of equal value (warm-started ones that tie, a tiny validation split): optuna warns that
            # the importances are then equal, which the picture itself shows
            warnings.filterwarnings("ignore", message="Target and region quantiles select the same set",
                                    category=UserWarning)
            vis = optuna.visualization.matplotlib
            for name, draw in (("optimization_history", vis.plot_optimization_history),
                               ("param_importances", vis.plot_param_importances)):
                try:
                    ax = draw(self.study)
                    fig = ax.figure
                except (ValueError, RuntimeError, ZeroDivisionError) as exc:
                    fig, ax = plt.subplots(figsize=(6, 2.5))
                    ax.axis("off")
                    ax.text(0.5, 0.5, f"{name.replace('_', ' ')}: not available\n({exc})", ha="center",
                            va="center", wrap=True)
                fig.tight_layout()
                path = folder / f"{name}.png"
                tmp = path.with_name(path.name + ".tmp")
                fig.savefig(tmp, format="png", dpi=110)
                tmp.replace(path)  # atomic: a reader sees the old picture or the new one
                plt.close(fig)
                paths.append(path)
        return paths


def write_report(study: Study, out: str | Path | None = None) -> Path:
    """``DIR/report.html``: one self-contained page of the study (the two pictures embedded, every trial, the
    best configuration, a link to the best run's own report)."""
    import base64
    import html

    out = study.out / "report.html" if out is None else Path(out)
    s = study.summary()
    e = html.escape
    figures = []
    for name in ("optimization_history", "param_importances"):
        path = study.out / "plots" / f"{name}.png"
        if path.is_file():
            data = base64.b64encode(path.read_bytes()).decode("ascii")
            figures.append(f'<figure><img alt="{name}" src="data:image/png;base64,{data}"></figure>')
    rows = "".join(
        f"<tr><td>{t['number']}</td><td>{e(t['state'])}</td><td>"
        f"{'' if t['valid_accuracy'] is None else format(t['valid_accuracy'], '.4f')}</td>"
        f"<td>{e(str(t['candidate'] or ''))}</td><td>{t['epochs_reported']}</td>"
        f"<td>{'' if t['seconds'] is None else format(t['seconds'], '.1f')}</td></tr>" for t in s["trials"])
    best = s["best"]
    best_html = ("<p>No trial completed.</p>" if best is None else
                 f"<p>Best: trial {best['number']}, validation accuracy {best['valid_accuracy']:.4f}; trained in "
                 f'<a href="best/report.html">best/</a> on {e(best["trained_on"])}.</p>'
                 f'<pre>{e(json.dumps(best["params"], indent=2))}</pre>')
    budget = "none" if s["budget_seconds"] is None else f"{s['budget_seconds']:g} s"
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>spikeforge tune {e(str(study.out))}</title>"
            "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}td,th{padding:0 .6em;"
            "text-align:right}img{max-width:100%}</style></head><body>"
            f"<h1>spikeforge tune: {e(study.dataset.name)}</h1>"
            f"<p>{s['trials_finished']} of {s['trials_wanted']} trials finished, {s['seconds']:.0f} s (budget "
            f"{budget}); {e(s['sampler'])}, {e(s['pruner'])}; chosen on a validation split of "
            f"{s['validation'].get('valid_size')} samples carved from the training data (the test split is "
            f"evaluated once, in the best run).</p>{best_html}{''.join(figures)}"
            "<table><tr><th>trial</th><th>state</th><th>valid accuracy</th><th>candidate</th><th>epochs</th>"
            f"<th>seconds</th></tr>{rows}</table></body></html>\n")
    atomic_write_text(out, page)
    return out


def _finite(value: Any) -> float:
    """A recorded loss, or +inf where none was (a study from before it was recorded; a non-finite one)."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return math.inf
    return value if math.isfinite(value) else math.inf


def _settings_path(out: Path) -> Path:
    return out / SETTINGS


def _fixed_choices(config: TrainConfig, dataset: Any) -> tuple[bool, bool, bool]:
    """``(fixed_encoder, renormalize, downsample)`` of a study: whether the user named the encoder, and whether
    the search may try instance normalisation and downsampling (as ``--model auto``: unless ``--normalize`` /
    ``--downsample`` named other than the defaults)."""
    fixed = not (isinstance(config.encoder, str) and config.encoder == "default")
    return fixed, may_renormalize(config, dataset), may_downsample(config, dataset)


def _load(out: Path, settings: TuneSettings, *, create: bool) -> Study:
    from spikeforge.learn.trainer import load_training_data

    with _quiet_optuna() as optuna:
        storage = optuna.storages.RDBStorage(f"sqlite:///{(out / STUDY_DB).resolve()}")
        config = settings.train_config()
        dataset, _, validation = load_training_data(config)
        if dataset.valid is None:
            detail = "tune chooses on a validation split carved from the training data: expected a number in (0, 1)"
            raise about("valid_fraction", ValueError(f"valid_fraction: {detail}, got 0"), f"{detail}, got 0")
        if create:
            study = optuna.create_study(storage=storage, study_name=STUDY_NAME, direction="maximize")
            study.set_user_attr("seconds", 0.0)
            study.set_user_attr("requeued", [])
            fixed, renorm, down = _fixed_choices(config, dataset)
            shape = DataShape.of(dataset, train_size=len(dataset.train))
            warm = min(settings.warm_start, settings.trials - 1)  # at least one trial sampled by TPE
            for cand in candidates(shape, fixed_encoder=fixed, normalize=renorm, downsample=down)[:warm]:
                # every dimension named: a missing one (the run's own data) would be drawn by the sampler
                study.enqueue_trial(trial_params(cand, shape, normalize=renorm, downsample=down))
        else:
            study = optuna.load_study(storage=storage, study_name=STUDY_NAME)
            _requeue_interrupted(study)
        # a resumed session draws on, not the first trials again (warm-start trials still waiting are not draws)
        seed = config.seed + sum(t.state != optuna.trial.TrialState.WAITING for t in study.trials)
        study.sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=settings.random_trials)
        study.pruner = optuna.pruners.MedianPruner(n_startup_trials=settings.startup_trials,
                                                   n_warmup_steps=settings.warmup_epochs)
    return Study(out, settings, study, dataset, validation, seed)


def _requeue_interrupted(study: Any) -> None:
    """Trials a killed process left RUNNING become FAIL; those and the ones failed by an interruption get their
    parameters queued again, once each (``requeued`` in the study's user attributes)."""
    from optuna.trial import TrialState

    requeued = list(study.user_attrs.get("requeued", []))
    for t in study.trials:
        if t.state == TrialState.RUNNING:  # its process is gone (this session has not started one yet)
            study.tell(t.number, state=TrialState.FAIL)
        if t.state in (TrialState.RUNNING, TrialState.FAIL) and t.number not in requeued and t.params:
            study.enqueue_trial(t.params, skip_if_exists=False)
            requeued.append(t.number)
    study.set_user_attr("requeued", requeued)


def create_study(out: str | Path, config: TrainConfig, trials: int, budget: float | None = None, *,
                 overwrite: bool = False, min_steps: int | None = None, warm_start: int | None = None,
                 refit: bool = True, final_steps: int | None = None) -> Study:
    """A new study in ``out`` (refuses a folder that holds one, unless ``overwrite``). ``min_steps``: the
    optimisation steps every trial gets at least (default :data:`MIN_STEPS`);
    ``warm_start``: how many of ``--model auto``'s candidates (in its order) are the first trials (default
    :data:`WARM_START`); ``refit``: the best run trains on the whole training split (:meth:`Study.best_config`);
    ``final_steps``: the optimisation steps the best run gets at least (default auto's
    :data:`~spikeforge.learn.auto.FINAL_STEPS`; :meth:`Study.best_epochs`)."""
    out = Path(out)
    settings = TuneSettings.for_config(config, trials, budget, min_steps=min_steps, warm_start=warm_start,
                                       refit=refit, final_steps=final_steps)
    if out.exists() and not out.is_dir():
        detail = f"{out} is a file; expected a folder for the study (new, or empty)"
        raise about("out", FileExistsError(f"out: {detail}"), detail)
    if (_settings_path(out).exists() or (out / STUDY_DB).exists()) and not overwrite:
        detail = (f"{out} already holds a study; continue it with 'spikeforge tune --resume {out}', or pass "
                  "--overwrite to replace it")
        raise about("out", FileExistsError(f"out: {detail}"), detail)
    out.mkdir(parents=True, exist_ok=True)
    for name in (STUDY_DB, SETTINGS, "study.json"):
        (out / name).unlink(missing_ok=True)
    study = _load(out, settings, create=True)
    atomic_write_text(_settings_path(out), json.dumps(asdict(settings), indent=2) + "\n")
    return study


def open_study(out: str | Path) -> Study:
    """The study of folder ``out`` as it was left (its own settings), ready to :meth:`Study.run` on."""
    out = Path(out)
    if not is_study(out):
        what = "does not exist" if not out.exists() else f"has no {SETTINGS} and {STUDY_DB}"
        detail = f"{out} {what}; expected a study folder written by 'spikeforge tune --out DIR'"
        raise about("resume", FileNotFoundError(f"resume: {detail}"), detail)
    try:
        data = json.loads(_settings_path(out).read_text())
        settings = TuneSettings(**data)
    except (json.JSONDecodeError, TypeError) as exc:
        detail = f"{_settings_path(out)} is not a study's settings ({exc})"
        raise about("resume", ValueError(f"resume: {detail}"), detail) from None
    if settings.version != SETTINGS_VERSION:
        detail = f"{_settings_path(out)}: version {settings.version}, expected {SETTINGS_VERSION}"
        raise about("resume", ValueError(f"resume: {detail}"), detail)
    return _load(out, settings, create=False)

"""Training: losses on the readout, training methods (BPTT), the plain loop, the run-folder trainer and its
reports.

:func:`fit` (``fit(model, "bptt", data, optimizer, callbacks)``) is the plain loop: no files, no terminal.
``Trainer(config, out).fit()`` trains into a run folder on top of it; :func:`load_run` gives back the trained
model; ``spikeforge train / evaluate / resume / report`` are the command-line face of this package.
"""

from spikeforge.learn.checkpoint import load_checkpoint, save_checkpoint
from spikeforge.learn.config import TrainConfig, load_config
from spikeforge.learn.conversion import convert
from spikeforge.learn.loop import Callback, LoopState, Objective, evaluate, fit, make_optimizer
from spikeforge.learn.losses import LOSSES, REDUCTIONS, SPIKE_LOSSES, classification_loss, rate_penalty, readout_logits
from spikeforge.learn.methods import METHODS, Method, StepResult, method_named, methods
from spikeforge.learn.methods.bptt import bptt_step
from spikeforge.learn.models import build_model
from spikeforge.learn.trainer import Trainer, evaluate_model, evaluate_run, load_run

__all__ = [
    "LOSSES",
    "METHODS",
    "REDUCTIONS",
    "SPIKE_LOSSES",
    "Callback",
    "LoopState",
    "Method",
    "Objective",
    "StepResult",
    "TrainConfig",
    "Trainer",
    "bptt_step",
    "build_model",
    "classification_loss",
    "convert",
    "evaluate",
    "evaluate_model",
    "evaluate_run",
    "fit",
    "load_checkpoint",
    "load_config",
    "load_run",
    "make_optimizer",
    "method_named",
    "methods",
    "rate_penalty",
    "readout_logits",
    "save_checkpoint",
]

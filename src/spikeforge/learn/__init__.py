"""Training: losses on the readout, training methods (BPTT), the run-folder trainer and its reports.

``Trainer(config, out).fit()`` trains into a run folder; :func:`load_run` gives back the trained model;
``spikeforge train / evaluate / resume / report`` are the command-line face of this package.
"""

from spikeforge.learn.bptt import METHODS, StepResult, bptt_step
from spikeforge.learn.checkpoint import load_checkpoint, save_checkpoint
from spikeforge.learn.config import TrainConfig, load_config
from spikeforge.learn.losses import REDUCTIONS, classification_loss, readout_logits
from spikeforge.learn.models import build_model
from spikeforge.learn.trainer import Trainer, evaluate_run, load_run

__all__ = [
    "METHODS",
    "REDUCTIONS",
    "StepResult",
    "TrainConfig",
    "Trainer",
    "bptt_step",
    "build_model",
    "classification_loss",
    "evaluate_run",
    "load_checkpoint",
    "load_config",
    "load_run",
    "readout_logits",
    "save_checkpoint",
]

"""The BPTT step, where it was before the methods became plug-ins (see :mod:`spikeforge.learn.methods.bptt`)."""

from spikeforge.learn.methods import METHODS, StepResult
from spikeforge.learn.methods.bptt import bptt_step

__all__ = ["METHODS", "StepResult", "bptt_step"]

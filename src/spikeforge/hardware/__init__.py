"""Neuromorphic hardware: catalogs, op counts, energy, fit, lint, efficiency chart."""

from spikeforge.hardware.catalog import accelerator, accelerators, human_brain, platform, platforms
from spikeforge.hardware.chart import efficiency_chart, projections
from spikeforge.hardware.counts import count_ops
from spikeforge.hardware.energy import cross_calibration, energy
from spikeforge.hardware.fit import fit, fit_all
from spikeforge.hardware.lint import fold_batchnorm, lint

__all__ = [
    "accelerator",
    "accelerators",
    "count_ops",
    "cross_calibration",
    "efficiency_chart",
    "energy",
    "fit",
    "fit_all",
    "fold_batchnorm",
    "human_brain",
    "lint",
    "platform",
    "platforms",
    "projections",
]

"""Neuromorphic hardware: catalogs, op counts, energy, fit, lint, efficiency chart."""

from spikeforge.hardware.catalog import accelerator, accelerators, human_brain, platform, platforms

__all__ = ["accelerator", "accelerators", "human_brain", "platform", "platforms"]

"""Which neurons exist, asked of their declarations: the names a training config, the CLI and hardware fit accept.

:func:`neuron_classes` finds them on every call (nothing is registered or cached):

* the presets of the general neuron -- the subclasses of :class:`~spikeforge.neuron.Neuron` defined in
  :mod:`spikeforge.neuron.modules` (``LIF``, ``CuBaLIF``, ...);
* every declared model (a :class:`~spikeforge.neuron.models.ModelNeuron` subclass that sets ``model``) in a
  module of the package :mod:`spikeforge.neuron.models` -- adding a model is adding one file there;
* models of other packages, declared under the entry-point group ``spikeforge.neurons``
  (``[project.entry-points."spikeforge.neurons"] MyNeuron = "mypkg.neurons:MyNeuron"``).
"""

from __future__ import annotations

import importlib
import pkgutil

from spikeforge._plugins import entry_point_objects
from spikeforge.neuron import modules
from spikeforge.neuron.models import base

__all__ = ["ENTRY_POINT_GROUP", "neuron_classes"]

ENTRY_POINT_GROUP = "spikeforge.neurons"


def _is_model(obj: object) -> bool:
    return isinstance(obj, type) and issubclass(obj, base.ModelNeuron) and "model" in vars(obj)


def neuron_classes() -> dict[str, type]:
    """``{name: class}`` of every neuron a config may name, presets first, then declared models by name."""
    found: dict[str, type] = {}
    for obj in vars(modules).values():
        if isinstance(obj, type) and issubclass(obj, modules.Neuron) and obj is not modules.Neuron \
                and obj.__module__ == modules.__name__:
            found[obj.__name__] = obj
    package = importlib.import_module("spikeforge.neuron.models")
    declared: dict[str, type] = {}
    for info in pkgutil.iter_modules(package.__path__, package.__name__ + "."):
        mod = importlib.import_module(info.name)
        for obj in vars(mod).values():
            if _is_model(obj) and obj.__module__ == mod.__name__:
                declared[obj.__name__] = obj
    for name, obj in entry_point_objects(
            ENTRY_POINT_GROUP, lambda o: _is_model(o) or (isinstance(o, type) and issubclass(o, modules.Neuron)),
            "a neuron class (a spikeforge.Neuron or a declared ModelNeuron)"):
        declared.setdefault(name, obj)
    for name in sorted(declared):
        found.setdefault(name, declared[name])
    return found

"""Interoperability: the Neuromorphic Intermediate Representation (NIR).

:func:`to_nir` exports a model to a ``nir.NIRGraph``, :func:`write_nir` writes it to a ``.nir`` file
(atomically), :func:`from_nir` builds a model from a graph or a file. The mapping between spikeforge's
discrete dynamics and NIR's continuous equations, and the conventions of other tools, are in docs/nir.md.
The ``nir`` package is one of spikeforge's dependencies.
"""

from spikeforge.interop import layers
from spikeforge.interop.layers import AvgPool2d, CubaIntegrator, Delay, Integrator, Scale, SumPool2d, Threshold
from spikeforge.interop.nir_export import to_nir, write_nir
from spikeforge.interop.nir_import import from_nir, read_nir

__all__ = [
    "AvgPool2d",
    "CubaIntegrator",
    "Delay",
    "Integrator",
    "Scale",
    "SumPool2d",
    "Threshold",
    "from_nir",
    "layers",
    "read_nir",
    "to_nir",
    "write_nir",
]

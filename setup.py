"""Builds the optional C kernels (``spikeforge/kernels/_ckernels.c``); all metadata lives in pyproject.toml.

The extension is optional: without a working C compiler the install still succeeds and spikeforge uses its
numba or pure-torch kernels (``spikeforge.kernels._cpu``). Flags: ``-ffp-contract=off`` keeps every
multiply and add rounded separately (the potentials equal torch's bit for bit), ``-fno-trapping-math`` lets
the compare ``v* ≥ θ`` become a vector select.
"""

import sys

from setuptools import Extension, setup

ARGS = [] if sys.platform == "win32" else ["-O3", "-ffp-contract=off", "-fno-trapping-math", "-std=c11"]

setup(ext_modules=[Extension("spikeforge.kernels._ckernels", ["src/spikeforge/kernels/_ckernels.c"],
                             extra_compile_args=ARGS, optional=True)])

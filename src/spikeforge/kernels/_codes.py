"""The one place that holds the integer codes the compiled kernels (C, numba, Triton) use for resets and
firing models, and the features each compiled backend declares (:mod:`spikeforge.neuron.features`)."""

from __future__ import annotations

from spikeforge.neuron.features import BUILTIN_FIRING
from spikeforge.neuron.firing import Cauchy, FiringModel, Gaussian, Heaviside, Logistic

__all__ = ["FAST_FEATURES", "FIRING_CODE", "RESET_CODE", "TRITON_FEATURES", "firing_code"]

RESET_CODE = {"none": 0, "soft": 1, "hard": 2}
FIRING_CODE = {Heaviside: 0, Gaussian: 1, Cauchy: 2, Logistic: 3}  # -1: any other model (pdf from torch)
assert set(FIRING_CODE) == set(BUILTIN_FIRING)

_IFR = "order:integrate-fire-reset"
_RESETS = frozenset(f"reset:{r}" for r in RESET_CODE)
_FIRINGS = frozenset(f"firing:{c.__name__}" for c in FIRING_CODE)

#: The compiled LIF path (:mod:`spikeforge.kernels.fast_lif`): real, binary, deterministic, one order,
#: soft/hard/no reset, any firing model (an unknown one's density is evaluated with torch).
FAST_FEATURES = frozenset({"real", "binary", "deterministic", "detach-reset", _IFR, "firing:custom"}) | _RESETS \
    | _FIRINGS
#: The Triton scan (:mod:`spikeforge.kernels.triton_scan`): also complex, graded and stochastic neurons, the
#: four built-in firing models only.
TRITON_FEATURES = frozenset({"real", "complex", "complex-input", "binary", "graded", "deterministic",
                             "stochastic", "detach-reset", _IFR}) | _RESETS | _FIRINGS


def firing_code(firing: FiringModel) -> tuple[int, float]:
    """``(code, sigma)`` of a firing model for the compiled kernels; ``(-1, 1.0)`` for any other model."""
    code = FIRING_CODE.get(type(firing), -1)
    return code, (getattr(firing, "sigma", 1.0) if code > 0 else 1.0)

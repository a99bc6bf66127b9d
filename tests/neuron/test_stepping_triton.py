"""``step`` and ``record`` with the Triton backend, run on the CPU under Triton's interpreter (as
tests/kernels/test_triton_scan.py: the flag is set before the kernels are first imported)."""

import importlib
import importlib.util
import os

import pytest
import torch

if importlib.util.find_spec("triton") is None:  # pragma: no cover - depends on the environment
    pytest.skip("triton is not installed (pip install triton): the Triton scan cannot be checked",
                allow_module_level=True)
os.environ["TRITON_INTERPRET"] = "1"

import spikeforge as sf

ts = importlib.import_module("spikeforge.kernels.triton_scan")
if not ts.available("cpu"):  # pragma: no cover
    pytest.skip("triton is installed but its interpreter cannot run here", allow_module_level=True)

CASES = {
    "soft": dict(tau=5.0, firing=sf.Gaussian(0.4)),
    "graded hard": dict(tau=6.0, max_spikes=3, threshold=0.5, reset="hard", firing=sf.Cauchy(0.3)),
    "complex": dict(tau=5.0, omega=0.7, firing=sf.Logistic(0.2)),
    "stochastic": dict(tau=5.0, stochastic=True, firing=sf.Gaussian(0.4)),
}


@pytest.mark.parametrize("name", list(CASES))
def test_triton_step_loop_and_record_equal_the_sequence_call(name):
    n = sf.Neuron(**CASES[name], backend="triton")
    x = torch.randn(10, 2, 3, generator=torch.Generator().manual_seed(0)) * 0.8 + 0.5
    assert ts.supports(x, n.initial_state(x), n.params(x.dtype, x.device), n.spec,
                       None if not n.spec.stochastic else x, [n.spec.order] * 10, None)
    whole, final = n(x, return_state=True, generator=torch.Generator().manual_seed(1))
    g, out, state = torch.Generator().manual_seed(1), [], None
    for t in range(x.shape[0]):
        s, state = sf.step(n, x[t], state, generator=g)
        out.append(s)
    assert torch.equal(torch.stack(out), whole)
    for a, b in zip(state, final):
        assert (a is None and b is None) or torch.equal(a, b)
    r = sf.record(n, x, fields=("v", "v_star"), generator=torch.Generator().manual_seed(1))
    # the counts exactly; a complex spike's phase v*/|v*| up to the kernel's rounding
    assert torch.equal(r.spikes.abs().round(), whole.abs().round())
    torch.testing.assert_close(r.spikes, whole, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(r.state.v, final.v, rtol=1e-5, atol=1e-6)

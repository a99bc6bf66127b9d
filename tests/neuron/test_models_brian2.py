"""ExpIF, AdEx and Izhikevich against Brian2: the same input current (a step and a noisy current), the same dt
(0.1 ms) and the same integration method (forward Euler, Brian2's ``method="euler"``), 1 s of simulated time;
spike times must agree within one step. Brian2 runs its ``numpy`` code generation target (no compilation), in
its own physical units (volt, amp, farad, siemens) for ExpIF and AdEx.

``python tests/neuron/test_models_brian2.py`` prints the comparison table of docs/neuron-models.md.
"""

import warnings

import numpy as np
import pytest
import torch

from spikeforge.neuron.models import AdEx, ExpIF, Izhikevich
from spikeforge.neuron.models.izhikevich import PRESETS

with warnings.catch_warnings():  # brian2 2.9 calls pyparsing's deprecated camelCase names
    warnings.simplefilter("ignore")
    import brian2 as b2

DT = 0.1  # ms
STEPS = 10_000  # 1 s
# the Brian2 group of each model: (spikeforge module, its Brian2 equations, threshold, reset, Brian2 constants)
ADEX_EQS = """dv/dt = (-g_L*(v - E_L) + g_L*Delta_T*exp((v - V_T)/Delta_T) - w + I_in(t, i))/C : volt
dw/dt = (a*(v - E_L) - w)/tau_w : amp"""
EXPIF_EQS = "dv/dt = (-g_L*(v - E_L) + g_L*Delta_T*exp((v - V_T)/Delta_T) + I_in(t, i))/C : volt"
IZH_EQS = """dv/dt = (0.04*v**2 + 5*v + 140 - u + I_in(t, i))/ms : 1
du/dt = a*(b*v - u)/ms : 1
a : 1
b : 1
c : 1
d : 1"""
BRETTE_GERSTNER = {
    "C": 281 * b2.pF, "g_L": 30 * b2.nS, "E_L": -70.6 * b2.mV, "V_T": -50.4 * b2.mV, "Delta_T": 2 * b2.mV,
    "tau_w": 144 * b2.ms, "a": 4 * b2.nS, "b": 80.5 * b2.pA, "V_reset": -70.6 * b2.mV, "V_peak": -40.4 * b2.mV,
}
NAMES = tuple(PRESETS)  # regular_spiking, intrinsically_bursting, chattering, fast_spiking


@pytest.fixture(autouse=True)
def numpy_target():
    old = b2.prefs.codegen.target
    b2.prefs.codegen.target = "numpy"
    yield
    b2.prefs.codegen.target = old


def brian2_spike_steps(eqs, current, threshold, reset, constants, init, unit):
    """Spike step indices of each neuron of a Brian2 group driven by ``current [steps, n]`` (in ``unit``)."""
    n = current.shape[1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        namespace = {"I_in": b2.TimedArray(current * unit, dt=DT * b2.ms), **constants}
        group = b2.NeuronGroup(n, eqs, threshold=threshold, reset=reset, method="euler", dt=DT * b2.ms,
                               namespace=namespace)
        for name, value in init.items():
            setattr(group, name, value)
        monitor = b2.SpikeMonitor(group)
        b2.Network(group, monitor).run(current.shape[0] * DT * b2.ms, namespace={})
        steps = np.rint(np.asarray(monitor.t / b2.ms) / DT).astype(int)
        index = np.asarray(monitor.i)
    return [np.sort(steps[index == k]) for k in range(n)]


def spikeforge_spike_steps(neuron, current, dtype=torch.float64):
    """Spike step indices of each neuron, the ``current [steps, n]`` given as a batch of one ``[steps, 1, n]``."""
    spikes = neuron(torch.tensor(current, dtype=dtype)[:, None, :])[:, 0, :]
    return [np.nonzero(spikes[:, k].numpy())[0] for k in range(current.shape[1])]


def max_step_difference(ours, theirs):
    """Spike counts and the largest difference of matching spike times, in steps, per neuron."""
    rows = []
    for a, b in zip(ours, theirs):
        k = min(len(a), len(b))
        rows.append((len(a), len(b), int(np.abs(a[:k] - b[:k]).max()) if k else 0))
    return rows


def expif_case():
    rng = np.random.default_rng(1)
    current = np.stack([np.full(STEPS, 700.0), np.full(STEPS, 1500.0), 600 + 300 * rng.standard_normal(STEPS)], 1)
    theirs = brian2_spike_steps(EXPIF_EQS, current, "v >= V_peak", "v = V_reset", BRETTE_GERSTNER,
                                {"v": -70.6 * b2.mV}, b2.pA)
    return current, theirs, lambda dtype: spikeforge_spike_steps(ExpIF(dtype=dtype), current, dtype)


def adex_case():
    rng = np.random.default_rng(2)
    current = np.stack([np.full(STEPS, 800.0), np.full(STEPS, 1500.0), 700 + 300 * rng.standard_normal(STEPS)], 1)
    theirs = brian2_spike_steps(ADEX_EQS, current, "v >= V_peak", "v = V_reset; w += b", BRETTE_GERSTNER,
                                {"v": -70.6 * b2.mV}, b2.pA)
    return current, theirs, lambda dtype: spikeforge_spike_steps(AdEx(dtype=dtype), current, dtype)


def izhikevich_case(fs_step=15.0):
    """The four presets, each with a step current (10, as in the paper; FS ``fs_step``) and a noisy current."""
    rng = np.random.default_rng(3)
    step = np.full((STEPS, 4), 10.0)
    step[:, NAMES.index("fast_spiking")] = fs_step
    current = np.concatenate([step, 10 + 10 * rng.standard_normal((STEPS, 4))], 1)
    abcd = {k: np.array([PRESETS[n][k] for n in NAMES] * 2) for k in "abcd"}
    theirs = brian2_spike_steps(IZH_EQS, current, "v >= 30", "v = c; u += d", {},
                                {**abcd, "v": abcd["c"], "u": abcd["b"] * abcd["c"]}, 1)

    def ours(dtype):
        neuron = Izhikevich(dtype=dtype, **{k: torch.tensor(v) for k, v in abcd.items()})
        return spikeforge_spike_steps(neuron, current, dtype)

    return current, theirs, ours


def test_expif_matches_brian2():
    _, theirs, ours = expif_case()
    rows = max_step_difference(ours(torch.float64), theirs)
    assert [r[0] for r in rows] == [r[1] for r in rows]
    assert all(r[0] >= 10 for r in rows)  # each current drives the neuron well above rheobase
    assert max(r[2] for r in rows) <= 1


def test_adex_matches_brian2():
    _, theirs, ours = adex_case()
    rows = max_step_difference(ours(torch.float64), theirs)
    assert [r[0] for r in rows] == [r[1] for r in rows]
    assert all(r[0] >= 10 for r in rows)
    assert max(r[2] for r in rows) <= 1


def test_izhikevich_presets_match_brian2():
    _, theirs, ours = izhikevich_case()
    rows = max_step_difference(ours(torch.float64), theirs)
    assert [r[0] for r in rows] == [r[1] for r in rows]
    assert all(r[0] >= 20 for r in rows)
    assert max(r[2] for r in rows) <= 1


def test_izhikevich_fast_spiking_at_ten_is_rounding_sensitive():
    """Why the FS step current above is 15, not the paper's 10: at I = 10 and dt = 0.1 ms the FS cell's spike
    times depend on the last bit of the input. Perturbing the current by one part in 1e15 moves spikes of our
    own model by several steps, so no two implementations that round differently can agree within one step
    over 1 s; they agree on the spike count and on the spikes before the first near-tie."""
    _, theirs, ours = izhikevich_case(fs_step=10.0)
    fs = NAMES.index("fast_spiking")
    mine = ours(torch.float64)[fs]
    assert len(mine) == len(theirs[fs])
    first = int(np.argmax(mine != theirs[fs]))
    assert first >= 40 and np.array_equal(mine[:first], theirs[fs][:first])
    neuron = Izhikevich.fast_spiking(dtype=torch.float64)
    x = torch.full((STEPS, 1, 1), 10.0, dtype=torch.float64)
    a = np.nonzero(neuron(x)[:, 0, 0].numpy())[0]
    b = np.nonzero(neuron(x * (1 + 1e-15))[:, 0, 0].numpy())[0]
    assert len(a) == len(b) and np.abs(a - b).max() > 1


if __name__ == "__main__":  # the table of docs/neuron-models.md
    b2.prefs.codegen.target = "numpy"
    labels = {
        "ExpIF": ("step 700 pA", "step 1500 pA", "noisy 600 ± 300 pA"),
        "AdEx": ("step 800 pA", "step 1500 pA", "noisy 700 ± 300 pA"),
        "Izhikevich": tuple(f"{n} step {15 if n == 'fast_spiking' else 10}" for n in NAMES)
        + tuple(f"{n} noisy 10 ± 10" for n in NAMES),
    }
    print("| model | input | spikes (spikeforge / Brian2) | max spike-time difference, float64 | float32 |")
    print("|---|---|---|---|---|")
    for name, case in (("ExpIF", expif_case), ("AdEx", adex_case), ("Izhikevich", izhikevich_case)):
        _, theirs, ours = case()
        r64 = max_step_difference(ours(torch.float64), theirs)
        r32 = max_step_difference(ours(torch.float32), theirs)
        for label, a, b in zip(labels[name], r64, r32):
            f32 = f"{b[2]} steps" if b[0] == b[1] else f"{b[2]} steps, {b[0]} spikes"
            print(f"| {name} | {label} | {a[0]} / {a[1]} | {a[2]} steps | {f32} |")
    _, theirs, ours = izhikevich_case(fs_step=10.0)
    fs = NAMES.index("fast_spiking")
    for dtype in (torch.float64, torch.float32):
        mine = ours(dtype)[fs]
        (count, count_b2, worst), = max_step_difference([mine], [theirs[fs]])
        k = min(len(mine), len(theirs[fs]))
        first = int(np.argmax(mine[:k] != theirs[fs][:k])) if worst else k
        print(f"fast_spiking step 10, {dtype}: {count} / {count_b2} spikes, identical up to spike {first}, "
              f"max difference {worst} steps")

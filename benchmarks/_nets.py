"""The SHD-shaped benchmark network (700→256→256→20, LIF, soft reset) in spikeforge and its peers.

Every builder returns ``(model, forward)`` where ``forward(x) -> (out [T, B, 20], [spikes1, spikes2])``
for input spikes ``x: [T, B, 700]``. All use the same weights (``shared_weights``), the same neuron
(λ = 0.9, θ = 1, subtractive reset) and time-batched synaptic GEMMs (one GEMM per layer and sequence; the
fastest way to use each library). The readout is the last layer's current averaged over time (the loss is
cross-entropy of that mean), so that no library's readout neuron enters the comparison.

Conventions aligned (see docs/performance.md):

* spikeforge default ``order="integrate-fire-reset"``: ``v* = λv + I; s = H(v*-θ); v = v* - θs``.
* SpikingJelly ``LIFNode(tau=10, decay_input=False, v_reset=None)``: ``v* = (1-1/τ)v + I`` -- the same.
* Norse ``LIFBoxCell`` with ``reset_subtract``: ``v* = v + dt/τ (I - v)`` -- the same with the input
  scaled by ``dt/τ = 0.1`` (so Norse gets the weights ×10).
* snnTorch ``Leaky(beta=0.9, reset_mechanism="subtract")`` (default ``reset_delay=True``): the reset of a
  spike is applied one step late and detached, ``v_t = βv_{t-1} + I_t - θ·s_{t-1}`` -- spikeforge's
  ``order="integrate-reset-fire", detach_reset=True``.
* H(0): spikeforge and SpikingJelly fire at ``v* ≥ θ``, snnTorch and Norse at ``v* > θ``; irrelevant with
  continuous weights.
* Surrogates: spikeforge ``Cauchy(σ=1/π)`` = snnTorch/SpikingJelly ``ATan(α=2)``; Norse its default
  SuperSpike (only the backward differs, not the cost).
"""

from __future__ import annotations

import math

import torch
from torch import nn

SIZES = (700, 256, 256, 20)
DECAY = 0.9
THRESHOLD = 1.0
INPUT_RATE = 0.05
BATCH = 32
GAINS = (2.5, 2.0, 1.0)  # weight scale (×1/sqrt(fan_in)) giving ~5-10 % hidden activity


def shared_weights(seed: int = 0, dtype=torch.float32) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    out = []
    for k in range(len(SIZES) - 1):
        fan_in, fan_out = SIZES[k], SIZES[k + 1]
        w = torch.randn(fan_out, fan_in, generator=g, dtype=torch.float64) * (GAINS[k] / math.sqrt(fan_in))
        b = torch.randn(fan_out, generator=g, dtype=torch.float64) * 0.01
        out.append((w.to(dtype), b.to(dtype)))
    return out


def make_input(steps: int, batch: int = BATCH, seed: int = 1, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(steps, batch, SIZES[0], generator=g) < INPUT_RATE).to(dtype)
    y = torch.randint(0, SIZES[-1], (batch,), generator=g)
    return x, y


def _linears(weights, scale: float = 1.0, cls=nn.Linear) -> list[nn.Linear]:
    layers = []
    for w, b in weights:
        lin = cls(w.shape[1], w.shape[0])
        with torch.no_grad():
            lin.weight.copy_(w * scale)
            lin.bias.copy_(b * scale)
        layers.append(lin)
    return layers


def build_spikeforge(weights, *, backend: str = "auto", order: str = "integrate-fire-reset",
                     detach_reset: bool = False, readout_li: bool = False, synapse: str = "auto"):
    import spikeforge
    from spikeforge.neuron.firing import Cauchy
    from spikeforge.synapse import Linear

    # synapse: the Linear mode -- "auto" (default: event-driven below the measured crossover), "dense", "event"
    lins = _linears(weights, cls=lambda k, n: Linear(k, n, mode=synapse))
    neurons = [spikeforge.Neuron(decay=DECAY, threshold=THRESHOLD, reset="soft", firing=Cauchy(1 / math.pi),
                                 order=order, detach_reset=detach_reset, backend=backend) for _ in range(2)]
    model = nn.ModuleList([*lins, *neurons])
    li = None
    if readout_li:
        from spikeforge.neuron.modules import LI
        li = LI(tau=10.0)

    def forward(x):
        s1 = neurons[0](lins[0](x))
        s2 = neurons[1](lins[1](s1))
        out = lins[2](s2)
        if li is not None:
            out = li(out)
        return out, [s1, s2]

    return model, forward


def build_spikeforge_lean(weights, save: str = "bits"):
    """Linear+LIF fused layers that save input spikes as bits and recompute potentials in the backward."""
    import spikeforge
    from spikeforge.kernels.lean import LinearLIF, PackedLinear
    from spikeforge.neuron.firing import Cauchy

    layers = []
    for w, b in weights[:2]:
        neuron = spikeforge.Neuron(decay=DECAY, threshold=THRESHOLD, reset="soft", firing=Cauchy(1 / math.pi))
        layer = LinearLIF(w.shape[1], w.shape[0], neuron, save=save)
        with torch.no_grad():
            layer.linear.weight.copy_(w)
            layer.linear.bias.copy_(b)
        layers.append(layer)
    (w3, b3), = weights[2:]
    readout = PackedLinear(w3.shape[1], w3.shape[0], save=save)
    with torch.no_grad():
        readout.weight.copy_(w3)
        readout.bias.copy_(b3)
    model = nn.ModuleList([*layers, readout])

    def forward(x):
        s1 = layers[0](x)
        s2 = layers[1](s1)
        return readout(s2), [s1, s2]

    return model, forward


def build_snntorch(weights):
    import snntorch as snn
    from snntorch import surrogate

    lins = _linears(weights)
    lifs = [snn.Leaky(beta=DECAY, threshold=THRESHOLD, reset_mechanism="subtract",
                      spike_grad=surrogate.atan(alpha=2.0)) for _ in range(2)]
    model = nn.ModuleList([*lins, *lifs])

    def run(lif, cur):
        mem = torch.zeros_like(cur[0])
        spikes = []
        for t in range(cur.shape[0]):
            spk, mem = lif(cur[t], mem)
            spikes.append(spk.to(cur.dtype))  # snnTorch's atan emits float32; a no-op in float32
        return torch.stack(spikes)

    def forward(x):
        s1 = run(lifs[0], lins[0](x))
        s2 = run(lifs[1], lins[1](s1))
        return lins[2](s2), [s1, s2]

    return model, forward


def build_norse(weights):
    from norse.torch.functional.lif_box import LIFBoxParameters
    from norse.torch.functional.reset import reset_subtract
    from norse.torch.module.lif_box import LIFBoxCell

    dt = 0.001
    tau_inv = (1.0 - DECAY) / dt
    p = LIFBoxParameters(tau_mem_inv=torch.as_tensor(tau_inv), v_th=torch.as_tensor(THRESHOLD),
                         reset_method=reset_subtract)
    lins = _linears(weights[:2], scale=1.0 / (dt * tau_inv)) + _linears(weights[2:])
    cells = [LIFBoxCell(p, dt=dt) for _ in range(2)]
    model = nn.ModuleList([*lins, *cells])

    def run(cell, cur):
        state = None
        spikes = []
        for t in range(cur.shape[0]):
            z, state = cell(cur[t], state)
            spikes.append(z)
        return torch.stack(spikes)

    def forward(x):
        s1 = run(cells[0], lins[0](x))
        s2 = run(cells[1], lins[1](s1))
        return lins[2](s2), [s1, s2]

    return model, forward


def build_spikingjelly(weights):
    from spikingjelly.activation_based import functional, layer, neuron, surrogate

    lins = []
    for w, b in weights:
        lin = layer.Linear(w.shape[1], w.shape[0], step_mode="m")
        with torch.no_grad():
            lin.weight.copy_(w)
            lin.bias.copy_(b)
        lins.append(lin)
    nodes = [neuron.LIFNode(tau=1.0 / (1.0 - DECAY), decay_input=False, v_threshold=THRESHOLD, v_reset=None,
                            surrogate_function=surrogate.ATan(alpha=2.0), step_mode="m") for _ in range(2)]
    model = nn.Sequential(lins[0], nodes[0], lins[1], nodes[1], lins[2])

    def forward(x):
        functional.reset_net(model)
        s1 = nodes[0](lins[0](x))
        s2 = nodes[1](lins[1](s1))
        return lins[2](s2), [s1, s2]

    return model, forward


def build_dense(weights):
    """The roofline: the same GEMMs with ReLU and no neuron scan."""
    lins = _linears(weights)
    model = nn.ModuleList(lins)

    def forward(x):
        h1 = torch.relu(lins[0](x))
        h2 = torch.relu(lins[1](h1))
        return lins[2](h2), [h1, h2]

    return model, forward


def _kernels(impl: str):
    def build(w):
        from spikeforge.kernels import _cpu

        model, forward = build_spikeforge(w)

        def run(x):  # "torch": the pure-torch fast path and dense synapses (each backward: its forward's kernels)
            with _cpu.using(impl):
                return forward(x)

        return model, run
    return build


def steps_for(impl: str, steps: int):
    """``(train_step, infer_step)`` of implementation ``impl`` on the benchmark's input at ``T = steps``: one
    Adam step on the cross-entropy of the time-averaged output, and one forward under ``inference_mode``."""
    model, forward = BUILDERS[impl](shared_weights())
    x, y = make_input(steps)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def train_step():
        opt.zero_grad(set_to_none=True)
        out, _ = forward(x)
        torch.nn.functional.cross_entropy(out.mean(0), y).backward()
        opt.step()

    def infer_step():
        with torch.inference_mode():
            forward(x)

    return train_step, infer_step


BUILDERS = {
    "spikeforge": lambda w: build_spikeforge(w),
    "spikeforge-puretorch": _kernels("torch"),
    "spikeforge-numba": _kernels("numba"),
    "spikeforge-li": lambda w: build_spikeforge(w, readout_li=True),
    "spikeforge-dense": lambda w: build_spikeforge(w, synapse="dense"),
    "spikeforge-event": lambda w: build_spikeforge(w, synapse="event"),
    "spikeforge-lean": build_spikeforge_lean,
    "spikeforge-torch": lambda w: build_spikeforge(w, backend="torch"),
    "spikeforge-reference": lambda w: build_spikeforge(w, backend="reference"),
    "snntorch": build_snntorch,
    "norse": build_norse,
    "spikingjelly": build_spikingjelly,
    "dense": build_dense,
}

r"""``ottt``: online training through time (Xiao, Meng, Zhang, He & Lin, NeurIPS 2022; reference code
pkuxmq/OTTT-SNN) for the ``mlp`` family: presynaptic traces, an instantaneous loss and gradient at every
step, backpropagation only through the layers of the current step. No graph is kept over time, so the
memory does not grow with ``T``.

The network (:func:`spikeforge.nets.mlp`: hidden layers ``l = 1..H`` of :class:`~spikeforge.synapse.Linear`
and neurons, then a Linear into the LI readout, layer ``H+1``), with ``s^0_t = x_t``::

    u^l_t = λ_l·v^l_{t-1} + W^l·s^{l-1}_t + b^l        (v* of spikeforge.neuron.dynamics; o_t = u^{H+1}_t, λ_{H+1} = κ)
    s^l_t = n(u^l_t),  ψ^l_t = ∂E[n]/∂u at u^l_t       (the firing model's surrogate derivative)

**Presynaptic traces**, one per synapse layer, with the *postsynaptic* decay ``λ_l`` (the paper's ``λ``;
spikeforge lets the readout and each layer have their own), and one for the bias::

    â^l_t = λ_l·â^l_{t-1} + s^{l-1}_t,      c^l_t = λ_l·c^l_{t-1} + 1

With the reset excluded from the gradient, ``u^l_t`` depends on ``W^l`` through time only by the membrane's
``λ_l``: ``∂u^l_t/∂W^l = Σ_{τ≤t} λ_l^{t−τ}·s^{l-1}_τ = â^l_t`` (the earlier ``s^{l-1}_τ`` taken as given).
That is exact for a soft reset (or none); for a hard reset the factor ``(1 − h)`` with which a spike clears
the membrane's memory is ignored by the presynaptic trace.

**Instantaneous gradient.** ``E_t`` is step ``t``'s share of the per-step loss
(:mod:`spikeforge.learn.methods._online`: ``"last"``, ``"mean"`` or ``"mse"``). It is backpropagated through
the layers of step ``t`` only::

    δ^{H+1}_t = ∂E_t/∂o_t,     δ^l_t = ψ^l_t ⊙ (W^{l+1}ᵀ·δ^{l+1}_t)
    ∇_{W^l} E_t = Σ_b δ^l_{t,b} ⊗ â^l_{t,b},     ∇_{b^l} E_t = c^l_t·Σ_b δ^l_{t,b}

**Updates** (option ``update``): ``"accumulate"`` (OTTT_A, the default, as the reference code's default:
``Σ_t ∇E_t`` over the sequence, one optimiser step per batch) or ``"online"`` (OTTT_O: one optimiser step
after every step that carries loss, the later steps running on the updated weights). The paper reports
both, with nearly the same accuracy.

**Relation to BPTT** (checked in ``tests/learn/test_method_ottt.py``): with one hidden layer, the reset
excluded from the gradient (``detach_reset=True``, soft reset) and a readout without memory (``κ = 0``),
OTTT_A's gradient of the per-step loss equals BPTT's exactly: BPTT's ``∂E/∂u_τ = Σ_{t≥τ} λ^{t−τ}·δ_t``
regroups into ``Σ_t δ_t ⊗ â_t``. With a leaky readout (``κ > 0``) the readout's weights are still exact (the
readout is linear in them through its trace); the hidden layer's gradient drops the paths through the
readout's memory (``∂o_t/∂s_τ``, ``τ < t``), and a deeper network the paths through later layers' memories.

Supported: the ``mlp`` family with any number of hidden layers of the general neuron (``LIF``,
``AdaptiveLIF``: the adaptation's memory is ignored like the membrane's beyond ``λ``; graded spikes),
resets ``soft``/``hard``/``none``, the default process order; refused with an error naming the layer:
recurrent synapses, other layers, CuBa, complex, refractory neurons, learnable neuron parameters. Losses
``"last"``, ``"mean"``, ``"mse"`` (the others refused), ``objective.loss_weight`` and
``objective.grad_clip`` (applied per optimiser step); no ``rate_reg``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

from spikeforge.learn.methods import Method, StepResult
from spikeforge.learn.methods._online import (
    apply_gradients,
    check_config,
    check_objective,
    check_rows,
    draw_noise_t,
    network_of,
    readout_update,
    step_loss,
)
from spikeforge.neuron.dynamics import traced_step

if TYPE_CHECKING:
    from spikeforge.learn.loop import Objective

__all__ = ["METHOD", "UPDATES", "OnlineResult", "ottt_gradients", "ottt_step"]

#: ``update`` option values: OTTT_A (gradients accumulated over the sequence) and OTTT_O (a step per time step).
UPDATES = ("accumulate", "online")


class OnlineResult(NamedTuple):
    """``grads``: ``[(parameter, gradient), ...]`` (summed over the steps, before ``loss_weight``), ``loss``
    (the batch's per-step loss, a float) and ``logits`` ``[B, classes]`` (what the objective reports)."""

    grads: list[tuple[torch.Tensor, torch.Tensor]]
    loss: float
    logits: torch.Tensor


def _run(model: nn.Module, batch: Any, objective: Objective, on_step=None) -> OnlineResult:
    """The OTTT forward loop. ``on_step(grads)`` is called after every step that carries loss with that step's
    gradients (OTTT_O); without it the gradients are summed (OTTT_A)."""
    net = network_of(model, "ottt", recurrent=False)
    check_objective(objective, "ottt")
    weights = [syn.weight for syn in net.synapses]
    biases = [syn.bias for syn in net.synapses]
    dtype, device = weights[0].dtype, weights[0].device
    x = batch.x.to(device=device, dtype=dtype)
    y, lengths = batch.y.to(device), batch.lengths.to(device)
    classes = weights[-1].shape[0]
    check_rows(batch, classes, objective.loss)
    steps, rows = x.shape[:2]
    params = [n.params(dtype, device) for n in net.neurons]
    decays = [_scalar_decay(p.decay, k) for k, p in enumerate(params)]
    decays.append(net.readout.lam().to(device=device, dtype=dtype))
    sizes = [w.shape[0] for w in weights]
    states = [n.initial_state(torch.empty(1, rows, size, dtype=dtype, device=device))
              for n, size in zip(net.neurons, sizes)]
    o = torch.zeros(rows, classes, dtype=dtype, device=device)
    traces = [torch.zeros(rows, w.shape[1], dtype=dtype, device=device) for w in weights]
    bias_traces = [torch.zeros((), dtype=dtype, device=device) for _ in weights]
    total = [torch.zeros_like(w) for w in weights]
    total_b = [None if b is None else torch.zeros_like(b) for b in biases]
    logits = torch.zeros(rows, classes, dtype=dtype, device=device)
    loss = torch.zeros((), dtype=dtype, device=device)
    with torch.no_grad():
        for t in range(steps):
            s, psis = x[t], []
            for k, neuron in enumerate(net.neurons):
                traces[k] = decays[k] * traces[k] + s
                current = F.linear(s, weights[k], biases[k])
                s, states[k], trace = _traced(neuron, current, states[k], params[k])
                psis.append(trace.psi)
            traces[-1] = decays[-1] * traces[-1] + s
            for k in range(len(bias_traces)):
                bias_traces[k] = decays[k] * bias_traces[k] + 1
            o = decays[-1] * o + F.linear(s, weights[-1], biases[-1])
            logits = readout_update(logits, o, t, lengths, objective.loss)
            e_t, delta, w = step_loss(o, y, t, lengths, objective.loss, objective.label_smoothing)
            if not bool((w > 0).any()):
                continue  # no sample has loss at this step
            loss = loss + e_t
            grads = []
            for k in range(len(weights) - 1, -1, -1):
                grads.append((k, delta.t() @ traces[k], None if biases[k] is None else bias_traces[k] * delta.sum(0)))
                if k:
                    delta = psis[k - 1] * (delta @ weights[k])
            if on_step is not None:
                on_step(_pairs(weights, biases, grads))
                continue
            for k, gw, gb in grads:
                total[k] += gw
                if gb is not None:
                    total_b[k] += gb
    pairs = _pairs(weights, biases, [(k, total[k], total_b[k]) for k in range(len(weights))])
    return OnlineResult(pairs, float(loss), logits)


def _scalar_decay(decay: torch.Tensor, k: int) -> torch.Tensor:
    # a presynaptic trace serves every neuron of the layer: one decay per layer
    if decay.numel() > 1 and not bool((decay == decay.reshape(-1)[0]).all()):
        raise ValueError(f"model: method 'ottt' keeps one presynaptic trace per layer, which needs one membrane "
                         f"decay per layer; hidden layer {k + 1} has per-neuron decays (per_neuron with "
                         "different tau)")
    return decay.reshape(-1)[0] if decay.numel() > 1 else decay


def _traced(neuron, current, state, params):
    return traced_step(current, state, params, neuron.spec, noise_t=draw_noise_t(neuron, tuple(current.shape), current))


def _pairs(weights, biases, grads) -> list[tuple[torch.Tensor, torch.Tensor]]:
    out = []
    for k, gw, gb in sorted(grads, key=lambda g: g[0]):
        out.append((weights[k], gw))
        if biases[k] is not None and gb is not None:
            out.append((biases[k], gb))
    return out


def ottt_gradients(model: nn.Module, batch: Any, objective: Objective) -> OnlineResult:
    """OTTT_A's gradients of the per-step loss on ``batch`` (``.x [T, B, C]``, ``.y [B]``, ``.lengths [B]``),
    summed over the steps; the model is not changed."""
    return _run(model, batch, objective)


def ottt_step(model: nn.Module, batch: Any, optimizer: torch.optim.Optimizer, objective: Objective) -> StepResult:
    """One batch of OTTT (option ``update``: ``"accumulate"``, OTTT_A, or ``"online"``, OTTT_O; see the module
    docstring)."""
    update = objective.method_params.get("update", "accumulate")
    if update == "online":
        result = _run(model, batch, objective, on_step=lambda g: apply_gradients(model, optimizer, g, objective))
    else:
        result = _run(model, batch, objective)
        apply_gradients(model, optimizer, result.grads, objective)
    if not torch.isfinite(torch.tensor(result.loss)):
        lr = optimizer.param_groups[0].get("lr") if optimizer.param_groups else None
        raise FloatingPointError(f"loss: got {result.loss} (not finite); lower the learning rate (lr={lr}) or set "
                                 "grad_clip")
    return StepResult(result.loss, result.logits.detach())


def _check(params: dict[str, Any]) -> None:
    if params["update"] not in UPDATES:
        raise ValueError(f"update: expected one of {UPDATES}, got {params['update']!r}")


def _build_model(config, in_channels: int, num_classes: int) -> nn.Module:
    """The ``mlp`` family's network, after refusing what OTTT does not train (before the run starts)."""
    from spikeforge.learn.models import build_family

    check_config(config, "ottt", families=("mlp",), max_hidden=None)
    model = build_family(config, in_channels, num_classes)
    network_of(model, "ottt", recurrent=False)
    return model


METHOD = Method("ottt", ottt_step, "online training through time: presynaptic traces, instantaneous per-step "
                "loss and gradients, memory independent of T (mlp family)",
                reference="Xiao, Meng, Zhang, He & Lin, Online Training Through Time for Spiking Neural Networks, "
                          "NeurIPS 2022",
                options=(("update", "accumulate"),), check=_check, build_model=_build_model)

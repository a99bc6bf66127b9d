r"""``eprop``: eligibility propagation (Bellec, Scherr, Subramoney, Hajek, Salaj, Legenstein & Maass, Nature
Communications 2020, "A solution to the learning dilemma for recurrent networks of spiking neurons";
reference code IGITUGraz/eligibility_propagation, ChFrenkel/eprop-PyTorch) for one hidden population of LIF
or adaptive LIF (ALIF) neurons, with or without recurrent synapses, into a leaky readout.

The network (the ``recurrent`` family, :func:`spikeforge.nets.rsnn`, or the ``mlp`` family with one hidden
layer, where ``W_rec = 0``), per step ``t`` (equations of the neuron: :mod:`spikeforge.neuron.dynamics`)::

    v*_t = λ·v_{t-1} + W_in·x_t + b_in + W_rec·z_{t-1}         z_t = n(v*_t − θ − β·a_{t-1})
    v_t  = v*_t − θ·z_t (soft)  or  (1 − h_t)·v*_t + h_t·v_reset (hard)    a_t = ρ·a_{t-1} + z_t (ALIF)
    y_t  = κ·y_{t-1} + W_out·z_t + b_out                       (the LI readout)

``ψ_t`` is the pseudo-derivative, the firing model's surrogate ``∂E[n]/∂u`` at ``v*_t`` against the
threshold ``θ + β·a_{t-1}`` (:func:`spikeforge.neuron.dynamics.traced_step`).

**Eligibility traces** of synapse ``j ← i`` (presynaptic ``x_i`` for ``W_in``, with a constant 1 for
``b_in``; ``z_{i,t-1}`` for ``W_rec``), the reset excluded from the gradient (``r_t = 1``, or ``1 − h_t`` for
a hard reset: a spike clears the membrane's memory)::

    ε^v_{ji,t} = λ·r_{j,t-1}·ε^v_{ji,t-1} + x_{i,t}
    e_{ji,t}   = ψ_{j,t}·(ε^v_{ji,t} − β·ε^a_{ji,t-1})                     (LIF: β = 0, e = ψ·ε^v)
    ε^a_{ji,t} = ρ·ε^a_{ji,t-1} + e_{ji,t} = ψ_{j,t}·ε^v_{ji,t} + (ρ − β·ψ_{j,t})·ε^a_{ji,t-1}

``ε^v``, ``ε^a`` are ``∂v*_t/∂W_ji`` and ``∂a_t/∂W_ji`` along the neuron's own state, ``e = ∂z_t/∂W_ji``.

**Learning signals** ``L_{j,t} = Σ_k B_jk·∂E/∂y_{k,t}``, where ``∂E/∂y_t`` is the per-step loss's gradient
on the readout (:mod:`spikeforge.learn.methods._online`; cross-entropy: ``w_t·(softmax(y_t) − y*)``, mse:
``2·w_t·(y_t − y*)``), through symmetric feedback ``B = W_outᵀ`` (option ``feedback="symmetric"``, default)
or a fixed random matrix (``feedback="random"``: drawn once, ``N(0, 1/N)``, kept in the model's buffer
``eprop_feedback``). Because the readout integrates, ``z_t`` reaches every later ``y_{t'}`` with weight
``κ^{t'−t}``; the online form filters the eligibility trace instead of the signal,
``ē_t = κ·ē_{t-1} + e_t`` (``Σ_t (Σ_{t'≥t} κ^{t'−t}·L_{t'})·e_t = Σ_{t'} L_{t'}·ē_{t'}``). The updates::

    ∇W_in,ji = Σ_t Σ_b L_{bj,t}·ē^in_{bji,t}        ∇W_rec,ji = Σ_t Σ_b L_{bj,t}·ē^rec_{bji,t}
    ∇W_out,kj = Σ_t Σ_b ∂E/∂y_{bk,t}·z̄_{bj,t}       ∇b_out,k = Σ_t c_t·Σ_b ∂E/∂y_{bk,t}
    z̄_t = κ·z̄_{t-1} + z_t,   c_t = κ·c_{t-1} + 1

The readout's gradient is exact. **Where e-prop equals BPTT** (checked in
``tests/learn/test_method_eprop.py``, float64, to 1e-10): no recurrent weights, the reset
excluded from BPTT's gradient too (``detach_reset=True``), symmetric feedback and the per-step loss through
the leaky readout -- for LIF and ALIF, soft and hard resets: then every path from a weight to the loss runs
through the neuron's own state and the readout, which the traces carry exactly. With recurrence e-prop
drops the paths through other neurons (``∂z_t/∂z_{t-1}`` via ``W_rec``): it then equals autograd of the same
loss with the recurrent input's spikes detached (checked there too); ``benchmarks/eprop_vs_bptt.py``
compares the accuracies with BPTT's.

Memory: the traces ``[B, N, C + 1 + N]`` (three of them for ALIF), independent of ``T``; no graph is kept.
Supported: the ``recurrent`` family and the ``mlp`` family with one hidden layer, neurons ``LIF``/
``AdaptiveLIF`` (the general neuron: soft, hard or no reset, default order); refused with an error naming the
layer: more hidden layers, other layers, CuBa, complex, refractory neurons, learnable neuron parameters.
Losses ``"last"``, ``"mean"`` (per-step), ``"mse"``; ``objective.loss_weight`` and ``objective.grad_clip``;
no ``rate_reg``. Neuron parameters are not trained.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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
from spikeforge.learn.methods.ottt import OnlineResult
from spikeforge.neuron.dynamics import traced_step

if TYPE_CHECKING:
    from spikeforge.learn.loop import Objective

__all__ = ["FEEDBACKS", "FEEDBACK_BUFFER", "METHOD", "add_random_feedback", "eprop_gradients", "eprop_step"]

FEEDBACKS = ("symmetric", "random")
#: The model buffer holding the fixed random feedback matrix ``[classes, hidden]`` (``feedback="random"``).
FEEDBACK_BUFFER = "eprop_feedback"


def add_random_feedback(model: nn.Module, generator: torch.Generator | None = None) -> torch.Tensor:
    """Register on ``model`` the fixed random feedback matrix ``B`` (buffer ``eprop_feedback``, the readout
    weight's shape ``[classes, hidden]``, entries ``N(0, 1/hidden)``) and return it; kept if already there."""
    existing = getattr(model, FEEDBACK_BUFFER, None)
    if isinstance(existing, torch.Tensor):
        return existing
    net = network_of(model, "eprop", recurrent=True, max_hidden=1)
    w = net.synapses[-1].weight
    b = torch.randn(tuple(w.shape), generator=generator, dtype=torch.float64) / w.shape[1] ** 0.5
    model.register_buffer(FEEDBACK_BUFFER, b.to(device=w.device, dtype=w.dtype))
    return getattr(model, FEEDBACK_BUFFER)


def _column(v: torch.Tensor | None) -> torch.Tensor | None:
    # a per-neuron parameter [N] against traces [B, N, K]
    return v.reshape(-1, 1) if v is not None and v.dim() else v


def _run(model: nn.Module, batch: Any, objective: Objective) -> OnlineResult:
    net = network_of(model, "eprop", recurrent=True, max_hidden=1)
    check_objective(objective, "eprop")
    feedback = objective.method_params.get("feedback", "symmetric")
    syn_in, syn_out = net.synapses
    neuron, rec = net.neurons[0], net.recurrent[0]
    w_in, b_in, w_out, b_out = syn_in.weight, syn_in.bias, syn_out.weight, syn_out.bias
    w_rec = None if rec is None else rec.weight
    dtype, device = w_in.dtype, w_in.device
    if feedback == "random":
        fb = getattr(model, FEEDBACK_BUFFER, None)
        if not isinstance(fb, torch.Tensor) or tuple(fb.shape) != tuple(w_out.shape):
            raise ValueError(f"feedback: 'random' needs the model's fixed feedback matrix (buffer {FEEDBACK_BUFFER!r}, "
                             f"shape {tuple(w_out.shape)}): build the model with spikeforge.learn.build_model or call "
                             f"spikeforge.learn.methods.eprop.add_random_feedback(model); got {fb!r}")
    x = batch.x.to(device=device, dtype=dtype)
    y, lengths = batch.y.to(device), batch.lengths.to(device)
    classes, hidden = w_out.shape
    check_rows(batch, classes, objective.loss)
    steps, rows, channels = x.shape
    spec = neuron.spec
    p = neuron.params(dtype, device)
    lam, kappa = p.decay, net.readout.lam().to(device=device, dtype=dtype)
    rho, beta = (_column(p.adapt_decay), _column(p.adapt_scale)) if spec.adaptive else (None, None)
    state = neuron.initial_state(torch.empty(1, rows, hidden, dtype=dtype, device=device))
    inputs = channels + (b_in is not None)
    ones = torch.ones(rows, 1, dtype=dtype, device=device)
    # eligibility vectors ε^v, ε^a and the κ-filtered traces ē, of the input synapses (and bias), then the recurrent
    ev = [torch.zeros(rows, hidden, inputs, dtype=dtype, device=device)]
    if w_rec is not None:
        ev.append(torch.zeros(rows, hidden, hidden, dtype=dtype, device=device))
    ea = [torch.zeros_like(e) for e in ev] if spec.adaptive else None
    filtered = [torch.zeros_like(e) for e in ev]
    grads = [torch.zeros(hidden, inputs, dtype=dtype, device=device)]
    if w_rec is not None:
        grads.append(torch.zeros_like(w_rec))
    z_bar = torch.zeros(rows, hidden, dtype=dtype, device=device)
    c_bar = torch.zeros((), dtype=dtype, device=device)
    g_out, g_bout = torch.zeros_like(w_out), None if b_out is None else torch.zeros_like(b_out)
    o = torch.zeros(rows, classes, dtype=dtype, device=device)
    logits = torch.zeros_like(o)
    loss = torch.zeros((), dtype=dtype, device=device)
    with torch.no_grad():
        for t in range(steps):
            z_prev, h_prev = state.s, state.h
            current = F.linear(x[t], w_in, b_in)
            z, state, trace = traced_step(current, state, p, spec, recurrent_weight=w_rec,
                                          noise_t=draw_noise_t(neuron, tuple(current.shape), current))
            psi = trace.psi.unsqueeze(-1)  # [B, N, 1]
            keep = lam * (1 - h_prev) if spec.reset == "hard" else lam * torch.ones_like(h_prev)
            keep = keep.unsqueeze(-1)
            pre = [torch.cat([x[t], ones], 1) if b_in is not None else x[t]] + [z_prev] * (w_rec is not None)
            for k in range(len(ev)):  # (in place: the traces are the largest tensors of the step)
                ev[k].mul_(keep).add_(pre[k].unsqueeze(1))
                if ea is not None:
                    e = (ev[k] - beta * ea[k]).mul_(psi)
                    ea[k].mul_(rho).add_(e)
                else:
                    e = ev[k] * psi
                filtered[k].mul_(kappa).add_(e)
            o = kappa * o + F.linear(z, w_out, b_out)
            z_bar = kappa * z_bar + z
            c_bar = kappa * c_bar + 1
            logits = readout_update(logits, o, t, lengths, objective.loss)
            e_t, dy, w = step_loss(o, y, t, lengths, objective.loss, objective.label_smoothing)
            if not bool((w > 0).any()):
                continue
            loss = loss + e_t
            fb = w_out if feedback == "symmetric" else getattr(model, FEEDBACK_BUFFER).to(dtype)
            signal = dy @ fb  # L_t [B, N]
            for k in range(len(ev)):
                grads[k] += (signal.unsqueeze(-1) * filtered[k]).sum(0)
            g_out += dy.t() @ z_bar
            if g_bout is not None:
                g_bout += c_bar * dy.sum(0)
    pairs = [(w_in, grads[0][:, :channels])]
    if b_in is not None:
        pairs.append((b_in, grads[0][:, channels]))
    if w_rec is not None:
        pairs.append((w_rec, grads[1]))
    pairs.append((w_out, g_out))
    if b_out is not None:
        pairs.append((b_out, g_bout))
    return OnlineResult(pairs, float(loss), logits)


def eprop_gradients(model: nn.Module, batch: Any, objective: Objective) -> OnlineResult:
    """e-prop's weight gradients on ``batch`` (``.x [T, B, C]``, ``.y [B]``, ``.lengths [B]``); the model is not
    changed."""
    return _run(model, batch, objective)


def eprop_step(model: nn.Module, batch: Any, optimizer: torch.optim.Optimizer, objective: Objective) -> StepResult:
    """One batch of e-prop: the gradients of the module docstring, summed over the sequence, one optimiser
    step."""
    result = _run(model, batch, objective)
    if not torch.isfinite(torch.tensor(result.loss)):
        lr = optimizer.param_groups[0].get("lr") if optimizer.param_groups else None
        raise FloatingPointError(f"loss: got {result.loss} (not finite); lower the learning rate (lr={lr}) or set "
                                 "grad_clip")
    apply_gradients(model, optimizer, result.grads, objective)
    return StepResult(result.loss, result.logits.detach())


def _check(params: dict[str, Any]) -> None:
    if params["feedback"] not in FEEDBACKS:
        raise ValueError(f"feedback: expected one of {FEEDBACKS}, got {params['feedback']!r}")


def _build_model(config, in_channels: int, num_classes: int) -> nn.Module:
    """The ``recurrent`` or ``mlp`` family's network with one hidden layer (what e-prop trains, refused before
    the run starts otherwise), with the random feedback matrix when ``feedback="random"`` (drawn from a
    generator seeded with the run's seed)."""
    from spikeforge.learn.models import build_family

    check_config(config, "eprop", families=("recurrent", "mlp"), max_hidden=1)
    model = build_family(config, in_channels, num_classes)
    network_of(model, "eprop", recurrent=True, max_hidden=1)
    if METHOD.params(config.method_params)["feedback"] == "random":
        add_random_feedback(model, torch.Generator().manual_seed(int(config.seed)))
    return model


METHOD = Method("eprop", eprop_step, "e-prop: eligibility traces (LIF, ALIF) and per-step learning signals through "
                "symmetric or random feedback (recurrent family, or mlp with one hidden layer)",
                reference="Bellec et al., A solution to the learning dilemma for recurrent networks of spiking "
                          "neurons, Nature Communications 2020",
                options=(("feedback", "symmetric"),), check=_check, build_model=_build_model)

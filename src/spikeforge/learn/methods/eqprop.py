"""``eqprop``: equilibrium propagation (Scellier & Bengio 2017) for the convergent network
:class:`spikeforge.nets.energy.EnergyNet` (its energy ``E``, cost ``C``, dynamics and sigma-delta spikes are
stated there), spiking as in O'Connor, Gavves & Welling (AISTATS 2019) and Martin et al. (EqSpike, 2021).

One step on a batch, without autograd (every quantity is the network's own state; nothing is differentiated):

1. free phase: the network relaxes over the batch's ``T`` steps from rest (``β = 0``, the forward pass);
2. nudged phase: from the free state, ``nudge_steps`` more steps (the input replayed from its first step) with
   the output pulled towards the one-hot target ``t`` with strength ``β``;
3. the EP estimate of the gradient of the loss ``L = C(u^0) = ½|u_L^0 - t|²`` at the free fixed point ``u^0``,
   for the weight ``W_k`` between layers ``k-1`` and ``k`` and the bias ``b_k``::

       ∂L/∂W_k ≈ -(1/β)·(ρ(u_k^β) ρ(u_{k-1}^β)ᵀ - ρ(u_k^0) ρ(u_{k-1}^0)ᵀ)     (batch mean)
       ∂L/∂b_k ≈ -(1/β)·(ρ(u_k^β) - ρ(u_k^0))

   (``-∂E/∂W_k = ρ(u_k) ρ(u_{k-1})ᵀ``: each entry needs only the two neurons the synapse joins), written into
   the parameters' ``.grad`` (times ``objective.loss_weight``, clipped to ``objective.grad_clip``) for the
   run's optimizer, whose learning rate and schedule apply. It tends to the true gradient as ``β -> 0``
   (the EP theorem; tested against finite differences). ``ρ(u)`` of a phase is its mean over the phase's
   last half (one step when the phases have converged, an average of the spike-driven fluctuations when
   spiking); the input layer's ``ρ(u_0)`` is the batch's mean input over its ``T`` steps, the same in both
   phases.

Options (``--method-param KEY=VALUE``):

* ``beta`` (1.0) -- nudging strength ``β > 0``;
* ``nudge`` (``"positive"``) -- ``"positive"`` (``+β``), ``"random"`` (the sign of ``β`` drawn per batch from
  torch's global RNG, which cancels the estimate's first-order bias on average, Scellier & Bengio 2017) or
  ``"symmetric"`` (two nudged phases ``±β``, estimate ``(1/2β)(ρρ^{+β} - ρρ^{-β})``, error ``O(β²)``,
  Laborieux et al. 2021);
* ``nudge_steps`` (10) -- steps of each nudged phase;
* ``eps`` (0.5), ``spiking`` (true) -- the network's step and whether it communicates by spikes
  (:class:`~spikeforge.nets.energy.EnergyNet`); ``init_scale`` (1.0) its initial weights' scale;
* ``pre`` (``"rate"``) -- the presynaptic factor of hidden layers in the update: ``"rate"`` (``ρ(u_{k-1})``
  averaged as above) or ``"spikes"`` (the presynaptic neuron's spike frequency over the same window: what
  the synapse receives; spiking only).

``config.hidden`` gives the hidden layers. The reported loss is the objective's loss on the free phase's
readout (the same figure evaluation reports); the optimised cost is ``C``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import nn
from torch.nn import functional as F

from spikeforge.learn.losses import classification_loss
from spikeforge.learn.methods import Method, StepResult
from spikeforge.nets.energy import EnergyNet, Phase

if TYPE_CHECKING:
    from spikeforge.learn.config import TrainConfig
    from spikeforge.learn.loop import Objective

__all__ = ["METHOD", "build_energy_net", "ep_gradients", "eqprop_step"]

NUDGES = ("positive", "random", "symmetric")
PRES = ("rate", "spikes")
OPTIONS = (("beta", 1.0), ("nudge", "positive"), ("nudge_steps", 10), ("eps", 0.5), ("spiking", True),
           ("init_scale", 1.0), ("pre", "rate"))


def _number(params: dict[str, Any], name: str, lo: float, hi: float | None = None, lo_open: bool = True) -> None:
    v = params[name]
    ok = not isinstance(v, bool) and isinstance(v, (int, float)) and (v > lo if lo_open else v >= lo)
    ok = ok and (hi is None or v <= hi)
    if not ok:
        rng = f"in ({lo:g}, {hi:g}]" if hi is not None else f"> {lo:g}"
        raise ValueError(f"{name}: expected a number {rng}, got {v!r}")


def check(params: dict[str, Any]) -> None:
    """The options' values (see the module docstring)."""
    _number(params, "beta", 0.0)
    _number(params, "eps", 0.0, 1.0)
    _number(params, "init_scale", 0.0)
    if params["nudge"] not in NUDGES:
        raise ValueError(f"nudge: expected one of {NUDGES}, got {params['nudge']!r}")
    if params["pre"] not in PRES:
        raise ValueError(f"pre: expected one of {PRES}, got {params['pre']!r}")
    n = params["nudge_steps"]
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"nudge_steps: expected an integer >= 1, got {n!r}")
    if not isinstance(params["spiking"], bool):
        raise ValueError(f"spiking: expected true or false, got {params['spiking']!r}")
    if params["pre"] == "spikes" and not params["spiking"]:
        raise ValueError("pre: 'spikes' needs spiking=true (a rate network sends no spikes), got pre='spikes' "
                         "with spiking=false")


def build_energy_net(config: TrainConfig, in_channels: int, num_classes: int) -> nn.Module:
    """The :class:`~spikeforge.nets.energy.EnergyNet` ``[in_channels, *config.hidden, num_classes]`` of the
    config's options."""
    params = METHOD.params(config.method_params)
    return EnergyNet([in_channels, *config.hidden, num_classes], eps=float(params["eps"]),
                     spiking=params["spiking"], init_scale=float(params["init_scale"]))


def _replay(x: torch.Tensor, steps: int) -> torch.Tensor:
    """``steps`` steps of input: ``x`` from its first step again, repeated as often as needed."""
    reps = -(-steps // x.shape[0])
    return x.repeat(reps, 1, 1)[:steps] if reps > 1 else x[:steps]


def _products(net: EnergyNet, x_mean: torch.Tensor, phase: Phase, pre: str) -> list[tuple[torch.Tensor, ...]]:
    """Per layer ``k``: ``(ρ(u_k) ρ(u_{k-1})ᵀ, ρ(u_k))`` summed over the batch."""
    post = phase.rates
    below = [x_mean, *(phase.sent if pre == "spikes" else phase.rates)[:-1]]
    return [(post[k].t() @ below[k], post[k].sum(0)) for k in range(net.num_layers)]


def ep_gradients(net: EnergyNet, x: torch.Tensor, target: torch.Tensor, beta: float, *, nudge: str = "positive",
                 nudge_steps: int = 10, pre: str = "rate", free: Phase | None = None) -> tuple[list, Phase]:
    """The EP estimate of ``∂L/∂W_k`` and ``∂L/∂b_k`` (module docstring) on ``x [T, B, C]``, ``target [B, out]``:
    ``([(dW_1, db_1), ...], free phase)``, batch means. ``nudge`` ``"positive"`` uses ``+beta`` as given
    (``"random"`` is decided by the caller: pass a signed ``beta``), ``"symmetric"`` two phases ``±beta``;
    ``free``: the free phase if already run (it is run otherwise). No autograd (call under ``no_grad``)."""
    if free is None:
        free = net.relax(x)
    xs = _replay(x, nudge_steps)
    x_mean = x.mean(0)
    b = x.shape[1]
    if nudge == "symmetric":
        plus = _products(net, x_mean, net.relax(xs, free.state, beta=beta, target=target), pre)
        minus = _products(net, x_mean, net.relax(xs, free.state, beta=-beta, target=target), pre)
        scale = 1.0 / (2.0 * beta * b)
    else:
        plus = _products(net, x_mean, net.relax(xs, free.state, beta=beta, target=target), pre)
        minus = _products(net, x_mean, free, pre)
        scale = 1.0 / (beta * b)
    grads = [(-(p[0] - m[0]) * scale, -(p[1] - m[1]) * scale) for p, m in zip(plus, minus)]
    return grads, free


def eqprop_step(model: nn.Module, batch, optimizer: torch.optim.Optimizer, objective: Objective) -> StepResult:
    """Free phase, nudged phase(s), the EP gradient estimate into ``.grad``, the optimizer's step."""
    if not isinstance(model, EnergyNet):
        raise TypeError(f"model: eqprop trains a spikeforge.nets.energy.EnergyNet (its build_model's network), "
                        f"got {type(model).__name__}")
    params = objective.method_params
    beta = float(params["beta"])
    nudge = params["nudge"]
    if nudge == "random" and bool(torch.rand(()) < 0.5):
        beta = -beta
    steps, b = batch.x.shape[0], batch.x.shape[1]
    lengths = torch.full((b,), steps, dtype=torch.long) if batch.lengths is None else batch.lengths.cpu()
    weight = float(getattr(objective, "loss_weight", 1.0))
    total: list[list[torch.Tensor]] | None = None
    loss = torch.zeros((), dtype=batch.x.dtype, device=batch.x.device)
    logits = None
    with torch.no_grad():
        # Samples of each length relax over their own steps only: the phases' end states are then those the
        # forward pass has at the sample's last valid step (padding would relax a short sample back to rest).
        for length in torch.unique(lengths).tolist():
            rows = torch.nonzero(lengths == length).flatten().to(batch.x.device)
            x = batch.x[:length].index_select(1, rows)
            y = batch.y.index_select(0, rows)
            free = model.relax(x)
            part, part_logits = classification_loss(free.readout, y, torch.full((len(rows),), length,
                                                                                device=x.device),
                                                    objective.loss, objective.label_smoothing)
            if logits is None:
                logits = part_logits.new_zeros((b, part_logits.shape[1]))
            logits[rows] = part_logits
            share = len(rows) / b  # the groups' batch means, weighted into the whole batch's mean
            loss = loss + part * share
            target = F.one_hot(y, model.sizes[-1]).to(free.readout.dtype)
            grads, _ = ep_gradients(model, x, target, beta, nudge="symmetric" if nudge == "symmetric" else "positive",
                                    nudge_steps=int(params["nudge_steps"]), pre=params["pre"], free=free)
            scaled = [[g * share for g in pair] for pair in grads]
            total = scaled if total is None else [[a + c for a, c in zip(p, q)] for p, q in zip(total, scaled)]
        assert total is not None and logits is not None
        for lin, (dw, db) in zip(model.layers, total):
            lin.weight.grad = (dw * weight).to(lin.weight.dtype)
            lin.bias.grad = (db * weight).to(lin.bias.dtype)
    if objective.grad_clip is not None:
        nn.utils.clip_grad_norm_(model.parameters(), objective.grad_clip)
    optimizer.step()
    return StepResult(float(loss), logits.detach())


METHOD = Method(
    "eqprop", eqprop_step,
    "equilibrium propagation: free and nudged phases of a convergent (spiking) energy network, local updates",
    reference="Scellier & Bengio 2017; O'Connor, Gavves & Welling, AISTATS 2019; Martin et al. (EqSpike), "
              "iScience 2021",
    options=OPTIONS, check=check, build_model=build_energy_net)

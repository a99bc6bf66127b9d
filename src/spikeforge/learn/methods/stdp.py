"""``stdp``: unsupervised learning of the network of Diehl & Cook (2015)
(:class:`spikeforge.nets.diehl_cook.DiehlCook`: dynamics, inhibition, thresholds and readout are stated
there) with pair-based STDP (:class:`spikeforge.learn.plasticity.PairSTDP`), no autograd, no labels in the
learning itself.

One step on a batch: the whole batch at once (``online=false``, default: the batch's mean change per step;
as accurate on digits and several times faster, ``benchmarks/stdp_digits.py``) or each sample in turn
(``online=true``, as the paper: every sample sees the weights the previous one left) runs through the
network from rest while, after every step ``t``:

* ``W <- clip(W + ΔW, 0, w_max)`` with ``ΔW`` the STDP change of step ``t`` (input spikes pre, excitatory
  spikes post; the mean over the samples run together);
* ``θ <- exp(-1/τ_θ)·θ + θ_plus·s(t)`` (the adaptive thresholds, a buffer of the model);

and after each sample (or batch) every neuron's input weights are scaled to sum ``norm``. Labels are used
only to label neurons: the model keeps each neuron's spike count per class on the training samples it has
seen (``response``, decayed by ``0.999`` per sample, so that the labels follow the learning) and labels it
with the class of the largest count; :func:`finalize` then labels every neuron once more with the trained,
frozen network on the whole training split (the mean spike count per sample of each class; the original
paper labelled on test data: this does not). The readout is the class vote of
:meth:`~spikeforge.nets.diehl_cook.DiehlCook.votes`; the reported loss is the objective's loss on the votes
of the training pass.

Options (``--method-param KEY=VALUE``): the rule's ``nu_post`` (1e-3), ``nu_pre`` (1e-4), ``tau_pre``,
``tau_post`` (4 steps), ``dependence`` (``"additive"`` / ``"multiplicative"``), ``pairing`` (``"all"`` /
``"nearest"``), ``w_max`` (1.0); the thresholds' ``theta_plus`` (0.05) and ``tau_theta`` (2e4 steps; the
paper's ``θ`` barely decays, which with this short code and small data set silences the neurons: here ``θ``
settles where ``θ_plus``·rate·``τ_θ`` balances); the network's ``tau`` (5 steps), ``inhibition`` (10, in
thresholds: a winner silences the others), ``norm`` (1.0), ``refractory`` (2 steps); ``online`` (false).
``config.hidden[0]`` is the number of excitatory neurons. The defaults were chosen on the validation split
of digits (``benchmarks/stdp_digits.py``); the data set's ``--steps`` is the presentation time (50 there).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from spikeforge.learn.losses import classification_loss
from spikeforge.learn.methods import Method, StepResult
from spikeforge.learn.plasticity import DEPENDENCES, PAIRINGS, PairSTDP
from spikeforge.nets.diehl_cook import DiehlCook

if TYPE_CHECKING:
    from spikeforge.learn.config import TrainConfig
    from spikeforge.learn.loop import Objective

__all__ = ["METHOD", "build_diehl_cook", "finalize", "label_neurons", "rule_of", "stdp_step"]

RESPONSE_DECAY = 0.999
OPTIONS = (("nu_post", 1e-3), ("nu_pre", 1e-4), ("tau_pre", 4.0), ("tau_post", 4.0), ("dependence", "additive"),
           ("pairing", "all"), ("w_max", 1.0), ("theta_plus", 0.05), ("tau_theta", 2e4), ("tau", 5.0),
           ("inhibition", 10.0), ("norm", 1.0), ("refractory", 2), ("online", False))


def _number(params: dict[str, Any], name: str, *, zero: bool = False) -> None:
    v = params[name]
    ok = not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v) and (v >= 0 if zero else v > 0)
    if not ok:
        raise ValueError(f"{name}: expected a number {'>= 0' if zero else '> 0'}, got {v!r}")


def check(params: dict[str, Any]) -> None:
    """The options' values (see the module docstring)."""
    for name in ("nu_post", "nu_pre", "theta_plus", "inhibition"):
        _number(params, name, zero=True)
    for name in ("tau_pre", "tau_post", "w_max", "tau_theta", "tau", "norm"):
        _number(params, name)
    if params["dependence"] not in DEPENDENCES:
        raise ValueError(f"dependence: expected one of {DEPENDENCES}, got {params['dependence']!r}")
    if params["pairing"] not in PAIRINGS:
        raise ValueError(f"pairing: expected one of {PAIRINGS}, got {params['pairing']!r}")
    r = params["refractory"]
    if isinstance(r, bool) or not isinstance(r, int) or r < 0:
        raise ValueError(f"refractory: expected an integer >= 0, got {r!r}")
    if not isinstance(params["online"], bool):
        raise ValueError(f"online: expected true or false, got {params['online']!r}")


def rule_of(params: dict[str, Any]) -> PairSTDP:
    """The :class:`~spikeforge.learn.plasticity.PairSTDP` of the options."""
    return PairSTDP(nu_post=float(params["nu_post"]), nu_pre=float(params["nu_pre"]),
                    tau_pre=float(params["tau_pre"]), tau_post=float(params["tau_post"]),
                    dependence=params["dependence"], pairing=params["pairing"], w_max=float(params["w_max"]))


def build_diehl_cook(config: TrainConfig, in_channels: int, num_classes: int) -> nn.Module:
    """The :class:`~spikeforge.nets.diehl_cook.DiehlCook` network with ``config.hidden[0]`` excitatory neurons and
    a buffer ``response [N, classes]`` (the running per-class spike counts of the module docstring)."""
    params = METHOD.params(config.method_params)
    net = DiehlCook(in_channels, config.hidden[0], num_classes, tau=float(params["tau"]),
                    refractory=params["refractory"], inhibition=float(params["inhibition"]),
                    norm=float(params["norm"]), w_max=float(params["w_max"]))
    net.register_buffer("response", torch.zeros(config.hidden[0], num_classes))
    return net


def _relabel(net: DiehlCook, response: torch.Tensor) -> None:
    """Each neuron's label: the class of its largest response (-1 for a neuron that never fired)."""
    best = response.argmax(1)
    net.labels.copy_(torch.where(response.sum(1) > 0, best, torch.full_like(best, -1)))


def _learn(net: DiehlCook, x: torch.Tensor, rule: PairSTDP, theta_plus: float, theta_decay: float) -> torch.Tensor:
    """Run ``x [T, B, C]`` with plasticity; returns the spikes ``[T, B, N]``."""
    w = net.input.weight
    theta = net.excitatory.theta
    traces = [rule.initial_traces(x.shape[1], w.shape[1], w.shape[0], dtype=x.dtype, device=x.device)]
    b = float(x.shape[1])

    def on_step(_t: int, x_t: torch.Tensor, s_t: torch.Tensor) -> None:
        dw, traces[0] = rule.update(w, traces[0], x_t, s_t)
        rule.apply(w, dw / b)
        theta.mul_(theta_decay).add_(theta_plus * s_t.mean(0))

    spikes, _ = net.run(x, on_step=on_step)
    net.normalize()
    return spikes


def stdp_step(model: nn.Module, batch, optimizer: torch.optim.Optimizer, objective: Objective) -> StepResult:
    """STDP over the batch (module docstring); the optimizer is not used (no gradients)."""
    if not isinstance(model, DiehlCook) or not hasattr(model, "response"):
        raise TypeError(f"model: stdp trains the spikeforge.nets.diehl_cook.DiehlCook network of its build_model, "
                        f"got {type(model).__name__}")
    params = objective.method_params
    rule = rule_of(params)
    theta_plus, theta_decay = float(params["theta_plus"]), math.exp(-1.0 / float(params["tau_theta"]))
    x, y = batch.x, batch.y
    with torch.no_grad():
        groups = [slice(i, i + 1) for i in range(x.shape[1])] if params["online"] else [slice(None)]
        votes = []
        for g in groups:
            spikes = _learn(model, x[:, g], rule, theta_plus, theta_decay)
            votes.append(model.votes(spikes))  # with the labels before this sample's counts
            counts = spikes.sum(0)  # [b, N]
            n = counts.shape[0]
            model.response.mul_(RESPONSE_DECAY ** n).index_add_(1, y[g], counts.t())
            _relabel(model, model.response)
        out = torch.cat(votes, 1)
        loss, logits = classification_loss(out, y, batch.lengths, objective.loss, objective.label_smoothing)
    return StepResult(float(loss), logits.detach())


@torch.no_grad()
def label_neurons(model: DiehlCook, split, *, batch_size: int = 256, seed: int = 0,
                  device: torch.device | str | None = None) -> torch.Tensor:
    """Label every neuron with the class of its largest mean spike count per sample on ``split`` (the frozen
    network, no plasticity; a random encoder draws from ``seed``, torch's global RNG untouched); returns the
    mean responses ``[N, classes]``."""
    from spikeforge.data import batches

    dev = torch.device(device) if device is not None else model.input.weight.device
    total = torch.zeros(model.n_neurons, model.n_classes, device=dev)
    seen = torch.zeros(model.n_classes, device=dev)
    was_training = model.training
    model.eval()
    try:
        with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
            gen = torch.Generator().manual_seed(seed)
            for batch in batches(split, batch_size, generator=gen):
                spikes, _ = model.run(batch.x.to(dev))
                y = batch.y.to(dev)
                total.index_add_(1, y, spikes.sum(0).t())
                seen.index_add_(0, y, torch.ones_like(y, dtype=seen.dtype))
    finally:
        model.train(was_training)
    mean = total / seen.clamp_min(1.0)
    _relabel(model, mean)
    return mean


def finalize(model: nn.Module, train_split, config: TrainConfig, device) -> None:
    """Label the neurons on the training split (:func:`label_neurons`, seed ``config.seed``); in place,
    idempotent (the weights and thresholds are not changed)."""
    label_neurons(model, train_split, batch_size=config.eval_batch_size, seed=config.seed, device=device)


METHOD = Method(
    "stdp", stdp_step,
    "unsupervised STDP in Diehl & Cook's network (inhibition, adaptive thresholds); neurons labelled on training data",
    reference="Diehl & Cook 2015; pair-based STDP: Bi & Poo 1998, Morrison, Diesmann & Gerstner 2008",
    options=OPTIONS, check=check, build_model=build_diehl_cook, finalize=finalize)

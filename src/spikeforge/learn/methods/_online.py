"""What the online methods (:mod:`~spikeforge.learn.methods.ottt`, :mod:`~spikeforge.learn.methods.eprop`) share:
reading a model's layers, the per-step loss and its gradient on the readout, the reported logits, and the
optimiser step on gradients computed by hand.

**The per-step loss.** The readout is the LI potential ``o_t = κ·o_{t-1} + W_out·s_t + b_out``. The loss is a
sum of per-step terms, ``E = Σ_t Σ_b w_{t,b}·ℓ(o_{t,b}, y_b)``, so that its gradient on ``o_t`` is known at
step ``t`` (online). Per objective loss (``Objective.loss``):

* ``"last"`` -- the loss at the sample's last valid step only: ``w_{t,b} = [t = T_b − 1] / B``,
  ``ℓ = CE(softmax(o_t), y)`` (with label smoothing). This *is* the objective's loss (the one ``bptt`` trains
  and evaluation reports).
* ``"mean"`` -- the per-step cross-entropy averaged over the valid steps: ``w_{t,b} = [t < T_b] / (T_b·B)``.
  The objective's ``"mean"`` is the cross-entropy of the readout's mean; cross-entropy is convex in the
  logits, so ``(1/T_b)·Σ_t CE(o_t) ≥ CE((1/T_b)·Σ_t o_t)`` (Jensen): the per-step loss is an upper bound of
  the objective's loss, the one OTTT (Xiao et al. 2022) and e-prop's framewise tasks (Bellec et al. 2020)
  minimise. Evaluation still reports the objective's loss.
* ``"mse"`` -- regression (real targets, one readout unit): ``ℓ = (o_t − y)²`` at the last valid step,
  ``w_{t,b} = [t = T_b − 1] / B``: the objective's loss.

The other losses are refused: ``"max"`` (the maximum over time has no per-step decomposition), ``"sum"``
(its per-step bound ``CE(T·o_t)`` changes the scale of the logits with ``T``) and the spike losses
(``"rate"``, ``"first_spike"``: they need a spiking readout, and these methods step an LI readout).

The gradients: ``∂E/∂o_t = w_t·(softmax(o_t) − q)`` with ``q = (1−ε)·onehot(y) + ε/K`` (label smoothing
``ε``), and ``∂E/∂o_t = 2·w_t·(o_t − y)`` for ``"mse"``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["ONLINE_LOSSES", "Network", "apply_gradients", "check_config", "check_objective", "check_rows",
           "draw_noise_t", "network_of", "readout_update", "step_loss"]

#: The objective losses the online methods train (see the module docstring).
ONLINE_LOSSES = ("last", "mean", "mse")


class Network(NamedTuple):
    """The layers of a model an online method steps by hand: ``synapses`` (one
    :class:`~spikeforge.synapse.Linear` per hidden layer, then the readout's), ``neurons`` (one
    :class:`~spikeforge.neuron.Neuron` per hidden layer), ``recurrent`` (the hidden layer's
    :class:`~spikeforge.synapse.Recurrent`, or ``None``) and the :class:`~spikeforge.neuron.LI` ``readout``."""

    synapses: tuple[nn.Module, ...]
    neurons: tuple[nn.Module, ...]
    recurrent: tuple[nn.Module | None, ...]
    readout: nn.Module


def _check_neuron(neuron: nn.Module, where: str, method: str) -> None:
    from spikeforge.neuron import Neuron

    if not isinstance(neuron, Neuron):
        raise ValueError(f"model: method {method!r} steps the general neuron (spikeforge.LIF, AdaptiveLIF, ...); "
                         f"{where} is a {type(neuron).__name__}")
    spec = neuron.spec
    problems = []
    if neuron.is_complex:
        problems.append("a complex potential")
    if spec.cuba:
        problems.append("a synaptic current (CuBa, tau_syn)")
    if spec.reset not in ("soft", "hard", "none"):
        problems.append(f"reset={spec.reset!r} (expected 'soft', 'hard' or 'none')")
    if spec.order != ("integrate", "fire", "reset"):
        problems.append(f"order={spec.order!r} (expected 'integrate-fire-reset')")
    if spec.adaptive and spec.max_spikes != 1:
        problems.append("graded spikes with an adaptive threshold")
    trained = [n for n, p in neuron.named_parameters() if p.requires_grad]
    if trained:
        problems.append(f"learnable neuron parameters {trained} (it trains synaptic weights and biases only)")
    if problems:
        raise ValueError(f"model: method {method!r} does not support {where} with " + "; ".join(problems))


def network_of(model: nn.Module, method: str, *, recurrent: bool, max_hidden: int | None = None) -> Network:
    """The layers of ``model``: a :class:`spikeforge.nets.Sequential` ``Linear, neuron, ..., Linear, LI`` (the
    ``mlp`` family; with ``recurrent``, also the ``recurrent`` family's ``Recurrent`` populations), at most
    ``max_hidden`` hidden layers. Any other structure is a ``ValueError`` naming the layer."""
    from spikeforge.nets import Sequential
    from spikeforge.neuron import LI
    from spikeforge.synapse import Linear, Recurrent

    families = "the mlp family (spikeforge.nets.mlp" + (" or rsnn" if recurrent else "") + ": Linear, LIF "
    families += "neurons" + (" or Recurrent LIF/ALIF populations" if recurrent else "") + ", an LI readout)"
    if not isinstance(model, Sequential):
        raise ValueError(f"model: method {method!r} trains {families}; got a {type(model).__name__}")
    layers = list(model.named_children())
    if len(layers) < 4 or len(layers) % 2:
        raise ValueError(f"model: method {method!r} trains {families}: layers Linear, neuron, ..., Linear, LI; got "
                         f"{len(layers)} layers ({', '.join(type(m).__name__ for _, m in layers)})")
    synapses, neurons, recs = [], [], []
    for k, (name, layer) in enumerate(layers):
        where = f"layer {name} ({type(layer).__name__})"
        if k % 2 == 0:
            if type(layer) is not Linear:
                raise ValueError(f"model: method {method!r} trains {families}; {where} is not a "
                                 "spikeforge.synapse.Linear")
            synapses.append(layer)
        elif k == len(layers) - 1:
            if not isinstance(layer, LI):
                raise ValueError(f"model: method {method!r} trains {families}; the readout, {where}, is not an LI")
            if layer.tau.requires_grad:
                raise ValueError(f"model: method {method!r} does not train the readout's tau; {where} has a "
                                 "learnable tau")
        elif isinstance(layer, Recurrent):
            if not recurrent:
                raise ValueError(f"model: method {method!r} trains {families}; {where} has recurrent synapses")
            _check_neuron(layer.neuron, f"{where}'s neuron", method)
            neurons.append(layer.neuron)
            recs.append(layer)
        else:
            _check_neuron(layer, where, method)
            neurons.append(layer)
            recs.append(None)
    if max_hidden is not None and len(neurons) > max_hidden:
        raise ValueError(f"model: method {method!r} trains networks with at most {max_hidden} hidden layer"
                         f"{'s' if max_hidden > 1 else ''}; got {len(neurons)}")
    for (a, s_in), (b, s_out) in zip(layers[0:-2:2], layers[2::2]):
        if s_in.out_features != s_out.in_features:  # (a Sequential of mismatched layers would fail anyway)
            raise ValueError(f"model: layer {a} gives {s_in.out_features} features, layer {b} takes "
                             f"{s_out.in_features}")
    return Network(tuple(synapses), tuple(neurons), tuple(recs), layers[-1][1])


def check_objective(objective, method: str) -> None:
    """Refuse an objective the online methods cannot train (see the module docstring)."""
    if objective.loss not in ONLINE_LOSSES:
        raise ValueError(f"loss: method {method!r} trains a per-step loss: 'last' (at the last valid step), 'mean' "
                         f"(the per-step cross-entropy averaged over the valid steps) or 'mse'; got "
                         f"{objective.loss!r}")
    if float(objective.rate_reg) > 0:
        raise ValueError(f"rate_reg: method {method!r} has no firing-rate regulariser; expected 0, got "
                         f"{objective.rate_reg!r}")


def check_rows(batch, classes: int, loss: str) -> None:
    """The batch's targets against the readout: labels ``[B]`` in ``[0, classes)``, or real targets ``[B]`` and
    one readout unit for ``"mse"``."""
    steps, rows = batch.x.shape[:2]
    if tuple(batch.y.shape) != (rows,):
        raise ValueError(f"y: expected targets of shape [B] = ({rows},), got {tuple(batch.y.shape)}")
    if loss == "mse":
        if classes != 1:
            raise ValueError(f"mse: expected a readout of one unit for real targets, got {classes} units")
    elif batch.y.is_floating_point():
        raise ValueError(f"y: loss {loss!r} expects integer class labels, got dtype {batch.y.dtype}")
    lengths = batch.lengths
    if tuple(lengths.shape) != (rows,) or bool((lengths < 1).any()) or bool((lengths > steps).any()):
        raise ValueError(f"lengths: expected [B] = ({rows},) values in [1, T={steps}], got {lengths.tolist()}")


def step_loss(o_t: torch.Tensor, y: torch.Tensor, t: int, lengths: torch.Tensor, loss: str,
              smoothing: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Step ``t``'s share of the loss: ``(E_t, ∂E_t/∂o_t [B, K], weights w_t [B])`` (see the module
    docstring)."""
    rows = o_t.shape[0]
    if loss == "mean":
        w = (t < lengths).to(o_t.dtype) / (lengths.to(o_t.dtype) * rows)
    else:
        w = (t == lengths - 1).to(o_t.dtype) / rows
    if loss == "mse":
        err = o_t[:, 0] - y.to(o_t.dtype)
        return (w * err * err).sum(), (2 * w * err)[:, None], w
    classes = o_t.shape[1]
    q = F.one_hot(y.long(), classes).to(o_t.dtype)
    if smoothing:
        q = (1 - smoothing) * q + smoothing / classes
    logp = torch.log_softmax(o_t, dim=1)
    value = -(w[:, None] * q * logp).sum()
    return value, w[:, None] * (logp.exp() - q), w


def readout_update(logits: torch.Tensor, o_t: torch.Tensor, t: int, lengths: torch.Tensor, loss: str) -> torch.Tensor:
    """The logits the objective reports, accumulated step by step: the readout at the last valid step, or
    (``"mean"``) its mean over the valid steps."""
    if loss == "mean":
        return logits + o_t * ((t < lengths).to(o_t.dtype) / lengths.to(o_t.dtype))[:, None]
    return torch.where((t == lengths - 1)[:, None], o_t, logits)


def draw_noise_t(neuron: nn.Module, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor | None:
    """One step's threshold noise of a stochastic neuron (from torch's global generator), else ``None``."""
    from spikeforge.neuron.dynamics import draw_noise

    noise = draw_noise(neuron.spec, (1, *shape), dtype=like.dtype, device=like.device, generator=None)
    return None if noise is None else noise[0]


def apply_gradients(model: nn.Module, optimizer: torch.optim.Optimizer,
                    grads: Sequence[tuple[torch.Tensor, torch.Tensor]], objective) -> None:
    """Set ``param.grad`` (times ``objective.loss_weight``) for the given pairs, none for the model's other
    parameters, clip to ``objective.grad_clip`` and take the optimiser step."""
    optimizer.zero_grad(set_to_none=True)
    for p in model.parameters():
        p.grad = None
    weight = float(getattr(objective, "loss_weight", 1.0))
    for p, g in grads:
        if not bool(torch.isfinite(g).all()):
            lr = optimizer.param_groups[0].get("lr") if optimizer.param_groups else None
            raise FloatingPointError(f"gradient: not finite; lower the learning rate (lr={lr}) or set grad_clip")
        p.grad = (g if weight == 1.0 else g * weight).to(p.dtype)
    if objective.grad_clip is not None:
        nn.utils.clip_grad_norm_([p for p, _ in grads], objective.grad_clip)
    optimizer.step()


def check_config(config, method: str, *, families: Sequence[str], max_hidden: int | None) -> None:
    """What :func:`network_of` and :func:`check_objective` would refuse, said before a run builds its model:
    the family, the number of hidden layers, the loss, learnable neuron parameters."""
    from spikeforge.learn.config import ConfigError

    if config.model not in families:
        raise ConfigError("model", f"method {method!r} trains the families {list(families)}; got {config.model!r}")
    if max_hidden is not None and len(config.hidden) > max_hidden:
        raise ConfigError("hidden", f"method {method!r} trains at most {max_hidden} hidden layer"
                                    f"{'s' if max_hidden > 1 else ''}; got {list(config.hidden)}")
    if config.loss not in ONLINE_LOSSES:
        raise ConfigError("loss", f"method {method!r} trains a per-step loss: 'last', 'mean' (per-step "
                                  f"cross-entropy averaged over the valid steps) or 'mse'; got {config.loss!r}")
    if float(config.rate_reg) > 0:
        raise ConfigError("rate_reg", f"method {method!r} has no firing-rate regulariser; expected 0, got "
                                      f"{config.rate_reg!r}")
    if config.learnable:
        raise ConfigError("learnable", f"method {method!r} trains synaptic weights and biases only; expected no "
                                       f"learnable neuron parameters, got {list(config.learnable)}")

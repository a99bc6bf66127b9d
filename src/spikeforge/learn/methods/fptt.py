r"""``fptt``: forward propagation through time (Kag & Saligrama, ICML 2021), for spiking networks as in Yin,
Corradi & Bohte (Nature Machine Intelligence 2023, "sFPTT").

The network runs forward through the batch one window of ``k`` steps at a time (``k = 1``: one step, the
paper's FPTT), from the state the previous window ended in, detached (no gradient crosses a window boundary),
and takes **one optimizer step per window** on the dynamically regularised loss

.. math:: \ell_w(W) = l_w(W) - (1 - \rho)\,\langle W, \lambda \rangle + \frac{\alpha}{2}\,\| W - \bar W \|^2

then updates the multipliers :math:`\lambda` and the running average :math:`\bar W` of every parameter with the
new weights :math:`W`:

.. math:: \lambda \leftarrow \lambda - \alpha\,(W - \bar W), \qquad
          \bar W \leftarrow (1 - \beta)\,\bar W + \beta\, W - \frac{\beta}{\alpha}\,\lambda

(with :math:`\beta = 1/2`, :math:`\rho = 0`: :math:`\bar W \leftarrow \tfrac12(\bar W + W) -
\tfrac1{2\alpha}\lambda`, Kag & Saligrama's Algorithm 1). At the first step :math:`\bar W = W`, :math:`\lambda =
0`. :math:`\lambda` and :math:`\bar W` live in ``optimizer.state[p]`` (keys ``fptt_lambda``, ``fptt_mean``), so
checkpoints carry them and a resumed run is bit-identical to an uninterrupted one.

The data term :math:`l_w` (sFPTT's time-weighted loss): sample ``b`` (length :math:`L_b`) counts in every
window that starts before :math:`L_b`, with the objective's per-sample loss :math:`\ell` on the readout at
the window's last valid step :math:`e = \min(t_1, L_b) - 1`, weighted by :math:`(e + 1)/L_b`
(``weighting="linear"``, sFPTT's :math:`t/T`) or by 1 (``"uniform"``):
:math:`l_w = \frac1B \sum_b \omega_{w,b}\, \ell(o_{e,b}, y_b)`. :math:`\ell`: the squared error for ``"mse"``,
else the cross-entropy of the readout at that step as logits (the time reductions ``mean``/``sum``/``max`` of
whole-sequence training do not apply to one step); the last window of a sample always has weight 1.
``objective.loss_weight`` multiplies :math:`l_w` (sharding); ``grad_clip`` clips the whole gradient.

Options (defaults of Yin et al.'s sFPTT code): ``alpha`` 0.1, ``beta`` 0.5, ``rho`` 0, ``k`` 1,
``weighting`` ``"linear"``. Memory: the graph of one window, independent of ``T``
(``benchmarks/method_memory.py``). Models: as :mod:`~spikeforge.learn.methods.tbptt` (a
:class:`spikeforge.nets.Sequential` whose layers carry their state or act per step).

The loss reported per batch is the objective's whole-sequence loss of the concatenated (detached) readout,
as BPTT reports it (each window's readout computed with the weights of that moment).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import torch
from torch import nn
from torch.nn import functional as F

from spikeforge.learn.losses import REGRESSION_LOSSES, classification_loss
from spikeforge.learn.methods import Method, StepResult
from spikeforge.learn.methods._windows import carried_model, check_window_loss, run_windows

if TYPE_CHECKING:
    from spikeforge.learn.loop import Objective

__all__ = ["METHOD", "WEIGHTINGS", "fptt_step", "window_data_loss"]

WEIGHTINGS = ("linear", "uniform")
MEAN, LAMBDA = "fptt_mean", "fptt_lambda"


def _check(params: dict[str, Any]) -> None:
    for name in ("alpha", "beta", "rho"):
        value = params[name]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"{name}: expected a finite number, got {value!r}")
    if not params["alpha"] > 0:
        raise ValueError(f"alpha: expected a number > 0, got {params['alpha']!r}")
    if not 0 < params["beta"] <= 1:
        raise ValueError(f"beta: expected a number in (0, 1], got {params['beta']!r}")
    k = params["k"]
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k: expected an integer >= 1 (steps per update), got {k!r}")
    if params["weighting"] not in WEIGHTINGS:
        raise ValueError(f"weighting: expected one of {WEIGHTINGS}, got {params['weighting']!r}")


def window_data_loss(out: torch.Tensor, t0: int, y: torch.Tensor, lengths: torch.Tensor, reduce: str,
                     weighting: str = "linear", label_smoothing: float = 0.0) -> torch.Tensor | None:
    """:math:`l_w` of the window ``[t0, t0 + len(out))`` (module docstring); ``None`` when no sample is still
    running in it."""
    check_window_loss(reduce, "fptt")
    steps, batch = int(out.shape[0]), int(out.shape[1])
    lengths = lengths.to(out.device).long()
    rows = torch.nonzero(lengths > t0).flatten()
    if rows.numel() == 0:
        return None
    end = torch.clamp(lengths[rows], max=t0 + steps) - 1  # the window's last valid step of each sample
    pred = out[end - t0, rows]
    if reduce in REGRESSION_LOSSES:
        if pred.shape[1] != 1:
            raise ValueError(f"mse: expected a readout [T, B, 1], got {tuple(out.shape)}")
        per = (pred[:, 0] - y[rows].to(pred.dtype)) ** 2
    else:
        per = F.cross_entropy(pred, y[rows], label_smoothing=label_smoothing, reduction="none")
    if weighting == "linear":
        per = per * ((end + 1).to(per.dtype) / lengths[rows].to(per.dtype))
    return per.sum() / batch


@torch.no_grad()
def _regularise(optimizer: torch.optim.Optimizer, alpha: float, rho: float
                ) -> dict[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    r"""Before ``optimizer.step()``: add the regulariser's gradient :math:`\alpha(W - \bar W) - (1 - \rho)
    \lambda` to every parameter's gradient; returns each parameter's :math:`(\bar W, \lambda)`."""
    start: dict[torch.Tensor, tuple[torch.Tensor, torch.Tensor]] = {}
    for group in optimizer.param_groups:
        for p in group["params"]:
            if not p.requires_grad:
                continue
            st = optimizer.state.get(p, {})
            if MEAN in st:
                mean, lam = st[MEAN], st[LAMBDA]
            else:  # the first step: W_bar = W, lambda = 0 (stored after the step: Adam initialises on empty state)
                mean, lam = p.detach().clone(), torch.zeros_like(p)
            start[p] = (mean, lam)
            reg = alpha * (p - mean) - (1.0 - rho) * lam
            p.grad = reg if p.grad is None else p.grad.add_(reg)
    return start


@torch.no_grad()
def _after_step(optimizer: torch.optim.Optimizer, start: dict[torch.Tensor, tuple[torch.Tensor, torch.Tensor]],
                alpha: float, beta: float) -> None:
    """After ``optimizer.step()``: the multipliers and the running mean from the new weights."""
    for p, (mean, lam) in start.items():
        lam = lam - alpha * (p - mean)
        mean = (1.0 - beta) * mean + beta * p - (beta / alpha) * lam
        optimizer.state[p][LAMBDA] = lam
        optimizer.state[p][MEAN] = mean


def fptt_step(model: nn.Module, batch, optimizer: torch.optim.Optimizer, objective: Objective) -> StepResult:
    """One batch of FPTT (module docstring): an optimizer step per window of ``k`` steps."""
    params = METHOD.params(objective.method_params)
    alpha, beta, rho = float(params["alpha"]), float(params["beta"]), float(params["rho"])
    carried_model(model, "fptt")
    check_window_loss(objective.loss, "fptt")
    weight = getattr(objective, "loss_weight", 1.0)
    readout = None
    for t0, t1, out, _state in run_windows(model, batch.x, params["k"]):
        if readout is None:  # one buffer for the whole batch: many small kept tensors fragment the heap
            readout = out.new_empty((batch.x.shape[0], *out.shape[1:]))
        readout[t0:t1] = out.detach()
        loss = window_data_loss(out, t0, batch.y, batch.lengths, objective.loss, params["weighting"],
                                objective.label_smoothing)
        if loss is None:
            continue
        if not torch.isfinite(loss):
            lr = optimizer.param_groups[0].get("lr") if optimizer.param_groups else None
            raise FloatingPointError(f"loss: got {loss.item()} (not finite); lower the learning rate (lr={lr}) "
                                     f"or set grad_clip")
        optimizer.zero_grad(set_to_none=True)
        (loss if weight == 1.0 else loss * weight).backward()
        start = _regularise(optimizer, alpha, rho)
        if objective.grad_clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), objective.grad_clip)
        optimizer.step()
        _after_step(optimizer, start, alpha, beta)
    whole, logits = classification_loss(readout, batch.y, batch.lengths, objective.loss,
                                        objective.label_smoothing)
    return StepResult(float(whole), logits.detach())


METHOD = Method("fptt", fptt_step, "forward propagation through time: an optimizer step per time step (or window "
                "of k), the state detached, a dynamic regulariser (running mean, multipliers)",
                reference="Kag & Saligrama, ICML 2021; Yin, Corradi & Bohte, Nature Machine Intelligence 2023",
                options=(("alpha", 0.1), ("beta", 0.5), ("rho", 0.0), ("k", 1), ("weighting", "linear")),
                check=_check)

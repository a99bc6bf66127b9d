"""A toy online learning rule written on spikeforge's public step (docs/learning-rules.md).

One layer ``v*_t = λ·v_{t-1} + W·x_t`` of LIF neurons with a soft reset that is detached from the gradient
(``detach_reset=True``), trained on a per-step loss ``L = Σ_t ½‖s_t − y_t‖²``. The rule keeps one
eligibility trace per input, ``e_t = λ·e_{t-1} + x_t`` (the presynaptic trace low-pass filtered by the
membrane), and accumulates ``ΔW += ((s_t − y_t)·ψ_t) ⊗ e_t`` at every step, ``ψ_t`` being the surrogate
derivative at ``v*_t`` (the firing model's density). Memory does not grow with T, and no autograd graph is
built. For this network the rule equals backpropagation through time exactly: with the reset detached,
``∂v*_t/∂W = λ·∂v*_{t-1}/∂W + x_t`` is the trace itself. (With a reset that passes gradient, or with
recurrence, it is an approximation: that is where e-prop's learning signals come in.)

    python examples/online_rule.py     # trains on a random spike-pattern task and prints the loss
"""

from __future__ import annotations

import torch

import spikeforge as sf
from spikeforge.neuron.dynamics import traced_step


def online_update(weight: torch.Tensor, neuron: sf.Neuron, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``dL/dW`` of the per-step loss computed online, one step at a time (see the module docstring)."""
    params = neuron.params(x.dtype, x.device)
    state = neuron.initial_state(torch.empty(1, *x.shape[1:-1], weight.shape[0], dtype=x.dtype))
    lam = params.decay
    trace = torch.zeros_like(x[0])  # e_t, [B, K]
    grad = torch.zeros_like(weight)
    with torch.no_grad():
        for t in range(x.shape[0]):
            s_t, state, tr = traced_step(x[t] @ weight.t(), state, params, neuron.spec)
            trace = lam * trace + x[t]
            grad += ((s_t - target[t]) * tr.psi).t() @ trace
    return grad


def bptt_gradient(weight: torch.Tensor, neuron: sf.Neuron, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The same gradient by autograd through the whole sequence (the reference the rule is checked against)."""
    w = weight.detach().requires_grad_()
    spikes = neuron(x @ w.t())
    loss = 0.5 * ((spikes - target) ** 2).sum()
    (g,) = torch.autograd.grad(loss, w)
    return g


def main() -> None:
    torch.manual_seed(0)
    steps, batch, k, n = 50, 8, 20, 5
    x = (torch.rand(steps, batch, k) < 0.2).double()
    target = (torch.rand(steps, batch, n) < 0.1).double()
    neuron = sf.LIF(tau=5.0, threshold=0.5, firing=sf.Gaussian(0.3), detach_reset=True, dtype=torch.float64)
    weight = torch.randn(n, k, dtype=torch.float64) * 0.3
    for epoch in range(30):
        with torch.no_grad():
            loss = 0.5 * ((neuron(x @ weight.t()) - target) ** 2).sum().item()
        weight -= 0.02 * online_update(weight, neuron, x, target)
        if epoch % 10 == 0:
            print(f"epoch {epoch:2d}  loss {loss:.1f}")


if __name__ == "__main__":
    main()

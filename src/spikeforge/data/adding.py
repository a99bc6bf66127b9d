r"""The adding problem (Hochreiter & Schmidhuber 1997, "Long short-term memory", experiment 4): a regression
task whose answer depends on two inputs far apart in time.

Each sample is ``T`` steps of two input channels:

* channel 0, the values: :math:`u_t \sim U[0, 1]`, independent;
* channel 1, the markers: :math:`m_t = 1` at exactly two steps, :math:`a` drawn uniformly from the first half
  :math:`\{0, \dots, \lfloor T/2 \rfloor - 1\}` and :math:`b` from the second half
  :math:`\{\lfloor T/2 \rfloor, \dots, T - 1\}`; 0 elsewhere.

The target is the sum of the two marked values, :math:`y = u_a + u_b \in [0, 2]` (a real number; one readout
unit, trained with the ``"mse"`` loss on the readout at the last step). Always predicting the mean,
:math:`E[y] = 1`, scores the mean squared error :math:`\mathrm{Var}(y) = 2/12 = 1/6 \approx 0.1667`: a model
below that has learnt something. A sample counts as solved when :math:`|\hat y - y| < 0.04`, Hochreiter &
Schmidhuber's criterion (:data:`TOLERANCE`; the share of such samples is the ``accuracy`` that
:func:`spikeforge.learn.evaluate` reports for a regression set). Note that their targets were scaled to
:math:`[0, 1]` while here the sum itself is the target, so the criterion is twice as strict.

The data are a pure function of ``(T, seed, train_size, test_size)``: one ``torch.Generator`` seeded with
``seed`` draws the training samples, then the test samples. Default sizes: :data:`TRAIN_SIZE` training and
:data:`TEST_SIZE` test samples. The inputs go to the network as they are (no encoder: the values are input
currents).
"""

from __future__ import annotations

import torch

from spikeforge.data.split import SpikeDataset, Split
from spikeforge.encode.registry import Encoder

__all__ = ["TEST_SIZE", "TOLERANCE", "TRAIN_SIZE", "adding_samples", "load_adding"]

TRAIN_SIZE = 1000
TEST_SIZE = 200
#: Hochreiter & Schmidhuber's criterion: a prediction within this distance of the target solves the sample.
TOLERANCE = 0.04


def _count(name: str, value: object, least: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise ValueError(f"{name}: expected an integer >= {least}, got {value!r}")
    return value


def adding_samples(n: int, steps: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` samples of length ``steps``: inputs ``x [n, steps, 2]`` (values, markers) and targets ``y [n]``
    (float32), drawn from ``generator`` (values first, then the two marker positions)."""
    n, steps = _count("n", n, 0), _count("steps", steps, 2)
    values = torch.rand(n, steps, generator=generator, dtype=torch.float64)
    half = steps // 2
    first = torch.randint(0, half, (n,), generator=generator)
    second = torch.randint(half, steps, (n,), generator=generator)
    markers = torch.zeros(n, steps, dtype=torch.float64)
    rows = torch.arange(n)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    y = values[rows, first] + values[rows, second]
    return torch.stack([values, markers], dim=-1).to(torch.float32), y.to(torch.float32)


def load_adding(steps: int, *, seed: int = 0, train_size: int = TRAIN_SIZE, test_size: int = TEST_SIZE,
                encoder: Encoder | None = None) -> SpikeDataset:
    """The adding problem of length ``steps`` (see the module docstring) as a regression
    :class:`~spikeforge.data.SpikeDataset` named ``adding:<steps>``: float targets, the one output
    ``"sum"``, every sample ``steps`` long. ``encoder``: applied to the raw inputs (default none)."""
    steps = _count("steps", steps, 2)
    train_size, test_size = _count("train_size", train_size, 1), _count("test_size", test_size, 1)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed: expected an integer, got {seed!r}")
    gen = torch.Generator().manual_seed(seed)
    name = f"adding:{steps}"
    meta = {"source": "generated: the adding problem (Hochreiter & Schmidhuber 1997)", "task": "regression",
            "seed": seed, "steps": steps, "train_size": train_size, "test_size": test_size,
            "tolerance": TOLERANCE, "target": "u[a] + u[b], a in the first half, b in the second"}

    def split(n: int, which: str) -> Split:
        x, y = adding_samples(n, steps, gen)
        return Split(x, y, torch.full((n,), steps, dtype=torch.long), ("sum",), "series", encoder, which, meta)

    train = split(train_size, "train")
    return SpikeDataset(name, train, split(test_size, "test"), meta=meta)

"""A non-spiking network of the same size as the default spiking one, trained the same way.

Same data and input code, same layer sizes ``[24, 256, 9]``, same leaky-integrator readout, loss, optimizer,
schedule, epochs and seeds as ``spikeforge train``; only the LIF neurons are replaced by ReLU units. Also run
on the raw (standardised, un-encoded) series. Prints one line per setting and seed, and the mean.

    .venv/bin/python examples/nonspiking_baseline.py [--seeds 0 1 2 3 4] [--out runs/baseline]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from rich.console import Console
from torch import nn

from spikeforge.learn import TrainConfig, Trainer
from spikeforge.learn.models import build_model
from spikeforge.neuron import LI
from spikeforge.synapse import Linear


def relu_mlp(config: TrainConfig, in_channels: int, num_classes: int) -> nn.Module:
    """``Linear -> ReLU -> ... -> Linear -> LI readout`` with the sizes of ``config`` (time-major)."""
    from spikeforge.nets import Sequential

    sizes = [in_channels, *config.hidden, num_classes]
    layers: list[nn.Module] = []
    for k in range(len(sizes) - 1):
        layers.append(Linear(sizes[k], sizes[k + 1]))
        if k < len(sizes) - 2:
            layers.append(nn.ReLU())
    return Sequential(*layers, LI(tau=config.readout_tau))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--out", type=Path, default=None, help="keep the run folders here")
    args = parser.parse_args()
    console = Console()
    root = args.out or Path(tempfile.mkdtemp(prefix="spikeforge-baseline-"))
    settings = {
        "LIF SNN, delta spikes (spikeforge train)": (build_model, "default"),
        "ReLU ANN, delta spikes": (relu_mlp, "default"),
        "ReLU ANN, raw series": (relu_mlp, "current"),
    }
    for name, (factory, encoder) in settings.items():
        accs = []
        for seed in args.seeds:
            config = TrainConfig(seed=seed, encoder=encoder)
            out = root / f"{name.split(',')[0].split()[0].lower()}-{encoder}-seed{seed}"
            trainer = Trainer(config, out, progress=False, console=Console(quiet=True), plots=False,
                              model_factory=factory)
            trainer.start(overwrite=True)
            trainer.fit()
            metrics = trainer.finalize()
            accs.append(metrics["test_accuracy"])
            console.print(f"{name:42s} seed {seed}: test accuracy {metrics['test_accuracy']:.4f}, "
                          f"synaptic ops/sample {metrics['synaptic_ops_per_sample']:.4g} "
                          f"(MACs {metrics['effective_macs_per_sample']:.4g}), "
                          f"{trainer.train_seconds:.1f} s")
        spread = statistics.stdev(accs) if len(accs) > 1 else 0.0
        console.print(f"[bold]{name:42s} mean {statistics.mean(accs):.4f} ± {spread:.4f} over {len(accs)} seeds[/]")


if __name__ == "__main__":
    main()

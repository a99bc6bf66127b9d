"""``spikeforge export RUN --nir FILE``: write a trained model as a NIR graph (see docs/nir.md).

``RUN`` is a training-run folder (``config.json`` and a checkpoint, read by
``spikeforge.learn.trainer.load_run`` when that exists) or a model file saved with
``torch.save(model, "model.pt")`` (``.pt``/``.pth``; unpickled, so only load files you trust).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from torch import nn

MODEL_SUFFIXES = (".pt", ".pth")
RUN_MODEL_FILE = "model.pt"  # a whole-model file inside a run folder, used when no run loader exists


def _load_model_file(path: Path) -> nn.Module:
    import torch

    try:
        model = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # unpickling errors come in many types
        raise ValueError(f"RUN: cannot load a model from {path}: {type(e).__name__}: {e}") from e
    if not isinstance(model, nn.Module):
        raise ValueError(f"RUN: expected {path} to hold a whole model saved with torch.save(model, ...), got "
                         f"{type(model).__name__} (a state_dict needs the run folder and its config.json)")
    return model


def load_run_model(run: str | Path) -> nn.Module:
    """The model of a training run folder, or of a ``.pt``/``.pth`` model file.

    Raises ``FileNotFoundError`` for a missing path and ``ValueError`` when the path holds no model this
    spikeforge can load.
    """
    path = Path(run)
    if not path.exists():
        raise FileNotFoundError(f"RUN: no run folder or model file at {path}")
    if path.is_file():
        if path.suffix not in MODEL_SUFFIXES:
            raise ValueError(f"RUN: expected a run folder or a model file ({', '.join(MODEL_SUFFIXES)}), got {path}")
        return _load_model_file(path)
    if (path / RUN_MODEL_FILE).is_file() and not (path / "run.json").is_file():
        return _load_model_file(path / RUN_MODEL_FILE)
    if (path / "config.json").is_file():
        from spikeforge.learn.trainer import load_run

        model = load_run(path)
        if not isinstance(model, nn.Module):
            raise ValueError(f"RUN: spikeforge.learn.trainer.load_run({str(path)!r}) returned "
                             f"{type(model).__name__}, expected a torch.nn.Module")
        return model
    raise ValueError(f"RUN: {path} is neither a training run (no config.json) nor holds a {RUN_MODEL_FILE}")


def _shape(text: str) -> tuple[int, ...]:
    try:
        dims = tuple(int(s) for s in text.replace("x", ",").split(",") if s.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers like 2,32,32, got {text!r}") from None
    if not dims or any(d < 1 for d in dims):
        raise argparse.ArgumentTypeError(f"expected positive integers like 2,32,32, got {text!r}")
    return dims


def register(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "export", help="write a trained model as a NIR graph",
        description="Export a training run (or a torch.save'd model file) to the Neuromorphic Intermediate "
                    "Representation. See docs/nir.md for the mapping of the dynamics.",
    )
    p.add_argument("run", metavar="RUN", help="training run folder, or a model file (.pt/.pth)")
    p.add_argument("--nir", metavar="FILE", required=True, help="the .nir file to write (atomically)")
    p.add_argument("--dt", type=float, default=None, help="graph time step (default: the neurons' dt)")
    p.add_argument("--discretization", choices=("exact", "euler"), default="exact",
                   help="exact: λ = exp(-dt/τ); euler: λ = 1 - dt/τ (snnTorch's convention)")
    p.add_argument("--input-shape", type=_shape, default=None, metavar="DIMS",
                   help="input feature shape, e.g. 2,32,32 (needed when the first layer is a convolution)")
    p.add_argument("--extensions", action="store_true",
                   help="record what NIR cannot express (soft reset, graded spikes, ...) as spikeforge metadata")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from spikeforge.interop import to_nir, write_nir

    try:
        model = load_run_model(args.run)
        graph = to_nir(model, args.dt, discretization=args.discretization, input_shape=args.input_shape,
                       extensions=args.extensions)
        path = write_nir(graph, args.nir)
    except (FileNotFoundError, IsADirectoryError, ValueError, TypeError) as e:
        print(f"spikeforge export: error: {e}", file=sys.stderr)
        return 2
    n = len([k for k in graph.nodes if k not in ("input", "output")])
    print(f"wrote {path}: {n} layers, dt={graph.metadata['dt']:g}, discretization={args.discretization}")
    return 0

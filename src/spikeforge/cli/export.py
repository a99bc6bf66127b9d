"""``spikeforge export RUN --nir FILE``: write a trained model as a NIR graph (see docs/nir.md).

``RUN`` is a training-run folder (``config.json`` and a checkpoint, read by
``spikeforge.learn.trainer.load_run`` when that exists) or a model file saved with
``torch.save(model, "model.pt")`` (``.pt``/``.pth``). Model files are read with
``torch.load(weights_only=True)``: only tensors, plain containers and the layer classes of spikeforge and
``torch.nn`` are rebuilt, so a file cannot run code on this machine.
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
import pickle
import re
import sys
from pathlib import Path

from torch import nn

MODEL_SUFFIXES = (".pt", ".pth")
RUN_MODEL_FILE = "model.pt"  # a whole-model file inside a run folder, used when no run loader exists
# the packages whose classes a whole-model file may name: spikeforge's layers and what they hold
_LAYER_PACKAGES = ("spikeforge.neuron", "spikeforge.kernels", "spikeforge.synapse", "spikeforge.nets",
                   "spikeforge.interop.layers")


def _in_packages(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def model_file_classes() -> list[type]:
    """The classes :func:`load_run_model` lets a ``.pt`` model file name: the ``nn.Module`` subclasses of
    spikeforge's layer packages and of ``torch.nn``, and the dataclasses and enums of spikeforge's layer
    packages (neuron specs, firing models). No functions: a pickle can only rebuild these objects, never
    call ``os.system``, ``exec`` or the like."""
    import importlib

    import torch.nn.modules  # noqa: F401  (the torch.nn layer modules)

    for package in (*_LAYER_PACKAGES, "spikeforge.kernels.lean"):  # lean: the fused layers, imported lazily
        importlib.import_module(package)
    classes: dict[str, type] = {}
    for name, module in list(sys.modules.items()):
        ours = _in_packages(name, _LAYER_PACKAGES)
        if module is None or not (ours or _in_packages(name, ("torch.nn.modules",))):
            continue
        for obj in vars(module).values():
            if not isinstance(obj, type) or obj.__module__ != name:
                continue
            value_class = ours and (dataclasses.is_dataclass(obj) or issubclass(obj, enum.Enum))
            if issubclass(obj, nn.Module) or value_class:
                classes[f"{obj.__module__}.{obj.__qualname__}"] = obj
    return [classes[k] for k in sorted(classes)]


def _refused(path: Path, error: Exception) -> str:
    import torch

    names: list[str] = []
    finder = getattr(torch.serialization, "get_unsafe_globals_in_checkpoint", None)
    if finder is not None:
        try:  # lists the globals of the pickle without running it
            allowed = {f"{c.__module__}.{c.__qualname__}" for c in model_file_classes()}
            names = [n for n in finder(path) if n not in allowed]
        except Exception:
            names = []
    if not names:
        names = re.findall(r"GLOBAL (\S+) was not an allowed global", str(error))
    what = (f"it names {', '.join(names[:4])}{', ...' if len(names) > 4 else ''}, which "
            f"{'is' if len(names) == 1 else 'are'} not spikeforge or torch.nn layer classes") if names \
        else f"torch.load(weights_only=True) refused it ({' '.join(str(error).split())[:200]})"
    return (f"RUN: refusing to load {path}: {what}. Model files are loaded without running code, so they "
            f"may hold only tensors and spikeforge's or torch.nn's layers; if you trust the file, load it "
            f"yourself (torch.load(path, weights_only=False)) and export with spikeforge.interop.to_nir")


def _load_model_file(path: Path) -> nn.Module:
    import torch

    safe_globals = getattr(torch.serialization, "safe_globals", None)
    if safe_globals is None:
        raise ValueError(f"RUN: loading a model file without running its code needs torch >= 2.5 "
                         f"(torch.serialization.safe_globals), got torch {torch.__version__}; export the "
                         f"training run folder instead")
    try:
        with safe_globals(model_file_classes()):  # the allow-list is restored when the block ends
            model = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "weights only" in str(e).lower() or "weightsunpickler" in str(e).lower():
            raise ValueError(_refused(path, e)) from None
        raise ValueError(f"RUN: cannot load a model from {path}: {' '.join(str(e).split())}") from None
    except Exception as e:  # truncated files, zip errors, ...: many types
        raise ValueError(f"RUN: cannot load a model from {path}: {type(e).__name__}: "
                         f"{' '.join(str(e).split())}") from None
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


# the Python argument names that begin error messages -> what the user typed on the command line
_TYPED = {"path": "--nir", "dt": "--dt", "discretization": "--discretization", "input_shape": "--input-shape",
          "fold_r": "--fold-r", "model": "RUN", "run": "RUN"}


def as_typed(message: str, typed: dict[str, str]) -> str:
    """``message`` with a leading Python argument name (``"path: ..."``) replaced by the option or argument
    the user typed (``"--nir: ..."``)."""
    head, sep, rest = message.partition(": ")
    return f"{typed[head]}: {rest}" if sep and head in typed else message


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
    p.add_argument("run", metavar="RUN", help="training run folder, or a model file (.pt/.pth; loaded with "
                   "torch.load(weights_only=True): only spikeforge and torch.nn layers, no code)")
    p.add_argument("--nir", metavar="FILE", required=True, help="the .nir file to write (atomically)")
    p.add_argument("--dt", type=float, default=None, help="graph time step (default: the neurons' dt)")
    p.add_argument("--discretization", choices=("exact", "euler"), default="exact",
                   help="exact: λ = exp(-dt/τ); euler: λ = 1 - dt/τ (snnTorch's convention)")
    p.add_argument("--input-shape", type=_shape, default=None, metavar="DIMS",
                   help="input feature shape, e.g. 2,32,32 (needed when the first layer is a convolution)")
    p.add_argument("--extensions", action="store_true",
                   help="record what NIR cannot express (soft reset, graded spikes, ...) as spikeforge metadata")
    p.add_argument("--fold-r", action="store_true",
                   help="write r = 1 on leaky neurons, their r folded into the weights before them: the same "
                        "dynamics, in the form Norse reads (with --discretization euler; docs/nir.md)")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from spikeforge.interop import to_nir, write_nir

    try:
        model = load_run_model(args.run)
        graph = to_nir(model, args.dt, discretization=args.discretization, input_shape=args.input_shape,
                       extensions=args.extensions, fold_r=args.fold_r)
        path = write_nir(graph, args.nir)
    except (FileNotFoundError, IsADirectoryError, ValueError, TypeError) as e:
        print(f"spikeforge export: error: {as_typed(str(e), _TYPED)}", file=sys.stderr)
        return 2
    n = len([k for k in graph.nodes if k not in ("input", "output")])
    print(f"wrote {path}: {n} layers, dt={graph.metadata['dt']:g}, discretization={args.discretization}"
          + (", r folded into the weights" if args.fold_r else ""))
    return 0

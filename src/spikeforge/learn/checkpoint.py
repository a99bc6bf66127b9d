"""Checkpoints as safetensors files, written atomically (a temporary file in the same folder, flushed to
disk, then ``os.replace``), so a crash never leaves a half-written checkpoint behind.

A training checkpoint holds, besides the model's ``state_dict`` (keys ``model.*``), everything an
uninterrupted run would still have in memory: the optimizer's state (``optim.*`` tensors, the rest in the
metadata), the random number generators' states (``rng.*``) and a JSON ``trainer`` record (epoch,
history). safetensors stores tensors plus a ``str -> str`` metadata mapping, so non-tensor values travel
as JSON strings.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from spikeforge._io import atomic_write_bytes, atomic_write_text

__all__ = [
    "atomic_write_bytes",
    "atomic_write_text",
    "load_checkpoint",
    "optimizer_from_flat",
    "optimizer_to_flat",
    "save_checkpoint",
]


def optimizer_to_flat(state: Mapping[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split an optimizer ``state_dict`` into tensors (``optim.state.<param>.<name>``) and JSON values."""
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for idx, entry in state["state"].items():
        for name, value in entry.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim.state.{idx}.{name}"] = value.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(idx), {})[name] = value
    return tensors, {"scalars": scalars, "param_groups": state["param_groups"]}


def optimizer_from_flat(tensors: Mapping[str, torch.Tensor], meta: Mapping[str, Any]) -> dict[str, Any]:
    """Inverse of :func:`optimizer_to_flat`: an optimizer ``state_dict``."""
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if not key.startswith("optim.state."):
            continue
        idx, name = key[len("optim.state."):].split(".", 1)
        state.setdefault(int(idx), {})[name] = value
    for idx, entry in meta.get("scalars", {}).items():
        state.setdefault(int(idx), {}).update(entry)
    return {"state": state, "param_groups": [dict(g) for g in meta["param_groups"]]}


def save_checkpoint(
    path: str | Path,
    model: torch.nn.Module,
    *,
    optimizer: torch.optim.Optimizer | None = None,
    rng: Mapping[str, torch.Tensor] | None = None,
    record: Mapping[str, Any] | None = None,
) -> Path:
    """Write model (and optimizer, RNG states, a JSON ``record``) to ``path`` atomically."""
    from safetensors.torch import save

    path = Path(path)
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    metadata = {"format": "spikeforge-checkpoint", "version": "1"}
    if optimizer is not None:
        opt_tensors, opt_meta = optimizer_to_flat(optimizer.state_dict())
        tensors.update(opt_tensors)
        metadata["optimizer"] = json.dumps(opt_meta)
    for name, state in (rng or {}).items():
        tensors[f"rng.{name}"] = state.detach().cpu().contiguous()
    if record is not None:
        metadata["trainer"] = json.dumps(record)
    # safetensors refuses tensors that share memory; clone any that do.
    seen: set[int] = set()
    for key, value in tensors.items():
        ptr = value.data_ptr() if value.numel() else -id(value)
        if ptr in seen:
            tensors[key] = value.clone()
        seen.add(ptr)
    atomic_write_bytes(path, save(tensors, metadata=metadata))
    return path


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint: ``{"model": state_dict, "optimizer": state_dict | None, "rng": {...},
    "record": {...} | None}``. Errors name the file and what is wrong."""
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: checkpoint not found")
    tensors: dict[str, torch.Tensor] = {}
    try:
        with safe_open(str(path), framework="pt") as fh:
            metadata = fh.metadata() or {}
            for key in fh.keys():
                tensors[key] = fh.get_tensor(key)
    except (SafetensorError, OSError, ValueError) as exc:
        raise ValueError(f"{path}: not a readable safetensors checkpoint ({exc})") from None
    if metadata.get("format") != "spikeforge-checkpoint":
        raise ValueError(f"{path}: not a spikeforge checkpoint (metadata format={metadata.get('format')!r})")
    model = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    rng = {k[len("rng."):]: v for k, v in tensors.items() if k.startswith("rng.")}
    optimizer = None
    if "optimizer" in metadata:
        optimizer = optimizer_from_flat(tensors, json.loads(metadata["optimizer"]))
    record = json.loads(metadata["trainer"]) if "trainer" in metadata else None
    return {"model": model, "optimizer": optimizer, "rng": rng, "record": record}

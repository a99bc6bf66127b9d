"""Small argument checks shared by layers with per-neuron parameters, and the gradient reduction shared by the
scan backends."""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["check_features", "per_neuron", "sum_to"]


def per_neuron(name: str, value, shape: Sequence[int] | None, dtype=None) -> torch.Tensor:
    t = torch.as_tensor(value, dtype=dtype or torch.get_default_dtype()).clone()
    if shape is not None:
        shape = tuple(int(s) for s in shape)
        if t.dim() == 0:
            t = t.expand(shape).clone()
        elif tuple(t.shape) != shape:
            raise ValueError(f"{name}: expected a scalar or shape {shape}, got shape {tuple(t.shape)}")
    if not bool(torch.all(torch.isfinite(t))):
        raise ValueError(f"{name}: expected finite values, got {value!r}")
    return t


def check_features(x: torch.Tensor, shape: tuple[int, ...], who: str) -> None:
    if shape and tuple(x.shape[2:]) != shape:
        raise ValueError(f"x: {who} has per-neuron parameters of shape {shape}; expected input "
                         f"[T, B, {', '.join(map(str, shape))}], got {tuple(x.shape)}")


def sum_to(g: torch.Tensor | None, like: torch.Tensor | None) -> torch.Tensor | None:
    """Reduce a broadcast gradient ``g`` to the shape of the parameter ``like`` (its real part for a real
    parameter); ``None`` passes through."""
    if g is None or like is None:
        return None
    if g.shape != like.shape:
        g = g.sum_to_size(like.shape) if like.dim() else g.sum()
    if not like.is_complex() and g.is_complex():
        g = g.real
    return g

"""Input checks shared by the encoders and decoders (private)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor


def as_float(x: object, owner: str, expected: str, *, name: str = "x") -> Tensor:
    """Return ``x`` as a floating tensor, or raise a clear error naming ``owner`` and ``expected``."""
    if not isinstance(x, Tensor):
        try:
            x = torch.as_tensor(x)
        except (TypeError, ValueError, RuntimeError) as exc:
            raise TypeError(f"{owner}: {name} must be a tensor {expected}; got {type(x).__name__}") from exc
    if x.is_complex() or x.dtype == torch.bool:
        raise TypeError(f"{owner}: {name} must be a real tensor {expected}; got dtype {x.dtype}")
    if not x.is_floating_point():
        x = x.to(torch.get_default_dtype())
    if x.numel() and not bool(torch.isfinite(x).all()):
        raise ValueError(f"{owner}: {name} must be finite {expected}; got NaN or infinite values")
    return x


def check_ndim(x: Tensor, owner: str, expected: str, *, exact: int | None = None, at_least: int = 0) -> None:
    if (exact is not None and x.dim() != exact) or x.dim() < at_least:
        raise ValueError(f"{owner}: x must be {expected}; got shape {tuple(x.shape)}")


def check_lengths(lengths: object, owner: str, steps: int, batch: int) -> Tensor | None:
    """Validate per-sample valid lengths ``[B]`` for a time-major ``[T, B, ...]`` input."""
    if lengths is None:
        return None
    lengths = torch.as_tensor(lengths)
    if lengths.dim() != 1 or lengths.shape[0] != batch or lengths.is_floating_point():
        raise ValueError(
            f"{owner}: lengths must be an integer tensor [B] with B={batch}; got "
            f"dtype {lengths.dtype}, shape {tuple(lengths.shape)}"
        )
    if lengths.numel() and (int(lengths.min()) < 0 or int(lengths.max()) > steps):
        raise ValueError(
            f"{owner}: lengths must lie in [0, T={steps}]; got values in [{int(lengths.min())}, {int(lengths.max())}]"
        )
    return lengths.long()


def time_mask(lengths: Tensor, steps: int, device: torch.device | None = None) -> Tensor:
    """Boolean mask ``[T, B]``: True where step ``t < lengths[b]``."""
    t = torch.arange(steps, device=device).unsqueeze(1)
    return t < lengths.to(device).unsqueeze(0)


def check_steps(steps: object, owner: str, *, minimum: int = 1, allow_none: bool = False) -> None:
    if steps is None and allow_none:
        return
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < minimum:
        what = f"an int >= {minimum}" + (" or None" if allow_none else "")
        raise ValueError(f"{owner}: steps must be {what}; got {steps!r}")


def check_positive(value: object, owner: str, name: str) -> float:
    number = not isinstance(value, bool) and isinstance(value, (int, float))
    if not number or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{owner}: {name} must be a finite number > 0; got {value!r}")
    return float(value)


def check_finite(value: object, owner: str, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{owner}: {name} must be a finite number; got {value!r}")
    return float(value)


def thresholds_tuple(value: object, owner: str) -> float | tuple[float, ...]:
    """A positive float, or a tuple of positive floats (one per channel)."""
    if isinstance(value, Tensor):
        value = value.detach().cpu().reshape(-1).tolist() if value.dim() else float(value)
    if isinstance(value, Sequence) and not isinstance(value, str):
        if len(value) == 0:
            raise ValueError(f"{owner}: threshold must be a number > 0 or a non-empty sequence; got []")
        return tuple(check_positive(v, owner, "each threshold") for v in value)
    return check_positive(value, owner, "threshold")

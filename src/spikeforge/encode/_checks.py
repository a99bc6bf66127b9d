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


def as_spikes(spikes: object, owner: str, *, at_least: int = 2) -> Tensor:
    """Spikes for a decoder: a real, finite, non-negative float tensor ``[T, B, ...]``.

    Decoders accept any such tensor (dropped, extra or jittered spikes, graded counts): a value ``> 0``
    is a spike at that step, and count decoders use the value itself.
    """
    expected = "time-major [T, B, ...] of non-negative spike counts"
    spikes = as_float(spikes, owner, expected, name="spikes")
    if spikes.dim() < at_least:
        raise ValueError(f"{owner}: spikes must be {expected}; got shape {tuple(spikes.shape)}")
    if spikes.numel() and bool((spikes < 0).any()):
        raise ValueError(f"{owner}: spikes must be {expected}; got negative values (min {float(spikes.min())})")
    return spikes


def check_int(value: object, owner: str, name: str, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{owner}: {name} must be an int >= {minimum}; got {value!r}")
    return value


def unit_static(x: object, owner: str) -> Tensor:
    """A static input ``[B, ...]`` as a float tensor clamped to [0, 1] (the range the static codes cover)."""
    expected = "[B, ...] (batch first, any feature shape) with values in [0, 1]"
    x = as_float(x, owner, expected)
    check_ndim(x, owner, expected, at_least=1)
    return x.clamp(0.0, 1.0)


def nth_spike_times(spikes: Tensor, n: int) -> Tensor:
    """Step of the ``n``-th (1-based) step with a spike along dim 0 of ``[T, B, ...]``; ``inf`` where fewer."""
    fired = (spikes > 0).to(spikes.dtype)
    reached = torch.cumsum(fired, dim=0) >= n
    steps = torch.arange(spikes.shape[0], dtype=spikes.dtype, device=spikes.device)
    steps = steps.reshape(-1, *([1] * (spikes.dim() - 1))).expand_as(spikes)
    inf = torch.full_like(spikes, math.inf)
    if spikes.shape[0] == 0:
        return inf.new_full(spikes.shape[1:], math.inf)
    return torch.where(reached, steps, inf).amin(dim=0)

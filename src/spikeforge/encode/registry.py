"""Encoders by name (for command lines and config files)."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import torch
from torch import Tensor

from spikeforge.encode.burst import Burst
from spikeforge.encode.delta import Delta, MultiDelta
from spikeforge.encode.phase import Phase
from spikeforge.encode.phasor import Phasor
from spikeforge.encode.population import Population
from spikeforge.encode.static import Current, Latency, Rate
from spikeforge.encode.temporal import ISI, TTFS, Poisson

__all__ = ["ENCODERS", "Encoder", "encoder_config", "make_encoder"]


@runtime_checkable
class Encoder(Protocol):
    """What the data loaders need from an encoder (every class in :data:`ENCODERS` satisfies it)."""

    @property
    def input_kind(self) -> str: ...  # "series" ([T, B, C] in) or "static" ([B, ...] in)

    @property
    def deterministic(self) -> bool: ...  # False where the code is random (rate)

    def out_channels(self, channels: int) -> int: ...

    def __call__(
        self, x: Tensor, *, lengths: Tensor | None = None, generator: torch.Generator | None = None
    ) -> Tensor: ...


ENCODERS: dict[str, type] = {
    "delta": Delta,
    "multidelta": MultiDelta,
    "population": Population,
    "rate": Rate,
    "latency": Latency,
    "current": Current,
    "poisson": Poisson,
    "ttfs": TTFS,
    "isi": ISI,
    "phase": Phase,
    "park-burst": Burst,
    "phasor": Phasor,
}

#: Other names :func:`make_encoder` accepts (``burst`` is registered as ``park-burst``).
ALIASES: dict[str, str] = {"burst": "park-burst"}


def make_encoder(name: str | Encoder, **params: Any) -> Encoder:
    """Build an encoder from its name (``delta``, ``multidelta``, ``population``, ``rate``, ``latency``,
    ``current``, ``poisson``, ``ttfs``, ``isi``, ``phase``, ``park-burst`` or ``burst``, ``phasor``) and
    parameters.

    An encoder instance is returned unchanged (``params`` must then be empty).
    """
    if not isinstance(name, str):
        if isinstance(name, Encoder):
            if params:
                raise ValueError(f"make_encoder: parameters {sorted(params)} given with an encoder instance")
            return name
        raise TypeError(f"make_encoder: name must be one of {sorted(ENCODERS)} or an encoder; got {name!r}")
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    if key not in ENCODERS:
        raise ValueError(f"make_encoder: unknown encoder {name!r}; expected one of {sorted(ENCODERS)}")
    cls = ENCODERS[key]
    try:
        return cls(**params)
    except TypeError as exc:
        fields = sorted(cls.__dataclass_fields__)
        raise ValueError(f"make_encoder: bad parameters {sorted(params)} for {key!r}; it accepts {fields}") from exc


def encoder_config(encoder: Encoder) -> dict[str, Any]:
    """A JSON-friendly description ``{"name": ..., **params}`` that :func:`make_encoder` accepts back."""
    for key, cls in ENCODERS.items():
        if type(encoder) is cls:
            params = {f: getattr(encoder, f) for f in cls.__dataclass_fields__}
            params = {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()}
            return {"name": key, **params}
    raise TypeError(f"encoder_config: {type(encoder).__name__} is not one of {sorted(ENCODERS)}")

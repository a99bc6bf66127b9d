"""What the encoder protocol (:class:`spikeforge.encode.Encoder`) asks, answered once for the common case."""

from __future__ import annotations

__all__ = ["StaticCode"]


class StaticCode:
    """A deterministic code of static values ``[B, ...] -> [T, B, ...]``, one output channel per input channel."""

    __slots__ = ()

    @property
    def deterministic(self) -> bool:
        """True: the same input always gives the same output (loaders may cache it)."""
        return True

    @property
    def input_kind(self) -> str:
        return "static"

    def out_channels(self, channels: int) -> int:
        return channels

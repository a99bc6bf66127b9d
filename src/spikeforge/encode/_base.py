"""What the encoder protocol (:class:`spikeforge.encode.Encoder`) asks, answered once for the common case."""

from __future__ import annotations

__all__ = ["RandomCode", "StaticCode", "check_seed"]


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


class RandomCode:
    """A random code of static values (``steps`` set) or of a series (``steps=None``), one output channel per
    input channel; ``steps`` and ``seed`` are the subclass's fields."""

    __slots__ = ()

    @property
    def deterministic(self) -> bool:
        """False: random: encoded anew at every call."""
        return False

    @property
    def input_kind(self) -> str:
        """``"static"`` (``[B, ...]`` in, ``steps`` out) or ``"series"`` (``steps=None``)."""
        return "series" if self.steps is None else "static"  # type: ignore[attr-defined]

    def out_channels(self, channels: int) -> int:
        return channels


def check_seed(seed: object, owner: str) -> None:
    """A random code's ``seed``: an int or None."""
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ValueError(f"{owner}: seed must be an int or None; got {seed!r}")

"""The containers the loaders return (:class:`Split`, :class:`SpikeDataset`) and the batching iterator."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import torch
from torch import Tensor

from spikeforge.data.errors import about
from spikeforge.encode.registry import Encoder

__all__ = ["Batch", "EventTensor", "SpikeDataset", "Split", "batches", "carve_validation"]

KINDS = ("series", "static", "spikes")
_CACHE_BYTES = 256 * 2**20


@dataclass(frozen=True, eq=False)
class EventTensor:
    """Sparse binned spikes of N samples, ``[N, T, C]`` logically, stored as events (compressed rows).

    Sample ``i`` owns events ``offsets[i]:offsets[i+1]`` of ``steps_idx`` (time bin) and ``units``
    (channel), each with a ``counts`` value (spikes in that bin). Used for spike data sets (SHD, SSC,
    event cameras) whose dense form would not fit in memory.
    """

    offsets: Tensor  # [N + 1] int64
    steps_idx: Tensor  # [E] int
    units: Tensor  # [E] int
    counts: Tensor  # [E] float32
    steps: int
    channels: int

    def __len__(self) -> int:
        return int(self.offsets.shape[0]) - 1

    @property
    def shape(self) -> tuple[int, int, int]:
        return (len(self), self.steps, self.channels)

    @property
    def num_events(self) -> int:
        return int(self.steps_idx.shape[0])

    def time_major(self, index: Tensor) -> Tensor:
        """Dense float ``[T, B, C]`` for the samples ``index`` (``[B]``)."""
        index = torch.as_tensor(index, dtype=torch.long).reshape(-1)
        out = torch.zeros(self.steps, index.shape[0], self.channels, dtype=torch.float32)
        starts, ends = self.offsets[index], self.offsets[index + 1]
        sizes = ends - starts
        total = int(sizes.sum())
        if total == 0:
            return out
        # Event positions of all requested samples, and the batch column each belongs to.
        column = torch.repeat_interleave(torch.arange(index.shape[0]), sizes)
        first = torch.repeat_interleave(starts - torch.cumsum(sizes, 0) + sizes, sizes)
        pos = first + torch.arange(total)
        out.index_put_((self.steps_idx[pos].long(), column, self.units[pos].long()), self.counts[pos], accumulate=True)
        return out

    def take(self, index: Tensor) -> EventTensor:
        """The samples ``index`` (``[K]``, in that order) as a new :class:`EventTensor`."""
        index = torch.as_tensor(index, dtype=torch.long).reshape(-1)
        starts, ends = self.offsets[index], self.offsets[index + 1]
        sizes = ends - starts
        total = int(sizes.sum())
        first = torch.repeat_interleave(starts - torch.cumsum(sizes, 0) + sizes, sizes)
        pos = first + torch.arange(total)
        offsets = torch.cat([torch.zeros(1, dtype=torch.long), torch.cumsum(sizes, 0)])
        return EventTensor(offsets, self.steps_idx[pos], self.units[pos], self.counts[pos], self.steps, self.channels)

    def to_dense(self) -> Tensor:
        """All samples as a dense sample-major ``[N, T, C]`` float tensor (small sets only)."""
        return self.time_major(torch.arange(len(self))).transpose(0, 1).contiguous()


class Batch(NamedTuple):
    """One batch: ``x`` float ``[T, B, C]`` (encoded, time-major), ``y`` long ``[B]`` (float for a regression
    split),
    ``lengths`` long ``[B]`` (valid steps of each sample; steps beyond are padding),
    ``index`` long ``[B]`` (rows of the split)."""

    x: Tensor
    y: Tensor
    lengths: Tensor
    index: Tensor


@dataclass(frozen=True, eq=False)
class Split:
    """One split (train, test, ...) of a data set, ready to be encoded and batched.

    * ``x``: ``kind="series"``: float ``[N, T, C]`` (sample-major, zero-padded after ``lengths``);
      ``kind="static"``: float ``[N, ...]`` (e.g. ``[N, 64]`` pixels in [0, 1]);
      ``kind="spikes"``: already spikes, an :class:`EventTensor` ``[N, T, C]`` (or a dense tensor).
    * ``y``: long ``[N]``, indices into ``classes``; or, for a regression set (:attr:`regression`), float
      ``[N]`` real targets, and ``classes`` names the one output (e.g. ``("sum",)`` for the adding problem).
    * ``lengths``: long ``[N]``, valid steps per sample (for static data, the encoder's steps).
    * ``encoder``: applied per batch by :meth:`encode` / :func:`batches` (None: values passed as they are).

    Use :meth:`encode` for spikes of chosen rows, or :func:`batches` to iterate.
    """

    x: Tensor | EventTensor
    y: Tensor
    lengths: Tensor
    classes: tuple[str, ...]
    kind: str
    encoder: Encoder | None = None
    name: str = ""
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"Split: kind must be one of {KINDS}; got {self.kind!r}")
        n = len(self.x)
        if self.y.shape != (n,) or self.lengths.shape != (n,):
            raise ValueError(
                f"Split: y and lengths must be [N] with N={n} (rows of x); got {tuple(self.y.shape)} and "
                f"{tuple(self.lengths.shape)}"
            )
        if self.lengths.dtype != torch.long or not (self.y.dtype == torch.long or self.y.is_floating_point()):
            raise ValueError(f"Split: y must be long (labels) or float (regression targets) and lengths long; got "
                             f"{self.y.dtype} and {self.lengths.dtype}")
        if self.y.is_floating_point():
            if len(self.classes) != 1 or (n and not bool(torch.isfinite(self.y).all())):
                raise ValueError(f"Split: a regression split (float y) needs finite targets and one output name in "
                                 f"classes; got {len(self.classes)} names")
        elif n and (int(self.y.min()) < 0 or int(self.y.max()) >= len(self.classes)):
            raise ValueError(f"Split: labels must lie in [0, {len(self.classes)}) (one per class name)")
        if self.encoder is not None:
            want = "static" if self.kind == "static" else "series"
            if self.encoder.input_kind != want:
                choices = ("Rate, Latency or Current(steps=T)" if want == "static"
                           else "Delta, Current() or Rate(steps=None)")
                detail = (f"{self.encoder!r} takes {self.encoder.input_kind} input, but this {self.kind} data "
                          f"needs a {want} encoder ({choices})")
                raise about("encoder", ValueError(f"Split: encoder {detail}"), detail)
        elif self.kind == "static":
            detail = "static data needs an encoder (Rate, Latency or Current(steps=T)), got none"
            raise about("encoder", ValueError(f"Split: {detail}"), detail)
        object.__setattr__(self, "classes", tuple(self.classes))
        object.__setattr__(self, "meta", dict(self.meta))

    def __len__(self) -> int:
        return len(self.x)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def regression(self) -> bool:
        """Whether the targets ``y`` are real numbers (float) rather than class labels."""
        return bool(self.y.is_floating_point())

    @property
    def steps(self) -> int:
        """T of the encoded batches."""
        if self.kind == "static":
            return int(self.encoder.steps)  # type: ignore[union-attr]
        return int(self.x.shape[1])

    @property
    def in_channels(self) -> int:
        """C of the encoded batches ``[T, B, C]`` (the network's input size)."""
        features = 1
        for s in self.x.shape[2:] if self.kind != "static" else self.x.shape[1:]:
            features *= int(s)
        return features if self.encoder is None else self.encoder.out_channels(features)

    def with_encoder(self, encoder: Encoder | None) -> Split:
        """The same data with another encoder."""
        lengths = self.lengths
        if self.kind == "static" and encoder is not None and getattr(encoder, "steps", None):
            lengths = torch.full_like(lengths, int(encoder.steps))  # type: ignore[attr-defined]
        return Split(self.x, self.y, lengths, self.classes, self.kind, encoder, self.name, dict(self.meta))

    def take(self, index: Tensor, name: str | None = None, **meta: Any) -> Split:
        """The rows ``index`` (in that order) as a new split (same classes, encoder; ``meta`` added)."""
        index = torch.as_tensor(index, dtype=torch.long).reshape(-1)
        x = self.x.take(index) if isinstance(self.x, EventTensor) else self.x.index_select(0, index)
        return Split(x, self.y[index], self.lengths[index], self.classes, self.kind, self.encoder,
                     self.name if name is None else name, {**self.meta, **meta})

    def raw(self, index: Tensor | None = None) -> Tensor:
        """The un-encoded values of rows ``index``: time-major ``[T, B, C]`` (static: ``[B, ...]``)."""
        index = torch.arange(len(self)) if index is None else torch.as_tensor(index, dtype=torch.long)
        if isinstance(self.x, EventTensor):
            return self.x.time_major(index)
        rows = self.x.index_select(0, index)
        return rows if self.kind == "static" else rows.transpose(0, 1)

    def encode(self, index: Tensor | None = None, generator: torch.Generator | None = None) -> Tensor:
        """Encoded float spikes (or currents) ``[T, B, C]`` of rows ``index`` (default: all).

        Deterministic encoders (``encoder.deterministic``: delta, latency, current) are run once over the
        whole split (when that is under 256 MiB) and the result reused; random ones (rate) run per call.
        """
        index = torch.arange(len(self)) if index is None else torch.as_tensor(index, dtype=torch.long)
        if self.encoder is not None and getattr(self.encoder, "deterministic", False) and self._cacheable():
            cache = self.__dict__.get("_cache")
            if cache is None:
                cache = self._encode(torch.arange(len(self)), None)
                object.__setattr__(self, "_cache", cache)
            return cache.index_select(1, index)
        return self._encode(index, generator)

    def _cacheable(self) -> bool:
        steps = self.steps
        size = len(self) * max(steps, 1) * self.in_channels * 4
        return size <= _CACHE_BYTES

    def _encode(self, index: Tensor, generator: torch.Generator | None) -> Tensor:
        values = self.raw(index)
        if self.encoder is None:
            out = values.to(torch.float32)
        elif self.kind == "static":
            out = self.encoder(values, generator=generator)
        else:
            out = self.encoder(values, lengths=self.lengths[index], generator=generator)
        return out.reshape(out.shape[0], out.shape[1], -1).to(torch.float32)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_cache", None)  # rebuilt on demand
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)


@dataclass(frozen=True, eq=False)
class SpikeDataset:
    """A loaded data set: ``train`` and ``test`` splits (``valid`` where the source has one) and metadata."""

    name: str
    train: Split
    test: Split
    valid: Split | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "meta", dict(self.meta))

    @property
    def classes(self) -> tuple[str, ...]:
        return self.train.classes

    @property
    def num_classes(self) -> int:
        return self.train.num_classes

    @property
    def regression(self) -> bool:
        """Whether the targets are real numbers (a regression set, e.g. the adding problem)."""
        return self.train.regression

    @property
    def in_channels(self) -> int:
        return self.train.in_channels

    @property
    def steps(self) -> int:
        return self.train.steps

    @property
    def encoder(self) -> Encoder | None:
        return self.train.encoder

    def with_encoder(self, encoder: Encoder | None) -> SpikeDataset:
        """The same data with another encoder on every split."""
        valid = None if self.valid is None else self.valid.with_encoder(encoder)
        return SpikeDataset(
            self.name,
            self.train.with_encoder(encoder),
            self.test.with_encoder(encoder),
            valid,
            dict(self.meta),
        )

    def summary(self) -> str:
        """One line: name, sizes, shape of the batches, classes, encoder."""
        sizes = f"{len(self.train)} train / {len(self.test)} test"
        if self.valid is not None:
            sizes += f" / {len(self.valid)} valid"
        return (
            f"{self.name}: {sizes}, batches [T={self.steps}, B, C={self.in_channels}], "
            f"{self.num_classes} classes, encoder {self.encoder!r}"
        )


def _generator(generator: torch.Generator | int | None) -> torch.Generator | None:
    if generator is None or isinstance(generator, torch.Generator):
        return generator
    if isinstance(generator, bool) or not isinstance(generator, int):
        raise TypeError(f"batches: generator must be a torch.Generator, an int seed or None; got {generator!r}")
    return torch.Generator().manual_seed(generator)


def batches(
    split: Split,
    batch_size: int = 32,
    shuffle: bool = False,
    generator: torch.Generator | int | None = None,
    drop_last: bool = False,
) -> Iterator[Batch]:
    """Iterate over ``split`` in batches of encoded, time-major spikes.

    Yields :class:`Batch` ``(x [T, B, C] float, y [B] long, lengths [B] long, index [B] long)``.
    ``generator`` (a ``torch.Generator`` or an int seed) drives both the shuffling and any random
    encoder (e.g. :class:`~spikeforge.encode.Rate`): the same seed gives the same batches. A generator
    object carries on across calls, so successive epochs differ but the whole run is reproducible.
    """
    if not isinstance(split, Split):
        raise TypeError(f"batches: split must be a spikeforge.data.Split; got {type(split).__name__}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batches: batch_size must be an int >= 1; got {batch_size!r}")
    gen = _generator(generator)
    n = len(split)
    order = torch.randperm(n, generator=gen) if shuffle else torch.arange(n)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        index = order[start : start + batch_size]
        x = split.encode(index, generator=gen)
        lengths = split.lengths[index]
        if split.kind == "static":
            lengths = torch.full_like(lengths, x.shape[0])
        else:
            lengths = lengths.clamp(max=x.shape[0])
        yield Batch(x, split.y[index], lengths, index)


CARVE_RULE = ("stratified: per class, round(fraction * n) samples drawn by a seeded permutation, at least 1 and at "
              "most n - 1 for a class of n >= 2 samples (a class of 1 stays in training); rows keep their order")
CARVE_RULE_REGRESSION = ("random (real targets, no classes to stratify): round(fraction * n) samples drawn by a "
                         "seeded permutation, at least 1 and at most n - 1; rows keep their order")


def carve_validation(split: Split, fraction: float, seed: int = 0) -> tuple[Split, Split]:
    """Split ``split`` into ``(train, valid)``, stratified per class (:data:`CARVE_RULE`): every class with
    >= 2 samples keeps at least one training sample and gives at least one validation sample; a pure function
    of ``(split, fraction, seed)``. A regression split (real targets) is carved at random instead
    (:data:`CARVE_RULE_REGRESSION`). Both keep the rows' original order."""
    if not isinstance(split, Split):
        raise TypeError(f"split: expected a spikeforge.data.Split, got {type(split).__name__}")
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction < 1:
        raise ValueError(f"fraction: expected a number in (0, 1), got {fraction!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed: expected an integer, got {seed!r}")
    gen = torch.Generator().manual_seed(seed)
    picked = torch.zeros(len(split), dtype=torch.bool)
    if split.regression and len(split) >= 2:
        n = len(split)
        picked[torch.randperm(n, generator=gen)[: min(n - 1, max(1, int(fraction * n + 0.5)))]] = True
    # in class order, so the draws are a function of the seed alone
    for c in range(0 if split.regression else split.num_classes):
        rows = torch.nonzero(split.y == c).flatten()
        n = int(rows.numel())
        if n < 2:
            continue
        k = min(n - 1, max(1, int(fraction * n + 0.5)))
        picked[rows[torch.randperm(n, generator=gen)[:k]]] = True
    if not bool(picked.any()):
        detail = (f"no class of {split.name or 'the split'} has 2 samples or more, so none can be held out for "
                  "validation")
        raise about("valid_fraction", ValueError(f"valid_fraction: {detail}"), detail)
    info = {"carved_from": split.name, "fraction": float(fraction), "seed": seed}
    train = split.take(torch.nonzero(~picked).flatten(), **{"validation_carve": {**info, "part": "train"}})
    valid = split.take(torch.nonzero(picked).flatten(), name=f"{split.name}-valid" if split.name else "valid",
                       **{"validation_carve": {**info, "part": "valid"}})
    return train, valid

"""Encoders from real-valued data to spikes, and decoders back.

Conventions: spikes are time-major ``[T, B, ...]``. Series encoders (:class:`Delta`, :class:`MultiDelta`,
:class:`Population`, ``Rate(steps=None)``,
``Current(steps=None)``) take a time-major series ``[T, B, C]`` with optional ``lengths`` ``[B]``;
static encoders (:class:`Rate`, :class:`Latency`, ``Current(steps=T)``) take ``[B, ...]`` and add a
time axis of ``steps``. Every encoder is a small frozen (immutable, picklable) dataclass called as
``encoder(x, lengths=None, generator=None)``.
"""

from spikeforge.encode.analysis import code_stats, firing_rate, spikes_per_bit, spikes_per_sample
from spikeforge.encode.delta import Delta, MultiDelta, delta_decode
from spikeforge.encode.population import Population
from spikeforge.encode.registry import ENCODERS, Encoder, encoder_config, make_encoder
from spikeforge.encode.static import (
    Current,
    Latency,
    Rate,
    first_spike_decode,
    first_spike_times,
    rate_decode,
)

__all__ = [
    "ENCODERS",
    "Current",
    "Delta",
    "Encoder",
    "Latency",
    "MultiDelta",
    "Population",
    "Rate",
    "code_stats",
    "delta_decode",
    "encoder_config",
    "firing_rate",
    "first_spike_decode",
    "first_spike_times",
    "make_encoder",
    "rate_decode",
    "spikes_per_bit",
    "spikes_per_sample",
]

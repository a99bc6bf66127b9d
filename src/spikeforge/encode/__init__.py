"""Encoders from real-valued data to spikes, and decoders back.

Conventions: spikes are time-major ``[T, B, ...]``. Series encoders (:class:`Delta`, :class:`MultiDelta`,
:class:`Population`, ``Rate(steps=None)``,
``Current(steps=None)``, ``Poisson(steps=None)``, ``Phasor(steps=None, output="complex")``) take a
time-major series ``[T, B, C]`` with optional ``lengths`` ``[B]``;
static encoders (:class:`Rate`, :class:`Latency`, ``Current(steps=T)``, :class:`Poisson`, :class:`TTFS`,
:class:`ISI`, :class:`Phase`, :class:`Burst`, :class:`Phasor`, ``Population(steps=T)``) take ``[B, ...]``
(values in [0, 1] for the spike codes) and add a time axis of ``steps``. Every encoder is a small frozen
(immutable, picklable) dataclass called as ``encoder(x, lengths=None, generator=None)``, with a
``decode(spikes)`` method, its paired decoder (also a function here, e.g. :func:`phase_decode`), which takes
any non-negative spikes of the encoder's output shape (dropped or moved spikes give a defined value,
stated in its docstring, never an error) and states the round-trip error it promises, as
``error_bound(x)`` (deterministic codes, per value) or ``error_std(x)`` (random ones):

==============  =====================================  ==================================================
code            decoder                                promised error for x in [0, 1]
==============  =====================================  ==================================================
``rate``        firing rate / gain                     std ``sqrt(x(1 − x)/T)`` (binomial)
``poisson``     mean count / gain (or ``−ln(1 − r)``)  std ``sqrt(x/(gT))`` (binary: ``sqrt((e^{gx} − 1)/T)/g``)
``latency``     first-spike time                       ``1/(2(T − 1))`` (linear), half a step in ``ln x`` (log)
``ttfs``        first-spike time, cell midpoint        half the RC cell (compressive: wide for strong x)
``isi``         first interval                         ``1/(2(d_max − d_min))``
``phase``       phase-weighted sum                     ``0 ≤ x − x̂ ≤ 2^{−K}``
``park-burst``  count and interval, cell midpoint      ``1/(2N)``; ``1/(2(d_max − d_min))`` for ``n > 1``
``phasor``      phasor angle                           ``1/P`` (real spikes), rounding (complex)
``population``  population vector / log-ratio fit      ``Δ/2`` (spikes), rounding (currents)
==============  =====================================  ==================================================
"""

from spikeforge.encode.analysis import code_stats, firing_rate, spikes_per_bit, spikes_per_sample
from spikeforge.encode.burst import Burst, burst_decode
from spikeforge.encode.delta import Delta, MultiDelta, delta_decode
from spikeforge.encode.phase import Phase, phase_decode, phase_weights
from spikeforge.encode.phasor import Phasor, phasor_decode
from spikeforge.encode.population import Population, population_decode
from spikeforge.encode.registry import ENCODERS, Encoder, encoder_config, make_encoder
from spikeforge.encode.static import (
    Current,
    Latency,
    Rate,
    first_spike_decode,
    first_spike_times,
    rate_decode,
)
from spikeforge.encode.temporal import ISI, TTFS, Poisson, isi_decode, poisson_decode, ttfs_cells, ttfs_decode

__all__ = [
    "ENCODERS",
    "ISI",
    "TTFS",
    "Burst",
    "Current",
    "Delta",
    "Encoder",
    "Latency",
    "MultiDelta",
    "Phase",
    "Phasor",
    "Poisson",
    "Population",
    "Rate",
    "burst_decode",
    "code_stats",
    "delta_decode",
    "encoder_config",
    "firing_rate",
    "first_spike_decode",
    "first_spike_times",
    "isi_decode",
    "make_encoder",
    "phase_decode",
    "phase_weights",
    "phasor_decode",
    "poisson_decode",
    "population_decode",
    "rate_decode",
    "spikes_per_bit",
    "spikes_per_sample",
    "ttfs_cells",
    "ttfs_decode",
]

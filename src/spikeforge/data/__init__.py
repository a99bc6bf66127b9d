"""Data sets as tensors ready for training spiking networks.

:func:`load_dataset` returns a :class:`SpikeDataset` (``train`` / ``test`` :class:`Split` objects, each
holding padded values ``x``, labels ``y``, ``lengths``, class names, an encoder and metadata);
:func:`batches` yields time-major encoded spikes ``[T, B, C]`` with labels. Nothing is downloaded.
"""

from spikeforge.data.adding import load_adding
from spikeforge.data.errors import DatasetError, DatasetNotFoundError
from spikeforge.data.loaders import (
    DEFAULT_DATASET,
    NORMALIZATIONS,
    default_encoder,
    downsample_series,
    instance_normalize,
    load_dataset,
    load_digits,
    load_japanese_vowels,
    load_shd,
    load_timeseries,
    load_tonic,
    read_shd,
)
from spikeforge.data.split import Batch, EventTensor, SpikeDataset, Split, batches, carve_validation
from spikeforge.data.timeseries import aeon_data_dir, read_series_file, shipped_datasets

__all__ = [
    "DEFAULT_DATASET",
    "NORMALIZATIONS",
    "Batch",
    "DatasetError",
    "DatasetNotFoundError",
    "EventTensor",
    "SpikeDataset",
    "Split",
    "aeon_data_dir",
    "batches",
    "carve_validation",
    "default_encoder",
    "downsample_series",
    "instance_normalize",
    "load_adding",
    "load_dataset",
    "load_digits",
    "load_japanese_vowels",
    "load_shd",
    "load_timeseries",
    "load_tonic",
    "read_series_file",
    "read_shd",
    "shipped_datasets",
]

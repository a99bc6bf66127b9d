"""Network containers and builders: the model families of :func:`spikeforge.learn.models.build_model`
(``docs/models.md``)."""

from spikeforge.nets.adaptive import adlif, adlif_neuron
from spikeforge.nets.delays import delayed_mlp, round_delays
from spikeforge.nets.diehl_cook import DiehlCook
from spikeforge.nets.energy import EnergyNet
from spikeforge.nets.rocket import rocket
from spikeforge.nets.sequential import Sequential, mlp, rsnn
from spikeforge.nets.temporal import FCN_KERNELS, TimeBatchNorm, receptive_field, tcn, tcn_layout

__all__ = ["FCN_KERNELS", "DiehlCook", "EnergyNet", "Sequential", "TimeBatchNorm", "adlif", "adlif_neuron",
           "delayed_mlp", "mlp", "receptive_field", "rocket", "round_delays", "rsnn", "tcn", "tcn_layout"]

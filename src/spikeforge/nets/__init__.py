"""Network containers and builders."""

from spikeforge.nets.sequential import Sequential, mlp, rsnn

__all__ = ["Sequential", "mlp", "rsnn"]

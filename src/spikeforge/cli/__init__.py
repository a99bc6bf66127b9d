"""The ``spikeforge`` command line: one module per verb, wired in :mod:`spikeforge.cli.main`."""

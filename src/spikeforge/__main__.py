"""``python -m spikeforge VERB ...`` (and ``torchrun ... -m spikeforge train ...``): the ``spikeforge`` command."""

import sys

from spikeforge.cli.main import main

if __name__ == "__main__":
    sys.exit(main())

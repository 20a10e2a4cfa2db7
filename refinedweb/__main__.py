"""``python -m refinedweb``: the same command line as the ``refinedweb`` script."""

import sys

from refinedweb.cli import main

sys.exit(main())

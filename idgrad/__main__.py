"""``python -m idgrad``: the ``idgrad`` command line."""

import sys

from idgrad.cli import main

sys.exit(main())

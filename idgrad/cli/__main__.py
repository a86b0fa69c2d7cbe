"""``python -m idgrad.cli``."""

import sys

from idgrad.cli import main

sys.exit(main())

"""``python -m i4p_sim`` is the ``i4p`` command."""

import sys

from .cli import main

sys.exit(main())

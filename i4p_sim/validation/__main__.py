"""``python -m i4p_sim.validation``: rerun the validation experiments, rewrite the doc."""

import sys

from i4p_sim.validation.common import main

sys.exit(main())

"""``python -m i4p_sim.validation``: the same as ``i4p validate`` (options in cli_validate.py)."""

import sys

from i4p_sim.cli import main

sys.exit(main(["validate", *sys.argv[1:]]))

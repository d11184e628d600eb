"""Imported once by the local pool's fork server (:mod:`~i4p_sim.sweep.executors`) before
it forks any worker: the worker's modules (the model, Mesa, pandas, pyarrow) and numba's
compiled kernel, loaded from its on-disk cache, so that each worker starts with them.

Nothing here runs a model or holds state that a run could see: a forked worker computes
what a spawned one does, bit for bit.
"""

from __future__ import annotations

import contextlib

from i4p_sim.core.field import warm_up
from i4p_sim.sweep import worker  # noqa: F401 - imported for the fork server

with contextlib.suppress(Exception):  # numba missing: the runs that need it fail themselves
    warm_up("numba")

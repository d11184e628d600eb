"""Observation (docs/ODD.md 4.9): the per-step measures of :class:`~i4p_sim.sim.model.I4PModel`.

``MEASURES`` is the one list of the DataCollector's model reporters; :func:`measure` fills
``model.measures`` at the end of each step.
"""

from __future__ import annotations

import contextlib
import gc

import numpy as np
from scipy import ndimage

#: The per-step measures the DataCollector records (docs/ODD.md 4.9): the one list.
MEASURES = (
    "mean_tension",
    "max_tension",
    "violence_share",
    "violent_events",
    "affected_population",
    "largest_cluster",
    "mean_cohesion",
    "lpcs_active",
    "lpc_capacity",
    "council_mandate",
    "funding_disbursed",
    "funding_returned",
    "warnings_sent",
    "warnings_answered",
    "crackdowns",
    "state_legitimacy",
)
EIGHT = np.ones((3, 3), dtype=bool)


def measure(model, t: int, disbursed: float, returned: float, sent: int, answered: int) -> None:
    """Write the step's measures (docs/ODD.md 4.9) into ``model.measures``."""
    L, m = model.layers, model.measures
    v = L["violence"]
    tension = L["tension"]
    violent = np.flatnonzero(v)  # in C order, as boolean indexing takes them
    events = int(violent.size)
    inhabited = max(model.n_inhabited, 1)
    m["mean_tension"] = float(tension.mean())
    m["max_tension"] = float(tension.max())
    m["violence_share"] = events / inhabited
    m["violent_events"] = events
    # the same terms in the same order as ``population[v].sum()``
    m["affected_population"] = float(L["population"].reshape(-1)[violent].sum())
    if t % model.config.dynamics.cluster_every == 0:
        model._cluster = largest_cluster(v, violent, model._labels) if events else 0
    m["largest_cluster"] = model._cluster
    if model.n_inhabited:  # the inhabited cells in C order, as boolean indexing gives
        # mode="clip": with ``out=`` the default mode="raise" buffers the output
        cohesion = np.take(
            L["cohesion"].reshape(-1), model._inhabited_idx, out=model._gathered, mode="clip"
        )
        m["mean_cohesion"] = float(cohesion.mean())
    else:
        m["mean_cohesion"] = 0.0
    tier = model.committees
    m["lpcs_active"] = int(tier.active.sum())
    m["lpc_capacity"] = float(tier.capacity.mean()) if tier.n else 0.0
    m["council_mandate"] = model.national.effective_mandate(t) if model.national else 0.0
    m["funding_disbursed"] = disbursed
    m["funding_returned"] = returned
    m["warnings_sent"] = sent
    m["warnings_answered"] = answered
    m["crackdowns"] = model.state.crackdowns
    m["state_legitimacy"] = float(model.state.legitimacy.mean())


def largest_cluster(v: np.ndarray, violent: np.ndarray, labels: np.ndarray) -> int:
    """Cells in the largest 8-connected cluster of ``v`` (bool (H, W), no wrap).

    ``violent`` holds the flat indices of the violent cells (not empty), ``labels`` is an
    (H, W) int32 buffer. Runs of empty rows (columns) are cut to one before labelling:
    cells in neighbouring rows stay neighbours, cells farther apart stay apart, so the
    clusters and their sizes are those of the whole grid, labelled on a smaller one.
    """
    rows, cols = v.any(axis=1), v.any(axis=0)
    rows[1:] |= rows[:-1]  # each non-empty row and the (empty) row after it
    cols[1:] |= cols[:-1]
    kept_rows, kept_cols = np.count_nonzero(rows), np.count_nonzero(cols)
    if 2 * kept_rows * kept_cols <= v.size:
        small = v[rows][:, cols]
        out = labels.reshape(-1)[: small.size].reshape(small.shape)
        count = ndimage.label(small, structure=EIGHT, output=out)
        sizes = np.bincount(out[small])
    else:
        count = ndimage.label(v, structure=EIGHT, output=labels)
        # every labelled cell is violent: count the labels there, not over the grid
        sizes = np.bincount(labels.reshape(-1)[violent])
    return int(sizes[1:].max()) if count else 0


@contextlib.contextmanager
def gc_paused():
    """Pause Python's cyclic garbage collector while building many long-lived objects.

    Building a grid of a million cells (and as many Community agents) otherwise triggers
    repeated full collections that traverse every object built so far, for nothing:
    none of them is garbage. The collector's previous state is restored afterwards.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def reporter(name: str):
    def report(model):
        return model.measures[name]

    report.__name__ = name
    return report

"""The slow social layers after violence is drawn: cohesion, memory, grievance.

One function per mechanism, each updating its layer in place with the operation order of
docs/ODD.md (so that results are bit for bit those of the formulas as written there),
and allocating nothing: the caller passes preallocated scratch arrays. Pure numpy.
"""

from __future__ import annotations

import numpy as np

from i4p_sim.core.field import neighbour_mean

#: Exposure weighs a cell's own violence and its neighbours' mean equally (ODD 7.6).
_HALF = 0.5


def violence_exposure(violence: np.ndarray, torus: bool, out: np.ndarray) -> np.ndarray:
    """``0.5 * (v + M(v))``: violence in the cell and next door (docs/ODD.md 7.6).

    ``violence`` is this step's violence as float64; the result is written to ``out``.
    """
    exposure = neighbour_mean(violence, torus=torus, out=out)
    exposure += violence
    exposure *= _HALF
    return exposure


def update_cohesion(
    cohesion: np.ndarray,
    exposure: np.ndarray,
    *,
    dialogue: np.ndarray | None,
    cover: np.ndarray | None,
    base: np.ndarray,
    erosion: float,
    recovery: float,
    inhabited: np.ndarray,
    scratch: np.ndarray,
) -> None:
    """Dialogue builds trust, violence erodes it, it relaxes to its base (docs/ODD.md 7.6).

    ``dialogue`` is the committees' gain rate at the cells ``cover`` (flat indices); it is
    zero elsewhere, where ``c += 0`` would change nothing, so only those cells are updated.
    ``None`` when there are no committees.
    """
    c = cohesion
    if dialogue is not None:
        flat = c.reshape(-1)
        old = flat[cover]
        flat[cover] = old + dialogue * (1.0 - old)
    s = scratch
    np.multiply(exposure, erosion, out=s)
    s *= c
    c -= s
    np.subtract(base, c, out=s)
    s *= recovery
    c += s
    np.clip(c, 0.0, 1.0, out=c)
    c *= inhabited


def update_memory(
    memory: np.ndarray,
    violence: np.ndarray,
    *,
    decay: float,
    gain: float,
    scratch: np.ndarray,
    gain_out: np.ndarray,
) -> None:
    """Memory of violence decays and is refreshed by new violence (docs/ODD.md 7.7).

    ``violence`` is this step's violence as float64; ``scratch`` and ``gain_out`` are two
    distinct (H, W) work arrays.
    """
    m = memory
    m *= 1.0 - decay
    np.subtract(1.0, m, out=scratch)
    refreshed = np.multiply(violence, gain, out=gain_out)
    refreshed *= scratch
    m += refreshed


def relax_grievance(
    grievance: np.ndarray, base: np.ndarray, recovery: float, scratch: np.ndarray
) -> None:
    """Grievance relaxes towards its base level (docs/ODD.md 7.8)."""
    np.subtract(base, grievance, out=scratch)
    scratch *= recovery
    grievance += scratch

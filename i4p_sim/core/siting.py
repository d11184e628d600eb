"""Where committees are set up: need-based siting (docs/ODD.md 5.2). Pure numpy."""

from __future__ import annotations

import numpy as np

from i4p_sim.core.landscape import square_window

#: Scale of the random jitter that breaks ties between equally needy cells (ODD 5.2).
NEED_JITTER = 1e-6


def need_based_sites(
    rng: np.random.Generator,
    candidates: np.ndarray,
    need: np.ndarray,
    n: int,
    shape: tuple[int, int],
    radius: int,
) -> np.ndarray:
    """Flat indices of ``n`` sites where need is highest, spread over distinct catchments.

    ``need`` (one value per candidate cell) gets a tiny jitter from ``rng`` to break ties,
    then :func:`spread_pick` chooses.
    """
    need = need + NEED_JITTER * rng.random(candidates.size)
    return spread_pick(candidates, need, n, shape, radius)


def spread_pick(
    candidates: np.ndarray, score: np.ndarray, n: int, shape: tuple[int, int], radius: int
) -> np.ndarray:
    """Pick ``n`` high-score cells, preferring ones not already in another's catchment."""
    order = candidates[np.argsort(-score, kind="stable")]
    w = shape[1]
    taken = np.zeros(shape, dtype=bool)
    chosen: list[int] = []
    rest: list[int] = []
    for idx in order.tolist():
        r, c = divmod(idx, w)
        if taken[r, c]:
            rest.append(idx)
            continue
        chosen.append(idx)
        taken[square_window(r, c, radius, shape)] = True
        if len(chosen) == n:
            break
    chosen += rest[: n - len(chosen)]
    return np.asarray(chosen, dtype=np.int64)

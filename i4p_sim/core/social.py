"""The slow social layers after violence is drawn: cohesion, memory, grievance.

One function per mechanism, each updating its layer in place with the operation order of
docs/ODD.md (so that results are bit for bit those of the formulas as written there),
and allocating nothing: the caller passes preallocated scratch arrays. Pure numpy.
"""

from __future__ import annotations

import numpy as np

from i4p_sim.core.field import neighbour_mean
from i4p_sim.core.field_numpy import _workspace
from i4p_sim.core.indices import sorted_unique

#: Exposure weighs a cell's own violence and its neighbours' mean equally (ODD 7.6).
_HALF = 0.5
#: The sparse path (:func:`sparse_violence`) is taken while at most one cell in this many
#: is violent: each violent cell then costs a few small-array operations, against about
#: twenty full-grid passes for the dense path.
SPARSE_CELLS_PER_VIOLENT = 256
#: Row and column offsets of the 8 Moore neighbours.
_DR = np.array([-1, -1, -1, 0, 0, 1, 1, 1])
_DC = np.array([-1, 0, 1, -1, 1, -1, 0, 1])


def sparse_violence(shape: tuple[int, int], violent: int) -> bool:
    """Whether the social layers take their sparse path for ``violent`` violent cells.

    Both paths give the same bits; grids narrower than 3 (where a torus counts a
    neighbour twice, or a lone cell has none) always take the dense one.
    """
    h, w = shape
    return h >= 3 and w >= 3 and violent * SPARSE_CELLS_PER_VIOLENT <= h * w


def violence_neighbour_mean(
    violent: np.ndarray, shape: tuple[int, int], torus: bool, out: np.ndarray
) -> np.ndarray:
    """``neighbour_mean`` of a 0/1 violence map, from its violent cells; return where it is > 0.

    ``violent`` holds the flat indices of the violent cells (a grid at least 3 x 3). The
    neighbour sums of a 0/1 map are small integers, exact in any order, so counting each
    violent cell's neighbours gives the sums :func:`~i4p_sim.core.field.neighbour_mean`
    adds; they are then scaled as it scales them (``8 / count`` at non-torus boundary
    cells, then ``0.125``): the same bits. ``out`` (float64, ``shape``) receives the
    mean; the sorted flat indices where it is positive are returned.
    """
    h, w = shape
    out.fill(0.0)
    rows, cols = np.divmod(violent, w)
    rr = (rows[:, None] + _DR).reshape(-1)
    cc = (cols[:, None] + _DC).reshape(-1)
    if torus:
        rr %= h
        cc %= w
    else:
        keep = (rr >= 0) & (rr < h) & (cc >= 0) & (cc < w)
        rr, cc = rr[keep], cc[keep]
    cells, counts = sorted_unique(rr * w + cc)
    near = counts.astype(np.float64)
    if not torus:  # boundary cells: x 8 / count, as the dense operator rescales them
        near *= _workspace(shape, False).factor.reshape(-1)[cells]
    near *= 0.125
    out.reshape(-1)[cells] = near
    return cells


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
    exposed: np.ndarray | None = None,
) -> None:
    """Dialogue builds trust, violence erodes it, it relaxes to its base (docs/ODD.md 7.6).

    ``dialogue`` is the committees' gain rate at the cells ``cover`` (flat indices); it is
    zero elsewhere, where ``c += 0`` would change nothing, so only those cells are updated.
    ``None`` when there are no committees. Likewise, given ``exposed`` (flat indices),
    ``exposure`` holds the exposure at those cells only (zero everywhere else, where the
    erosion ``c -= 0 * erosion * c`` changes no value), and only they are eroded.
    """
    c = cohesion
    if dialogue is not None:
        flat = c.reshape(-1)
        old = flat[cover]
        flat[cover] = old + dialogue * (1.0 - old)
    s = scratch
    if exposed is None:
        np.multiply(exposure, erosion, out=s)
        s *= c
        c -= s
    else:
        flat = c.reshape(-1)
        old = flat[exposed]
        loss = exposure * erosion
        loss *= old
        flat[exposed] = old - loss
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


def update_memory_at(memory: np.ndarray, violent: np.ndarray, *, decay: float, gain: float) -> None:
    """:func:`update_memory` given the violent cells' flat indices: the same bits.

    Off the violent cells the refresh is ``0 * gain * (1 - m) = 0`` and leaves ``m`` as it
    is; at them ``1.0 * gain == gain``, so only they are refreshed, by ``gain * (1 - m)``.
    """
    memory *= 1.0 - decay
    flat = memory.reshape(-1)
    old = flat[violent]
    refreshed = np.subtract(1.0, old)
    refreshed *= gain
    flat[violent] = old + refreshed


def update_cohesion_and_memory(
    violence: np.ndarray,
    *,
    torus: bool,
    near: np.ndarray,
    cohesion: np.ndarray,
    memory: np.ndarray,
    dialogue: np.ndarray | None,
    cover: np.ndarray | None,
    base: np.ndarray,
    params,
    inhabited: np.ndarray,
    work: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    """``near = M(violence)``, then :func:`update_cohesion` and :func:`update_memory`.

    ``violence`` is this step's (H, W) bool map, ``params`` the ``[dynamics]`` table,
    ``work`` three (H, W) float64 scratch arrays. While few cells are violent
    (:func:`sparse_violence`) everything is computed from their flat indices: near,
    exposure and memory's refresh are zero away from violence, where the dense updates
    change no value. Both paths give the same bits.
    """
    d = params
    violent = np.flatnonzero(violence)
    if sparse_violence(near.shape, violent.size):
        cells = violence_neighbour_mean(violent, near.shape, torus, near)
        exposed = sorted_unique(np.concatenate([cells, violent]))[0]  # exposure > 0 there
        exposure = np.add(near.reshape(-1)[exposed], violence.reshape(-1)[exposed])
        exposure *= _HALF
        update_cohesion(
            cohesion,
            exposure,
            dialogue=dialogue,
            cover=cover,
            base=base,
            erosion=d.cohesion_erosion,
            recovery=d.cohesion_recovery,
            inhabited=inhabited,
            scratch=work[2],
            exposed=exposed,
        )
        update_memory_at(memory, violent, decay=d.memory_decay, gain=d.memory_gain)
        return
    v, exposure, scratch = work
    np.copyto(v, violence)
    neighbour_mean(v, torus=torus, out=near)
    exposure = np.add(near, v, out=exposure)
    exposure *= _HALF  # violence_exposure, sharing its neighbour mean
    update_cohesion(
        cohesion,
        exposure,
        dialogue=dialogue,
        cover=cover,
        base=base,
        erosion=d.cohesion_erosion,
        recovery=d.cohesion_recovery,
        inhabited=inhabited,
        scratch=scratch,
    )
    # exposure is no longer needed: its buffer takes memory's refresh
    update_memory(
        memory, v, decay=d.memory_decay, gain=d.memory_gain, scratch=scratch, gain_out=exposure
    )


def relax_grievance(
    grievance: np.ndarray, base: np.ndarray, recovery: float, scratch: np.ndarray
) -> None:
    """Grievance relaxes towards its base level (docs/ODD.md 7.8)."""
    np.subtract(base, grievance, out=scratch)
    scratch *= recovery
    grievance += scratch

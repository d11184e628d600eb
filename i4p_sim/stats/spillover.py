"""Training spillover: violence just outside the committees' catchments, paired.

Pure numpy (the catchment geometry is :mod:`i4p_sim.core.committees`'). The held-out
target ``training_spillover`` (experiments/targets.toml; Blattman, Hartman & Blair 2014
found spillovers of a dispute-resolution campaign to untrained residents) compares, in
one *ring*, a run with committees and its twin without them (the same seed):

- the ring (:func:`ring_mask`) is the inhabited cells at Euclidean distance ``r + inner``
  to ``r + outer`` from the nearest committee (``r`` the catchment radius, ``lpc.radius``)
  and in no catchment: every cell of the union of the disks of radius ``r + outer`` around
  the committees (:func:`~i4p_sim.core.committees.disk_offsets`, the catchments' own
  disk test) outside the union of the disks of radius ``r + inner - 1``. Committees are
  sited once, so the ring is fixed for a run, and it is the committee run's ring that both
  runs of a pair are counted on;
- :func:`ring_cell_months` counts violent cell-months in the ring after the burn-in;
- the paired difference is the committee run's count minus its twin's: negative when the
  committees lower violence next to their catchments (a spillover), positive when they
  push it out (displacement).
"""

from __future__ import annotations

import numpy as np

from i4p_sim.core.committees import catchment_indices

__all__ = ["covered", "ring_cell_months", "ring_mask"]


def covered(positions: np.ndarray, radius: int, shape: tuple[int, int], torus: bool) -> np.ndarray:
    """(H, W) bool: the cells within Euclidean ``radius`` of some position."""
    out = np.zeros(shape, dtype=bool)
    pos = np.asarray(positions, dtype=np.int64).reshape(-1, 2)
    if radius < 0 or pos.size == 0:
        return out
    flat, _ = catchment_indices(pos, int(radius), shape, torus)
    out.ravel()[flat] = True
    return out


def ring_mask(
    positions: np.ndarray,
    radius: int,
    inhabited: np.ndarray,
    torus: bool,
    inner: int = 1,
    outer: int = 3,
) -> np.ndarray:
    """(H, W) bool: inhabited cells at distance ``radius + inner .. radius + outer`` from
    the nearest of ``positions`` (module docstring); ``inner >= 1`` keeps catchments out."""
    if not 1 <= inner <= outer:
        raise ValueError(f"need 1 <= inner <= outer, got {inner}, {outer}")
    shape = tuple(np.shape(inhabited))
    far = covered(positions, radius + outer, shape, torus)  # type: ignore[arg-type]
    near = covered(positions, radius + inner - 1, shape, torus)  # type: ignore[arg-type]
    return far & ~near & np.asarray(inhabited, dtype=bool)


def ring_cell_months(stack: np.ndarray, mask: np.ndarray, start: int = 0) -> int:
    """Violent cell-months of a (T, H, W) stack in ``mask``, from step ``start`` on."""
    arr = np.asarray(stack, dtype=bool)
    if arr.ndim != 3 or arr.shape[1:] != np.shape(mask):
        raise ValueError(f"stack {arr.shape} and mask {np.shape(mask)} do not match")
    return int(arr[start:, np.asarray(mask, dtype=bool)].sum())

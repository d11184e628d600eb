"""The densest windows of a violence map: where the state and the councils aim.

Pure numpy. The state's crackdowns (docs/ODD.md 7.5) and a council's late responses
(7.11) go to the cells of highest density of violent cells over a square window,
``scipy.ndimage.uniform_filter(violent, size, mode="constant")``, ties by cell index
(:func:`densest_cells`). :class:`DensestWindows` finds the same cells, in the same order,
without filtering the whole grid in floating point:

* exact integer window counts rank the cells: the filtered density is the count divided
  by ``size**2`` up to rounding far below ``1 / size**2``, so cells of different counts
  rank as their counts do, and cells of count 0 (density 0 up to rounding) come last;
* only the cells whose count reaches the k-th largest can be chosen; their densities are
  recomputed exactly as scipy computes them (its per-line running sums, on their rows
  only, :func:`~i4p_sim.core.window_means.uniform_filter1d_constant`), and ranked as
  :func:`densest_cells` ranks them;
* with fewer than k cells of positive count, scipy's rounding residues (tiny positive
  densities where the count is 0) could be chosen too: the whole grid is then filtered
  as before.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from i4p_sim.core.window_means import uniform_filter1d_constant


def densest_cells(density: np.ndarray, k: int) -> np.ndarray:
    """Flat indices of the ``k`` cells of highest positive density, ties by cell index.

    Without sorting the whole grid: a partition finds the k-th value, the cells above it
    are taken, then the cells equal to it in index order; the result is ordered by
    (-density, index), exactly the first k of a stable argsort of ``-density``.
    """
    flat = density.reshape(-1)
    candidates = np.flatnonzero(flat > 0)
    return _top(candidates, flat[candidates], k)


def _top(candidates: np.ndarray, values: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` candidates (ascending indices) of highest value, by (-value, index)."""
    if k <= 0 or candidates.size == 0:
        return np.zeros(0, dtype=np.int64)
    if candidates.size > k:
        kth = -np.partition(-values, k - 1)[k - 1]
        above = values > kth
        ties = np.flatnonzero(values == kth)[: k - int(above.sum())]
        keep = np.flatnonzero(above)
        pick = np.concatenate([keep, ties])
        candidates, values = candidates[pick], values[pick]
    order = np.lexsort((candidates, -values))
    return candidates[order]


class DensestWindows:
    """``densest_cells(uniform_filter(violent, size, mode="constant"), k)``, faster.

    Parameters
    ----------
    shape : (int, int)
        Grid shape.
    size : int
        Window side (``2 * radius + 1``).
    """

    def __init__(self, shape: tuple[int, int], size: int) -> None:
        self.shape = shape
        self.size = size
        self._columns = np.zeros(shape, dtype=np.int32)  # counts over each column window
        self._counts = np.zeros(shape, dtype=np.int32)  # counts over each square window
        self._density = np.empty(shape)  # the fallback's filtered map

    def __call__(
        self,
        violent: np.ndarray,
        k: int,
        bounds: tuple[int, int, int, int] | None = None,
    ) -> np.ndarray:
        """Flat indices of the ``k`` densest cells, by (-density, index).

        Parameters
        ----------
        violent : (H, W) bool array
            The violence map.
        k : int
            How many cells.
        bounds : (row0, row1, col0, col1), optional
            Only cells inside count (the density is taken as 0 elsewhere).
        """
        if k <= 0:
            return np.zeros(0, dtype=np.int64)
        counts = self._window_counts(violent)
        if bounds is not None:
            r0, r1, c0, c1 = bounds
            inside = np.zeros(self.shape, dtype=bool)
            inside[r0:r1, c0:c1] = True
            counts = np.where(inside, counts, 0)
        flat = counts.reshape(-1)
        positive = np.flatnonzero(flat > 0)
        if positive.size < k:  # rounding residues might be chosen: filter as scipy does
            return self._filtered(violent, k, bounds)
        values = flat[positive]
        if positive.size > k:
            kth = -np.partition(-values, k - 1)[k - 1]
            positive = positive[values >= kth]
        return _top(positive, self._exact_density(positive), k)

    def _window_counts(self, violent: np.ndarray) -> np.ndarray:
        """Integer count of violent cells over each cell's window (zeros off the grid)."""
        h, w = self.shape
        s1 = self.size // 2
        cols, counts = self._columns, self._counts
        cols.fill(0)
        counts.fill(0)
        for d in range(-s1, self.size - s1):  # window rows l - s1 .. l + s2
            lo, hi = max(0, -d), min(h, h - d)
            if lo < hi:
                cols[lo:hi] += violent[lo + d : hi + d]
        for d in range(-s1, self.size - s1):
            lo, hi = max(0, -d), min(w, w - d)
            if lo < hi:
                counts[:, lo:hi] += cols[:, lo + d : hi + d]
        return counts

    def _exact_density(self, cells: np.ndarray) -> np.ndarray:
        """scipy's filtered density at ``cells``: its two passes, on their rows only.

        The first pass (along columns) sums 0s and 1s exactly: its output is the column
        count over ``size``. The second runs along each row from its start.
        """
        w = self.shape[1]
        rows, where = np.unique(cells // w, return_inverse=True)
        first = self._columns[rows] / float(self.size)
        second = uniform_filter1d_constant(first, self.size, 1, first, np.empty_like(first))
        return second[where, cells % w]

    def _filtered(
        self, violent: np.ndarray, k: int, bounds: tuple[int, int, int, int] | None
    ) -> np.ndarray:
        density = ndimage.uniform_filter(
            violent.astype(np.float64), size=self.size, mode="constant", output=self._density
        )
        if bounds is not None:
            r0, r1, c0, c1 = bounds
            inside = np.zeros(self.shape, dtype=bool)
            inside[r0:r1, c0:c1] = True
            density = np.where(inside, density, 0.0)
        return densest_cells(density, k)

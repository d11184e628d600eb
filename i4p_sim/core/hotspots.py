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
  only, :meth:`DensestWindows._exact_density`), and ranked as :func:`densest_cells`
  ranks them;
* with fewer than k cells of positive count, scipy's rounding residues (tiny positive
  densities where the count is 0) could be chosen too: the whole grid is then filtered
  as before.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from i4p_sim.core.indices import sorted_unique, sum_by_key

#: Window counts are accumulated from the violent cells (sparse path) while each of them
#: adds fewer than one window entry in this many grid cells; both paths give the same counts.
SPARSE_CELLS_PER_ENTRY = 16


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
        if size > 255:  # column counts must fit a uint8, window counts a uint16
            raise ValueError(f"window size {size} > 255")
        self._columns = np.zeros(shape, dtype=np.uint8)  # counts over each column window
        self._counts = np.zeros(shape, dtype=np.uint16)  # counts over each square window
        self._density = np.empty(shape)  # the fallback's filtered map
        self._column_cells: np.ndarray | None = None  # where column counts are > 0 (sparse)

    def __call__(
        self,
        violent: np.ndarray,
        k: int,
        bounds: tuple[int, int, int, int] | np.ndarray | None = None,
    ) -> np.ndarray:
        """Flat indices of the ``k`` densest cells, by (-density, index).

        Parameters
        ----------
        violent : (H, W) bool array
            The violence map.
        k : int
            How many cells.
        bounds : (row0, row1, col0, col1) or (H, W) bool array, optional
            Only cells inside (the box, or the mask's True cells: a region read from a
            map) count; the density is taken as 0 elsewhere.
        """
        if k <= 0:
            return np.zeros(0, dtype=np.int64)
        counts, positive = self._window_counts(violent)
        if bounds is not None:
            counts = np.where(self._inside(bounds), counts, 0)
            positive = None
        flat = counts.reshape(-1)
        if positive is None:
            positive = np.flatnonzero(flat > 0)
        if positive.size < k:  # rounding residues might be chosen: filter as scipy does
            return self._filtered(violent, k, bounds)
        values = flat[positive]
        if positive.size > k:  # the k-th largest count and every cell that reaches it
            kth = np.partition(values, positive.size - k)[positive.size - k]
            positive = positive[values >= kth]
        return _top(positive, self._exact_density(positive), k)

    def _window_counts(self, violent: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Integer count of violent cells over each cell's window (zeros off the grid).

        Also returns the sorted flat indices of the positive counts when the sparse path
        (few violent cells, :meth:`_sparse_counts`) found them, else ``None``.
        """
        h, w = self.shape
        cells = np.flatnonzero(violent)
        if cells.size * self.size * self.size * SPARSE_CELLS_PER_ENTRY <= h * w:
            return self._sparse_counts(cells)
        self._column_cells = None
        s1 = self.size // 2
        cols, counts = self._columns, self._counts
        cells = violent.view(np.uint8)  # bool as 0 / 1, without a cast
        cols.fill(0)
        counts.fill(0)
        for d in range(-s1, self.size - s1):  # window rows l - s1 .. l + s2
            lo, hi = max(0, -d), min(h, h - d)
            if lo < hi:
                cols[lo:hi] += cells[lo + d : hi + d]
        for d in range(-s1, self.size - s1):
            lo, hi = max(0, -d), min(w, w - d)
            if lo < hi:
                counts[:, lo:hi] += cols[:, lo + d : hi + d]
        return counts, None

    def _sparse_counts(self, cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`_window_counts` from the violent cells' flat indices ``cells``.

        Each violent cell adds 1 to the column counts of the rows whose window holds it,
        each positive column count its value to the cells whose window holds it: the same
        integer sums as the dense shifted additions, hence the same counts.
        """
        h, w = self.shape
        s1 = self.size // 2
        span = np.arange(-s1, self.size - s1)  # window rows / columns l - s1 .. l + s2
        rows, cols = np.divmod(cells, w)
        lr = (rows[:, None] - span).reshape(-1)  # rows l whose column window holds the cell
        lc = np.repeat(cols, span.size)
        keep = (lr >= 0) & (lr < h)
        column_cells, column_counts = sorted_unique(lr[keep] * w + lc[keep])
        self._columns.fill(0)
        self._columns.reshape(-1)[column_cells] = column_counts
        self._column_cells = column_cells
        kr, kc = np.divmod(column_cells, w)
        qc = (kc[:, None] - span).reshape(-1)  # columns l whose window holds the column
        keep = (qc >= 0) & (qc < w)
        keys = np.repeat(kr, span.size)[keep] * w + qc[keep]
        positive, sums = sum_by_key(keys, np.repeat(column_counts, span.size)[keep])
        self._counts.fill(0)
        self._counts.reshape(-1)[positive] = sums
        return self._counts, positive

    def _exact_density(self, cells: np.ndarray) -> np.ndarray:
        """scipy's filtered density at ``cells``, from the column counts of their rows.

        scipy's first pass (along columns) sums 0s and 1s exactly: its output is the column
        count over ``size``. The second runs along each row from its start: ``tmp`` is the
        first window's sum (0.0 plus its terms one by one), then ``tmp += entering -
        leaving`` at each next cell, and the density is ``tmp / size``. The difference is
        0.0 wherever both those column counts are 0, and adding 0.0 leaves ``tmp`` as it
        is (it is never -0.0), so only the positions next to a non-zero column count are
        accumulated, in order, row by row (a cumulative sum along a compacted table).
        """
        w = self.shape[1]
        size = float(self.size)
        s1 = self.size // 2
        s2 = self.size - s1 - 1
        at = cells // w  # cells are ascending: so are their rows
        new_row = np.append(True, at[1:] != at[:-1])
        rows, where = at[new_row], np.cumsum(new_row) - 1
        counts = self._columns
        n = rows.size
        first = np.zeros(n)  # the first window: x[0 .. s2] of each row, one by one
        for k in range(min(s2 + 1, w)):
            first += counts[rows, k] / size
        index = np.full(self.shape[0], -1)  # grid row -> its place in ``rows``
        index[rows] = np.arange(n)
        nonzero = self._column_cells  # known on the sparse path
        if nonzero is None:
            nonzero = np.flatnonzero(counts.reshape(-1) != 0)
        line, col = index[nonzero // w], nonzero % w
        col = col[line >= 0]
        line = line[line >= 0]
        # each row's terms in order: its first window at position 0, then the positions
        # where a non-zero count enters (l = col - s2) or leaves (l = col + s1 + 1)
        pos = np.concatenate([np.zeros(n, dtype=np.int64), col - s2, col + s1 + 1])
        line = np.concatenate([np.arange(n), line, line])
        keep = (pos >= 0) & (pos < w)
        keys = np.sort(line[keep] * w + pos[keep])
        keys = keys[np.append(True, keys[1:] != keys[:-1])]  # each position once
        line, pos = keys // w, keys % w
        enter, leave = pos + s2, pos - s1 - 1
        new = np.where(enter < w, counts[rows[line], np.minimum(enter, w - 1)] / size, 0.0)
        old = np.where(leave >= 0, counts[rows[line], np.maximum(leave, 0)] / size, 0.0)
        terms = np.where(pos == 0, first[line], new - old)
        starts = np.searchsorted(line, np.arange(n))
        rank = np.arange(keys.size) - starts[line]
        table = np.zeros((n, int(rank.max()) + 1))
        table[line, rank] = terms
        np.cumsum(table, axis=1, out=table)
        # tmp at a cell: after its row's last term at or before it
        last = np.searchsorted(keys, where * w + cells % w, side="right") - 1
        return table[where, last - starts[where]] / size

    def _filtered(
        self, violent: np.ndarray, k: int, bounds: tuple[int, int, int, int] | np.ndarray | None
    ) -> np.ndarray:
        density = ndimage.uniform_filter(
            violent.astype(np.float64), size=self.size, mode="constant", output=self._density
        )
        if bounds is not None:
            density = np.where(self._inside(bounds), density, 0.0)
        return densest_cells(density, k)

    def _inside(self, bounds: tuple[int, int, int, int] | np.ndarray) -> np.ndarray:
        """The cells a council covers: an (H, W) bool mask as given, or a box's cells."""
        if isinstance(bounds, np.ndarray):
            return bounds
        r0, r1, c0, c1 = bounds
        inside = np.zeros(self.shape, dtype=bool)
        inside[r0:r1, c0:c1] = True
        return inside

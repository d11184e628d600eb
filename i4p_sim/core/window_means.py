"""Means over square windows, in the floating-point order of the call they replace.

Pure numpy. :class:`FootprintMean` is the mean of a field over the (2r+1)^2 square
around every cell, cells beyond a non-torus edge counting as 0 (the warning risk map the
model takes every step): what ``np.sum`` over each cell's gathered footprint gives
(numpy's pairwise summation: eight running partial sums, then a fixed tree), computed as
sums of shifted views of a padded copy, row block by row block, in exactly the same order
of additions, so the results are bit for bit the same (``tests/test_window_means.py``).
It replicates the order of numpy 2's pairwise summation (checked on numpy 2.4 and 2.5); a
numpy that changed it would fail those tests, not silently drift.
"""

from __future__ import annotations

import numpy as np

#: numpy's pairwise summation adds up to this many terms with eight running partial sums.
PAIRWISE_BLOCK = 128
#: Cells per row block of :class:`FootprintMean`: its eight partial sums stay in cache.
BLOCK_CELLS = 1 << 15


def _combine_partial_sums(
    acc: list[np.ndarray], out: np.ndarray, s0: np.ndarray, s1: np.ndarray, s2: np.ndarray
) -> None:
    """``out = ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7))``: numpy's tree over its
    eight partial sums ``acc``, through the scratch arrays ``s0, s1, s2`` (which may be
    ``acc[0], acc[2], acc[4]``: each is written only after its own term is read)."""
    np.add(acc[0], acc[1], out=s0)
    np.add(acc[2], acc[3], out=s1)
    np.add(s0, s1, out=s0)
    np.add(acc[4], acc[5], out=s1)
    np.add(acc[6], acc[7], out=s2)
    np.add(s1, s2, out=s1)
    np.add(s0, s1, out=out)


def _pairwise_sum(terms: list[np.ndarray], out: np.ndarray, acc: list[np.ndarray]) -> None:
    """``out = sum(terms)`` in the order of numpy's pairwise summation of a contiguous row.

    ``terms`` are same-shape arrays (term ``k`` holds the ``k``-th summand of every
    output); ``acc`` eight scratch arrays of that shape. numpy sums ``n < 8`` terms one by
    one from 0.0; up to 128 in eight running partial sums (``acc[j]`` takes terms ``j, j + 8,
    j + 16, ...``) combined as ``((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7))``, the
    ``n % 8`` last terms added one by one; beyond 128 it splits at a multiple of 8 near
    the middle and adds the two halves' sums.
    """
    n = len(terms)
    if n < 8:
        np.add(terms[0], 0.0, out=out)
        for term in terms[1:]:
            out += term
        return
    if n > PAIRWISE_BLOCK:
        half = n // 2
        half -= half % 8
        _pairwise_sum(terms[:half], out, acc)
        rest = np.empty_like(out)
        _pairwise_sum(terms[half:], rest, acc)
        out += rest
        return
    whole = n - n % 8
    for j in range(8):
        if whole > 8:
            np.add(terms[j], terms[j + 8], out=acc[j])
        else:
            np.copyto(acc[j], terms[j])
    for i in range(16, whole, 8):
        for j in range(8):
            acc[j] += terms[i + j]
    _combine_partial_sums(acc, out, acc[0], acc[2], acc[4])
    for term in terms[whole:]:
        out += term


class FootprintMean:
    """Mean of a field over the square of radius ``radius`` around each cell.

    Equal bit for bit to gathering each cell's (2r+1)^2 footprint (offsets row-major,
    cells beyond a non-torus edge as 0, wrapped on a torus) and taking ``np.sum(axis=1) /
    (2r+1)^2``, for a finite field with no negative values (a beyond-the-edge term is then
    +0.0 either way).

    Parameters
    ----------
    shape : (int, int)
        Grid shape.
    radius : int
        Chebyshev radius of the square.
    torus : bool
        Whether the grid wraps.
    rows : array of int, optional
        The rows whose means are wanted (default: all); the other rows of the output are
        left as they were.
    """

    def __init__(
        self,
        shape: tuple[int, int],
        radius: int,
        torus: bool,
        rows: np.ndarray | None = None,
    ) -> None:
        h, w = shape
        r = radius
        self.shape, self.radius, self.torus = shape, radius, torus
        self.size = (2 * r + 1) ** 2
        self.padded = np.zeros((h + 2 * r, w + 2 * r))
        if torus:  # flat index into the field of every padded cell
            pr = np.arange(-r, h + r) % h
            pc = np.arange(-r, w + r) % w
            self._wrap = (pr[:, None] * w + pc[None, :]).ravel()
        block = max(1, BLOCK_CELLS // w)
        wanted = np.zeros(h, dtype=bool)
        wanted[np.arange(h) if rows is None else rows] = True
        self.blocks = [
            (r0, min(h, r0 + block)) for r0 in range(0, h, block) if wanted[r0 : r0 + block].any()
        ]
        self._acc = [np.empty((block, w)) for _ in range(8)]
        side = 2 * r + 1
        self._offsets = [(i // side, i % side) for i in range(self.size)]
        self._patterns = _shared_partial_sums(self._offsets) if 8 <= self.size <= 128 else None
        if self._patterns is not None:  # one buffer per pattern, over its members' span
            self._sums = [
                np.empty((block + hi[0] - lo[0], w + hi[1] - lo[1]))
                for _, _, lo, hi in self._patterns
            ]

    def __call__(self, field: np.ndarray, out: np.ndarray) -> np.ndarray:
        """Write the footprint means of ``field`` into ``out`` (its wanted rows); return it."""
        h, w = self.shape
        r = self.radius
        padded = self.padded
        if self.torus:
            np.take(field.reshape(-1), self._wrap, out=padded.reshape(-1))
        else:
            padded[r : r + h, r : r + w] = field
        for r0, r1 in self.blocks:
            dest = out[r0:r1]
            if self._patterns is None:
                terms = [padded[r0 + dr : r1 + dr, dc : dc + w] for dr, dc in self._offsets]
                _pairwise_sum(terms, dest, [a[: r1 - r0] for a in self._acc])
            else:
                self._shifted_sum(r0, r1, dest)
            dest /= self.size
        return out

    def _shifted_sum(self, r0: int, r1: int, dest: np.ndarray) -> None:
        """numpy's eight partial sums of a row block, each pattern's sum computed once.

        Partial sum ``j`` adds the terms ``j, j + 8, ...`` one by one; when two of them add
        terms at the same relative offsets, one is the other shifted: each such pattern is
        summed once, over the span of its members' shifts, and the partial sums are views
        into it. The tree and the remaining terms follow numpy's order.
        """
        n, w = r1 - r0, self.shape[1]
        padded = self.padded
        acc: list[np.ndarray] = [padded] * 8
        for (pattern, members, lo, hi), buf in zip(self._patterns, self._sums, strict=True):
            rows, cols = n + hi[0] - lo[0], w + hi[1] - lo[1]
            views = [
                padded[r0 + lo[0] + p : r0 + lo[0] + p + rows, lo[1] + q : lo[1] + q + cols]
                for p, q in pattern
            ]
            total = views[0]
            if len(views) > 1:
                total = buf[:rows, :cols]
                np.add(views[0], views[1], out=total)
                for view in views[2:]:
                    total += view
            for j, (br, bc) in members:
                acc[j] = total[br - lo[0] : br - lo[0] + n, bc - lo[1] : bc - lo[1] + w]
        _combine_partial_sums(acc, dest, *(a[:n] for a in self._acc[:3]))
        whole = self.size - self.size % 8
        for dr, dc in self._offsets[whole:]:
            dest += padded[r0 + dr : r1 + dr, dc : dc + w]


def _shared_partial_sums(offsets: list[tuple[int, int]]) -> list:
    """Group numpy's eight partial sums (8 <= terms <= 128) by the pattern they add.

    Partial sum ``j`` adds the terms at ``offsets[j], offsets[j + 8], ...`` (up to the
    last multiple of 8). Returns, per distinct pattern (those offsets relative to the
    first), the pattern, its members ``(j, first offset)``, and the least and greatest
    first offsets (the span its shared sum must cover).
    """
    whole = len(offsets) - len(offsets) % 8
    groups: dict[tuple, list] = {}
    for j in range(8):
        base = offsets[j]
        pattern = tuple((o[0] - base[0], o[1] - base[1]) for o in offsets[j:whole:8])
        groups.setdefault(pattern, []).append((j, base))
    found = []
    for pattern, members in groups.items():
        lo = (min(b[0] for _, b in members), min(b[1] for _, b in members))
        hi = (max(b[0] for _, b in members), max(b[1] for _, b in members))
        found.append((pattern, members, lo, hi))
    return found

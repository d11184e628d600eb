"""The numpy kernels of the tension core (:func:`i4p_sim.core.field.propagate`).

The per-thread workspace, the separable ``M`` operator and the plain and row-blocked
numpy kernels; see the implementation notes of :mod:`i4p_sim.core.field`. Private to
``field``: callers use :func:`~i4p_sim.core.field.propagate` and
:func:`~i4p_sim.core.field.neighbour_mean`.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

_CACHE_SIZE = 8
_local = threading.local()


# --------------------------------------------------------------------------- workspace


@dataclass
class _Workspace:
    """Preallocated buffers and boundary factors for one ``(shape, torus)``.

    Attributes
    ----------
    shape : tuple of int
        Grid shape ``(H, W)``.
    torus : bool
        Whether the grid wraps.
    count : numpy.ndarray
        Number of neighbour offsets that count at each cell (float64, read-only).
    factor : numpy.ndarray or None
        ``8 / count`` (1x1 non-torus: 8, since ``M(x) = x`` there); ``None`` on a torus,
        where every cell has 8 neighbour offsets.
    full : tuple of numpy.ndarray or None
        Scratch buffers ``(a, p, r)`` of the grid shape, allocated on first use (see
        :meth:`grids`).
    blocks : dict
        Scratch buffers of the row-blocked kernel, by block height (see
        :func:`_block_buffers`).
    """

    shape: tuple[int, int]
    torus: bool
    count: np.ndarray
    factor: np.ndarray | None
    full: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
    blocks: dict = field(default_factory=dict)

    def grids(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The three full-grid scratch buffers ``(a, p, r)``, allocated on first use."""
        if self.full is None:
            self.full = (np.empty(self.shape), np.empty(self.shape), np.empty(self.shape))
        return self.full


def _neighbour_count(shape: tuple[int, int], torus: bool) -> np.ndarray:
    """Number of Moore neighbour offsets that count at every cell.

    Parameters
    ----------
    shape : tuple of int
        Grid shape ``(H, W)``.
    torus : bool
        Whether the grid wraps (then every cell counts all 8 offsets).

    Returns
    -------
    numpy.ndarray
        Float64 array of ``shape``.
    """
    h, w = shape
    if torus:
        return np.full(shape, 8.0)
    rows = np.full(h, 3.0)
    cols = np.full(w, 3.0)
    rows[0] -= 1.0
    rows[-1] -= 1.0
    cols[0] -= 1.0
    cols[-1] -= 1.0
    if h == 1:
        rows[0] = 1.0
    if w == 1:
        cols[0] = 1.0
    return np.outer(rows, cols) - 1.0


def _workspace(shape: tuple[int, int], torus: bool) -> _Workspace:
    """Return the cached workspace for ``(shape, torus)`` of the calling thread."""
    cache: OrderedDict | None = getattr(_local, "cache", None)
    if cache is None:
        cache = _local.cache = OrderedDict()
    key = (shape, bool(torus))
    ws = cache.get(key)
    if ws is not None:
        cache.move_to_end(key)
        return ws
    count = _neighbour_count(shape, torus)
    count.flags.writeable = False
    factor = None
    if not torus:
        with np.errstate(divide="ignore"):
            factor = np.where(count > 0, 8.0 / np.maximum(count, 1.0), 8.0)
        factor.flags.writeable = False
    ws = _Workspace(
        shape=shape,
        torus=bool(torus),
        count=count,
        factor=factor,
    )
    cache[key] = ws
    while len(cache) > _CACHE_SIZE:
        cache.popitem(last=False)
    return ws


# --------------------------------------------------------------------------- M operator


def _pair_sum(src: np.ndarray, axis: int, torus: bool, dst: np.ndarray) -> None:
    """``dst[k] = src[k - 1] + src[k + 1]`` along ``axis`` (zero outside or wrapped).

    ``dst`` must not alias ``src``. Wrapped offsets that land on the same cell are
    counted once per offset (a width-1 torus gives ``2 * src``).
    """
    n = src.shape[axis]

    def sl(s: slice | int) -> tuple:
        return (s, slice(None)) if axis == 0 else (slice(None), s)

    if n >= 3:
        np.add(src[sl(slice(None, -2))], src[sl(slice(2, None))], out=dst[sl(slice(1, -1))])
        if torus:
            np.add(src[sl(-1)], src[sl(1)], out=dst[sl(0)])
            np.add(src[sl(-2)], src[sl(0)], out=dst[sl(-1)])
        else:
            dst[sl(0)] = src[sl(1)]
            dst[sl(-1)] = src[sl(-2)]
    elif n == 2:
        if torus:
            np.multiply(src[sl(1)], 2.0, out=dst[sl(0)])
            np.multiply(src[sl(0)], 2.0, out=dst[sl(1)])
        else:
            dst[sl(0)] = src[sl(1)]
            dst[sl(1)] = src[sl(0)]
    elif torus:  # n == 1: both offsets wrap onto the cell itself
        np.multiply(src, 2.0, out=dst)
    else:
        dst.fill(0.0)


def _rescale_boundary(m: np.ndarray, f: np.ndarray, r0: int, r1: int, h: int, w: int) -> None:
    """Multiply the block ``m`` (grid rows ``r0:r1``) by ``8 / count`` where it is not 1.

    Each boundary cell is multiplied exactly once (the factor is 1 elsewhere), so a
    whole grid and its row blocks give bit-identical results.
    """
    if w <= 2:
        m *= f[r0:r1]
        return
    lo, hi = 0, r1 - r0
    if r0 == 0:
        m[0] *= f[0]
        lo = 1
    if r1 == h and hi > lo:
        m[hi - 1] *= f[h - 1]
        hi -= 1
    if hi > lo:
        m[lo:hi, 0] *= f[r0 + lo : r0 + hi, 0]
        m[lo:hi, -1] *= f[r0 + lo : r0 + hi, -1]


def _scaled_neighbour_sum(src: np.ndarray, ws: _Workspace, dst: np.ndarray) -> np.ndarray:
    """Write ``8 * M(src)`` into ``dst`` using the workspace's ``p`` and ``r`` buffers.

    ``dst`` may alias ``src`` (``src`` is only read before ``dst`` is written), but
    neither may alias the workspace's ``p`` or ``r`` buffers.
    """
    _, p, r = ws.grids()
    h, w = ws.shape
    _pair_sum(src, 1, ws.torus, p)  # left + right
    np.add(p, src, out=r)  # left + centre + right
    if ws.factor is not None and h == 1 and w == 1:
        # lone non-torus cell: no neighbours, M(x) = x
        np.multiply(src, 8.0, out=dst)
        return dst
    _pair_sum(r, 0, ws.torus, dst)  # rows above and below
    dst += p  # same row, left and right
    if ws.factor is not None:
        _rescale_boundary(dst, ws.factor, 0, h, h, w)
    return dst


# --------------------------------------------------------------------------- kernels


def _combined_rows(tension, drive, violence, rows: slice, ca: float, cv: float, x, a, tmp) -> None:
    """``x = tension + drive`` and ``a = ca x + cv violence`` over ``rows`` (no-op terms skipped)."""
    np.add(tension[rows], drive[rows], out=x)
    np.multiply(x, ca, out=a)
    if cv != 0.0:
        np.multiply(violence[rows], cv, out=tmp)
        a += tmp


def _finish_rows(x, m, damping, cx: float, tmp, out) -> None:
    """``out = clip((cx x + m) (1 - damping), 0, 1)``; ``x`` is overwritten on the way."""
    x *= cx
    x += m
    np.subtract(1.0, damping, out=tmp)
    x *= tmp
    np.clip(x, 0.0, 1.0, out=out)


def _propagate_numpy(
    tension: np.ndarray,
    drive: np.ndarray,
    violence: np.ndarray,
    damping: np.ndarray,
    diffusion: float,
    contagion: float,
    decay: float,
    ws: _Workspace,
    res: np.ndarray,
) -> None:
    """Numpy kernel; ``res`` may be ``tension`` itself but must alias no other input."""
    keep = 1.0 - decay
    a, p, _ = ws.grids()
    # res = x (tension is not read after this); a = (diffusion x + contagion v)
    # (1 - decay) / 8, so that 8 M(a) is the neighbour term
    ca, cv = diffusion * keep * 0.125, contagion * keep * 0.125
    _combined_rows(tension, drive, violence, slice(None), ca, cv, res, a, p)
    _scaled_neighbour_sum(a, ws, a)
    _finish_rows(res, a, damping, (1.0 - diffusion) * keep, p, res)


# ------------------------------------------------------------------ row-blocked kernel

_BLOCK_CELLS = 1 << 16
"""Cells per row block of the blocked numpy kernel: its five scratch blocks then take
about 2.6 MB and stay in cache."""

_BLOCKED_MIN_CELLS = 1 << 19
"""Grids with at least this many cells (about 724^2) use the row-blocked numpy kernel;
on smaller grids every intermediate fits in cache anyway and the blocks only add calls."""


def _block_rows(shape: tuple[int, int]) -> int:
    """Rows per block of the blocked numpy kernel on a grid of ``shape``."""
    return max(2, _BLOCK_CELLS // shape[1])


def _uses_blocks(shape: tuple[int, int]) -> bool:
    return shape[0] * shape[1] >= _BLOCKED_MIN_CELLS and shape[0] > _block_rows(shape)


def _block_buffers(ws: _Workspace, rows: int) -> tuple[np.ndarray, ...]:
    """Scratch ``(A, P, R, X, M, carry, first)`` for blocks of ``rows`` grid rows.

    ``A``, ``P``, ``R`` and ``X`` have ``rows + 2`` rows (a halo row above and below),
    ``M`` has ``rows``; ``carry`` and ``first`` are single rows.
    """
    bufs = ws.blocks.get(rows)
    if bufs is None:
        w = ws.shape[1]
        ext = (rows + 2, w)
        bufs = ws.blocks[rows] = (
            np.empty(ext),
            np.empty(ext),
            np.empty(ext),
            np.empty(ext),
            np.empty((rows, w)),
            np.empty(w),
            np.empty(w),
        )
    return bufs


def _propagate_numpy_blocked(
    tension: np.ndarray,
    drive: np.ndarray,
    violence: np.ndarray,
    damping: np.ndarray,
    diffusion: float,
    contagion: float,
    decay: float,
    ws: _Workspace,
    res: np.ndarray,
    block_rows: int,
) -> None:
    """The numpy kernel, evaluated in blocks of ``block_rows`` grid rows.

    Every intermediate lives in a few cache-sized blocks, so only the five grids stream
    through memory, once each. Each block carries a halo row above and below: the one
    above is the previous block's last row of ``a``, kept before ``res`` (possibly
    ``tension`` itself) overwrites it; on a torus row 0's ``a`` is kept for the last
    block. The operations and their order per cell are those of :func:`_propagate_numpy`,
    so both kernels give bit-identical results (tested).
    """
    h, w = ws.shape
    torus = ws.torus
    keep = 1.0 - decay
    ca, cv = diffusion * keep * 0.125, contagion * keep * 0.125
    cx = (1.0 - diffusion) * keep
    f = ws.factor
    A, P, R, X, M, carry, first = _block_buffers(ws, block_rows)

    if torus:  # the halo above row 0 is row h - 1, read before anything is overwritten
        last = slice(h - 1, h)
        _combined_rows(tension, drive, violence, last, ca, cv, X[:1], carry[None], P[:1])
    else:
        carry.fill(0.0)

    for r0 in range(0, h, block_rows):
        r1 = min(r0 + block_rows, h)
        n = r1 - r0
        stop = min(r1 + 1, h)  # the halo below, when it is on the grid
        m = stop - r0
        _combined_rows(
            tension,
            drive,
            violence,
            slice(r0, stop),
            ca,
            cv,
            X[1 : 1 + m],
            A[1 : 1 + m],
            P[1 : 1 + m],
        )
        if r0 == 0 and torus:
            first[:] = A[1]
        A[0] = carry
        if stop == r1:  # the last block: the halo below wraps or is off the grid
            if torus:
                A[n + 1] = first
            else:
                A[n + 1].fill(0.0)
        Ae, Pe, Re = A[: n + 2], P[: n + 2], R[: n + 2]
        _pair_sum(Ae, 1, torus, Pe)  # left + right
        np.add(Pe, Ae, out=Re)  # left + centre + right
        Mb = M[:n]
        np.add(Re[:n], Re[2:], out=Mb)  # rows above and below
        Mb += Pe[1 : n + 1]  # same row, left and right
        if f is not None:
            _rescale_boundary(Mb, f, r0, r1, h, w)
        carry[:] = A[n]  # row r1 - 1, before res overwrites it
        _finish_rows(X[1 : n + 1], Mb, damping[r0:r1], cx, Pe[:n], res[r0:r1])

"""The tension core: one step of the propagating tension field.

This module is the model's hot path. It is pure numpy (it never imports Mesa) and
implements the contract of docs/ODD.md section 7.1, "The tension core"::

    M(x)  = mean of x over each cell's Moore neighbours (Mesa's OrthogonalMooreGrid)
    x     = tension + drive
    x     = (1 - diffusion) * x + diffusion * M(x)
    x     = x + contagion * M(violence)
    x     = x * (1 - decay) * (1 - damping)
    return  clip(x, 0, 1)

Neighbourhood semantics of ``M``:

* without torus only neighbours on the grid count (a corner cell has 3, an edge cell 5,
  an interior cell 8); a 1x1 grid's lone cell has none and ``M(x) = x`` there;
* with torus the grid wraps and all 8 offsets count, so on a grid narrower than 3 in
  some direction a cell can be counted more than once (Mesa's own neighbourhood
  deduplicates; the contract does not).

Implementation notes
--------------------
``M`` is linear, so ``diffusion * M(x) + contagion * M(violence)`` is computed as a
single ``M(diffusion * x + contagion * violence)``. The 8-neighbour sum is separable: a
row-wise pair sum ``P`` (left + right), a row-wise 3-sum ``R = P + centre``, and then
``up(R) + down(R) + P``. The interior divisor 8 is folded into the scalar coefficients;
only the boundary rows and columns (non-torus) are rescaled by a precomputed
``8 / count`` factor. All intermediates live in a small per-thread workspace cached by
``(shape, torus)``, so a call allocates only its result (nothing when ``out`` is given).
Results agree with the literal formula to rounding (well within 1e-12).

On grids of :data:`_BLOCKED_MIN_CELLS` cells or more the same operations run on blocks
of rows with a halo row above and below (:func:`_propagate_numpy_blocked`), so that the
intermediates stay in cache and only the five grids stream through memory; at 2048^2
this halves the time. Blocked and unblocked results are bit-identical.

The optional fused numba kernel lives in :mod:`i4p_sim.core.field_numba`.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from numbers import Real
from types import ModuleType

import numpy as np

__all__ = ["KERNELS", "neighbour_mean", "propagate", "warm_up"]

KERNELS: tuple[str, ...] = ("numpy", "numba")
"""Names accepted by the ``kernel`` keyword of :func:`propagate`."""

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


def _check_grid(name: str, arr: np.ndarray) -> None:
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (H, W) array, got shape {arr.shape}")
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError(f"{name} must be a non-empty grid, got shape {arr.shape}")


def _check_out(out: np.ndarray, shape: tuple[int, int]) -> None:
    if not isinstance(out, np.ndarray):
        raise ValueError(f"out must be a numpy array, got {type(out).__name__}")
    if out.shape != shape:
        raise ValueError(f"out has shape {out.shape}, expected {shape}")
    if out.dtype != np.float64:
        raise ValueError(f"out must be float64, got {out.dtype}")
    if not out.flags.writeable:
        raise ValueError("out must be writeable")


def neighbour_mean(x: np.ndarray, torus: bool = False, out: np.ndarray | None = None) -> np.ndarray:
    """Mean of ``x`` over each cell's Moore neighbours (the ``M`` operator).

    Parameters
    ----------
    x : numpy.ndarray
        2-D array ``(H, W)``; bool and integer arrays are accepted and averaged as
        float64.
    torus : bool, optional
        Whether the grid wraps. Without torus only neighbours on the grid count
        (corner 3, edge 5, interior 8; a 1x1 grid's lone cell has none and the result
        is ``x`` there). With torus all 8 offsets count, so on grids narrower than 3 a
        cell can be counted more than once.
    out : numpy.ndarray, optional
        Float64 array of the same shape to write the result into; it may be ``x``
        itself.

    Returns
    -------
    numpy.ndarray
        The neighbour mean, float64 of shape ``(H, W)`` (``out`` if given).

    Raises
    ------
    ValueError
        If ``x`` is not a non-empty 2-D array or ``out`` does not fit.
    """
    x = _as_float_grid("x", x)
    shape = (int(x.shape[0]), int(x.shape[1]))
    if out is None:
        out = np.empty(shape)
    else:
        _check_out(out, shape)
    ws = _workspace(shape, torus)
    _scaled_neighbour_sum(x, ws, out)
    out *= 0.125
    return out


# --------------------------------------------------------------------------- propagate


def _check_param(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, Real | np.floating | np.integer):
        raise ValueError(f"{name} must be a real number in [0, 1], got {value!r}")
    v = float(value)
    if not (0.0 <= v <= 1.0):
        raise ValueError(f"{name} must be in [0, 1], got {v!r}")
    return v


def _as_float_grid(name: str, arr: object) -> np.ndarray:
    a = np.asarray(arr)
    _check_grid(name, a)
    if a.dtype != np.float64:
        if not (np.issubdtype(a.dtype, np.number) or a.dtype == np.bool_):
            raise ValueError(f"{name} must be numeric, got dtype {a.dtype}")
        a = a.astype(np.float64)
    return a


def _same_view(a: np.ndarray, b: np.ndarray) -> bool:
    """True if ``a`` and ``b`` are views of exactly the same memory, element for element."""
    return (
        a.shape == b.shape
        and a.strides == b.strides
        and a.__array_interface__["data"][0] == b.__array_interface__["data"][0]
    )


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


_numba: ModuleType | None = None


def _numba_module() -> ModuleType:
    """Import (once) and return :mod:`i4p_sim.core.field_numba`, with an install hint."""
    global _numba
    if _numba is None:
        try:
            import numba  # noqa: F401  (fails first, with the hint, when it is missing)

            from i4p_sim.core import field_numba
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError(
                "kernel='numba' needs the optional dependency numba: pip install i4p-sim[fast]"
            ) from exc
        _numba = field_numba
    return _numba


def _get_numba_kernel() -> Callable:
    """Return the fused numba kernel (a lazily compiling numba dispatcher)."""
    return _numba_module().fused_kernel


def warm_up(kernel: str = "numba") -> None:
    """Compile (or load from numba's on-disk cache) a kernel before any timed work.

    A sweep worker calls this once, so that JIT compilation never lands inside a run.
    The numba kernel is specialised for the violence dtypes the model and the
    benchmarks pass (bool and float64); ``"numpy"`` needs no warm-up.

    Parameters
    ----------
    kernel : {"numpy", "numba"}
        The kernel about to be used.
    """
    if kernel not in KERNELS:
        raise ValueError(f"unknown kernel {kernel!r}; allowed values: {', '.join(KERNELS)}")
    if kernel == "numpy":
        return
    z = np.zeros((3, 3))
    for violence in (np.zeros((3, 3), dtype=bool), z):
        propagate(z, z, violence, z, diffusion=0.1, contagion=0.1, decay=0.1, kernel=kernel)


def propagate(
    tension: np.ndarray,
    drive: np.ndarray,
    violence: np.ndarray,
    damping: np.ndarray,
    *,
    diffusion: float,
    contagion: float,
    decay: float,
    torus: bool = False,
    kernel: str = "numpy",
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Advance the tension field by one step.

    Implements the contract of docs/ODD.md section 7.1::

        x = tension + drive
        x = (1 - diffusion) * x + diffusion * M(x)
        x = x + contagion * M(violence)
        x = x * (1 - decay) * (1 - damping)
        return clip(x, 0, 1)

    where ``M`` is :func:`neighbour_mean`.

    Parameters
    ----------
    tension : numpy.ndarray
        Current tension, float64 ``(H, W)``, values in [0, 1].
    drive : numpy.ndarray
        Sum of every source this step (may be negative), float64 ``(H, W)``.
    violence : numpy.ndarray
        Violent events this step, ``(H, W)``; bool, uint8 or float arrays are accepted.
    damping : numpy.ndarray
        Combined sinks this step, float64 ``(H, W)``, values in [0, 1].
    diffusion : float
        Share of ``x`` exchanged with the neighbourhood mean, in [0, 1].
    contagion : float
        Weight of the neighbourhood's violence, in [0, 1].
    decay : float
        Uniform relaxation per step, in [0, 1].
    torus : bool, optional
        Whether the grid wraps (default False).
    kernel : {"numpy", "numba"}, optional
        Implementation. ``"numba"`` is a fused single-pass kernel compiled on first use;
        it needs the optional extra ``fast`` (``pip install i4p-sim[fast]``). Both agree
        to 1e-12.
    out : numpy.ndarray, optional
        Preallocated float64 ``(H, W)`` array for the result. It may be ``tension``
        itself (``propagate(t, ..., out=t)`` updates in place). If it overlaps any other
        input the result is computed in a scratch buffer and then copied, so any aliasing
        is safe.

    Returns
    -------
    numpy.ndarray
        The next tension field, float64 ``(H, W)`` in [0, 1] (``out`` if given). Inputs
        are never modified (except ``tension`` when passed as ``out``).

    Raises
    ------
    ValueError
        If an array is not 2-D, shapes differ, a parameter is outside [0, 1], ``out``
        does not fit, or ``kernel`` is unknown.
    ImportError
        If ``kernel="numba"`` and numba is not installed.

    Notes
    -----
    Only the scalar parameters are range-checked; the array contents are not (this is
    the model's hot path). The per-shape workspace is cached per thread, so concurrent
    calls from different threads are safe.
    """
    if kernel not in KERNELS:
        raise ValueError(f"unknown kernel {kernel!r}; allowed values: {', '.join(KERNELS)}")
    tension = _as_float_grid("tension", tension)
    drive = _as_float_grid("drive", drive)
    damping = _as_float_grid("damping", damping)
    violence = np.asarray(violence)
    _check_grid("violence", violence)
    if not (np.issubdtype(violence.dtype, np.number) or violence.dtype == np.bool_):
        raise ValueError(f"violence must be bool or numeric, got dtype {violence.dtype}")
    shape = tension.shape
    for name, arr in (("drive", drive), ("violence", violence), ("damping", damping)):
        if arr.shape != shape:
            raise ValueError(
                f"shape mismatch: tension has shape {shape} but {name} has shape {arr.shape}"
            )
    diffusion = _check_param("diffusion", diffusion)
    contagion = _check_param("contagion", contagion)
    decay = _check_param("decay", decay)
    torus = bool(torus)
    shape = (int(shape[0]), int(shape[1]))

    if out is None:
        res = target = np.empty(shape)
    else:
        _check_out(out, shape)
        target = out
        clash = any(np.may_share_memory(out, a) for a in (drive, violence, damping)) or (
            np.may_share_memory(out, tension) and not _same_view(out, tension)
        )
        res = np.empty(shape) if clash else out

    if kernel == "numpy":
        ws = _workspace(shape, torus)
        args = (tension, drive, violence, damping, diffusion, contagion, decay, ws, res)
        if _uses_blocks(shape):
            _propagate_numpy_blocked(*args, _block_rows(shape))
        else:
            _propagate_numpy(*args)
    else:
        nb = _numba_module()
        if violence.dtype not in (np.float64, np.bool_, np.uint8):
            violence = violence.astype(np.float64)
        ahead = nb.prefetch_rows(shape)
        nb.fused_kernel(
            tension, drive, violence, damping, diffusion, contagion, decay, torus, ahead, res
        )

    if res is not target:
        np.copyto(target, res)
    return target

"""The fused numba kernel of the tension core (optional extra ``fast``).

Importing this module imports numba and compiles nothing: :data:`fused_kernel` is a
lazy ``numba.njit(cache=True)`` dispatcher, compiled on first call (or loaded from
numba's on-disk cache). :func:`i4p_sim.field.propagate` selects it with
``kernel="numba"``; the numpy kernel in :mod:`i4p_sim.field` stays the default and the
reference, and both agree to 1e-12.

Why a software prefetch
-----------------------
The kernel streams five grids (tension, drive, violence, damping, out) and keeps a ring
of three rows in cache. Per row it runs a fill loop that reads the next row of three
inputs, then a compute loop that reads damping and writes out. On grids larger than the
last-level cache it ran at about half the speed of a plain loop that streams the same
five grids (1.7 against 0.8 ns a cell at 2048^2 on the 2-core AMD EPYC VM of
``docs/performance.md``), and prefetching whole rows at once did not help. So above
:data:`PREFETCH_MIN_CELLS` the fill loop asks for the rows ``ahead`` of it, one
``llvm.prefetch`` (into L2) per cache line of tension, drive and damping and per eighth
line of violence, interleaved with its own loads; that takes about a quarter off the time
at 2048^2. Below the threshold the grids
live in cache and the interleaved prefetch only stops the fill loop from vectorising, so
it is left out. A prefetch is a hint: both paths do the same operations in the same
order, and their results are bit-identical (tested).
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

__all__ = ["PREFETCH_MIN_CELLS", "fused_kernel", "prefetch_rows"]

PREFETCH_MIN_CELLS = 600_000
"""Grids with at least this many cells (about 775^2) prefetch the rows ahead. The
streamed grids then take about 20 MB or more, and the prefetching fill loop becomes the
faster one; the crossover measured between 768^2 and 896^2 with a 32 MB L3."""

_LINE = 8  # float64 values per 64-byte cache line


def prefetch_rows(shape: tuple[int, int]) -> int:
    """Rows the fill loop prefetches ahead on a grid of ``shape`` (0: none)."""
    return 1 if shape[0] * shape[1] >= PREFETCH_MIN_CELLS else 0


@intrinsic
def _prefetch(typingctx, arr, row, col):
    """Prefetch the cache line holding ``arr[row, col]`` into L2 (a hint; never faults)."""
    sig = types.void(arr, row, col)

    def codegen(context, builder, signature, args):
        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        idx = [
            context.cast(builder, args[1], signature.args[1], types.intp),
            context.cast(builder, args[2], signature.args[2], types.intp),
        ]
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, idx, wraparound=False)
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0i8")
        # read, locality 2 (keep in L2), data cache
        builder.call(fn, [builder.bitcast(ptr, i8p), i32(0), i32(2), i32(1)])
        return context.get_dummy_value()

    return sig, codegen


@njit(cache=True)
def fused_kernel(tension, drive, violence, damping, diffusion, contagion, decay, torus, ahead, out):
    """One step of the tension core in a single pass over the grids.

    Streams the grid row by row, keeping a ring of three rows of
    ``y = diffusion * x + contagion * violence`` and of ``x = tension + drive``, plus
    row 0 saved for the torus wrap-around, so that ``out`` may be ``tension``. Outside a
    non-torus grid the ring points at a zero row and the divisor is the neighbour count;
    interior columns run in a branch-free, vectorisable loop. With ``ahead > 0`` the fill
    loop prefetches rows ``ahead`` rows further on (see the module notes).
    """
    h, w = tension.shape
    keep = 1.0 - decay
    a_x = 1.0 - diffusion
    # slots 0..2: ring of grid rows; 3: zeros (off-grid); 4: row 0 (torus wrap-around)
    ybuf = np.zeros((5, w))
    xbuf = np.zeros((5, w))
    lines = w // _LINE

    for j in range(w):
        x = tension[0, j] + drive[0, j]
        y = diffusion * x + contagion * violence[0, j]
        xbuf[0, j] = x
        ybuf[0, j] = y
        xbuf[4, j] = x
        ybuf[4, j] = y
    ic = 0
    ip = 3
    if torus:
        ip = 2
        r = h - 1
        for j in range(w):
            ybuf[2, j] = diffusion * (tension[r, j] + drive[r, j]) + contagion * violence[r, j]

    for i in range(h):
        nr = i + 1
        if nr < h:
            inx = (ic + 1) % 3
            # the fill is written out per loop: an inlined helper measured 3% slower
            if ahead > 0:
                pr = min(nr + ahead, h - 1)
                pd = min(i + ahead, h - 1)
                for line in range(lines):
                    b = line * _LINE
                    _prefetch(tension, pr, b)
                    _prefetch(drive, pr, b)
                    _prefetch(damping, pd, b)
                    if line % _LINE == 0:  # one bool line covers 8 float64 lines
                        _prefetch(violence, pr, b)
                    for k in range(_LINE):
                        j = b + k
                        x = tension[nr, j] + drive[nr, j]
                        xbuf[inx, j] = x
                        ybuf[inx, j] = diffusion * x + contagion * violence[nr, j]
                for j in range(lines * _LINE, w):
                    x = tension[nr, j] + drive[nr, j]
                    xbuf[inx, j] = x
                    ybuf[inx, j] = diffusion * x + contagion * violence[nr, j]
            else:
                # a loop from a constant 0 vectorises; a variable start keeps numba's
                # negative-index check in and does not
                for j in range(w):
                    x = tension[nr, j] + drive[nr, j]
                    xbuf[inx, j] = x
                    ybuf[inx, j] = diffusion * x + contagion * violence[nr, j]
        elif torus:
            inx = 4
        else:
            inx = 3
        yp = ybuf[ip]
        yc = ybuf[ic]
        yn = ybuf[inx]
        xc = xbuf[ic]

        if torus:
            inv_i = 0.125
            inv_e = 0.125
            cnt_e = 8
        else:
            nrows = 1 + (1 if i > 0 else 0) + (1 if i < h - 1 else 0)
            inv_i = 1.0 / (3 * nrows - 1)
            cnt_e = (2 if w > 1 else 1) * nrows - 1
            inv_e = 1.0 / cnt_e if cnt_e > 0 else 0.0

        for j in range(1, w - 1):
            m = (
                yp[j - 1]
                + yp[j]
                + yp[j + 1]
                + yc[j - 1]
                + yc[j + 1]
                + yn[j - 1]
                + yn[j]
                + yn[j + 1]
            ) * inv_i
            v = (a_x * xc[j] + m) * keep * (1.0 - damping[i, j])
            out[i, j] = 0.0 if v < 0.0 else (1.0 if v > 1.0 else v)  # NaN stays NaN

        # edge columns j = 0 and j = w - 1 (the same cell when w == 1)
        for j in (0, w - 1):
            if torus:
                jm = j - 1 if j > 0 else w - 1
                jp = j + 1 if j < w - 1 else 0
                s = yp[jm] + yp[j] + yp[jp] + yc[jm] + yc[jp] + yn[jm] + yn[j] + yn[jp]
                m = s * inv_e
            else:
                s = yp[j] + yn[j]
                if j > 0:
                    s += yp[j - 1] + yc[j - 1] + yn[j - 1]
                if j < w - 1:
                    s += yp[j + 1] + yc[j + 1] + yn[j + 1]
                m = s * inv_e if cnt_e > 0 else yc[j]
            v = (a_x * xc[j] + m) * keep * (1.0 - damping[i, j])
            out[i, j] = 0.0 if v < 0.0 else (1.0 if v > 1.0 else v)  # NaN stays NaN

        ip = ic
        ic = inx

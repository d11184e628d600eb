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

On grids of ``field_numpy._BLOCKED_MIN_CELLS`` cells or more the same operations run on
blocks of rows with a halo row above and below (``field_numpy._propagate_numpy_blocked``),
so that the intermediates stay in cache and only the five grids stream through memory; at
2048^2 this halves the time. Blocked and unblocked results are bit-identical.

The numpy kernels live in :mod:`i4p_sim.core.field_numpy`, the optional fused numba
kernel in :mod:`i4p_sim.core.field_numba`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from numbers import Real
from pathlib import Path
from types import ModuleType

import numpy as np

from i4p_sim.core.field_numpy import (
    _block_rows,
    _propagate_numpy,
    _propagate_numpy_blocked,
    _scaled_neighbour_sum,
    _uses_blocks,
    _workspace,
)

__all__ = [
    "KERNELS",
    "neighbour_mean",
    "numba_install_hint",
    "propagate",
    "require_kernel",
    "warm_up",
]

KERNELS: tuple[str, ...] = ("numpy", "numba")
"""Names accepted by the ``kernel`` keyword of :func:`propagate`."""


# --------------------------------------------------------------------------- checks


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


_numba: ModuleType | None = None


def numba_install_hint() -> str:
    """The command that installs numba (the ``fast`` extra) into the running Python.

    From a source checkout (a ``pyproject.toml`` beside the package) it is the editable
    install of the README, ``pip install -e ".[fast]"`` (the checkout's path when the
    working directory is elsewhere); otherwise ``pip install "i4p-sim[fast]"``.
    """
    python = sys.executable or "python"
    root = Path(__file__).resolve().parents[2]
    if (root / "pyproject.toml").is_file():
        try:
            here = Path.cwd().resolve() == root
        except OSError:
            here = False
        target = ".[fast]" if here else f"{root}[fast]"
        return f'{python} -m pip install -e "{target}"'
    return f'{python} -m pip install "i4p-sim[fast]"'


def _numba_module() -> ModuleType:
    """Import (once) and return :mod:`i4p_sim.core.field_numba`, with an install hint."""
    global _numba
    if _numba is None:
        try:
            import numba  # noqa: F401  (fails first, with the hint, when it is missing)

            from i4p_sim.core import field_numba
        except ImportError as exc:
            raise ImportError(
                "kernel 'numba' needs the optional dependency numba, which is not installed; "
                f"install it with: {numba_install_hint()}"
            ) from exc
        _numba = field_numba
    return _numba


def require_kernel(kernel: str) -> None:
    """Make sure ``kernel`` can run here (numba importable), before any work.

    Raises
    ------
    ImportError
        ``kernel == "numba"`` and numba is missing; the message names the install command.
    """
    if kernel == "numba":
        _numba_module()


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

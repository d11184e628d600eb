"""Limits checked before any work starts: sweep size and a model's memory.

Each check raises a one-line :class:`~i4p_sim.config.errors.ConfigError` (exit 2 in the
CLI) instead of letting a sweep list billions of points or a model run into a
``MemoryError`` after minutes.

Memory per cell
---------------
:data:`BYTES_PER_CELL` is the peak Python-heap use of building a model and stepping it,
divided by the cells of its grid, measured with :mod:`tracemalloc` (numpy reports its
buffers to it)::

    grid      communities=False   communities=True   (peak bytes per cell, 5 steps)
    32 x 32         2721               3119
    128 x 128       1622               1999
    256 x 256       1543               1914

The fixed part (imports, default objects) dominates small grids; the per-cell part tends
to ~1.5 KB (arrays only) and ~1.9 KB (with a Community agent per cell). 2 KiB a cell is
the estimate used for every check, so a grid is refused when ``2 KiB x cells`` exceeds
the memory the kernel reports as available (``MemAvailable`` in ``/proc/meminfo``, else
``os.sysconf``). Re-measure with ``benchmarks``-style code when the model's arrays change.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable

from i4p_sim.config.errors import ConfigError

__all__ = [
    "BYTES_PER_CELL",
    "MAX_RUNS",
    "MAX_SCENARIO_POINTS",
    "available_memory",
    "check_grid_memory",
    "check_sweep_size",
]

#: Estimated peak bytes of one model per grid cell (see the module docstring).
BYTES_PER_CELL = 2048
#: Share of the available memory one command may plan to use for models.
MEMORY_SHARE = 0.8
#: Most runs (scenarios x points x replicates) one experiment may list.
MAX_RUNS = 1_000_000
#: Most scenario x parameter-point combinations (each is validated and kept in memory).
MAX_SCENARIO_POINTS = 100_000


def available_memory() -> int | None:
    """Bytes of memory available for new work (``MemAvailable``), or None if unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (OSError, ValueError, AttributeError):
        return None


def _fmt_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover


def check_grid_memory(
    cells: int,
    source: str,
    *,
    copies: int = 1,
    field: str = "grid",
    available: int | None = None,
) -> None:
    """Refuse a grid whose models would not fit in the available memory.

    Parameters
    ----------
    cells : int
        Cells of the largest grid (height x width).
    source : str
        Where the grid came from, for the message.
    copies : int
        Models alive at once (worker processes, twins).
    available : int, optional
        Bytes available (default: :func:`available_memory`); if unknown, nothing is checked.
    """
    avail = available_memory() if available is None else available
    if avail is None:
        return
    need = BYTES_PER_CELL * int(cells) * max(1, int(copies))
    if need > MEMORY_SHARE * avail:
        times = f" x {copies} models at once" if copies > 1 else ""
        raise ConfigError(
            source,
            field,
            f"{cells:,} cells{times} need about {_fmt_bytes(need)} "
            f"({BYTES_PER_CELL} bytes a cell) but only {_fmt_bytes(avail)} is available; "
            "use a smaller grid" + (" or fewer workers" if copies > 1 else ""),
        )


def count_points(axes: dict[str, object] | None, sample_n: int | None) -> int:
    """Parameter points of a full grid of ``axes`` (product of their lengths) or a sample,
    counted without listing them."""
    if axes:
        return math.prod(len(v) if isinstance(v, list) else 1 for v in axes.values())
    if sample_n is not None:
        return int(sample_n)
    return 1


def check_sweep_size(
    n_scenarios: int, n_points: int, replicates: int, source: str, *, field: str = "axes"
) -> None:
    """Refuse an experiment with more than :data:`MAX_RUNS` runs or more than
    :data:`MAX_SCENARIO_POINTS` scenario x point combinations, before any is listed."""
    combos = n_scenarios * n_points
    runs = combos * replicates
    if runs > MAX_RUNS:
        raise ConfigError(
            source,
            field,
            f"{n_scenarios} scenario(s) x {n_points:,} point(s) x {replicates} replicate(s) "
            f"= {runs:,} runs; at most {MAX_RUNS:,} allowed (use fewer axis values or a "
            "[sample])",
        )
    if combos > MAX_SCENARIO_POINTS:
        raise ConfigError(
            source,
            field,
            f"{n_scenarios} scenario(s) x {n_points:,} point(s) = {combos:,} combinations; at "
            f"most {MAX_SCENARIO_POINTS:,} allowed",
        )


def largest_grid(shapes: Iterable[tuple[int, int]]) -> int:
    """Cells of the largest of ``(height, width)`` shapes (0 if none)."""
    return max((h * w for h, w in shapes), default=0)

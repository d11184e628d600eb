"""Per-run (unpaired) summary metrics (docs/ODD.md section 4.9, "Per run").

The metrics follow the resilience triangle of Bruneau et al. (2003), measured relative
to a reference step ``s`` (usually the first shock).  Index positions ``0..T-1`` of the
per-step series are treated as steps. The metrics that need a counterfactual twin
(``resilience_loss``, ``excess_positive``, ``recovery_time``, ``recovered``) are paired:
see :mod:`i4p_sim.stats.resilience`; they are computed from the stored series, never here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

__all__ = [
    "REQUIRED_COLUMNS",
    "RETIRED_KEYS",
    "RUNS_SCHEMA",
    "SUMMARY_DTYPES",
    "SUMMARY_KEYS",
    "moving_average",
    "runs_columns",
    "summary_metrics",
]

#: Summary metric -> its column dtype in the runs table (nullable where a failed run has
#: no value), in the order :func:`summary_metrics` returns them.
SUMMARY_DTYPES: dict[str, str] = {
    "cumulative_violence": "float64",
    "pre_violence": "float64",
    "peak_violence": "float64",
    "time_to_peak": "Int64",
    "lpcs_surviving": "Int64",
    "funding_spent": "float64",
    "mean_tension": "float64",
}
SUMMARY_KEYS: tuple[str, ...] = tuple(SUMMARY_DTYPES)
#: Per-run columns of earlier versions that are paired now (:mod:`i4p_sim.stats.resilience`);
#: run chunks stored before the change still hold them, and they are never parameters.
RETIRED_KEYS: tuple[str, ...] = ("recovery_time", "recovered", "resilience_loss")

#: The runs table (``runs.parquet``), column -> dtype, in column order. Parameter columns
#: (one per varied dotted path) come between ``seed`` and the summary metrics.
RUNS_SCHEMA: dict[str, str] = {
    "run_id": "str",
    "scenario": "str",
    "replicate": "int64",
    "point": "int64",
    "seed": "int64",
    **SUMMARY_DTYPES,
    "status": "str",
    "error": "str",
    "wall_s": "float64",
}
_RUN_KEYS = ("run_id", "scenario", "replicate", "point", "seed")


def runs_columns(params: list[str] | tuple[str, ...] = ()) -> list[str]:
    """Columns of the runs table, with parameter columns ``params`` after the run keys."""
    rest = [c for c in RUNS_SCHEMA if c not in _RUN_KEYS]
    return [*_RUN_KEYS, *params, *rest]


REQUIRED_COLUMNS: tuple[str, ...] = (
    "violence_share",
    "mean_tension",
    "lpcs_active",
    "funding_disbursed",
)


def _check_window(window: Any) -> int:
    if isinstance(window, bool) or not isinstance(window, int | np.integer):
        raise ValueError(f"window must be an integer >= 1, got {window!r}")
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    return int(window)


def moving_average(x: ArrayLike, window: int) -> np.ndarray:
    """Trailing moving average with partial windows at the start.

    Parameters
    ----------
    x : array_like
        One-dimensional series.
    window : int
        Window length ``w >= 1``.

    Returns
    -------
    numpy.ndarray
        ``ma[t] = mean(x[max(0, t - w + 1) : t + 1])``, same length as ``x``.
    """
    w = _check_window(window)
    arr = np.asarray(x, dtype=float)
    if arr.ndim != 1:
        raise ValueError(f"x must be one-dimensional, got shape {arr.shape}")
    n = arr.size
    if n == 0:
        return np.empty(0, dtype=float)
    k = min(w, n)
    padded = np.concatenate([np.zeros(k - 1), arr])
    # Each window is summed on its own (no running cumsum), so there is no drift.
    sums = np.lib.stride_tricks.sliding_window_view(padded, k).sum(axis=1)
    counts = np.minimum(np.arange(1, n + 1), k)
    return sums / counts


def _column(series: Mapping[str, ArrayLike] | pd.DataFrame, name: str) -> np.ndarray:
    if name not in series:
        raise ValueError(f"series is missing required column {name!r}")
    col = series[name]
    if isinstance(col, pd.Series | pd.Index):
        col = col.to_numpy()
    arr = np.asarray(col, dtype=float)
    if arr.ndim != 1:
        raise ValueError(f"column {name!r} must be one-dimensional, got shape {arr.shape}")
    return arr


def summary_metrics(
    series: Mapping[str, ArrayLike] | pd.DataFrame,
    reference_step: int,
    *,
    window: int = 12,
) -> dict[str, float | int]:
    """Unpaired summary metrics of one run.

    Parameters
    ----------
    series : Mapping or pandas.DataFrame
        Per-step series with at least ``violence_share``, ``mean_tension``,
        ``lpcs_active`` and ``funding_disbursed``; position ``t`` is step ``t``.
    reference_step : int
        Reference step ``s``; clipped into ``[0, T - 1]``.
    window : int, default 12
        Moving-average window ``w`` (also the pre-reference baseline length).

    Returns
    -------
    dict
        Keys :data:`SUMMARY_KEYS`, values plain Python ``float``/``int``:

        - ``cumulative_violence``: sum of ``violence_share``.
        - ``pre_violence``: mean ``violence_share`` at positions
          ``max(0, s - w) .. s - 1`` (``violence_share[0]`` if ``s == 0``).
        - ``peak_violence``: max of the trailing ``w``-step moving average ``ma``
          over ``t >= s``; ``time_to_peak``: first argmax minus ``s``.
        - ``lpcs_surviving``: ``lpcs_active`` at the last step.
        - ``funding_spent``: sum of ``funding_disbursed``.
        - ``mean_tension``: mean of ``mean_tension``.

    Raises
    ------
    ValueError
        On a missing column, an empty series, columns of unequal length or
        ``window < 1``.
    """
    w = _check_window(window)
    cols = {name: _column(series, name) for name in REQUIRED_COLUMNS}
    lengths = {name: arr.size for name, arr in cols.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"series columns have unequal lengths: {lengths}")
    n = lengths["violence_share"]
    if n == 0:
        raise ValueError("series is empty")

    v = cols["violence_share"]
    s = int(min(max(int(reference_step), 0), n - 1))

    pre = float(v[0]) if s == 0 else float(np.mean(v[max(0, s - w) : s]))

    ma = moving_average(v, w)
    after = ma[s:]
    peak_offset = int(np.argmax(after))
    peak = float(after[peak_offset])

    lpcs_last = float(cols["lpcs_active"][-1])
    if not np.isfinite(lpcs_last):
        raise ValueError("lpcs_active at the last step is not finite")

    return {
        "cumulative_violence": float(np.sum(v)),
        "pre_violence": pre,
        "peak_violence": peak,
        "time_to_peak": peak_offset,
        "lpcs_surviving": int(round(lpcs_last)),
        "funding_spent": float(np.sum(cols["funding_disbursed"])),
        "mean_tension": float(np.mean(cols["mean_tension"])),
    }

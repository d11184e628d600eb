"""Paired resilience metrics: a shocked run measured against its twin (docs/ODD.md 4.9).

A shocked run's **twin** is its counterfactual: by default the same scenario with its
shocks removed, run from the same seed (common random numbers), so replicate ``i`` of a
variant pairs with replicate ``i`` of its twin. Everything here works on the stored
``violence_share`` series (position ``t`` is step ``t``); nothing runs a model.

- ``resilience_loss`` (primary): the **signed** sum over ``t >= s`` of
  ``v[t] - twin[t]``. Two runs that differ only in noise have an expected signed excess of
  about 0, while the sum of positive parts does not.
- ``excess_positive`` (secondary): the sum over ``t >= s`` of ``max(0, v[t] - twin[t])``.
- ``recovery_time``: the first ``r >= 0`` such that, for every ``t`` from ``s + r`` to the
  end, the trailing ``k``-month moving averages of the run and its twin differ by at most
  ``tol``, **and** at least ``k`` months of the run are observed from ``s + r`` on (so a
  run that only re-enters the band in its last months is not called recovered).
  ``recovered`` says whether such an ``r`` exists; if not, the value is censored and
  ``recovery_time = months_observed = T - s``. Never NaN.
- ``tol`` (:func:`noise_floor`): the 95% noise floor of decorrelated unshocked pairs — a
  twin and the same twin with its decisions stream re-seeded at ``s`` (the null
  perturbation): the 95th percentile over the pairs of the largest ``|ma(a) - ma(b)|``
  from ``s + k`` to the end, so that 95% of null pairs "recover" at once.

This module imports only numpy and pandas.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from i4p_sim.stats.metrics import moving_average

__all__ = [
    "NOISE_QUANTILE",
    "PAIRED_FILE",
    "PAIRED_DTYPES",
    "PAIRED_KEYS",
    "PAIRED_SCHEMA",
    "empty_paired",
    "noise_floor",
    "paired_metrics",
    "paired_table",
    "read_paired",
    "with_paired",
]

#: The paired table in a results directory (written after a sweep, from its series).
PAIRED_FILE = "paired.parquet"

#: The noise floor's quantile of |moving-average difference| in null pairs.
NOISE_QUANTILE = 0.95

#: Paired metric -> dtype (no missing values: censored ones carry a flag).
PAIRED_DTYPES: dict[str, str] = {
    "resilience_loss": "float64",
    "excess_positive": "float64",
    "recovery_time": "int64",
    "recovered": "bool",
    "months_observed": "int64",
}
PAIRED_KEYS: tuple[str, ...] = tuple(PAIRED_DTYPES)

#: The paired table (``paired.parquet``): one row per ok run that has an ok twin.
PAIRED_SCHEMA: dict[str, str] = {
    "run_id": "str",
    "scenario": "str",
    "replicate": "int64",
    "point": "int64",
    "twin": "str",
    "twin_run_id": "str",
    **PAIRED_DTYPES,
    "tol": "float64",
}


def _series(x: ArrayLike, what: str) -> np.ndarray:
    arr = np.asarray(x, dtype=float)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{what} must be a non-empty one-dimensional series")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{what} has non-finite values")
    return arr


def paired_metrics(
    shocked: ArrayLike,
    twin: ArrayLike,
    reference_step: int,
    *,
    window: int = 12,
    tol: float = 0.0,
) -> dict[str, Any]:
    """Paired resilience metrics of one run against its twin (module docstring).

    Parameters
    ----------
    shocked, twin : array_like
        ``violence_share`` per step of the run and of its twin (same length ``T``).
    reference_step : int
        ``s``, clipped into ``[0, T - 1]``.
    window : int
        ``k``: the moving-average window and the least months observed after recovery.
    tol : float
        Band around the twin's moving average (see :func:`noise_floor`).

    Returns
    -------
    dict
        :data:`PAIRED_KEYS` as plain Python values. A run against itself gives
        ``resilience_loss = excess_positive = 0`` and ``recovery_time = 0`` (recovered)
        whenever ``k <= T - s``.
    """
    v = _series(shocked, "shocked")
    w = _series(twin, "twin")
    if v.size != w.size:
        raise ValueError(f"run and twin differ in length ({v.size} vs {w.size})")
    if not (np.isfinite(tol) and tol >= 0):
        raise ValueError(f"tol must be a finite number >= 0, got {tol!r}")
    n = v.size
    s = min(max(int(reference_step), 0), n - 1)
    diff = v[s:] - w[s:]
    months = n - s
    gap = np.abs(moving_average(v, window) - moving_average(w, window))[s:]
    outside = np.flatnonzero(gap > tol)
    r = 0 if outside.size == 0 else int(outside[-1]) + 1
    recovered = months - r >= window
    return {
        "resilience_loss": float(np.sum(diff)),
        "excess_positive": float(np.sum(np.maximum(diff, 0.0))),
        "recovery_time": int(r if recovered else months),
        "recovered": bool(recovered),
        "months_observed": int(months),
    }


def noise_floor(
    pairs: Iterable[tuple[ArrayLike, ArrayLike]],
    reference_step: int,
    *,
    window: int = 12,
    quantile: float = NOISE_QUANTILE,
) -> float:
    """``tol``: a band that ``quantile`` of decorrelated unshocked pairs stay within.

    For each null pair the largest ``|ma(a) - ma(b)|`` over the months from
    ``s + window`` on (before that the moving averages still share pre-``s`` history; if a
    run is shorter, from ``s``); ``tol`` is the ``quantile`` of these maxima over the
    pairs. It is a simultaneous band, as "stays within ``tol`` to the end" needs: a
    pointwise quantile of the pooled monthly gaps is exceeded somewhere in a long window
    by most null pairs, which would then look late to recover. No pairs gives 0.
    """
    maxima = []
    for a, b in pairs:
        x, y = _series(a, "null run"), _series(b, "null twin")
        if x.size != y.size:
            raise ValueError("a null pair differs in length")
        s = min(max(int(reference_step), 0), x.size - 1)
        start = s + window if s + window < x.size else s
        gap = np.abs(moving_average(x, window) - moving_average(y, window))
        maxima.append(float(np.max(gap[start:])))
    if not maxima:
        return 0.0
    return float(np.quantile(maxima, quantile))


def _violence(series: pd.DataFrame) -> dict[str, np.ndarray]:
    """run_id -> violence_share ordered by step."""
    ordered = series.sort_values(["run_id", "step"], kind="stable")
    return {
        rid: grp["violence_share"].to_numpy(dtype=float)
        for rid, grp in ordered.groupby("run_id", sort=False)
    }


def paired_table(
    runs: pd.DataFrame,
    series: pd.DataFrame,
    twins: Mapping[str, str],
    nulls: Mapping[str, str],
    reference_step: int,
    *,
    window: int = 12,
) -> pd.DataFrame:
    """The paired table of a sweep (:data:`PAIRED_SCHEMA`).

    Parameters
    ----------
    runs : pandas.DataFrame
        The runs table (``run_id``, ``scenario``, ``replicate``, ``point``, ``status``).
    series : pandas.DataFrame
        Stored series with ``run_id``, ``step`` and ``violence_share``.
    twins : mapping
        Scenario -> its twin's scenario name (a scenario may be its own twin: zeros).
    nulls : mapping
        Twin scenario -> the scenario holding its null-perturbed runs. A twin's ``tol`` at
        a parameter point is the :func:`noise_floor` of its (twin, null) pairs at that
        point (replicate ``i`` with replicate ``i``); without null runs ``tol = 0``.
    reference_step, window
        ``s`` and ``k``.
    """
    ok = runs[runs["status"] == "ok"]
    v = _violence(series[series["run_id"].isin(set(ok["run_id"]))])
    ids = {
        (sc, int(rep), int(pt)): rid
        for sc, rep, pt, rid in zip(
            ok["scenario"], ok["replicate"], ok["point"], ok["run_id"], strict=True
        )
        if rid in v
    }
    # (twin, point) -> its null pairs (twin replicate i with null replicate i)
    pairs: dict[tuple[str, int], list[tuple[np.ndarray, np.ndarray]]] = {}
    null_of = {null: twin for twin, null in nulls.items()}
    for (sc, rep, pt), rid in ids.items():
        twin = null_of.get(sc)
        if twin is not None and (twin, rep, pt) in ids:
            pairs.setdefault((twin, pt), []).append((v[ids[(twin, rep, pt)]], v[rid]))
    tols = {key: noise_floor(p, reference_step, window=window) for key, p in pairs.items()}
    rows = []
    for (sc, rep, pt), rid in ids.items():
        twin = twins.get(sc)
        twin_id = ids.get((twin, rep, pt)) if twin is not None else None
        if twin_id is None:
            continue
        tol = tols.get((twin, pt), 0.0)
        metrics = paired_metrics(v[rid], v[twin_id], reference_step, window=window, tol=tol)
        rows.append(
            {
                "run_id": rid,
                "scenario": sc,
                "replicate": rep,
                "point": pt,
                "twin": twin,
                "twin_run_id": twin_id,
                **metrics,
                "tol": tol,
            }
        )
    if not rows:
        return empty_paired()
    frame = pd.DataFrame(rows, columns=list(PAIRED_SCHEMA)).astype(PAIRED_SCHEMA)
    return frame.sort_values(["replicate", "point", "scenario"], kind="stable").reset_index(
        drop=True
    )


def empty_paired() -> pd.DataFrame:
    """A paired table without rows (its columns and dtypes)."""
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in PAIRED_SCHEMA.items()})


def read_paired(results: str | Path) -> pd.DataFrame:
    """``paired.parquet`` of a results directory (empty, with its columns, if missing)."""
    path = Path(results) / PAIRED_FILE
    return pd.read_parquet(path) if path.exists() else empty_paired()


def with_paired(runs: pd.DataFrame, paired: pd.DataFrame) -> pd.DataFrame:
    """The runs table with each run's paired metrics joined on ``run_id`` (left join).

    Runs without a paired row (failed, or whose twin failed) get missing values there.
    """
    base = runs.drop(columns=[k for k in PAIRED_KEYS if k in runs.columns])
    merged = base.merge(paired[["run_id", *PAIRED_KEYS]], on="run_id", how="left")
    nullable = {"float64": "float64", "int64": "Int64", "bool": "boolean"}
    return merged.astype({k: nullable[t] for k, t in PAIRED_DTYPES.items()})

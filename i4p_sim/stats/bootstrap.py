"""The one bootstrap: intervals and distributions from :func:`scipy.stats.bootstrap`.

BCa by default, falling back to percentile when BCa is degenerate; resampling over units
(pairs, or the rows of a 2-D sample). Samples that are constant give an exact zero-width
interval. Deterministic for a given ``seed``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

__all__ = ["bootstrap_ci", "bootstrap_distribution", "bootstrap_interval", "check_options"]

_NAN = float("nan")


def check_options(confidence: float, n_resamples: int) -> None:
    """Raise ValueError unless ``confidence`` is in (0, 1) and ``n_resamples`` >= 1."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, int | np.integer):
        raise ValueError(f"n_resamples must be an integer >= 1, got {n_resamples!r}")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")


def bootstrap_interval(
    samples: tuple[np.ndarray, ...],
    statistic: Callable[..., Any],
    *,
    paired: bool,
    confidence: float,
    n_resamples: int,
    seed: int,
    methods: tuple[str, ...] = ("BCa", "percentile"),
) -> tuple[float, float, float]:
    """``(estimate, low, high)`` of ``statistic`` over one or more (paired) samples.

    Tries each of ``methods`` in turn until one gives a finite, non-degenerate interval.
    """
    n = samples[0].size
    if n == 0:
        return _NAN, _NAN, _NAN
    with np.errstate(all="ignore"):
        estimate = float(statistic(*samples))
    if n < 2 or not math.isfinite(estimate):
        return estimate, _NAN, _NAN
    if all(np.all(s == s[0]) for s in samples):
        # every resample is the original sample: the interval is exactly a point
        return estimate, estimate, estimate
    low = high = _NAN
    for method in methods:
        with warnings.catch_warnings(record=True) as caught, np.errstate(all="ignore"):
            warnings.simplefilter("always")
            res = stats.bootstrap(
                samples,
                statistic,
                n_resamples=n_resamples,
                paired=paired,
                confidence_level=confidence,
                method=method,
                rng=np.random.default_rng(seed),
            )
        low = float(res.confidence_interval.low)
        high = float(res.confidence_interval.high)
        degenerate = any(issubclass(w.category, stats.DegenerateDataWarning) for w in caught)
        if not degenerate and not (math.isnan(low) or math.isnan(high)):
            break
    return estimate, low, high


def _rows_statistic(data: np.ndarray, statistic: Callable[[np.ndarray], Any]):
    """A statistic of row indices: ``statistic(data[rows])`` (rows are resampled whole)."""

    def of_rows(rows: np.ndarray) -> float:
        return float(statistic(data[np.asarray(rows, dtype=np.intp)]))

    return of_rows


def _percentile_interval(
    arr: np.ndarray,
    statistic: Callable[..., Any],
    confidence: float,
    n_resamples: int,
    seed: int,
) -> tuple[float, float, float]:
    """Percentile interval over the finite values of the bootstrap distribution."""
    rows = arr if arr.ndim == 2 else arr[:, None]
    if rows.shape[0] == 0:
        return _NAN, _NAN, _NAN
    stat = statistic if arr.ndim == 2 else (lambda m: statistic(m[:, 0]))
    with np.errstate(all="ignore"):
        estimate = float(stat(rows))
    if rows.shape[0] < 2 or not math.isfinite(estimate):
        return estimate, _NAN, _NAN
    dist = bootstrap_distribution(rows, stat, n_resamples=n_resamples, seed=seed)
    dist = dist[np.isfinite(dist)]
    if dist.size == 0:
        return estimate, _NAN, _NAN
    a = (1.0 - confidence) / 2.0
    return estimate, float(np.quantile(dist, a)), float(np.quantile(dist, 1.0 - a))


def bootstrap_ci(
    values: ArrayLike,
    *,
    statistic: Callable[..., Any] = np.mean,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
    method: str = "BCa",
) -> tuple[float, float, float]:
    """Bootstrap confidence interval of a one-sample statistic.

    Parameters
    ----------
    values : array_like
        One-dimensional sample (NaN values are dropped), or a two-dimensional array
        whose rows are the units: rows are resampled whole and ``statistic`` receives the
        resampled 2-D array (nothing is dropped; it may select, e.g. an argmax).
    statistic : callable, default numpy.mean
        Statistic of the sample (vectorised if it accepts ``axis``; 1-D only).
    confidence : float, default 0.95
        Confidence level.
    n_resamples : int, default 2000
        Bootstrap resamples.
    seed : int, default 0
        Seed of the resampling generator.
    method : {"BCa", "percentile"}, default "BCa"
        ``"BCa"`` falls back to percentile when BCa is degenerate; ``"percentile"`` is
        the plain percentile interval over the resamples where the statistic is finite
        (for statistics that select or may be undefined on a resample, where BCa's
        jackknife acceleration is not meaningful).

    Returns
    -------
    tuple of float
        ``(estimate, low, high)``.  ``(nan, nan, nan)`` for an empty sample,
        ``(estimate, nan, nan)`` for one value (or row), ``(estimate, estimate,
        estimate)`` when all values are equal (1-D).
    """
    check_options(confidence, n_resamples)
    methods = {"BCa": ("BCa", "percentile"), "percentile": ("percentile",)}
    if method not in methods:
        raise ValueError(f"method must be 'BCa' or 'percentile', got {method!r}")
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 2:
        arr = arr.ravel()
        arr = arr[~np.isnan(arr)]
    if method == "percentile":
        return _percentile_interval(arr, statistic, confidence, n_resamples, seed)
    if arr.ndim == 2:
        samples = (np.arange(arr.shape[0]),)
        statistic = _rows_statistic(arr, statistic)
    else:
        samples = (arr,)
    return bootstrap_interval(
        samples,
        statistic,
        paired=False,
        confidence=confidence,
        n_resamples=n_resamples,
        seed=seed,
        methods=methods[method],
    )


def bootstrap_distribution(
    values: ArrayLike,
    statistic: Callable[[np.ndarray], Any],
    *,
    n_resamples: int = 2000,
    seed: int = 0,
) -> np.ndarray:
    """The statistic over bootstrap resamples of the rows (units) of ``values``.

    The same resampling as :func:`bootstrap_ci` (``scipy.stats.bootstrap``), for
    summaries that are not an interval: the range of a selected argmax, the share of
    resamples where a condition holds.

    Returns
    -------
    numpy.ndarray
        ``n_resamples`` values (empty when ``values`` has fewer than two rows).
    """
    check_options(0.95, n_resamples)
    arr = np.asarray(values, dtype=float)
    if arr.ndim == 1:
        arr = arr[:, None]
        inner = statistic
        statistic = lambda m: inner(m[:, 0])  # noqa: E731
    if arr.shape[0] < 2:
        return np.empty(0)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        # only the distribution is used, not scipy's interval (which may be degenerate)
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        res = stats.bootstrap(
            (np.arange(arr.shape[0]),),
            _rows_statistic(arr, statistic),
            n_resamples=n_resamples,
            vectorized=False,
            method="percentile",
            rng=np.random.default_rng(seed),
        )
    return np.asarray(res.bootstrap_distribution, dtype=float)

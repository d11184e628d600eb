"""Paired statistics over a runs table (common random numbers: docs/ODD.md section 4.7).

A runs table is a :class:`pandas.DataFrame` with one row per run and at least the
columns ``scenario``, ``replicate`` and the metric columns; ``status`` (``"ok"`` or
``"failed"``) is used when present, and only ``"ok"`` runs enter any statistic.
Replicate ``i`` of every scenario shares its seed (common random numbers), so
scenarios are compared pair by pair, matching rows on ``pair_on`` (``replicate`` plus
any parameter columns of a sweep) with an inner join.  Pairs where a used metric is
NaN are dropped.

Intervals are bootstrap intervals from :func:`scipy.stats.bootstrap` (BCa, falling
back to percentile when BCa is degenerate).  Resampling is over pairs, so the
shared-seed noise cancels.  Samples that are constant (e.g. zero paired differences
between cells identical by construction) give an exact zero-width interval.  All
functions are deterministic for a given ``seed``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from i4p_sim.stats.bootstrap import bootstrap_interval, check_options

__all__ = [
    "EFFECT_COLUMNS",
    "averted_per_funding",
    "interaction",
    "paired_differences",
    "paired_effects",
]

EFFECT_COLUMNS: tuple[str, ...] = (
    "scenario",
    "baseline",
    "metric",
    "estimate",
    "ci_low",
    "ci_high",
    "n",
    "mean_scenario",
    "mean_baseline",
    "ratio",
    "ratio_low",
    "ratio_high",
)

_CELLS = ("none", "a", "b", "ab")
_NAN = float("nan")


# --- validation and pairing ----------------------------------------------------------


def _as_tuple(names: str | Iterable[str], what: str) -> tuple[str, ...]:
    out = (names,) if isinstance(names, str) else tuple(names)
    if not out:
        raise ValueError(f"{what} must name at least one column")
    return out


def _aligned(
    runs: pd.DataFrame,
    cells: Mapping[str, str],
    metrics: Sequence[str],
    pair_on: tuple[str, ...],
) -> dict[str, pd.DataFrame]:
    """Per role, a frame of ``metrics`` indexed by the pair key, on common keys only."""
    missing = [c for c in ("scenario", *pair_on, *metrics) if c not in runs.columns]
    if missing:
        raise ValueError(f"runs table is missing column(s): {', '.join(map(repr, missing))}")
    known = set(runs["scenario"].unique())
    for scenario in cells.values():
        if scenario not in known:
            raise ValueError(f"scenario {scenario!r} not found in runs table")
    ok = runs if "status" not in runs.columns else runs[runs["status"] == "ok"]
    keys = list(pair_on)
    frames = {}
    for role, scenario in cells.items():
        sub = ok.loc[ok["scenario"] == scenario, [*keys, *metrics]]
        dup = sub.duplicated(keys)
        if dup.any():
            raise ValueError(
                f"scenario {scenario!r} has {int(dup.sum())} duplicate ok run(s) on "
                f"pair_on={pair_on}; add the distinguishing columns to pair_on"
            )
        frames[role] = sub.set_index(keys)[list(metrics)].astype(float)
    joined = pd.concat(frames, axis=1, join="inner").dropna()
    joined = joined.sort_index()
    return {role: joined[role] for role in cells}


def _ratio_of_means(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    """mean(x) / mean(y), with 0 / 0 = 1 (identical all-zero cells)."""
    mx = np.mean(x, axis=axis)
    my = np.mean(y, axis=axis)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = mx / my
    return np.where((mx == 0) & (my == 0), 1.0, r)


def _interaction_ratio(
    none: np.ndarray, a: np.ndarray, b: np.ndarray, ab: np.ndarray, axis: int = -1
) -> np.ndarray:
    """(mean_ab * mean_none) / (mean_a * mean_b), with 1 when all four means are 0."""
    m0, ma, mb, mab = (np.mean(c, axis=axis) for c in (none, a, b, ab))
    with np.errstate(divide="ignore", invalid="ignore"):
        r = (mab * m0) / (ma * mb)
    return np.where((m0 == 0) & (ma == 0) & (mb == 0) & (mab == 0), 1.0, r)


def _means_ratio(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    """Plain mean(x) / mean(y) (NaN or inf on a zero denominator)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.mean(x, axis=axis) / np.mean(y, axis=axis)


# --- public API ----------------------------------------------------------------------


def paired_differences(
    runs: pd.DataFrame,
    scenario: str,
    baseline: str,
    metric: str,
    *,
    pair_on: str | Sequence[str] = ("replicate",),
) -> pd.Series:
    """Per-pair differences ``scenario - baseline`` of one metric.

    Parameters
    ----------
    runs : pandas.DataFrame
        Runs table (see module docstring).
    scenario, baseline : str
        Values of the ``scenario`` column.
    metric : str
        Metric column.
    pair_on : str or sequence of str, default ("replicate",)
        Columns that identify a pair (inner join).

    Returns
    -------
    pandas.Series
        Float differences named ``metric``, indexed by the pair key (a MultiIndex
        when ``pair_on`` has several columns), sorted; ok runs on both sides only.

    Raises
    ------
    ValueError
        On a missing column, an unknown scenario, or duplicate ok runs per pair key.
    """
    keys = _as_tuple(pair_on, "pair_on")
    cells = _aligned(runs, {"scenario": scenario, "baseline": baseline}, [metric], keys)
    diff = cells["scenario"][metric] - cells["baseline"][metric]
    diff.name = metric
    return diff


def paired_effects(
    runs: pd.DataFrame,
    baseline: str,
    metrics: str | Sequence[str],
    *,
    scenarios: Sequence[str] | None = None,
    pair_on: str | Sequence[str] = ("replicate",),
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
) -> pd.DataFrame:
    """Paired effects of scenarios against a baseline, with bootstrap intervals.

    Parameters
    ----------
    runs : pandas.DataFrame
        Runs table (see module docstring).
    baseline : str
        Baseline scenario.
    metrics : str or sequence of str
        Metric columns.
    scenarios : sequence of str, optional
        Scenarios to compare; default every other scenario in ``runs`` in order of
        first appearance.
    pair_on : str or sequence of str, default ("replicate",)
        Columns that identify a pair.
    confidence, n_resamples, seed
        As in :func:`bootstrap_ci`.

    Returns
    -------
    pandas.DataFrame
        One row per (scenario, metric), columns :data:`EFFECT_COLUMNS`:
        ``estimate``/``ci_low``/``ci_high`` is the mean paired difference
        (scenario - baseline) and its interval; ``n`` the number of pairs;
        ``mean_scenario``/``mean_baseline`` the means over those pairs; ``ratio`` is
        ``mean_scenario / mean_baseline`` with a paired bootstrap interval
        (``ratio_low``, ``ratio_high``; resamples of pairs, ratio of means).
        A zero baseline mean gives ``ratio`` NaN, except 1.0 when both means are 0.
        An upper bound may be ``inf`` when some resamples have a zero baseline mean.
    """
    check_options(confidence, n_resamples)
    keys = _as_tuple(pair_on, "pair_on")
    metric_list = _as_tuple(metrics, "metrics")
    if "scenario" not in runs.columns:
        raise ValueError("runs table is missing column(s): 'scenario'")
    if scenarios is None:
        scenarios = [s for s in pd.unique(runs["scenario"]) if s != baseline]
    opts = {"confidence": confidence, "n_resamples": n_resamples, "seed": seed}
    rows = []
    for scenario in scenarios:
        cells = _aligned(runs, {"s": scenario, "b": baseline}, metric_list, keys)
        for metric in metric_list:
            xs = cells["s"][metric].to_numpy()
            xb = cells["b"][metric].to_numpy()
            # differences as a 1-sample problem: exact zeros for identical cells
            est, lo, hi = bootstrap_interval((xs - xb,), np.mean, paired=False, **opts)
            n = int(xs.size)
            m_s = float(np.mean(xs)) if n else _NAN
            m_b = float(np.mean(xb)) if n else _NAN
            if n and m_b == 0 and m_s != 0:
                ratio = (_NAN, _NAN, _NAN)
            else:
                ratio = bootstrap_interval((xs, xb), _ratio_of_means, paired=True, **opts)
            rows.append(
                {
                    "scenario": scenario,
                    "baseline": baseline,
                    "metric": metric,
                    "estimate": est,
                    "ci_low": lo,
                    "ci_high": hi,
                    "n": n,
                    "mean_scenario": m_s,
                    "mean_baseline": m_b,
                    "ratio": ratio[0],
                    "ratio_low": ratio[1],
                    "ratio_high": ratio[2],
                }
            )
    return pd.DataFrame(rows, columns=list(EFFECT_COLUMNS))


def interaction(
    runs: pd.DataFrame,
    cells: Mapping[str, str],
    metric: str,
    *,
    scale: str = "additive",
    pair_on: str | Sequence[str] = ("replicate",),
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
) -> dict[str, Any]:
    """Interaction of two factors in a paired 2x2 design.

    Parameters
    ----------
    runs : pandas.DataFrame
        Runs table (see module docstring).
    cells : Mapping
        Scenario of each cell: ``{"none": ..., "a": ..., "b": ...,  "ab": ...}``
        (``a`` = grassroots/LPCs only, ``b`` = top-down/council only, ``ab`` = both).
    metric : str
        Metric column.
    scale : {"additive", "ratio"}, default "additive"
        ``"additive"``: mean over pairs of ``(ab - b) - (a - none)``, 0 = no
        interaction.  ``"ratio"``: ``(mean_ab * mean_none) / (mean_a * mean_b)``
        with a paired bootstrap over pairs, 1 = no interaction.
    pair_on : str or sequence of str, default ("replicate",)
        Columns that identify a pair; only keys present in all four cells are used.
    confidence, n_resamples, seed
        As in :func:`bootstrap_ci`.

    Returns
    -------
    dict
        ``estimate``, ``ci_low``, ``ci_high`` (float), ``n`` (int, pairs), ``scale``,
        ``means`` (dict cell -> mean) and ``reason`` (None, or why the estimate is
        NaN).  On the ratio scale the estimate is NaN when ``mean_a`` or ``mean_b`` is
        0 (1.0 when all four means are 0).
    """
    check_options(confidence, n_resamples)
    if scale not in ("additive", "ratio"):
        raise ValueError(f"scale must be 'additive' or 'ratio', got {scale!r}")
    if set(cells) != set(_CELLS):
        raise ValueError(f"cells must have exactly the keys {_CELLS}, got {tuple(cells)}")
    keys = _as_tuple(pair_on, "pair_on")
    table = _aligned(runs, {c: cells[c] for c in _CELLS}, [metric], keys)
    none, a, b, ab = (table[c][metric].to_numpy() for c in _CELLS)
    n = int(none.size)
    means = {c: (float(np.mean(table[c][metric])) if n else _NAN) for c in _CELLS}
    opts = {"confidence": confidence, "n_resamples": n_resamples, "seed": seed}
    reason = None
    if n == 0:
        reason = "no complete pairs"
        est = lo = hi = _NAN
    elif scale == "additive":
        # grouped so that identical cells (ab == b, a == none, or ab == a, b == none)
        # give exact zeros
        est, lo, hi = bootstrap_interval(((ab - b) - (a - none),), np.mean, paired=False, **opts)
    else:
        all_zero = all(means[c] == 0 for c in _CELLS)
        if not all_zero and (means["a"] == 0 or means["b"] == 0):
            reason = "zero mean in cell " + " and ".join(
                repr(c) for c in ("a", "b") if means[c] == 0
            )
            est = lo = hi = _NAN
        else:
            est, lo, hi = bootstrap_interval(
                (none, a, b, ab), _interaction_ratio, paired=True, **opts
            )
    if reason is None and n == 1:
        reason = "one pair: no interval"
    return {
        "estimate": est,
        "ci_low": lo,
        "ci_high": hi,
        "n": n,
        "scale": scale,
        "means": means,
        "reason": reason,
    }


def averted_per_funding(
    runs: pd.DataFrame,
    scenario: str,
    baseline: str,
    *,
    violence: str = "cumulative_violence",
    funding: str = "funding_spent",
    pair_on: str | Sequence[str] = ("replicate",),
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
) -> dict[str, Any]:
    """Violence averted per unit of extra funding, from paired runs.

    Parameters
    ----------
    runs : pandas.DataFrame
        Runs table (see module docstring).
    scenario, baseline : str
        The funded scenario and its comparison.
    violence, funding : str
        Metric columns for violence and for funding.
    pair_on : str or sequence of str, default ("replicate",)
        Columns that identify a pair.
    confidence, n_resamples, seed
        As in :func:`bootstrap_ci`.

    Returns
    -------
    dict
        ``estimate`` = mean(baseline - scenario violence) / mean(scenario - baseline
        funding) over pairs, ``ci_low``, ``ci_high`` (paired bootstrap of that ratio
        of means), ``n``, ``violence_averted`` and ``extra_funding`` (the two means)
        and ``reason`` (None, or why the estimate is NaN).  Zero extra funding gives
        a NaN estimate and interval.
    """
    check_options(confidence, n_resamples)
    keys = _as_tuple(pair_on, "pair_on")
    table = _aligned(runs, {"s": scenario, "b": baseline}, [violence, funding], keys)
    averted = (table["b"][violence] - table["s"][violence]).to_numpy()
    extra = (table["s"][funding] - table["b"][funding]).to_numpy()
    n = int(averted.size)
    m_averted = float(np.mean(averted)) if n else _NAN
    m_extra = float(np.mean(extra)) if n else _NAN
    reason = None
    if n == 0:
        reason = "no complete pairs"
        est = lo = hi = _NAN
    elif m_extra == 0:
        reason = "zero extra funding"
        est = lo = hi = _NAN
    else:
        est, lo, hi = bootstrap_interval(
            (averted, extra),
            _means_ratio,
            paired=True,
            confidence=confidence,
            n_resamples=n_resamples,
            seed=seed,
        )
        if n == 1:
            reason = "one pair: no interval"
    return {
        "estimate": est,
        "ci_low": lo,
        "ci_high": hi,
        "n": n,
        "violence_averted": m_averted,
        "extra_funding": m_extra,
        "reason": reason,
    }

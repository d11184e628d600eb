"""Global sensitivity analysis with SALib: Morris screening and Sobol indices.

The designs are SALib's, in its row order: ``morris`` (``n`` trajectories of ``d + 1``
points on a ``num_levels`` grid; Morris 1991, with Campolongo, Cariboni & Saltelli 2007's
``mu_star``) and ``saltelli`` (Saltelli 2002 / Saltelli et al. 2010's design for first-order
``S1`` and total ``ST`` Sobol indices, ``n * (d + 2)`` points without second order).
:func:`design_matrix` is called both when an experiment lists its points and when ``i4p
sensitivity`` rebuilds the design from the manifest, so the store never holds the matrix.

Each design point runs ``R`` replicates (common random numbers: replicate ``r`` has the
same seed at every point). Replicates give the **noise index**: the within-point variance
of the metric over its total variance across all runs (0: the parameters explain
everything; 1: the model's own randomness does). The indices are computed on the
replicate means. For Morris each parameter also gets a **noise level**: the ``mu_star``
pure replicate noise would give, ``sqrt(2 / pi) * s`` with ``s**2`` the variance of the
replicate-mean elementary effect, estimated from the spread of the per-replicate
elementary effects (so it already counts what common random numbers cancel).

Only :mod:`numpy`, :mod:`pandas` and SALib: no model, no store.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = [
    "ACTIVE_SHARE",
    "MAX_ACTIVE",
    "design_matrix",
    "morris_indices",
    "noise_index",
    "passes_rule",
    "replicates_needed",
    "select_active",
    "sobol_indices",
]

#: An active parameter has mu_star at least this share of the largest mu_star ...
ACTIVE_SHARE = 0.1
#: ... and above this multiple of its noise level; at most MAX_ACTIVE are kept.
NOISE_MULTIPLE = 2.0
MAX_ACTIVE = 12


def _problem(names: Sequence[str], bounds: Sequence[Sequence[float]]) -> dict:
    return {
        "num_vars": len(names),
        "names": list(names),
        "bounds": [[float(lo), float(hi)] for lo, hi in bounds],
    }


def design_matrix(
    method: str,
    bounds: Sequence[Sequence[float]],
    n: int,
    seed: int,
    num_levels: int = 4,
) -> np.ndarray:
    """The unrounded design (rows = points, SALib's order) over ``bounds``."""
    problem = _problem([f"x{i}" for i in range(len(bounds))], bounds)
    if method == "morris":
        from SALib.sample import morris

        return morris.sample(problem, n, num_levels=num_levels, seed=seed)
    if method == "saltelli":
        from SALib.sample import sobol

        return sobol.sample(problem, n, calc_second_order=False, seed=seed)
    raise ValueError(f"unknown design method '{method}' (allowed: morris, saltelli)")


def noise_index(y: np.ndarray) -> float:
    """Within-point variance over total variance of ``y`` (points x replicates; NaN where
    a run is missing); NaN with fewer than two replicates anywhere."""
    y = np.asarray(y, dtype=float)
    counts = np.sum(np.isfinite(y), axis=1)
    keep = counts >= 2
    if not keep.any():
        return math.nan
    total = np.nanvar(y[np.isfinite(y)], ddof=1)
    if total == 0:
        return 0.0
    within = np.nanvar(y[keep], axis=1, ddof=1)
    weights = counts[keep] - 1  # pooled within-point variance
    return float(np.sum(within * weights) / np.sum(weights) / total)


def morris_indices(
    names: Sequence[str],
    bounds: Sequence[Sequence[float]],
    x: np.ndarray,
    y: np.ndarray,
    num_levels: int = 4,
    seed: int = 0,
) -> tuple[pd.DataFrame, int]:
    """Morris ``mu_star``, ``mu_star_conf``, ``sigma``, ``mu`` and the noise level of each
    parameter, on the replicate means of ``y`` (points x replicates), ranked by
    ``mu_star``; and the number of trajectories dropped because a point had no value."""
    from SALib.analyze import morris

    d = len(names)
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float).reshape(len(x), -1)
    if len(x) % (d + 1):
        raise ValueError(f"{len(x)} points is not a whole number of trajectories of {d + 1}")
    n_traj = len(x) // (d + 1)
    means = np.nanmean(np.where(np.isfinite(y), y, np.nan), axis=1)
    blocks = np.isfinite(means).reshape(n_traj, d + 1).all(axis=1)
    if blocks.sum() < 2:
        raise ValueError("fewer than two complete trajectories (the metric is missing at points)")
    rows = np.repeat(blocks, d + 1)
    res = morris.analyze(
        _problem(names, bounds), x[rows], means[rows], num_levels=num_levels, seed=seed
    )
    table = pd.DataFrame(
        {
            "parameter": list(names),
            "mu_star": np.asarray(res["mu_star"], dtype=float),
            "mu_star_conf": np.asarray(res["mu_star_conf"], dtype=float),
            "sigma": np.asarray(res["sigma"], dtype=float),
            "mu": np.asarray(res["mu"], dtype=float),
            "noise_level": _noise_levels(x[rows], y[rows], bounds, d),
        }
    )
    table = table.sort_values("mu_star", ascending=False, kind="stable").reset_index(drop=True)
    return table, int(n_traj - blocks.sum())


def _noise_levels(
    x: np.ndarray, y: np.ndarray, bounds: Sequence[Sequence[float]], d: int
) -> np.ndarray:
    """``sqrt(2/pi) * s_k``: the mean |elementary effect| of parameter ``k`` that replicate
    noise alone would give (NaN with one replicate)."""
    if y.shape[1] < 2:
        return np.full(d, math.nan)
    lo = np.array([b[0] for b in bounds], dtype=float)
    span = np.array([b[1] - b[0] for b in bounds], dtype=float)
    unit = (x - lo) / span
    n_traj = len(x) // (d + 1)
    var_sum, count = np.zeros(d), np.zeros(d)
    for t in range(n_traj):
        u = unit[t * (d + 1) : (t + 1) * (d + 1)]
        v = y[t * (d + 1) : (t + 1) * (d + 1)]
        du, dv = np.diff(u, axis=0), np.diff(v, axis=0)
        for step in range(d):
            k = int(np.argmax(np.abs(du[step])))
            ee = dv[step] / du[step, k]
            ee = ee[np.isfinite(ee)]
            if len(ee) >= 2:
                var_sum[k] += np.var(ee, ddof=1) / len(ee)
                count[k] += 1
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.sqrt(2 / np.pi) * np.sqrt(var_sum / count)


def passes_rule(
    table: pd.DataFrame, share: float = ACTIVE_SHARE, noise_multiple: float = NOISE_MULTIPLE
) -> list[str]:
    """Every parameter with ``mu_star >= share * max(mu_star)`` and ``mu_star >
    noise_multiple * noise_level`` (where the noise level is known), by ``mu_star``."""
    top = float(table["mu_star"].max())
    if not top > 0:
        return []
    noise = table["noise_level"].fillna(0.0)
    ok = (table["mu_star"] >= share * top) & (table["mu_star"] > noise_multiple * noise)
    return list(table[ok].sort_values("mu_star", ascending=False, kind="stable")["parameter"])


def select_active(
    table: pd.DataFrame,
    share: float = ACTIVE_SHARE,
    noise_multiple: float = NOISE_MULTIPLE,
    max_active: int = MAX_ACTIVE,
) -> list[str]:
    """The largest ``max_active`` of :func:`passes_rule`."""
    return passes_rule(table, share, noise_multiple)[:max_active]


def sobol_indices(
    names: Sequence[str],
    bounds: Sequence[Sequence[float]],
    y: np.ndarray,
    seed: int = 0,
) -> pd.DataFrame:
    """First-order ``S1`` and total ``ST`` Sobol indices with 95% bootstrap half-widths, on
    the replicate means of ``y`` (points x replicates, Saltelli's order), ranked by ``ST``."""
    from SALib.analyze import sobol

    y = np.asarray(y, dtype=float)
    means = y.mean(axis=1) if y.ndim == 2 else y
    if not np.isfinite(means).all():
        raise ValueError("the metric is missing at some design points; Sobol needs all")
    res = sobol.analyze(_problem(names, bounds), means, calc_second_order=False, seed=seed)
    table = pd.DataFrame(
        {
            "parameter": list(names),
            "S1": res["S1"],
            "S1_conf": res["S1_conf"],
            "ST": res["ST"],
            "ST_conf": res["ST_conf"],
        }
    )
    return table.sort_values("ST", ascending=False, kind="stable").reset_index(drop=True)


def replicates_needed(noise: float, noise_share: float = 0.05) -> int | None:
    """Replicates per point that keep replicate noise below ``noise_share`` of the variance
    of the point means: ``R >= (1 - s) / s * v / (1 - v)`` for noise index ``v`` (the
    noise variance falls as 1/R, the parameters' part does not)."""
    if not math.isfinite(noise) or noise >= 1:
        return None
    return max(1, math.ceil((1 - noise_share) / noise_share * noise / (1 - noise)))

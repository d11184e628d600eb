"""Where a paired contrast flips along a parameter axis: the crossing point with an interval.

A failure mode (docs/ODD.md, "Failure modes") is a setting inside the priors where a
headline contrast vanishes or changes sign. Given the runs of an experiment with one
parameter axis, :func:`crossing` computes the paired contrast per axis point (variant ``b``
minus variant ``a``, or a tier interaction, per replicate: common random numbers), the
first point where its mean changes sign (linear interpolation between neighbouring axis
points) and a bootstrap interval for it, resampling replicates whole across every axis
point (the seeds are shared by all points). Resamples without a sign change count as
"no crossing"; their share is reported, never hidden.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from i4p_sim.stats.bootstrap import bootstrap_ci, bootstrap_distribution

__all__ = ["Crossing", "contrast_matrix", "crossing", "first_crossing"]


@dataclass(frozen=True)
class Crossing:
    """A contrast along an axis and where it changes sign.

    ``points`` are the axis values (sorted); ``mean``, ``low``, ``high`` the contrast's mean
    and bootstrap interval at each; ``at`` the interpolated crossing of the mean (NaN if
    none), ``low_at``/``high_at`` its percentile interval over the resamples that cross,
    ``crossing_share`` the share of resamples with a crossing.
    """

    axis: str
    label: str
    metric: str
    points: np.ndarray
    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray
    at: float
    low_at: float
    high_at: float
    crossing_share: float
    replicates: int

    def table(self) -> pd.DataFrame:
        """One row per axis point: the contrast and its interval."""
        return pd.DataFrame(
            {self.axis: self.points, "contrast": self.mean, "low": self.low, "high": self.high}
        )

    def sentence(self) -> str:
        """The crossing in plain words."""
        if not np.isfinite(self.at):
            side = "above" if np.all(self.mean > 0) else "below" if np.all(self.mean < 0) else ""
            return (
                f"{self.label}: no sign change of the mean over {self.axis} in "
                f"[{self.points[0]:g}, {self.points[-1]:g}]"
                + (f" (always {side} 0)" if side else "")
            )
        return (
            f"{self.label}: changes sign at {self.axis} = {self.at:.3g} "
            f"[{self.low_at:.3g}, {self.high_at:.3g}] (95% bootstrap interval over "
            f"{self.replicates} paired replicates; {self.crossing_share:.0%} of resamples cross)"
        )


def first_crossing(points: np.ndarray, values: np.ndarray) -> float:
    """The first axis value where ``values`` changes sign, by linear interpolation.

    An exact zero at a point counts as the crossing there; NaN when the sign never changes.
    """
    v = np.asarray(values, dtype=float)
    x = np.asarray(points, dtype=float)
    for i in range(v.size):
        if v[i] == 0.0:
            return float(x[i])
        if i and np.sign(v[i]) != np.sign(v[i - 1]):
            return float(x[i - 1] + (x[i] - x[i - 1]) * v[i - 1] / (v[i - 1] - v[i]))
    return float("nan")


def _per_replicate(runs: pd.DataFrame, axis: str, variant: str, metric: str) -> pd.DataFrame:
    rows = runs[runs["scenario"] == variant]
    if rows.empty:
        raise ValueError(f"no runs of variant {variant!r} (have: {sorted(set(runs['scenario']))})")
    return rows.pivot_table(index="replicate", columns=axis, values=metric, aggfunc="first")


def contrast_matrix(
    runs: pd.DataFrame, axis: str, variants: Sequence[str], metric: str
) -> tuple[np.ndarray, np.ndarray]:
    """Per replicate (rows) and axis point (columns) the paired contrast of ``variants``.

    Two variants ``(a, b)`` give ``b - a``; four ``(none, a, b, ab)`` give the interaction
    ``(ab - b) - (a - none)`` (the additive scale of :mod:`i4p_sim.stats.paired`). Only
    replicates present at every point and in every variant are kept.
    """
    if axis not in runs.columns:
        raise ValueError(f"the runs have no axis column {axis!r}")
    tables = [_per_replicate(runs, axis, v, metric) for v in variants]
    common = tables[0].dropna()
    for t in tables[1:]:
        common = common.loc[common.index.intersection(t.dropna().index)]
    index = common.index
    columns = np.sort(tables[0].columns.to_numpy(dtype=float))
    m = [t.loc[index, columns].to_numpy(dtype=float) for t in tables]
    if len(m) == 2:
        return columns, m[1] - m[0]
    if len(m) == 4:
        none, a, b, ab = m
        return columns, (ab - b) - (a - none)
    raise ValueError("a contrast needs two variants (a, b) or four (none, a, b, ab)")


def crossing(
    runs: pd.DataFrame,
    axis: str,
    variants: Sequence[str],
    metric: str = "cumulative_violence",
    *,
    n_resamples: int = 2000,
    seed: int = 0,
    confidence: float = 0.95,
) -> Crossing:
    """The contrast of ``variants`` along ``axis`` and its first sign change, with intervals.

    The per-point intervals are :func:`~i4p_sim.stats.bootstrap.bootstrap_ci` of the mean
    (the report's and ``compare``'s resampling); the crossing's interval is the percentile
    interval of :func:`first_crossing` over resamples of whole replicates (rows).
    """
    points, diffs = contrast_matrix(runs, axis, variants, metric)
    if diffs.shape[0] < 2:
        raise ValueError("a crossing needs at least two paired replicates")
    mean = diffs.mean(axis=0)
    lows, highs = [], []
    for j in range(points.size):
        ci = bootstrap_ci(diffs[:, j], n_resamples=n_resamples, seed=seed, confidence=confidence)
        lows.append(ci[1])
        highs.append(ci[2])
    dist = bootstrap_distribution(
        diffs, lambda m: first_crossing(points, m.mean(axis=0)), n_resamples=n_resamples, seed=seed
    )
    crossed = dist[np.isfinite(dist)]
    tail = (1.0 - confidence) / 2.0
    lo_at, hi_at = np.quantile(crossed, [tail, 1.0 - tail]) if crossed.size else (float("nan"),) * 2
    label = (
        f"{variants[1]} - {variants[0]}"
        if len(variants) == 2
        else "interaction " + "/".join(variants)
    )
    return Crossing(
        axis=axis,
        label=label,
        metric=metric,
        points=points,
        mean=mean,
        low=np.asarray(lows),
        high=np.asarray(highs),
        at=first_crossing(points, mean),
        low_at=float(lo_at),
        high_at=float(hi_at),
        crossing_share=float(crossed.size / dist.size) if dist.size else 0.0,
        replicates=int(diffs.shape[0]),
    )

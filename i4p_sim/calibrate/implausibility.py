"""The implausibility of a parameter point against a target (DESIGN section 3.1).

``I = |z - m| / sqrt(var_target + var_discrepancy + var_model [+ var_emulator])`` where

- ``z`` is the target's value and ``m`` the simulated mean at the point (or an emulator's
  prediction of it);
- ``var_target`` is the spread of the published estimates: ``((high - low) / 4) ** 2``
  from the target's range unless the target gives it;
- ``var_discrepancy`` is declared per target before wave 1 (model discrepancy);
- ``var_model`` is the realisation variance of the statistic over as many units as the
  published figure has, plus the Monte Carlo error of the simulated mean:
  ``realisation_var / n_units + s ** 2 / R``;
- ``var_emulator`` is an emulator's predictive variance, when the mean is predicted.

A point whose implausibility exceeds the cut-off (3, Pukelsheim's three-sigma rule for
unimodal distributions) for any target is ruled out. Pure numpy.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "CUTOFF",
    "implausibility",
    "max_implausibility",
    "model_variance",
    "range_variance",
]

#: Points with a larger implausibility for any target are ruled out.
CUTOFF = 3.0


def range_variance(low: float, high: float) -> float:
    """``((high - low) / 4) ** 2``: a published range read as about +-2 standard deviations."""
    if not high >= low:
        raise ValueError(f"need low <= high, got [{low}, {high}]")
    return ((high - low) / 4.0) ** 2


def model_variance(
    realisation_var: ArrayLike, n_units: float, mc_var: ArrayLike, replicates: ArrayLike
) -> np.ndarray:
    """``realisation_var / n_units + mc_var / replicates`` (NaN where no replicate)."""
    rv = np.asarray(realisation_var, dtype=float)
    mc = np.asarray(mc_var, dtype=float)
    r = np.asarray(replicates, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = rv / float(n_units) + np.where(r > 0, mc / np.maximum(r, 1.0), np.nan)
    return out


def implausibility(
    target: float,
    mean: ArrayLike,
    var_target: float,
    var_discrepancy: float,
    var_model: ArrayLike,
    var_emulator: ArrayLike = 0.0,
) -> np.ndarray:
    """Implausibility of each simulated (or emulated) mean; ``inf`` where the mean is NaN.

    A NaN mean (the statistic is undefined at the point, e.g. no episode ever ended) is
    ruled out: the target's world has such events.
    """
    m = np.asarray(mean, dtype=float)
    vm = np.nan_to_num(np.asarray(var_model, dtype=float), nan=0.0)
    ve = np.asarray(var_emulator, dtype=float)
    denom = np.sqrt(var_target + var_discrepancy + np.maximum(vm, 0.0) + np.maximum(ve, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.abs(target - m) / denom
    return np.where(np.isnan(m), np.inf, out)


def max_implausibility(columns: ArrayLike) -> np.ndarray:
    """Row-wise maximum over targets of a (points, targets) array (``inf`` stays ``inf``)."""
    arr = np.asarray(columns, dtype=float)
    if arr.ndim == 1:
        return arr
    if arr.shape[1] == 0:
        return np.zeros(arr.shape[0])
    return arr.max(axis=1)

"""PRIM, the patient rule induction method, for scenario discovery.

Friedman & Fisher (1999) find a box (one interval per input) in which a binary outcome
("a case of interest") is much more frequent than overall; Bryant & Lempert (2010) use it
for scenario discovery and judge a box by its **coverage** (the share of all cases of
interest inside it), its **density** (the share of the points inside it that are cases)
and, per restriction, a **quasi-p-value**.

- **Peeling**: from the box holding every point, each step tries, for every input, to cut
  the share ``peel_alpha`` of the box's points off its lower or its upper end (at the
  quantile of :func:`quantile_cut`, which never splits a run of equal values) and keeps
  the cut with the largest gain in density per point removed (the "lenient" objective of
  the EMA Workbench, Kwakkel 2017; ties go to the cut that restricts fewer inputs). It
  stops when no cut raises the density or the box would hold less than ``mass_min`` of
  the points. The sequence of boxes is the **peeling trajectory**: coverage falls and
  density rises along it (the coverage-density trade-off).
- **Pasting**: the last peeled box is then widened again, ``paste_alpha`` of the points
  beyond one of its bounds at a time, while that raises the density.
- **Quasi-p-value** of a restriction (Bryant & Lempert 2010): drop that one input's
  interval from the box, and ask how likely a box of the same size drawn from the
  widened box would hold at least as many cases: the one-sided binomial test
  ``P(X >= k)`` with ``X ~ Binomial(n, density of the widened box)``, ``n`` and ``k``
  the box's points and cases. Small means the restriction is doing work; large means it
  is noise (a restriction that only tidies the edge of the sample).

- **More boxes** (:func:`prim_boxes`; the EMA Workbench's repeated ``find_box``, Bryant
  & Lempert 2010): after a box is chosen, the points inside it (its covered cases and the
  non-cases with them) are set aside and PRIM runs again on the points left, for the
  cases the earlier boxes miss. The smallest box stays ``mass_min`` of *all* the points.

The algorithm follows the EMA Workbench's ``Prim`` (default objective, real-valued
inputs) step for step, so that ``tests/test_prim_oracle.py`` can use it as an oracle.
This module imports only numpy, pandas and scipy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import binom

__all__ = ["Box", "PrimResult", "binomial_quasi_p", "prim", "prim_boxes", "quantile_cut"]


def quantile_cut(values: np.ndarray, q: float) -> float:
    """The cut at quantile ``q`` used to peel and paste (sdtoolkit's and the EMA Workbench's).

    The order statistic at ``(n - 1) q``, moved past any run of equal values (up for a
    lower quantile, down for an upper one) and averaged with its neighbour, so a cut falls
    between two distinct values and a few-valued input is peeled one value at a time.
    """
    if not 0.0 < q < 1.0:
        raise ValueError(f"quantile must be in (0, 1), got {q}")
    data = np.sort(np.asarray(values, dtype=float))
    i = (data.size - 1) * q
    lo, hi = math.floor(i), math.ceil(i)
    if q > 0.5:
        while data[lo] == data[hi] and lo > 0:
            lo -= 1
    else:
        while data[lo] == data[hi] and hi < data.size - 1:
            hi += 1
    return float((data[lo] + data[hi]) / 2.0)


def binomial_quasi_p(k: int, n: int, p: float) -> float:
    """One-sided binomial tail ``P(X >= k)``, ``X ~ Binomial(n, p)``."""
    if k <= 0:
        return 1.0
    return float(binom.sf(k - 1, n, p))


@dataclass(frozen=True)
class Box:
    """One box of the trajectory: ``lims[param] = (lo, hi)`` (inclusive), and its statistics.

    ``restricted`` lists the inputs whose interval is narrower than the data's range.
    """

    lims: dict[str, tuple[float, float]]
    restricted: tuple[str, ...]
    n: int
    k: int
    coverage: float
    density: float
    mass: float
    phase: str  # "start", "peel" or "paste"


@dataclass
class PrimResult:
    """The peeling-and-pasting trajectory, the data it ran on and the chosen box.

    ``chosen`` indexes ``trajectory``; :meth:`quasi_p` and :meth:`without` describe a box's
    restrictions.
    """

    x: pd.DataFrame
    y: np.ndarray
    trajectory: list[Box]
    chosen: int
    rule: str
    peel_alpha: float
    paste_alpha: float
    mass_min: float
    init: dict[str, tuple[float, float]] = field(default_factory=dict)

    @property
    def box(self) -> Box:
        """The chosen box."""
        return self.trajectory[self.chosen]

    def _inside(self, lims: dict[str, tuple[float, float]]) -> np.ndarray:
        inside = np.ones(len(self.y), dtype=bool)
        for p, (lo, hi) in lims.items():
            v = self.x[p].to_numpy(dtype=float)
            inside &= (v >= lo) & (v <= hi)
        return inside

    def without(self, index: int, param: str, side: str = "both") -> tuple[int, int]:
        """Points and cases in box ``index`` with ``param``'s restriction dropped.

        ``side`` = ``"lower"`` or ``"upper"`` drops only that bound (as the EMA Workbench
        does); ``"both"`` drops the whole interval.
        """
        box = self.trajectory[index]
        lims = dict(box.lims)
        lo, hi = lims[param]
        lo0, hi0 = self.init[param]
        lims[param] = (
            lo0 if side in ("lower", "both") else lo,
            hi0 if side in ("upper", "both") else hi,
        )
        inside = self._inside(lims)
        return int(inside.sum()), int(self.y[inside].sum())

    def quasi_p(self, index: int | None = None, side: str = "both") -> dict[str, float]:
        """Quasi-p-value of each restriction of box ``index`` (default: the chosen box).

        With ``side="lower"``/``"upper"`` only restrictions on that bound are tested (the
        others are left out).
        """
        index = self.chosen if index is None else index
        box = self.trajectory[index]
        out = {}
        for p in box.restricted:
            lo, hi = box.lims[p]
            lo0, hi0 = self.init[p]
            if side == "lower" and lo == lo0 or side == "upper" and hi == hi0:
                continue
            n_wide, k_wide = self.without(index, p, side)
            out[p] = binomial_quasi_p(box.k, box.n, k_wide / n_wide)
        return out

    def trajectory_frame(self) -> pd.DataFrame:
        """One row per box: coverage, density, mass, points, cases, restricted inputs."""
        return pd.DataFrame(
            [
                {
                    "box": i,
                    "phase": b.phase,
                    "coverage": b.coverage,
                    "density": b.density,
                    "mass": b.mass,
                    "n": b.n,
                    "k": b.k,
                    "restricted": len(b.restricted),
                }
                for i, b in enumerate(self.trajectory)
            ]
        )


def _objective(y_old: np.ndarray, y_new: np.ndarray) -> float:
    """Gain in density per point removed or added (the EMA Workbench's ``LENIENT1``)."""
    mean_old = float(np.mean(y_old))
    mean_new = float(np.mean(y_new)) if y_new.size else 0.0
    if mean_old == mean_new or y_old.size == y_new.size:
        return 0.0
    return (mean_new - mean_old) / abs(y_old.size - y_new.size)


class _Prim:
    def __init__(self, x: pd.DataFrame, y: np.ndarray, peel_alpha, paste_alpha, mass_min):
        self.cols = list(x.columns)
        self.x = x.to_numpy(dtype=float)
        self.y = y
        self.n = y.size
        self.total = int(y.sum())
        self.init = {
            c: (float(self.x[:, j].min()), float(self.x[:, j].max()))
            for j, c in enumerate(self.cols)
        }
        self.peel_alpha, self.paste_alpha, self.mass_min = peel_alpha, paste_alpha, mass_min
        self.trajectory: list[Box] = []

    def restricted(self, lims) -> tuple[str, ...]:
        return tuple(c for c in self.cols if lims[c] != self.init[c])

    def inside(self, lims, cols=None) -> np.ndarray:
        inside = np.ones(self.n, dtype=bool)
        for j, c in enumerate(self.cols):
            if cols is None or c in cols:
                lo, hi = lims[c]
                inside &= (self.x[:, j] >= lo) & (self.x[:, j] <= hi)
        return inside

    def record(self, lims, idx: np.ndarray, phase: str) -> None:
        k = int(self.y[idx].sum())
        self.trajectory.append(
            Box(
                lims=dict(lims),
                restricted=self.restricted(lims),
                n=int(idx.size),
                k=k,
                coverage=k / max(self.total, 1),
                density=k / idx.size,
                mass=idx.size / self.n,
                phase=phase,
            )
        )

    def best(self, idx, candidates):
        """The candidate with the largest objective, then the fewest restrictions (first wins)."""
        scored = []
        for new_idx, lims in candidates:
            obj = _objective(self.y[idx], self.y[new_idx])
            scored.append((obj, len(self.cols) - len(self.restricted(lims)), new_idx, lims))
        return max(scored, key=lambda s: (s[0], s[1])) if scored else None

    def peel(self, lims, idx) -> tuple[dict, np.ndarray]:
        while True:
            candidates = []
            for j, c in enumerate(self.cols):
                xj = self.x[idx, j]
                for side in ("upper", "lower"):
                    q = 1.0 - self.peel_alpha if side == "upper" else self.peel_alpha
                    cut = quantile_cut(xj, q)
                    keep = xj <= cut if side == "upper" else xj >= cut
                    new = dict(lims)
                    new[c] = (lims[c][0], cut) if side == "upper" else (cut, lims[c][1])
                    candidates.append((idx[keep], new))
            found = self.best(idx, candidates)
            if found is None:
                return lims, idx
            obj, _, new_idx, new_lims = found
            mass_new = new_idx.size / self.n
            if not (mass_new >= self.mass_min and new_idx.size < idx.size and obj > 0):
                return lims, idx
            lims, idx = new_lims, new_idx
            self.record(lims, idx, "peel")

    def paste(self, lims, idx) -> None:
        while True:
            res = self.restricted(lims)
            candidates = []
            for c in res:
                j = self.cols.index(c)
                lo0, hi0 = self.init[c]
                for side in ("lower", "upper"):
                    slab = dict(lims)
                    slab[c] = (lo0, lims[c][0]) if side == "lower" else (lims[c][1], hi0)
                    data = self.x[self.inside(slab, res), j]
                    new = dict(lims)
                    if side == "lower":
                        value = quantile_cut(data, 1 - self.paste_alpha) if data.size else lo0
                        new[c] = (value, lims[c][1])
                    else:
                        value = quantile_cut(data, self.paste_alpha) if data.size else hi0
                        new[c] = (lims[c][0], value)
                    candidates.append((np.flatnonzero(self.inside(new, res)), new))
            found = self.best(idx, candidates)
            if found is None:
                return
            obj, _, new_idx, new_lims = found
            mass_new = new_idx.size / self.n
            gain = np.mean(self.y[new_idx]) > np.mean(self.y[idx])
            if not (mass_new >= self.mass_min and new_idx.size > idx.size and obj > 0 and gain):
                return
            lims, idx = new_lims, new_idx
            self.record(lims, idx, "paste")


def choose_box(trajectory: Sequence[Box], min_density: float | None = None) -> tuple[int, str]:
    """The chosen box of a trajectory, and the rule in words.

    By default the box with the largest harmonic mean of coverage and density
    (``2 c d / (c + d)``, the F1 score of the box read as a classifier of the cases: the
    best balance of the trade-off). With ``min_density``, the box with the highest
    coverage among those at least that dense, or the densest if none is. Ties: fewer
    restrictions, then the earlier box.
    """
    if min_density is None:

        def f1(i: int) -> float:
            c, d = trajectory[i].coverage, trajectory[i].density
            return 2 * c * d / (c + d) if c + d else 0.0

        best = max(
            range(len(trajectory)), key=lambda i: (f1(i), -len(trajectory[i].restricted), -i)
        )
        return best, "the best balance: the largest harmonic mean of coverage and density"
    ok = [i for i, b in enumerate(trajectory) if b.density >= min_density]
    if ok:
        best = max(ok, key=lambda i: (trajectory[i].coverage, -len(trajectory[i].restricted), -i))
        return best, f"the highest coverage with density >= {min_density:g}"
    best = max(range(len(trajectory)), key=lambda i: (trajectory[i].density, -i))
    return best, f"the densest box (none reaches density {min_density:g})"


def prim(
    x: pd.DataFrame,
    y: np.ndarray,
    *,
    peel_alpha: float = 0.05,
    paste_alpha: float = 0.05,
    mass_min: float = 0.05,
    min_density: float | None = None,
    box: int | None = None,
) -> PrimResult:
    """Peel and paste one box over the numeric inputs ``x`` for the binary outcome ``y``.

    Parameters
    ----------
    x : DataFrame
        One numeric column per input, one row per point.
    y : array of bool
        The cases of interest.
    peel_alpha, paste_alpha, mass_min : float
        Share of the box's points peeled (pasted) per step, and the smallest box's share of
        all points (Friedman & Fisher's ``alpha`` and ``beta_0``; the EMA Workbench's
        defaults).
    min_density : float, optional
        The chosen box: by default the best balance of coverage and density; with this,
        the highest coverage among boxes at least this dense (:func:`choose_box`).
    box : int, optional
        Choose this trajectory index instead.

    Raises
    ------
    ValueError
        ``y`` has no case or only cases, or ``x`` is not numeric or has missing values.
    """
    y = np.asarray(y, dtype=bool)
    if y.size != len(x):
        raise ValueError(f"x has {len(x)} rows but y has {y.size} values")
    if not y.any() or y.all():
        raise ValueError(
            f"the outcome selects {int(y.sum())} of {y.size} points; need some of both"
        )
    if x.shape[1] == 0 or x.isna().to_numpy().any():
        raise ValueError("x needs at least one input and no missing values")
    if not 0 < peel_alpha < 0.5 or not 0 < paste_alpha < 0.5 or not 0 <= mass_min < 1:
        raise ValueError("peel_alpha and paste_alpha must be in (0, 0.5), mass_min in [0, 1)")
    x = x.reset_index(drop=True).astype(float)
    algo = _Prim(x, y.astype(int), peel_alpha, paste_alpha, mass_min)
    lims, idx = dict(algo.init), np.arange(y.size)
    algo.record(lims, idx, "start")
    lims, idx = algo.peel(lims, idx)
    algo.paste(lims, idx)
    if box is None:
        chosen, rule = choose_box(algo.trajectory, min_density)
    else:
        if not 0 <= box < len(algo.trajectory):
            raise ValueError(f"box {box} not in the trajectory (0..{len(algo.trajectory) - 1})")
        chosen, rule = box, f"box {box}, as asked"
    return PrimResult(
        x=x,
        y=y,
        trajectory=algo.trajectory,
        chosen=chosen,
        rule=rule,
        peel_alpha=peel_alpha,
        paste_alpha=paste_alpha,
        mass_min=mass_min,
        init=algo.init,
    )


def prim_boxes(
    x: pd.DataFrame,
    y: np.ndarray,
    boxes: int,
    *,
    peel_alpha: float = 0.05,
    paste_alpha: float = 0.05,
    mass_min: float = 0.05,
    min_density: float | None = None,
    box: int | None = None,
) -> tuple[list[PrimResult], list[np.ndarray], str]:
    """Up to ``boxes`` PRIM boxes in sequence, each on the points outside the boxes before.

    The first is :func:`prim` on every point (``box`` chooses it from its trajectory); each
    later one is :func:`prim` on the points no earlier box holds, with the same options and
    the same smallest box in points (``mass_min`` of all the points). A later box's
    coverage and density are those of the points it ran on.

    Returns
    -------
    results : list of PrimResult
        One per box found (at least the first).
    rows : list of numpy.ndarray
        For each, the positions (in ``x``) of the points it ran on.
    stop : str
        Why fewer boxes than asked were found (empty when all were): no case left, only
        cases left, too few points left, or a later box that restricts nothing, is no
        denser than the whole sample or misses ``min_density`` (such a box is not kept).

    Raises
    ------
    ValueError
        As :func:`prim`, for the first box, or ``boxes < 1``.
    """
    if boxes < 1:
        raise ValueError(f"boxes must be >= 1, got {boxes}")
    y = np.asarray(y, dtype=bool)
    x = x.reset_index(drop=True)
    keep = np.arange(y.size)
    results: list[PrimResult] = []
    rows: list[np.ndarray] = []
    opts = {"peel_alpha": peel_alpha, "paste_alpha": paste_alpha, "min_density": min_density}
    for j in range(boxes):
        left = y[keep]
        stop = ""
        if not left.any():
            stop = "no case of interest is left outside the boxes"
        elif left.all():
            stop = "only cases of interest are left outside the boxes"
        elif j and mass_min * y.size / keep.size >= 1:
            stop = f"{keep.size} points are left, fewer than the smallest box"
        if stop:
            return results, rows, stop
        share = mass_min * y.size / keep.size if j else mass_min
        res = prim(x.iloc[keep], left, mass_min=share, box=box if j == 0 else None, **opts)
        if j and not res.box.restricted:
            return results, rows, "on the points left PRIM restricts no parameter"
        if j and res.box.density <= y.mean():
            return (
                results,
                rows,
                (
                    f"the best box on the points left (density {res.box.density:.2f}) is no "
                    f"denser than the whole sample ({y.mean():.2f})"
                ),
            )
        if j and min_density is not None and res.box.density < min_density:
            return results, rows, f"no box on the points left reaches density {min_density:g}"
        results.append(res)
        rows.append(keep)
        keep = keep[~res._inside(res.box.lims)]
    return results, rows, ""

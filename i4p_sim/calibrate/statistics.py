"""The calibration targets, operationally (``experiments/targets.toml``), from stored series.

Each run of a calibration grid is one region (a ``region_cells`` x ``region_cells`` block,
64 x 64 by default), so the region's violent cells per month are the run's stored
``violent_events`` series; grids of several regions would need per-region series, which the
sweep does not store (:func:`~i4p_sim.calibrate.waves.check_grid` refuses them).

- *active month*: at least ``active_cells`` violent cells in the region;
- *episode*: a maximal run of active months ended by ``episode_gap`` inactive months;
- ``relapse_within_a_decade``: the Kaplan-Meier probability of a new onset within 120
  months of an episode's termination (a termination is the first of at least
  ``episode_gap`` inactive months after an active one, so the next active month starts a
  new episode), after the burn-in, censored at the run's end, pooled over the replicates
  of the no-election scenario (:func:`i4p_sim.stats.events.relapse` with
  ``calm = episode_gap``, :func:`~i4p_sim.stats.events.km_relapse_share`);
- ``serious_election_violence``: the share of votes after the burn-in whose excess violent
  cell-months over the no-election twin (same seed) in months ``[vote - 6, vote + 3]``
  exceed ``threshold_cell_months``.

Model variance (DESIGN 3.1): ``p (1 - p) / units`` (the realisation variance of a share
over as many units as the published figure has) plus the Monte Carlo error of the point's
estimate: ``s^2 / R`` over the runs' shares for elections, and for the pooled Kaplan-Meier
share (not a mean of per-run values) its bootstrap variance over runs, which estimates the
same thing. Either Monte Carlo term has a floor, ``q (1 - q) / n`` with
``q = (n p + 0.5) / (n + 1)`` over the ``n`` terminations or elections behind the estimate
(:func:`share_floor`): a share of 0 or 1 from a few units is not known exactly, and a zero
variance would make the implausibility, and the emulators, overconfident. An undefined statistic (no termination at a point) is NaN: such a point is
ruled out (:func:`~i4p_sim.calibrate.implausibility.implausibility`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from i4p_sim.stats import events as es
from i4p_sim.stats.spells import spell_dispersion

__all__ = [
    "ELECTION",
    "NO_ELECTION",
    "election_shares",
    "share_floor",
    "point_statistics",
    "region_active",
    "relapse_shares",
    "spells_check",
]

NO_ELECTION = "no_election"
ELECTION = "election"
#: Months of a decade.
DECADE = 120
#: The election window around the vote, inclusive: [vote - 6, vote + 3].
BEFORE, AFTER = 6, 3
#: Bootstrap resamples of the pooled Kaplan-Meier share's Monte Carlo variance.
KM_BOOT = 200


def share_floor(share: float, n: int) -> float:
    """Smallest Monte Carlo variance of a share from ``n`` units: ``q (1 - q) / n`` with
    ``q = (n share + 0.5) / (n + 1)`` (a share of 0 or 1 is never exact)."""
    if n < 1 or not np.isfinite(share):
        return float("nan")
    q = (n * share + 0.5) / (n + 1)
    return q * (1 - q) / n


def _by_run(series: pd.DataFrame, scenario: str) -> dict[tuple[int, int], np.ndarray]:
    """(point, replicate) -> violent cells per month, in step order."""
    sub = series[series["scenario"] == scenario].sort_values(["point", "replicate", "step"])
    return {
        (int(p), int(r)): g["violent_events"].to_numpy()
        for (p, r), g in sub.groupby(["point", "replicate"], sort=True)
    }


def region_active(counts: np.ndarray, active_cells: int) -> np.ndarray:
    """Active region-months: at least ``active_cells`` violent cells."""
    return np.asarray(counts) >= active_cells


def relapse_shares(
    runs: Sequence[np.ndarray],
    active_cells: int,
    episode_gap: int,
    burn_in: int,
    seed: int = 0,
    n_boot: int = KM_BOOT,
) -> tuple[float, float, int]:
    """Pooled Kaplan-Meier relapse share over runs, its bootstrap variance, terminations."""
    res = [
        es.relapse(
            region_active(c, active_cells)[:, None],
            window=DECADE,
            calm=episode_gap,
            burn_in=burn_in,
        )
        for c in runs
    ]
    if not res:
        return float("nan"), float("nan"), 0
    lags = [r.lags for r in res]
    fol = [r.followup for r in res]
    n_term = sum(r.onsets for r in res)
    share = es.km_relapse_share(np.concatenate(lags), np.concatenate(fol), DECADE)
    if not np.isfinite(share):
        return share, float("nan"), n_term
    rng = np.random.default_rng(seed)
    boot = []
    for _ in range(n_boot):
        idx = rng.integers(0, len(res), len(res))
        boot.append(
            es.km_relapse_share(
                np.concatenate([lags[i] for i in idx]),
                np.concatenate([fol[i] for i in idx]),
                DECADE,
            )
        )
    boot_arr = np.asarray(boot, dtype=float)
    boot_arr = boot_arr[np.isfinite(boot_arr)]
    var = float(boot_arr.var(ddof=1)) if boot_arr.size > 1 else 0.0
    return float(share), max(var, share_floor(share, n_term)), n_term


def election_shares(
    pairs: Sequence[tuple[np.ndarray, np.ndarray]],
    votes: Sequence[int],
    threshold: float,
    burn_in: int,
) -> tuple[float, float, int]:
    """Share of serious elections, ``s^2 / R`` over the runs' shares, number of elections."""
    votes = [v for v in votes if v >= burn_in]
    per_run = []
    for elec, twin in pairs:
        flags = []
        for v in votes:
            lo, hi = v - BEFORE, min(v + AFTER + 1, len(elec))
            if lo < 0 or hi <= v:
                continue
            excess = float(elec[lo:hi].sum()) - float(twin[lo:hi].sum())
            flags.append(excess > threshold)
        if flags:
            per_run.append(float(np.mean(flags)))
    if not per_run:
        return float("nan"), float("nan"), 0
    arr = np.asarray(per_run)
    n = len(arr) * len(votes)
    mc = float(arr.var(ddof=1) / len(arr)) if len(arr) > 1 else 0.0
    return float(arr.mean()), max(mc, share_floor(float(arr.mean()), n)), n


def point_statistics(
    series: pd.DataFrame,
    points: int,
    votes: Sequence[int],
    definitions: dict[str, int],
    threshold: float,
    units: dict[str, float],
    n_boot: int = KM_BOOT,
) -> pd.DataFrame:
    """Per point: each target's mean and ``:var_model``, and the counts behind them.

    ``series`` holds the wave's stored per-step rows (``scenario``, ``replicate``,
    ``point``, ``step``, ``violent_events``) of the ``no_election`` and ``election``
    scenarios.
    """
    quiet = _by_run(series, NO_ELECTION)
    loud = _by_run(series, ELECTION)
    rows = []
    for p in range(points):
        reps = sorted(r for (q, r) in quiet if q == p)
        relapse, rvar, n_term = relapse_shares(
            [quiet[(p, r)] for r in reps],
            definitions["active_cells"],
            definitions["episode_gap"],
            definitions["burn_in"],
            seed=p,
            n_boot=n_boot,
        )
        pairs = [(loud[(p, r)], quiet[(p, r)]) for r in reps if (p, r) in loud]
        elect, evar, n_elec = election_shares(pairs, votes, threshold, definitions["burn_in"])
        row = {"replicates": len(reps), "terminations": n_term, "elections": n_elec}
        for name, (m, mc) in {
            "relapse_within_a_decade": (relapse, rvar),
            "serious_election_violence": (elect, evar),
        }.items():
            real = m * (1 - m) / units.get(name, 1.0) if np.isfinite(m) else np.nan
            row[name] = m
            row[f"{name}:var_model"] = real + (mc if np.isfinite(mc) else 0.0)
        rows.append(row)
    return pd.DataFrame(rows)


def spells_check(
    series: pd.DataFrame, point: int, active_cells: int, episode_gap: int, burn_in: int
) -> tuple[float, float, int]:
    """Held-out ``peace_spells_overdispersed`` at one point: observed / null variance-to-mean
    ratio of peace spells (no-election runs, one region each), its one-sided p, spells."""
    runs = _by_run(series, NO_ELECTION)
    active = [region_active(c, active_cells)[burn_in:] for (q, _), c in runs.items() if q == point]
    res = spell_dispersion(active, episode_gap=episode_gap, n_permutations=199, seed=point)
    ratio = res.observed / res.null_mean if res.null_mean > 0 else float("nan")
    return ratio, res.p_value, res.spells

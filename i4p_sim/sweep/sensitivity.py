"""A sweep on a sensitivity design, analysed from its store (``i4p sensitivity`` and the
sensitivity section of ``i4p validate``).

It reads ``runs.parquet`` and the manifest's ``design`` (method, parameter names, bounds,
size, seed), rebuilds SALib's design and checks it against the stored points, and computes
the Morris or Sobol indices on the replicate means of each point
(:mod:`i4p_sim.stats.sensitivity`). Nothing is written.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from i4p_sim.config.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["analyse_store"]


def _design_and_runs(root: Path, metric: str, scenario: str | None):
    from i4p_sim.stats.metrics import SUMMARY_KEYS
    from i4p_sim.sweep.store import read_manifest, read_runs

    if metric not in SUMMARY_KEYS:
        raise ConfigError(
            "command line",
            "--metric",
            f"'{metric}' unknown; allowed: {', '.join(SUMMARY_KEYS)}",
        )
    runs = read_runs(root)
    manifest = read_manifest(root)
    config = manifest.get("config") or {}
    design = config.get("design")
    if not design:
        raise ConfigError(
            str(root),
            "manifest.json",
            "no sensitivity design in this store; sweep an experiment whose [sample] method "
            "is 'morris' or 'saltelli'",
        )
    names = sorted(set(runs["scenario"]))
    scenario = scenario or config.get("baseline") or names[0]
    if scenario not in names:
        raise ConfigError(
            "command line", "--scenario", f"'{scenario}' not found; allowed: {', '.join(names)}"
        )
    return design, runs[runs["scenario"] == scenario], scenario, manifest


def _matrix(design: dict, runs, metric: str, stored_points: list[dict], source: str):
    """The rebuilt design (unrounded) and the metric as points x replicates (NaN: missing)."""
    from i4p_sim.stats.sensitivity import design_matrix

    x = design_matrix(
        design["method"], design["bounds"], design["n"], design["seed"], design["num_levels"]
    )
    names = design["names"]
    stored = np.array([[p.get(name, np.nan) for name in names] for p in stored_points], float)
    expected = x.copy()
    for j, name in enumerate(names):
        if name in design["integers"]:
            expected[:, j] = np.round(expected[:, j])
    if stored.shape != expected.shape or not np.allclose(stored, expected, rtol=1e-9, atol=0):
        raise ConfigError(
            source,
            "manifest.json",
            "the rebuilt design differs from the stored points (another SALib version?); "
            "rerun the sweep",
        )
    ok = runs[runs["status"] == "ok"]
    reps = int(runs["replicate"].max()) + 1 if len(runs) else 0
    y = np.full((len(x), max(reps, 1)), np.nan)
    values = ok[metric].astype("float64").to_numpy()
    y[ok["point"].to_numpy(), ok["replicate"].to_numpy()] = values
    return x, y


def analyse_store(
    results: str | Path,
    metric: str = "cumulative_violence",
    scenario: str | None = None,
    share: float = 0.1,
) -> tuple[dict, pd.DataFrame]:
    """Analyse a sweep on a sensitivity design from its store, writing nothing.

    Parameters
    ----------
    results : str or Path
        Results directory of a sweep whose ``[sample] method`` is ``morris`` or
        ``saltelli``.
    metric : str, default "cumulative_violence"
        Summary metric.
    scenario : str, optional
        The scenario analysed (default: the experiment's baseline).
    share : float, default 0.1
        Morris: an active parameter's ``mu_star`` is at least this share of the largest.

    Returns
    -------
    dict
        What ``sensitivity.json`` holds without ``indices``: method, metric, scenario,
        points, replicates, missing runs, noise index, replicates for 5% noise and, for
        Morris, trajectories, active set and rule; plus ``manifest`` (the store's).
    pandas.DataFrame
        The indices, ranked (:func:`~i4p_sim.stats.sensitivity.morris_indices` or
        :func:`~i4p_sim.stats.sensitivity.sobol_indices`).

    Raises
    ------
    ConfigError
        Not a results directory, no design, an unknown metric or scenario, a design that
        does not match the stored points, or a metric SALib cannot analyse.
    """
    from i4p_sim.stats import sensitivity as sa

    root = Path(results)
    design, runs, scenario, manifest = _design_and_runs(root, metric, scenario)
    config = manifest.get("config") or {}
    x, y = _matrix(design, runs, metric, config.get("points") or [], str(root))
    names, bounds = design["names"], design["bounds"]
    noise = sa.noise_index(y)
    out: dict = {
        "method": design["method"],
        "metric": metric,
        "scenario": scenario,
        "points": len(x),
        "replicates": y.shape[1],
        "missing_runs": int(np.isnan(y).sum()),
        "noise_index": None if math.isnan(noise) else noise,
        "sobol_replicates_for_5pct_noise": sa.replicates_needed(noise),
    }
    try:
        if design["method"] == "morris":
            table, dropped = sa.morris_indices(
                names, bounds, x, y, design["num_levels"], seed=design["seed"]
            )
            passing = sa.passes_rule(table, share=share)
            out.update(
                trajectories=design["n"],
                dropped_trajectories=dropped,
                active=passing[: sa.MAX_ACTIVE],
                passing_rule=len(passing),
            )
            out["rule"] = (
                f"mu_star >= {share:g} x max mu_star and mu_star > "
                f"{sa.NOISE_MULTIPLE:g} x noise level; at most {sa.MAX_ACTIVE}"
            )
        else:
            table = sa.sobol_indices(names, bounds, y, seed=design["seed"])
    except ValueError as err:
        raise ConfigError(str(root), metric, str(err)) from None
    return {**out, "manifest": manifest}, table

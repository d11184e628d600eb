"""``i4p sensitivity``: Morris screening or Sobol indices of a sweep run on a sensitivity
design (``[sample] method = "morris"`` or ``"saltelli"``; :mod:`i4p_sim.stats.sensitivity`).

It reads ``runs.parquet`` and the manifest's ``design`` (method, parameter names, bounds,
size, seed), rebuilds SALib's design and checks it against the stored points, averages the
replicates of each point, and prints a ranked table with plain names, the noise index and,
for Morris, the active parameters it selects. It writes ``sensitivity.json`` and
``sensitivity.csv`` in the results directory.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from i4p_sim.config.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``sensitivity`` on the ``i4p`` subparsers."""
    p = sub.add_parser(
        "sensitivity",
        help="Morris screening or Sobol indices of a sweep on a sensitivity design",
        description="Morris mu_star (screening) or Sobol S1/ST indices of a summary metric "
        "from a sweep whose [sample] method is 'morris' or 'saltelli', on the means of each "
        "point's replicates; the noise index (within-point over total variance); for Morris "
        "the active set: mu_star >= SHARE x the largest and > 2 x its noise level, at most "
        "12. Writes sensitivity.json and sensitivity.csv in the results directory.",
    )
    p.add_argument("results", help="results directory of a sweep on a morris/saltelli design")
    p.add_argument("--metric", default="cumulative_violence", help="summary metric")
    p.add_argument("--scenario", help="the scenario analysed (default: the experiment's baseline)")
    p.add_argument(
        "--share",
        type=float,
        default=0.1,
        help="Morris: an active parameter's mu_star is at least this share of the largest",
    )
    p.set_defaults(func=cmd_sensitivity)


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


def cmd_sensitivity(args: argparse.Namespace) -> int:
    """``i4p sensitivity RESULTS [--metric M] [--scenario S] [--share F]``."""
    import pandas as pd

    from i4p_sim.stats.format import format_table
    from i4p_sim.stats.labels import param_label

    root = Path(args.results)
    out, table = analyse_store(root, args.metric, args.scenario, args.share)
    manifest = out.pop("manifest")
    design = manifest["config"]["design"]
    names = design["names"]
    noise = math.nan if out["noise_index"] is None else out["noise_index"]
    missing = out["missing_runs"]
    scenario = out["scenario"]
    table.insert(1, "name", [param_label(p) for p in table["parameter"]])
    out["indices"] = json.loads(table.to_json(orient="records"))
    (root / "sensitivity.json").write_text(json.dumps(out, indent=2) + "\n")
    table.to_csv(root / "sensitivity.csv", index=False)
    reps = out["replicates"]
    print(
        f"{design['method']} design, {len(names)} parameters, {out['points']} points x {reps} "
        f"replicate(s), scenario {scenario}, metric {args.metric}"
        + (f" ({missing} run(s) missing)" if missing else "")
    )
    shown = table.drop(columns=["parameter"]).rename(columns={"name": "parameter"})
    print(format_table(pd.DataFrame(shown)))
    if math.isnan(noise):
        print("noise index: n/a (one replicate per point)")
    else:
        need = out["sobol_replicates_for_5pct_noise"]
        print(
            f"noise index {noise:.3f} (within-point variance / total variance); "
            f"{need} replicate(s) per point keep noise under 5% of the variance of point means"
        )
    if design["method"] == "morris":
        print(
            f"active ({out['rule']}): {len(out['active'])} of the {out['passing_rule']} that "
            "pass the rule"
        )
        for path in out["active"]:
            print(f"  {path}  ({param_label(path)})")
    print(f"wrote {root / 'sensitivity.json'} and {root / 'sensitivity.csv'}")
    return 0

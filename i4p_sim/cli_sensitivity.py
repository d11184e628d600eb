"""``i4p sensitivity``: Morris screening or Sobol indices of a sweep run on a sensitivity
design (``[sample] method = "morris"`` or ``"saltelli"``; :mod:`i4p_sim.stats.sensitivity`).

It reads ``runs.parquet`` and the manifest's ``design`` (method, parameter names, bounds,
size, seed), rebuilds SALib's design and checks it against the stored points, averages the
replicates of each point, and prints a ranked table with plain names, the noise index and,
for Morris, the active parameters it selects. It writes ``sensitivity.json`` and
``sensitivity.csv`` in the results directory. The analysis is
:func:`i4p_sim.sweep.sensitivity.analyse_store` (also used by ``i4p validate``).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path


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


def cmd_sensitivity(args: argparse.Namespace) -> int:
    """``i4p sensitivity RESULTS [--metric M] [--scenario S] [--share F]``."""
    import pandas as pd

    from i4p_sim.stats.format import format_table
    from i4p_sim.stats.labels import param_label
    from i4p_sim.sweep.sensitivity import analyse_store

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

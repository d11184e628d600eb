"""``i4p crossing``: where a paired contrast changes sign along a sweep's parameter axis.

The command of :mod:`i4p_sim.stats.crossing` (docs/ODD.md, "Failure modes"); kept out of
:mod:`i4p_sim.cli` so that module stays one screenful per command.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from i4p_sim.config.errors import ConfigError


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``crossing`` on the ``i4p`` subparsers."""
    p = sub.add_parser(
        "crossing",
        help="where a paired contrast changes sign along a parameter axis",
        description="Paired contrast (B - A per replicate, or the tier interaction of four "
        "variants) at every point of a sweep's parameter axis, with 95%% bootstrap intervals, "
        "and the axis value where its mean first changes sign, with a bootstrap interval.",
    )
    p.add_argument("results", help="results directory of a sweep with a parameter axis")
    p.add_argument("--axis", required=True, help="the axis (a dotted parameter path)")
    p.add_argument("--a", required=True, help="variant A (the reference)")
    p.add_argument("--b", required=True, help="variant B (the contrast is B - A)")
    p.add_argument(
        "--interaction",
        nargs=2,
        metavar=("B_ONLY", "BOTH"),
        help="with --a NONE --b A_ONLY: the interaction (BOTH - B_ONLY) - (A_ONLY - NONE)",
    )
    p.add_argument("--metric", default="cumulative_violence", help="summary metric")
    p.set_defaults(func=cmd_crossing)


def cmd_crossing(args: argparse.Namespace) -> int:
    """``i4p crossing RESULTS --axis PATH --a A --b B [--interaction B_ONLY BOTH]``."""
    from i4p_sim.stats.crossing import crossing
    from i4p_sim.stats.format import format_table
    from i4p_sim.stats.metrics import SUMMARY_KEYS
    from i4p_sim.sweep.store import read_runs

    root = Path(args.results)
    if not root.is_dir():
        raise ConfigError(str(root), "", "not a directory; expected a sweep's results directory")
    if args.metric not in SUMMARY_KEYS:
        raise ConfigError(
            "command line",
            "--metric",
            f"'{args.metric}' unknown; allowed: {', '.join(SUMMARY_KEYS)}",
        )
    runs = read_runs(root)
    runs = runs[runs["status"] == "ok"]
    if args.axis not in runs.columns:
        axes = [c for c in runs.columns if "." in c]
        raise ConfigError(
            "command line",
            "--axis",
            f"'{args.axis}' is not an axis of this sweep; allowed: "
            + (", ".join(axes) or "(none: the sweep has no parameter axis)"),
        )
    variants = [args.a, args.b, *(args.interaction or [])]
    names = sorted(set(runs["scenario"]))
    for flag, v in zip(("--a", "--b", "--interaction", "--interaction"), variants, strict=False):
        if v not in names:
            raise ConfigError("command line", flag, f"'{v}' not found; allowed: {', '.join(names)}")
    try:
        result = crossing(runs, args.axis, variants, args.metric)
    except ValueError as exc:  # e.g. fewer than two replicates paired at every point
        raise ConfigError(str(root), "runs.parquet", str(exc)) from None
    print(
        f"{result.label}, {args.metric}: mean over {result.replicates} paired replicates "
        "with 95% bootstrap CI per axis point"
    )
    print(format_table(result.table()))
    print(result.sentence())
    return 0

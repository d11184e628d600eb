"""``i4p discover``: scenario discovery (PRIM and a classification tree) over a sweep.

The command of :mod:`i4p_sim.stats.discovery` and :mod:`i4p_sim.stats.prim`; kept out of
:mod:`i4p_sim.cli` so that module stays one screenful per command. Reads the results store
and writes ``discover.json`` beside it (the report's "Scenario discovery" section).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from i4p_sim.cli_types import float_in, int_in
from i4p_sim.config.errors import ConfigError

_METRIC_HELP = (
    "what is measured at each design point: METRIC (the sweep's only variant), "
    "VARIANT:METRIC (the mean over that variant's replicates), diff:B/A:METRIC (B - A "
    "paired per replicate with common random numbers, then averaged) or ratio:B/A:METRIC "
    "(mean(B) / mean(A) over the same paired replicates; points where mean(A) <= 0 are "
    "left out), e.g. ratio:abrupt_120/phased_120:resilience_loss --above 2 = 'abrupt more "
    "than doubles the excess violence of phased'"
)


_fraction = float_in(0.0, 1.0)
_alpha = float_in(0.0, 0.5, open_interval=True)
_depth = int_in(1, 6, what="a shallow tree depth")
_boxes = int_in(1, 10, what="a number of boxes")


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``discover`` on the ``i4p`` subparsers."""
    p = sub.add_parser(
        "discover",
        help="scenario discovery: where in parameter space an outcome happens (PRIM, tree)",
        description="Scenario discovery over a sweep's design points (Bryant & Lempert "
        "2010). Replicates are aggregated first: the metric's MEAN over the replicates at "
        "each design point (for diff and ratio, over the paired replicates) is compared "
        "with the threshold, so each design point is one case, of interest or not. PRIM "
        "(Friedman & Fisher 1999) peels and pastes a box over the varied parameters and "
        "prints the coverage-density trade-off, the chosen box as one 'param in [lo, hi]' "
        "line per restricted parameter with its quasi-p-value (the one-sided binomial test "
        "of the density the restriction adds), and a shallow classification tree "
        "(scikit-learn) as a second view. Writes RESULTS/discover.json, which 'i4p report' "
        "shows.",
    )
    p.add_argument("results", help="results directory of a sweep with varied parameters")
    p.add_argument("--metric", required=True, help=_METRIC_HELP)
    side = p.add_mutually_exclusive_group(required=True)
    side.add_argument("--above", type=float, metavar="X", help="cases of interest: value > X")
    side.add_argument("--below", type=float, metavar="X", help="cases of interest: value < X")
    p.add_argument(
        "--by",
        nargs="+",
        metavar="PARAM",
        help="the parameters to search over (dotted paths, space- or comma-separated; "
        "default: every varied parameter)",
    )
    p.add_argument(
        "--min-density",
        type=_fraction,
        metavar="D",
        help="choose the box with the highest coverage among those at least this dense (if "
        "none is, the densest); default: the box with the largest harmonic mean of coverage "
        "and density",
    )
    p.add_argument("--box", type=int, metavar="I", help="choose this box of the trajectory instead")
    p.add_argument(
        "--boxes",
        type=_boxes,
        default=1,
        metavar="K",
        help="find up to K boxes (1-10, default 1): after each box, the points in it are set "
        "aside and PRIM runs again on the rest, for the cases the boxes before miss (as the "
        "EMA Workbench's repeated find_box)",
    )
    p.add_argument(
        "--peel-alpha", type=_alpha, default=0.05, metavar="A", help="share peeled per step (0.05)"
    )
    p.add_argument(
        "--paste-alpha", type=_alpha, default=0.05, metavar="A", help="share pasted per step (0.05)"
    )
    p.add_argument(
        "--mass-min",
        type=_fraction,
        default=0.05,
        metavar="M",
        help="the smallest box, as a share of the points (0.05)",
    )
    p.add_argument(
        "--tree-depth",
        type=_depth,
        default=3,
        metavar="N",
        help="the tree's depth (1-6, default 3)",
    )
    p.set_defaults(func=cmd_discover)


def _known_metrics() -> list[str]:
    from i4p_sim.stats.metrics import SUMMARY_KEYS

    return [*SUMMARY_KEYS, "resilience_loss", "excess_positive"]


def cmd_discover(args: argparse.Namespace) -> int:
    """``i4p discover RESULTS --metric M (--above X | --below X) [--by PARAMS] [--boxes K]``."""
    from i4p_sim.stats.contrasts import param_columns
    from i4p_sim.stats.discovery import (
        DISCOVER_FILE,
        discovery_record,
        discovery_text,
        parse_metric,
        point_outcomes,
        tree_rules,
    )
    from i4p_sim.stats.prim import prim_boxes
    from i4p_sim.stats.resilience import read_paired, with_paired
    from i4p_sim.stats.tables import experiment_runs
    from i4p_sim.sweep.finite import json_dumps
    from i4p_sim.sweep.storage import atomic_write_text
    from i4p_sim.sweep.store import read_runs

    root = Path(args.results)
    try:
        spec = parse_metric(args.metric)
    except ValueError as exc:
        raise ConfigError("command line", "--metric", str(exc)) from None
    known = _known_metrics()
    if spec.metric not in known:
        raise ConfigError(
            "command line",
            "--metric",
            f"'{spec.metric}' unknown; allowed: {', '.join(known)} (recovery time is censored: "
            "use excess violence or the share recovered with 'i4p compare')",
        )
    runs = experiment_runs(with_paired(read_runs(root), read_paired(root)))
    runs = runs[runs["status"] == "ok"]
    if runs.empty:
        raise ConfigError(str(root), "runs.parquet", "no successful runs to discover over")
    names = list(dict.fromkeys(runs["scenario"]))
    if spec.kind == "mean" and spec.variant is None:
        if len(names) > 1:
            raise ConfigError(
                "command line",
                "--metric",
                f"the sweep has {len(names)} variants; name one as VARIANT:{spec.metric} "
                f"(variants: {', '.join(names)}) or a contrast diff:B/A:{spec.metric}",
            )
        spec = type(spec)("mean", spec.metric, variant=names[0])
    for v in (spec.variant, spec.b, spec.a):
        if v is not None and v not in names:
            raise ConfigError(
                "command line", "--metric", f"variant '{v}' not found; allowed: {', '.join(names)}"
            )
    varied = [p for p in param_columns(runs) if runs[p].nunique(dropna=True) > 1]
    if args.by:
        params = [q for item in args.by for q in item.split(",") if q]
        for q in params:
            if q not in varied:
                raise ConfigError(
                    "command line",
                    "--by",
                    f"'{q}' is not a varied parameter of this sweep; allowed: "
                    + (", ".join(varied) or "(none)"),
                )
    else:
        params = varied
    if not params:
        raise ConfigError(
            str(root), "runs.parquet", "no varied parameter: discover needs a sweep over a design"
        )
    try:
        table, dropped = point_outcomes(runs, spec, params)
    except ValueError as exc:
        raise ConfigError("command line", "--metric", str(exc)) from None
    if table.empty:
        raise ConfigError(
            "command line", "--metric", f"'{args.metric}' has no value at any design point"
        )
    flag = "--above" if args.above is not None else "--below"
    threshold = args.above if args.above is not None else args.below
    values = table["value"].to_numpy(dtype=float)
    y = values > threshold if args.above is not None else values < threshold
    if y.all() or not y.any():
        raise ConfigError(
            "command line",
            flag,
            f"{threshold:g} selects {int(y.sum())} of {y.size} design points (the values run "
            f"from {values.min():.4g} to {values.max():.4g}); choose a threshold inside that range",
        )
    try:
        found, _, stop = prim_boxes(
            table[params],
            y,
            args.boxes,
            peel_alpha=args.peel_alpha,
            paste_alpha=args.paste_alpha,
            mass_min=args.mass_min,
            min_density=args.min_density,
            box=args.box,
        )
    except ValueError as exc:
        raise ConfigError(
            "command line", "--box" if args.box is not None else "", str(exc)
        ) from None
    try:
        rules = tree_rules(table[params], y, max_depth=args.tree_depth)
    except ImportError:  # scikit-learn missing: PRIM stands alone
        rules = None
        print(
            "i4p: note: no classification tree: scikit-learn is not installed "
            "(pip install 'i4p-sim[calibrate]')",
            file=sys.stderr,
        )
    rec = discovery_record(
        spec,
        args.metric,
        flag[2:],
        threshold,
        table,
        dropped,
        params,
        found[0],
        rules,
        args.tree_depth,
        more=found[1:],
        boxes=args.boxes,
        stop=stop,
    )
    rec["runs_ok"] = len(runs)
    print(discovery_text(rec))
    target = atomic_write_text(root / DISCOVER_FILE, json_dumps(rec, indent=1))
    print(f"written: {target}")
    return 0

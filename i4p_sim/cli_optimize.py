"""``i4p optimize``: exit-strategy search through the sweep engine (DESIGN 3.2).

The command of :mod:`i4p_sim.optimize`; kept out of :mod:`i4p_sim.cli` like
:mod:`i4p_sim.cli_calibrate`.
"""

from __future__ import annotations

import argparse
import sys
import time

from i4p_sim.cli_types import positive_int


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``optimize`` on the ``i4p`` subparsers."""
    p = sub.add_parser(
        "optimize",
        help="exit-strategy search: a Pareto front of excess violence and money",
        description="Search exit strategies (DESIGN 3.2) of a search file (e.g. "
        "experiments/exit_strategy.toml): exit month, ramp length, committees' share of "
        "donor money, committee density and siting, domestic co-funding of the council. "
        "Optuna's NSGA-II (fixed seed) asks fixed-size batches, each run as a sweep of the "
        "phased exit against its steady-funding twin (resumable: rerun the same command; "
        "identical for any worker count). Writes RESULTS/trials.parquet, front.parquet "
        "(the Pareto front of bad-case excess violence and mean money) and report.html, "
        "and prints the best exits in plain words.",
    )
    p.add_argument("search", help="the search file (TOML)")
    p.add_argument(
        "--trials", type=positive_int, help="trials (default: the file's; whole batches)"
    )
    p.add_argument("--out", help="results directory (default results/<name>)")
    p.add_argument("--workers", type=positive_int, help="worker processes (default: CPU count)")
    p.add_argument("--fresh", action="store_true", help="discard stored runs first")
    p.add_argument("--no-progress", action="store_true", help="no progress lines")
    p.set_defaults(func=cmd_optimize)


def cmd_optimize(args: argparse.Namespace) -> int:
    """``i4p optimize FILE [--trials N] [--out DIR] [--workers N] [--fresh]``."""
    from i4p_sim.optimize.front import best_exits
    from i4p_sim.optimize.search import run_search

    t0 = time.perf_counter()
    res = run_search(
        args.search,
        trials=args.trials,
        out=args.out,
        workers=args.workers,
        fresh=args.fresh,
        progress=not args.no_progress,
        log=lambda m: print(m, file=sys.stderr, flush=True),
    )
    print(
        f"{len(res.trials)} trials ({res.ran} model runs, {res.skipped} already stored), "
        f"{len(res.front)} on the Pareto front, in {time.perf_counter() - t0:.0f} s"
    )
    for line in best_exits(res.front, res.search.config.quantile):
        print(line)
    print(f"wrote {res.out / 'front.parquet'}, trials.parquet and {res.out / 'report.html'}")
    return 0

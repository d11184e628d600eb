"""``i4p calibrate``: history matching in waves through the sweep engine (DESIGN 3.1).

The command of :mod:`i4p_sim.calibrate`; kept out of :mod:`i4p_sim.cli` like
:mod:`i4p_sim.cli_crossing`.
"""

from __future__ import annotations

import argparse
import sys
import time

from i4p_sim.cli_types import positive_int


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``calibrate`` on the ``i4p`` subparsers."""
    p = sub.add_parser(
        "calibrate",
        help="history matching in waves: the ensemble of parameter sets not ruled out",
        description="History matching (DESIGN 3.1) of a calibration file (e.g. "
        "experiments/calibration.toml): waves of space-filling designs through the sweep "
        "engine (resumable: rerun the same command), implausibility against the targets of "
        "targets.toml, Gaussian-process emulators to choose each new wave; held-out targets "
        "are checked after the last wave. Writes RESULTS/ensemble.parquet (the parameter "
        "sets not ruled out, NOT a posterior), waves.parquet and report.html.",
    )
    p.add_argument("calibration", help="the calibration file (TOML)")
    p.add_argument(
        "--quick", action="store_true", help="the file's [quick] sizes: a demo in minutes"
    )
    p.add_argument("--out", help="results directory (default results/<name>[_quick])")
    p.add_argument("--workers", type=positive_int, help="worker processes (default: CPU count)")
    p.add_argument("--fresh", action="store_true", help="discard stored runs first")
    p.add_argument("--no-progress", action="store_true", help="no progress lines")
    p.set_defaults(func=cmd_calibrate)


def cmd_calibrate(args: argparse.Namespace) -> int:
    """``i4p calibrate FILE [--quick] [--out DIR] [--workers N] [--fresh]``."""
    from i4p_sim.calibrate.ensemble import run_calibration

    t0 = time.perf_counter()
    res = run_calibration(
        args.calibration,
        quick=args.quick,
        out=args.out,
        workers=args.workers,
        fresh=args.fresh,
        progress=not args.no_progress,
        log=lambda m: print(m, file=sys.stderr, flush=True),
    )
    points = res.matching.points
    print(
        f"{len(res.ensemble)} of {len(points)} simulated parameter points not ruled out "
        f"(the ensemble: a not-ruled-out set, not a posterior) in "
        f"{time.perf_counter() - t0:.0f} s"
    )
    print(f"wrote {res.out / 'ensemble.parquet'}, waves.parquet and {res.out / 'report.html'}")
    return 0

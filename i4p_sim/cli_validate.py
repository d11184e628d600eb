"""``i4p validate``: regenerate docs/VALIDATION.md (i4p_sim/validation/)."""

from __future__ import annotations

import argparse
import sys

from i4p_sim.cli_types import positive_int
from i4p_sim.validation.sections import SECTION_NAMES


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``i4p validate``."""
    p = sub.add_parser(
        "validate",
        help="run the validation experiments and write docs/VALIDATION.md",
        description="Run experiments/validation/*.toml (about 15 min on 2 cores) and write "
        "docs/VALIDATION.md: each stylized fact with its estimate, confidence interval and n, "
        "beside the literature; with the sensitivity, calibration and ensemble sections read "
        "from stored results (--screening, --sobol, --calibration, --ensemble-results).",
    )
    add_validate_arguments(p)
    p.set_defaults(func=cmd_validate)


def cmd_validate(args: argparse.Namespace) -> int:
    """``i4p validate``: run the validation experiments and write VALIDATION.md."""
    # heavy (pandas, scipy, the model): imported only when validating
    from i4p_sim.sweep.manifest import typed_command  # as typed, for the provenance line
    from i4p_sim.validation.common import Plan
    from i4p_sim.validation.run import generate

    path = generate(
        plan=Plan.smoke() if args.quick else Plan.full(),
        out=args.out,
        workers=args.workers or 2,
        results=args.results,
        resume=args.resume,
        only=args.only,
        command=typed_command(),
        calibration=args.calibration,
        ensemble_results=args.ensemble_results,
        screening=args.screening,
        sobol=args.sobol,
        log=lambda m: print(m, file=sys.stderr, flush=True),
    )
    print(f"wrote {path}")
    return 0


def add_validate_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``i4p validate`` (also ``python -m i4p_sim.validation``)."""
    p.add_argument(
        "--quick",
        action="store_true",
        help="smoke run (< 2 min): few replicates; writes "
        "results/validation/VALIDATION-quick.md unless --out is given",
    )
    p.add_argument("--out", metavar="FILE", help="output markdown (default docs/VALIDATION.md)")
    p.add_argument("--workers", type=positive_int, help="worker processes (default 2)")
    p.add_argument(
        "--results",
        metavar="DIR",
        help="where the validation sweeps store runs (default results/validation)",
    )
    p.add_argument(
        "--resume", action="store_true", help="reuse stored runs instead of starting fresh"
    )
    p.add_argument(
        "--only",
        action="append",
        choices=SECTION_NAMES,
        metavar="SECTION",
        help="run only this section (repeatable): " + ", ".join(SECTION_NAMES),
    )
    p.add_argument(
        "--calibration",
        metavar="DIR",
        help="an 'i4p calibrate' results directory: calibration targets and held-out checks "
        "(read, not rerun)",
    )
    p.add_argument(
        "--ensemble-results",
        metavar="DIR",
        action="append",
        help="results of 'i4p sweep experiments/ensemble_policy.toml': the headline policy "
        "contrasts as shares over the ensemble (read, not rerun); repeatable: the first is the "
        "calibration's ensemble, each further one gets a section of its own",
    )
    p.add_argument(
        "--screening",
        metavar="DIR",
        help="results of 'i4p sweep experiments/screening.toml' (Morris): the ranking, noise "
        "index and active set (read, not rerun)",
    )
    p.add_argument(
        "--sobol",
        metavar="DIR",
        help="results of 'i4p sweep experiments/sobol_top.toml' (Saltelli): Sobol indices of "
        "the first ten (read, not rerun)",
    )

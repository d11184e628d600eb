"""The ``i4p`` command line: check, run, sweep, compare, report, viz.

Every bad input ends in one line on stderr naming the file, the field and what is allowed,
and exit code 2 (argparse's own usage line may precede it); never a traceback.

The configuration layer is imported here; each command imports the layer it runs (the
model, sweeps, the report, the app, validation) when it runs, so that ``i4p check`` or a
usage error does not load Mesa, plotly, Dash or Dask.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from i4p_sim import (
    cli_calibrate,
    cli_crossing,
    cli_discover,
    cli_optimize,
    cli_sensitivity,
    cli_validate,
)
from i4p_sim._version import __version__
from i4p_sim.cli_geo import (
    check_experiment_geo,
    check_geo,
    maps_record,
    write_run_maps,
    write_sweep_maps,
)
from i4p_sim.cli_types import int_in, nonneg_int, positive_int
from i4p_sim.config.errors import ConfigError, RunFailed, os_error_line
from i4p_sim.config.experiment import load_experiment
from i4p_sim.config.horizon import check_shocks_in_horizon
from i4p_sim.config.limits import check_grid_memory
from i4p_sim.config.loading import load_scenario, read_toml

EXIT_BAD_INPUT = 2


class _Parser(argparse.ArgumentParser):
    """argparse that names the bad flag on one line and exits 2."""

    def error(self, message: str) -> None:  # noqa: D102
        self.print_usage(sys.stderr)
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: command line: {message}\n")


def check_output_dir(path: str | Path, source: str = "--out") -> Path:
    """Make sure ``path`` is (or can be made) a writable directory, before a long run.

    Raises
    ------
    ConfigError
        One line: the path exists and is not a directory, or it cannot be created or
        written (permission, read-only file system, disk full, symlink loop).
    """
    from i4p_sim.sweep.storage import probe_writable

    return probe_writable(path, source)


# ------------------------------------------------------------------------ check / run


def _looks_like_experiment(path: Path) -> bool:
    raw = read_toml(path)
    return "experiment" in raw or "scenarios" in raw or "base" in raw or "variants" in raw


def _note(message: str) -> None:
    """A one-line note on stderr (not an error: the command goes on)."""
    print(f"i4p: note: {message}", file=sys.stderr, flush=True)


def cmd_check(args: argparse.Namespace) -> int:
    """``i4p check FILE [--steps N]``: validate a scenario or experiment, run nothing."""
    path = Path(args.file)
    steps = getattr(args, "steps", None)
    if _looks_like_experiment(path):
        exp = load_experiment(path, steps=steps)
        for note in exp.notes:
            _note(note)
        check_grid_memory(exp.largest_cells(), str(path), field="grid")
        check_experiment_geo(exp, str(path))  # maps and sites read now, as the runs would
        total = exp.total_runs()
        own = len(exp.scenarios) * len(exp.points) * exp.replicates
        extra = f", {total - own} of them twins or null-perturbed twins" if total > own else ""
        print(f"{path}: ok (experiment '{exp.name}', {total} runs{extra}, {exp.steps} steps)")
        return 0
    sc = load_scenario(path, steps=steps)
    check_grid_memory(sc.grid.width * sc.grid.height, str(path), field="grid")
    check_shocks_in_horizon([("", sc)], str(path), flag="--steps" if steps else "steps =")
    georef = check_geo(sc, str(path))
    where = f", {georef['crs']}, {georef['cell_km']:g} km cells" if georef else ""
    print(
        f"{path}: ok (scenario '{sc.name}', {sc.grid.height}x{sc.grid.width} grid{where}, "
        f"{sc.steps} steps, {len(sc.shocks)} shocks)"
    )
    return 0


def format_summary(summary: dict, scenario) -> str:
    """A small aligned table of summary metrics."""
    lines = [
        f"scenario {scenario.name}  seed {scenario.seed}  steps {scenario.steps}  "
        f"reference step {scenario.resolved_reference_step()}"
    ]
    width = max(len(k) for k in summary)
    for key, value in summary.items():
        shown = f"{value:.4f}" if isinstance(value, float) else str(value)
        lines.append(f"  {key:<{width}}  {shown}")
    return "\n".join(lines)


def cmd_run(args: argparse.Namespace) -> int:
    from i4p_sim.sim.kernels import require_kernels
    from i4p_sim.sweep.finite import NonFiniteState, check_finite, json_dumps
    from i4p_sim.sweep.pairing import run_with_twin
    from i4p_sim.sweep.storage import atomic_write_parquet, atomic_write_text

    scenario = load_scenario(
        args.scenario,
        overrides=args.set or (),
        steps=args.steps,
        seed=args.seed,
        kernel=args.kernel,
    )
    check_grid_memory(scenario.grid.width * scenario.grid.height, str(args.scenario), field="grid")
    check_shocks_in_horizon([("", scenario)], str(args.scenario))
    where = ("command line", "--kernel") if args.kernel else (str(args.scenario), "kernel")
    require_kernels([scenario], *where)  # numba missing: one line with the install command
    georef = check_geo(scenario, str(args.scenario))  # a bad map: nothing written
    if args.out:  # before the run, not after it
        check_output_dir(args.out)
    advance, checkpoints = None, None
    if args.checkpoint_every or args.resume:
        from i4p_sim.sweep.checkpoint import Checkpoints

        flag = "--checkpoint-every" if args.checkpoint_every else "--resume"
        if not args.out:
            raise ConfigError("command line", flag, "needs --out DIR (where checkpoints go)")
        checkpoints = Checkpoints(args.out, scenario, args.checkpoint_every or scenario.steps)

        def advance(sim) -> None:
            start = checkpoints.run(sim, resume=args.resume)
            if args.resume:
                _note(f"resumed from step {start}" if start else "no checkpoint: from step 0")

    run = run_with_twin(scenario, mean_violence=bool(args.out and georef), advance=advance)
    summary = dict(run.result.summary)
    try:
        check_finite(run.result.series, summary, run.layers)
        if run.twin is not None:
            check_finite(run.twin.series)
    except NonFiniteState as exc:
        raise RunFailed(str(args.scenario), "", f"run failed: {exc}") from None
    if run.twin is None:
        note = "no shocks: no twin was needed (paired metrics need a shocked run)"
        summary.update({"twin": None, "tol": None})
    else:
        note = (
            f"twin: {run.twin_name} (the same scenario without its {len(scenario.shocks)} "
            f"shock(s), same seed {scenario.seed}), run alongside; tol = 95% noise floor of "
            f"{run.noise_pairs} null-perturbed twin(s)"
        )
        summary.update({"twin": run.twin_name, "tol": run.tol, **run.paired})
    if args.out:
        out = Path(args.out)
        atomic_write_parquet(out / "series.parquet", run.result.series.reset_index())
        if run.twin is not None:
            atomic_write_parquet(out / "twin_series.parquet", run.twin.series.reset_index())
        atomic_write_text(out / "scenario.toml", scenario.to_toml())
        atomic_write_text(out / "summary.json", json_dumps(summary, indent=2) + "\n")
        if run.councils:  # named after their regions where a region map names them
            import pandas as pd

            table = pd.DataFrame(run.councils).astype({"region": "Int64"})
            atomic_write_text(out / "councils.csv", table.to_csv(index=False))
        tifs = write_run_maps(out, run) if run.georef else []
    if args.format == "json":
        print(json_dumps(summary, indent=2))
    else:
        print(note)
        shown = {k: v for k, v in summary.items() if v is not None and k != "twin"}
        print(format_summary(shown, scenario))
        if args.out:
            extra = ", twin_series.parquet" if run.twin is not None else ""
            extra += ", councils.csv" if run.councils else ""
            print(f"wrote {Path(args.out) / 'series.parquet'}{extra}, scenario.toml, summary.json")
            if tifs:
                print(f"wrote georeference.json ({run.georef['crs']}), {', '.join(tifs)}")
    return 0


# ------------------------------------------------------------------------- sweep etc.


# The commands import their modules when they run: ``i4p --help`` and ``i4p check`` stay
# fast and do not import the model, plotly or Dask.


def cmd_sweep(args: argparse.Namespace) -> int:
    """``i4p sweep``: run an experiment, write the report; print where the results went."""
    if not (args.scheduler or args.dask_local):
        from i4p_sim.sweep.executors import start_fork_server

        start_fork_server()  # the pool's imports overlap this command's own
    from i4p_sim.report.html import write_report
    from i4p_sim.sweep.driver import run_experiment

    if args.fresh and args.retry_failed:
        raise ConfigError("command line", "--retry-failed", "cannot be combined with --fresh")
    exp = load_experiment(args.experiment, replicates=args.replicates, steps=args.steps)
    # every variant's maps and sites CSV read before anything runs or is written
    georefs = check_experiment_geo(exp, str(args.experiment))
    res = run_experiment(
        exp,
        out=args.out,
        workers=args.workers,
        scheduler=args.scheduler,
        dask_local=args.dask_local,
        fresh=args.fresh,
        retry_failed=args.retry_failed,
        branch=not args.no_branch,
        manifest_extra={"maps": maps_record(georefs)} if georefs else None,
    )
    runs = res.runs
    tifs = write_sweep_maps(res, georefs)
    n_ok = int((runs["status"] == "ok").sum()) if len(runs) else 0
    n_failed = int((runs["status"] == "failed").sum()) if len(runs) else 0
    try:
        report = None if args.no_report else write_report(res.out)
    except KeyboardInterrupt:
        from i4p_sim.sweep.driver import interrupted_error

        raise interrupted_error(
            res.out,
            None,
            f"while writing the report; all {len(runs)} runs are stored; "
            f"'i4p report {res.out}' writes it",
        ) from None
    print(
        f"{res.experiment.name}: {len(runs)}/{res.experiment.total_runs()} runs stored "
        f"({n_ok} ok, {n_failed} failed); ran {res.ran}, skipped {res.skipped} already stored; "
        f"{res.wall_s:.1f} s"
    )
    print(
        f"results: {res.out / 'runs.parquet'}, {res.out / 'series'}/, manifest.json, "
        f"paired.parquet (each run against its twin)"
    )
    if tifs:
        print(f"maps:    {len(tifs)} GeoTIFF(s) under {res.out / 'maps'}/ (mean over replicates)")
    if report is not None:
        print(f"report:  {report}")
    if n_failed:
        print(
            f"{n_failed} run(s) failed (see the 'error' column); rerun with --retry-failed",
            file=sys.stderr,
        )
        return 1
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    """``i4p compare``: the text tables of :func:`i4p_sim.report.compare.compare_text`."""
    from i4p_sim.report.compare import compare_text

    print(compare_text(args.results, baseline=args.baseline, metric=args.metric, csv=args.csv))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """``i4p report RESULTS_DIR [--out FILE]``."""
    from i4p_sim.report.html import write_report

    root = Path(args.results)
    if not root.is_dir():
        raise ConfigError(str(root), "", "not a directory; expected a sweep's results directory")
    if (root / "front.parquet").is_file() and not (root / "runs.parquet").exists():
        from i4p_sim.optimize.front import write_page  # an exit-strategy search's results

        print(f"wrote {write_page(root, args.out)} (the search's Pareto front page)")
        return 0
    print(f"wrote {write_report(root, args.out)}")
    return 0


def cmd_viz(args: argparse.Namespace) -> int:
    """``i4p viz [SCENARIO] [--host H] [--port P]``: serve the app (blocks until Ctrl+C)."""
    from i4p_sim.app import create_app, serve  # Dash is heavy: only this command needs it

    app = create_app(args.scenario)
    serve(app, args.host, args.port)  # waitress; a taken port is one line, before serving
    return 0


# ----------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    """The ``i4p`` argument parser with all subcommands."""
    parser = _Parser(
        prog="i4p",
        description=(
            "Simulate Infrastructures for Peace: local peace committees, peace councils and "
            "donors absorbing shocks such as the withdrawal of donor funding."
        ),
        epilog="Start with: i4p run scenarios/baseline.toml   (see README.md)",
    )

    parser.add_argument("--version", action="version", version=f"i4p-sim {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    p = sub.add_parser(
        "check",
        help="validate a scenario or experiment TOML file",
        description="Validate a scenario or experiment file (following 'extends') and report "
        "the first problem as FILE: FIELD: what is allowed.",
    )
    p.add_argument("file", help="a .toml file under scenarios/ or experiments/")
    p.add_argument(
        "--steps",
        type=positive_int,
        help="check with this number of monthly steps, as run or sweep --steps would run it "
        "(a shock past the last month is an error)",
    )
    p.set_defaults(func=cmd_check)

    p = sub.add_parser(
        "run",
        help="run one scenario and print its summary metrics",
        description="Run one scenario and print its per-run summary metrics (resilience "
        "triangle relative to the reference step). Example: "
        "i4p run scenarios/withdrawal_abrupt.toml --seed 3 --set grid.width=40",
    )
    p.add_argument("scenario", help="scenario TOML file (e.g. scenarios/baseline.toml)")
    p.add_argument("--steps", type=positive_int, help="number of monthly steps (default: file)")
    p.add_argument("--seed", type=nonneg_int, help="random seed (default: file)")
    p.add_argument(
        "--set",
        action="append",
        metavar="dotted.path=VALUE",
        help="override a field, VALUE parsed as TOML (repeatable): --set grid.width=40 "
        "--set lpc.enabled=false --set shocks.0.at=60",
    )
    p.add_argument("--kernel", choices=("numpy", "numba"), help="tension-core kernel")
    p.add_argument(
        "--out",
        metavar="DIR",
        help="write series.parquet, scenario.toml, summary.json, councils.csv (and, with "
        "maps, georeference.json and GeoTIFF layers under maps/)",
    )
    p.add_argument("--format", choices=("table", "json"), default="table", help="output format")
    p.add_argument(
        "--checkpoint-every",
        type=positive_int,
        metavar="N",
        help="write a checkpoint of the run every N steps to DIR/checkpoints (needs --out)",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue from the last checkpoint in --out (same scenario and versions)",
    )
    p.set_defaults(func=cmd_run)

    p = sub.add_parser(
        "sweep",
        help="run an experiment (resumable), store results, write the report",
        description="Run every scenario x parameter point x replicate of an experiment with "
        "common random numbers; results stream to results/<experiment>/ and a killed sweep "
        "resumes where it stopped.",
    )
    p.add_argument(
        "experiment", help="experiment TOML file (e.g. experiments/funding_withdrawal.toml)"
    )
    p.add_argument("--out", metavar="DIR", help="results directory (default results/<experiment>)")
    ex = p.add_mutually_exclusive_group()
    ex.add_argument(
        "--workers", type=positive_int, help="local worker processes (default: CPU count)"
    )
    ex.add_argument("--scheduler", metavar="ADDR", help="Dask scheduler address, tcp://HOST:PORT")
    ex.add_argument(
        "--dask-local",
        type=positive_int,
        metavar="N",
        help="start a Dask LocalCluster of N workers",
    )
    p.add_argument("--replicates", type=positive_int, help="override the file's replicates")
    p.add_argument("--steps", type=positive_int, help="override the file's steps")
    p.add_argument("--fresh", action="store_true", help="discard stored runs and start over")
    p.add_argument("--retry-failed", action="store_true", help="rerun only runs stored as failed")
    p.add_argument("--no-report", action="store_true", help="do not write the HTML report")
    p.add_argument(
        "--no-branch",
        action="store_true",
        help="run every run from step 0 (default: runs of a seed that share their past "
        "compute it once and fork; the results are the same)",
    )
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser(
        "compare",
        help="paired effect table of a finished sweep",
        description="Paired differences (scenario - baseline, per replicate) with bootstrap "
        "confidence intervals, at each parameter point separately; contrasts between "
        "variants (declared in [report] contrasts, or one factor apart by name); a "
        "dose-response table per parameter axis; censored recovery as the share recovered "
        "and a restricted mean. The same resampling as the report.",
    )
    p.add_argument("results", help="results directory of a sweep")
    p.add_argument("--baseline", help="baseline scenario name (default: the experiment's)")
    p.add_argument("--metric", action="append", help="metric(s) to compare (repeatable)")
    p.add_argument("--csv", metavar="PATH", help="also write the table as CSV")
    p.set_defaults(func=cmd_compare)
    cli_crossing.add_parser(sub)
    cli_calibrate.add_parser(sub)
    cli_discover.add_parser(sub)
    cli_optimize.add_parser(sub)
    cli_sensitivity.add_parser(sub)

    p = sub.add_parser(
        "report",
        help="write the self-contained HTML report of a sweep",
        description="Write report.html (plotly, works offline) into a sweep's results directory.",
    )
    p.add_argument("results", help="results directory of a sweep")
    p.add_argument("--out", metavar="FILE", help="HTML file (default RESULTS/report.html)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser(
        "viz",
        help="interactive browser app (Dash)",
        description="Open the interactive app: heat maps, time series, live shocks and a "
        "twin view of baseline vs shocked runs. Binds to 127.0.0.1 unless told otherwise.",
    )
    p.add_argument("scenario", nargs="?", help="scenario TOML file (default: built-in default)")
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to bind (default 127.0.0.1, loopback only; any other address makes the "
        "app reachable from other machines, and it has no authentication)",
    )
    p.add_argument(
        "--port", type=int_in(1, 65535, what="a port"), default=8050, help="port (default 8050)"
    )
    p.set_defaults(func=cmd_viz)

    cli_validate.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``i4p`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ConfigError as err:
        print(f"i4p: {err.one_line()}", file=sys.stderr)
        return err.exit_code
    except OSError as err:  # permission, disk full, path exists, symlink loop...
        print(f"i4p: {os_error_line(err)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except MemoryError:
        print("i4p: out of memory; use a smaller grid or fewer workers", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("i4p: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

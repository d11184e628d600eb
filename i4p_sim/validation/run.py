"""Run the validation sections and write ``docs/VALIDATION.md`` (atomically)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from i4p_sim._version import __version__
from i4p_sim.config.errors import ConfigError
from i4p_sim.validation.calibration import calibration_sections, read_calibration
from i4p_sim.validation.checks import CHECKS_FILE, checks_sections
from i4p_sim.validation.common import (
    DEFAULT_OUT,
    DEFAULT_RESULTS,
    QUICK_OUT,
    Context,
    Plan,
    atomic_write_text,
    git_revision,
)
from i4p_sim.validation.labels import label_section
from i4p_sim.validation.policy import policy_section
from i4p_sim.validation.render import DocumentInfo, render_document
from i4p_sim.validation.results import SectionResult
from i4p_sim.validation.screening import sensitivity_section
from i4p_sim.validation.sections import SECTION_NAMES, compute_of

__all__ = ["evidence_sections", "generate", "run_sections"]


def evidence_sections(
    calibration: str | Path | None = None,
    ensemble_results: str | Path | Sequence[str | Path] | None = None,
    checks: str | Path = CHECKS_FILE,
    screening: str | Path | None = None,
    sobol: str | Path | None = None,
) -> list[SectionResult]:
    """The sections read from stored results, in document order: sensitivity (the Morris
    screen and the Sobol indices), calibration targets, held-out checks, policy contrasts
    over the ensemble, null checks, failure modes.

    Nothing is rerun. A missing or malformed input raises
    :class:`~i4p_sim.config.errors.ConfigError` (one line, exit 2 on the command line);
    ``None`` for a results directory gives a section that says it was not given.
    """
    sens = label_section(sensitivity_section(screening, sobol))
    cal = calibration_sections(calibration)  # checks the directory and its files
    members, targets = None, []
    if calibration is not None:
        store = read_calibration(calibration)
        members = store.ensemble
        targets = [str(t.get("name")) for t in store.meta.get("targets") or []]
    roots = _as_list(ensemble_results)
    policy = [policy_section(roots[0] if roots else None, members, targets)]
    for k, root in enumerate(roots[1:], start=2):
        # a further ensemble (e.g. one matched on fewer targets): its own section, never
        # compared with the calibration's ensemble; its matched targets are named in it
        more = policy_section(root, None, targets)
        policy.append(
            dataclasses.replace(
                more, name=f"policy_{k}", title=f"{more.title} - another ensemble ({k})"
            )
        )
    return [sens, *cal, *policy, *checks_sections(checks)]


def _as_list(paths: str | Path | Sequence[str | Path] | None) -> list[str | Path]:
    if paths is None:
        return []
    if isinstance(paths, str | Path):
        return [paths]
    return list(paths)


def run_sections(ctx: Context, only: Sequence[str] | None = None) -> list[SectionResult]:
    """Compute the sections (all, or those named in ``only``) in document order."""
    for name in only or ():
        if name not in SECTION_NAMES:
            raise ConfigError(
                "command line", "--only", f"'{name}' unknown; allowed: {', '.join(SECTION_NAMES)}"
            )
    results = []
    for name in SECTION_NAMES:
        if only and name not in only:
            continue
        t = time.perf_counter()
        ctx.log(f"[validate] {name} ...")
        result = label_section(compute_of(name)(ctx))
        ctx.walls[name] = time.perf_counter() - t
        ctx.runs.setdefault(name, result.runs)
        ctx.log(f"[validate] {name}: {ctx.walls[name]:.0f} s, {ctx.runs[name]} runs")
        results.append(result)
    return results


def generate(
    *,
    plan: Plan | None = None,
    out: str | Path | None = None,
    workers: int = 2,
    results: str | Path | None = None,
    resume: bool = False,
    only: Sequence[str] | None = None,
    command: str | None = None,
    calibration: str | Path | None = None,
    ensemble_results: str | Path | Sequence[str | Path] | None = None,
    screening: str | Path | None = None,
    sobol: str | Path | None = None,
    log: Callable[[str], None] = print,
) -> Path:
    """Run the validation experiments and write the Markdown document.

    Parameters
    ----------
    plan : Plan, optional
        Run sizes (default :meth:`Plan.full`).
    out : str or Path, optional
        Output file (default ``docs/VALIDATION.md``, or
        ``results/validation/VALIDATION-quick.md`` for a quick plan).
    workers : int, default 2
        Worker processes.
    results : str or Path, optional
        Where sweeps store their runs (default ``results/validation``, ``.../quick`` for
        a quick plan).
    resume : bool, default False
        Reuse stored runs of earlier validation sweeps instead of starting fresh.
    only : sequence of str, optional
        Run only these sections (names as in :data:`~i4p_sim.validation.sections.SECTION_NAMES`).
    command : str, optional
        The command line, for the document.
    calibration : str or Path, optional
        An ``i4p calibrate`` results directory: the calibration and held-out tables.
    ensemble_results : str or Path or sequence of them, optional
        Results directories of ensemble sweeps of ``experiments/ensemble_policy.toml``: the
        headline policy contrasts as shares over the ensemble. The first is compared with
        the calibration's ensemble; each further one (e.g. over an ensemble matched on fewer
        targets) gets a section of its own.
    screening : str or Path, optional
        The results directory of a sweep of ``experiments/screening.toml`` (a Morris
        design): the ranking, noise index and active set.
    sobol : str or Path, optional
        The results directory of a sweep of ``experiments/sobol_top.toml`` (a Saltelli
        design): Sobol indices of the first ten.
    log : callable
        Progress messages.

    Returns
    -------
    Path
        The written document.
    """
    plan = plan or Plan.full()
    out_path = Path(out) if out is not None else (QUICK_OUT if plan.quick else DEFAULT_OUT)
    root = Path(results) if results is not None else DEFAULT_RESULTS
    if plan.quick and results is None:
        root = root / "quick"
    ctx = Context(plan=plan, results=root, workers=workers, resume=resume, log=log)
    # bad input fails before any run
    evidence = evidence_sections(calibration, ensemble_results, screening=screening, sobol=sobol)
    t0 = time.perf_counter()
    sections = run_sections(ctx, only)
    total = time.perf_counter() - t0
    info = DocumentInfo(
        generated=datetime.now(UTC).isoformat(timespec="seconds"),
        revision=git_revision(),
        version=__version__,
        command=command or "python -m i4p_sim.validation" + (" --quick" if plan.quick else ""),
        workers=workers,
        total_wall=total,
        quick=plan.quick,
        runs=dict(ctx.runs),
        walls=dict(ctx.walls),
        calibration=str(calibration) if calibration is not None else None,
        ensemble_results=", ".join(map(str, _as_list(ensemble_results))) or None,
        screening=str(screening) if screening is not None else None,
        sobol=str(sobol) if sobol is not None else None,
    )
    out_path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out_path, render_document(sections, info, evidence))
    log(f"[validate] wrote {out_path} in {total / 60:.1f} min")
    return out_path

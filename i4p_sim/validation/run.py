"""Run the validation sections and write ``docs/VALIDATION.md`` (atomically)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from i4p_sim._version import __version__
from i4p_sim.config.errors import ConfigError
from i4p_sim.validation.common import (
    DEFAULT_OUT,
    DEFAULT_RESULTS,
    QUICK_OUT,
    Context,
    Plan,
    atomic_write_text,
    git_revision,
)
from i4p_sim.validation.render import DocumentInfo, render_document
from i4p_sim.validation.results import SectionResult
from i4p_sim.validation.sections import SECTION_NAMES, compute_of

__all__ = ["generate", "run_sections"]


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
        result = compute_of(name)(ctx)
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
    )
    out_path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out_path, render_document(sections, info))
    log(f"[validate] wrote {out_path} in {total / 60:.1f} min")
    return out_path

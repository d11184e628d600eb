"""Provenance of a sweep: package versions, git revision, timestamps, the manifest."""

from __future__ import annotations

import platform
import subprocess
import sys
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import pandas as pd

from i4p_sim.config.experiment import Experiment

__all__ = ["finish_manifest", "git_revision", "new_manifest", "now", "versions"]

#: Packages whose versions the manifest records (when installed).
RECORDED_PACKAGES = (
    "i4p-sim",
    "numpy",
    "scipy",
    "pandas",
    "pyarrow",
    "mesa",
    "pydantic",
    "numba",
    "dask",
    "distributed",
    "plotly",
)
#: Seconds to wait for ``git``.
GIT_TIMEOUT_S = 5


def versions() -> dict[str, str]:
    """Python and the installed versions of :data:`RECORDED_PACKAGES`."""
    out = {"python": platform.python_version()}
    for pkg in RECORDED_PACKAGES:
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            pass
    return out


def git_revision() -> str | None:
    """The package source's git commit (``-dirty`` if tracked files changed), or None."""
    here = Path(__file__).resolve().parent
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_S,
        )
        if rev.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_S,
        )
        return rev.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def now() -> str:
    """The current UTC time, ISO 8601 to the second."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def new_manifest(exp: Experiment, started: str, previous: dict[str, Any]) -> dict[str, Any]:
    """The manifest of a sweep session that starts now (earlier sessions kept)."""
    return {
        "experiment": exp.name,
        "source": exp.source,
        "versions": versions(),
        "git_revision": git_revision(),
        "config": exp.resolved_config(),
        "config_hash": exp.config_hash(),
        "total_runs": exp.total_runs(),
        "started": started,
        "finished": None,
        "status": "running",
        "executor": None,
        "command": " ".join(sys.argv),
        "sessions": list(previous.get("sessions") or []),
    }


def finish_manifest(
    manifest: dict[str, Any],
    runs: pd.DataFrame,
    *,
    n_expected: int,
    interrupted: bool,
    executor: str,
    wall_s: float,
    ran: int,
    failed: int,
    skipped: int,
) -> dict[str, Any]:
    """Record the end of a session in ``manifest`` (in place) and return it."""
    manifest["finished"] = now()
    if interrupted:
        manifest["status"] = "interrupted"
    else:
        manifest["status"] = "complete" if len(runs) == n_expected else "partial"
    manifest["executor"] = manifest["executor"] or executor
    manifest["runs_ok"] = int((runs["status"] == "ok").sum()) if len(runs) else 0
    manifest["runs_failed"] = int((runs["status"] == "failed").sum()) if len(runs) else 0
    manifest["timings"] = {
        "wall_s": round(wall_s, 3),
        "runs_this_session": ran,
        "skipped_stored": skipped,
        "mean_run_wall_s": float(runs["wall_s"].mean()) if len(runs) else None,
        "sum_run_wall_s": float(runs["wall_s"].sum()) if len(runs) else None,
    }
    manifest["sessions"].append(
        {
            "started": manifest["started"],
            "finished": manifest["finished"],
            "executor": manifest["executor"],
            "ran": ran,
            "failed": failed,
            "wall_s": round(wall_s, 3),
            "interrupted": interrupted,
        }
    )
    return manifest

"""Provenance of a sweep: package versions, git revision, timestamps, the manifest."""

from __future__ import annotations

import platform
import shlex
import subprocess
import sys
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import pandas as pd

from i4p_sim.config.experiment import Experiment

__all__ = [
    "finish_manifest",
    "git_revision",
    "new_manifest",
    "now",
    "typed_command",
    "versions",
]

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


def typed_command(argv: list[str] | None = None) -> str:
    """The command as the user typed it, from ``sys.argv``: ``i4p sweep x.toml --steps 120``.

    ``python -m i4p_sim`` sets ``argv[0]`` to the path of ``i4p_sim/__main__.py`` (``-m
    i4p_sim.cli`` to that of ``cli.py``) and the console script to the path of ``bin/i4p``;
    each is written back as typed (``python -m i4p_sim``, ``python -m i4p_sim.validation``,
    ``python -m i4p_sim.cli``, ``i4p``). A script is ``python SCRIPT``; the arguments are
    quoted as a shell needs them.
    """
    argv = list(sys.argv if argv is None else argv) or ["python"]
    first = Path(argv[0])
    if first.suffix == ".py" and (first.parent / "__init__.py").exists():
        # python -m PACKAGE (argv[0] is its __main__.py) or python -m PACKAGE.MODULE
        parts = [] if first.name == "__main__.py" else [first.stem]
        folder = first.parent
        while (folder / "__init__.py").exists():
            parts.insert(0, folder.name)
            folder = folder.parent
        head = ["python", "-m", ".".join(parts)]
    elif first.suffix == ".py":
        head = ["python", argv[0]]
    elif argv[0] == "-c":
        head = ["python", "-c"]
    else:  # a console script (i4p, pytest): its name, as found on the PATH
        head = [first.name]
    return " ".join([*head, shlex.join(argv[1:])]).strip()


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
        "command": typed_command(),
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

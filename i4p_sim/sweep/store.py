"""The results store of one experiment: reading and writing, never running.

Layout (``results/<experiment>/`` or ``--out``)::

    manifest.json              versions, git revision, resolved config and its hash, timings
    runs.parquet               one row per run (assembled from runs/part-*.parquet)
    paired.parquet             paired resilience metrics (i4p_sim.sweep.pairing), after a sweep
    runs/part-*.parquet        chunks of run rows: one per finished batch, or one per run
                               (``part-run-<run_id>.parquet``, written by the worker itself)
    series/part-*.parquet      per-step measures (run_id, scenario, replicate, point, step, ...)
    branches.parquet           the fork map of a branching sweep: run_id, forked_from, forked_at
    snapshots/<run_id>.npz     float32 maps ``<layer>@<step>`` of the runs that keep them
    report.html                the plotly report (written by ``i4p sweep`` or ``i4p report``)
    .lock                      held (``flock``) by the sweep writing the directory; its pid
    .session                   the token of the sweep session writing the directory
    quarantine/                unreadable chunks moved aside on resume (their runs redone)

Every file is written through a temp file and ``os.replace``; a batch's series chunk and
snapshots are written before its run chunk (the commit), and a series chunk whose run
chunk is missing is discarded on resume, so a sweep killed at any point resumes without
duplicates. A worker that can see the directory (it holds the session's token) stores each
run as soon as it finishes (:meth:`Store.write_run`): chunks named by the run's id, so a
retried task rewrites the same files and every run is stored once.

This module imports neither the model nor the sweep driver: :mod:`i4p_sim.report` reads
the store through it.
"""

from __future__ import annotations

import io
import json
import os
import secrets
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from i4p_sim.config.errors import ConfigError
from i4p_sim.stats.metrics import RETIRED_KEYS, RUNS_SCHEMA, runs_columns
from i4p_sim.sweep.finite import json_dumps
from i4p_sim.sweep.storage import (
    atomic_write_bytes,
    atomic_write_parquet,
    atomic_write_text,
    fsync_dir,
)

__all__ = [
    "FORKS_FILE",
    "Store",
    "read_forks",
    "read_manifest",
    "read_runs",
    "read_series",
    "read_snapshots",
    "snapshot_path",
]

SNAPSHOT_DIR = "snapshots"
QUARANTINE_DIR = "quarantine"
_KEY_SEP = "@"
#: The chunk of one run, written by the worker that ran it (the name is the run's id).
RUN_PART = "part-run-{}.parquet"
#: Holds the token of the session writing the directory (workers compare theirs with it).
SESSION_FILE = ".session"
#: The fork map of the stored runs (:meth:`Store.assemble`).
FORKS_FILE = "branches.parquet"
#: Columns of the run chunks that runs.parquet leaves out.
CHUNK_ONLY = ("finished", "session", "forked_from", "forked_at")


def snapshot_path(results: str | Path, run_id: str) -> Path:
    """Where the snapshots of run ``run_id`` are stored."""
    return Path(results) / SNAPSHOT_DIR / f"{run_id}.npz"


def write_snapshots(
    results: str | Path, run_id: str, snapshots: dict[int, dict[str, np.ndarray]]
) -> Path:
    """Store one run's snapshots (step -> layer -> map) as float32 in one ``.npz``."""
    arrays = {
        f"{layer}{_KEY_SEP}{int(step)}": np.asarray(grid, dtype=np.float32)
        for step, layers in snapshots.items()
        for layer, grid in layers.items()
    }
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return atomic_write_bytes(snapshot_path(results, run_id), buf.getvalue())


def read_snapshots(results: str | Path, run_id: str) -> dict[int, dict[str, np.ndarray]]:
    """One run's stored snapshots: step -> layer -> (H, W) float32 map (``{}`` if none)."""
    path = snapshot_path(results, run_id)
    if not path.exists():
        return {}
    out: dict[int, dict[str, np.ndarray]] = {}
    with np.load(path, allow_pickle=False) as data:
        for key in data.files:
            layer, _, step = key.rpartition(_KEY_SEP)
            out.setdefault(int(step), {})[layer] = data[key]
    return dict(sorted(out.items()))


class Store:
    """The results directory of one experiment (see the module docstring)."""

    def __init__(self, root: str | Path, log: Callable[[str], None] | None = None) -> None:
        self.root = Path(root)
        self.runs_dir = self.root / "runs"
        self.series_dir = self.root / "series"
        self.snapshots_dir = self.root / SNAPSHOT_DIR
        self.quarantine_dir = self.root / QUARANTINE_DIR
        self.log = log or (lambda message: print(f"i4p: {message}", file=sys.stderr))
        self.last_runs: pd.DataFrame | None = None
        self._counter = 0

    def quarantine(self, part: Path, reason: str) -> Path:
        """Move an unreadable chunk aside into ``quarantine/`` (never deleted), log it."""
        self.quarantine_dir.mkdir(parents=True, exist_ok=True)
        target = self.quarantine_dir / f"{part.parent.name}-{part.name}"
        os.replace(part, target)
        fsync_dir(part.parent)
        fsync_dir(self.quarantine_dir)
        self.log(
            f"quarantined unreadable chunk {part} -> {target} ({reason}); its runs will be redone"
        )
        return target

    def _check_chunks(self) -> None:
        """Quarantine run and series chunks whose Parquet footer cannot be read (what a
        power loss or a full disk leaves); a run chunk goes with its series chunk and the
        other way round, so the runs are redone whole."""
        for part in sorted(self.runs_dir.glob("part-*.parquet")) + sorted(
            self.series_dir.glob("part-*.parquet")
        ):
            if not part.exists():
                continue
            try:
                meta = pq.read_metadata(part)
                if part.parent == self.runs_dir:
                    names = set(meta.schema.names)
                    if not {"run_id", "status"} <= names:
                        raise ValueError("missing run_id/status columns")
            except Exception as exc:  # noqa: BLE001 - ArrowInvalid, OSError, ValueError
                reason = " ".join(str(exc).split())[:200]
                partner = (
                    self.series_dir if part.parent == self.runs_dir else self.runs_dir
                ) / part.name
                self.quarantine(part, reason)
                if partner.exists():
                    self.quarantine(partner, f"goes with {part.name}")

    def clear(self) -> None:
        """Delete what a sweep wrote (and nothing else in the directory)."""
        for sub in (self.runs_dir, self.series_dir, self.snapshots_dir):
            if sub.exists():
                shutil.rmtree(sub)
        for name in ("runs.parquet", "paired.parquet", FORKS_FILE, "manifest.json", "report.html"):
            (self.root / name).unlink(missing_ok=True)

    def prepare(self) -> None:
        """Create the directories; drop orphan series chunks and stale temp files."""
        for d in (self.runs_dir, self.series_dir, self.snapshots_dir):
            d.mkdir(parents=True, exist_ok=True)
            for tmp in d.glob(".*.tmp"):
                tmp.unlink(missing_ok=True)
        self._check_chunks()
        runs_parts = {p.name for p in self.runs_dir.glob("part-*.parquet")}
        for part in self.series_dir.glob("part-*.parquet"):
            if part.name not in runs_parts:
                part.unlink(missing_ok=True)

    def _part_name(self) -> str:
        self._counter += 1
        return f"part-{time.time_ns():020d}-{os.getpid()}-{self._counter:06d}.parquet"

    def start_session(self) -> str:
        """A new session token, written to ``.session``: workers that read the same token
        there see this directory and store their runs themselves (:meth:`write_run`)."""
        token = secrets.token_hex(8)
        atomic_write_text(self.root / SESSION_FILE, token + "\n")
        return token

    def holds_session(self, token: str) -> bool:
        """Whether ``.session`` holds ``token`` (False on a machine that does not share
        the directory, or after another session started)."""
        try:
            return (self.root / SESSION_FILE).read_text().strip() == token
        except OSError:
            return False

    def write_batch(
        self,
        rows: list[dict[str, Any]],
        series: pd.DataFrame | None,
        snapshots: dict[str, dict[int, dict[str, np.ndarray]]] | None = None,
        forks: dict[str, list[Any]] | None = None,
        session: str = "",
    ) -> None:
        """Write one batch: its series chunk and snapshots first, then its run chunk (the
        commit). ``forks`` maps forked runs to [the run whose past they share, the step];
        nothing is written without rows."""
        if not rows:
            return
        self._write(self._part_name(), rows, series, snapshots, forks or {}, session)

    def write_run(
        self,
        row: dict[str, Any],
        series: pd.DataFrame | None,
        snapshots: dict[int, dict[str, np.ndarray]] | None,
        fork: list[Any] | None,
        session: str,
    ) -> None:
        """Store one finished run in chunks named by its id (a retry rewrites them)."""
        rid = row["run_id"]
        forks = {rid: fork} if fork is not None else {}
        name = RUN_PART.format(rid)
        self._write(name, [row], series, {rid: snapshots} if snapshots else None, forks, session)

    def _write(
        self,
        name: str,
        rows: list[dict[str, Any]],
        series: pd.DataFrame | None,
        snapshots: dict[str, dict[int, dict[str, np.ndarray]]] | None,
        forks: dict[str, list[Any]],
        session: str,
    ) -> None:
        if series is not None and len(series):
            atomic_write_parquet(self.series_dir / name, series)
        for rid, snaps in (snapshots or {}).items():
            write_snapshots(self.root, rid, snaps)
        frame = pd.DataFrame(rows)
        frame["error"] = frame["error"].astype(str)
        frame["finished"] = time.time_ns()
        frame["session"] = session
        fork = [forks.get(rid) for rid in frame["run_id"]]
        frame["forked_from"] = pd.Series([f[0] if f else None for f in fork], dtype=object)
        frame["forked_at"] = pd.Series([f[1] if f else -1 for f in fork], dtype="int64")
        atomic_write_parquet(self.runs_dir / name, frame)

    def stored_in_session(self, run_ids: list[str], session: str) -> dict[str, str]:
        """run_id -> status of the runs that a worker of ``session`` stored itself."""
        out: dict[str, str] = {}
        for rid in run_ids:
            path = self.runs_dir / RUN_PART.format(rid)
            if not path.exists():
                continue
            try:
                table = pq.read_table(path, columns=["session", "status"])
            except Exception:  # noqa: BLE001 - torn: not stored (quarantined on resume)
                continue
            if table.num_rows and table.column("session")[0].as_py() == session:
                out[rid] = table.column("status")[0].as_py()
        return out

    def stored_status(self) -> dict[str, str]:
        """run_id -> latest status over all run chunks."""
        status: dict[str, str] = {}
        for part in sorted(self.runs_dir.glob("part-*.parquet")):
            table = pq.read_table(part, columns=["run_id", "status"], use_threads=False)
            for rid, st in zip(
                table.column("run_id").to_pylist(), table.column("status").to_pylist(), strict=True
            ):
                status[rid] = st
        return status

    def assemble(self, expected: set[str] | None = None) -> pd.DataFrame:
        """Assemble runs.parquet from the chunks (latest row per run id wins), with the
        columns and dtypes of :data:`~i4p_sim.stats.metrics.RUNS_SCHEMA`."""
        parts = sorted(self.runs_dir.glob("part-*.parquet"))
        if parts:
            frame = _read_parts(parts).to_pandas()
            frame = frame.sort_values("finished", kind="stable")
            frame = frame.drop_duplicates("run_id", keep="last")
            if expected is not None:
                frame = frame[frame["run_id"].isin(expected)]
            self._write_forks(frame)
            frame = frame.drop(columns=[k for k in (*CHUNK_ONLY, *RETIRED_KEYS) if k in frame])
            params = [c for c in frame.columns if c not in RUNS_SCHEMA]
            frame = frame[runs_columns(params)].astype(RUNS_SCHEMA)
            frame = frame.sort_values(["replicate", "point", "scenario"], kind="stable")
            frame = frame.reset_index(drop=True)
        else:
            frame = pd.DataFrame({c: pd.Series(dtype=t) for c, t in RUNS_SCHEMA.items()})
        atomic_write_parquet(self.root / "runs.parquet", frame)
        return frame

    def _write_forks(self, frame: pd.DataFrame) -> None:
        """``branches.parquet``: the stored runs that were forked (latest row per run)."""
        if "forked_from" in frame:
            forked = frame[frame["forked_from"].notna()]
            forks = pd.DataFrame(
                {
                    "run_id": forked["run_id"].astype(str),
                    "forked_from": forked["forked_from"].astype(str),
                    "forked_at": forked["forked_at"].astype("int64"),
                }
            ).reset_index(drop=True)
        else:
            forks = pd.DataFrame(
                {
                    "run_id": pd.Series(dtype=str),
                    "forked_from": pd.Series(dtype=str),
                    "forked_at": pd.Series(dtype="int64"),
                }
            )
        atomic_write_parquet(self.root / FORKS_FILE, forks)

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        """Write manifest.json atomically."""
        atomic_write_text(self.root / "manifest.json", _manifest_text(manifest))

    def write_manifest_final(self, manifest: dict[str, Any]) -> None:
        """Write the closing manifest; if the atomic write fails (disk full), overwrite the
        existing file in place so it never stays at "running"."""
        try:
            self.write_manifest(manifest)
            return
        except OSError as exc:
            first = exc
        path = self.root / "manifest.json"
        small = {
            k: manifest.get(k)
            for k in ("experiment", "status", "started", "finished", "error", "config_hash")
        }
        small["note"] = f"short manifest: the full one could not be written ({first.strerror})"
        try:
            with open(path, "r+b") as fh:
                data = (json.dumps(small) + "\n").encode()
                fh.seek(0)
                fh.write(data)
                fh.truncate(len(data))
                fh.flush()
                os.fsync(fh.fileno())
        except OSError:
            raise first from None


def _manifest_text(manifest: dict[str, Any]) -> str:
    return json_dumps(manifest, indent=2, default=str) + "\n"


def read_runs(results: str | Path) -> pd.DataFrame:
    """Read ``runs.parquet`` of a results directory (ConfigError if it is not one)."""
    root = Path(results)
    path = root / "runs.parquet"
    if not root.is_dir():
        raise ConfigError(str(root), "", "not a directory; expected a sweep's results directory")
    if not path.exists():
        raise ConfigError(str(root), "runs.parquet", "not found; run 'i4p sweep' first")
    try:
        return pd.read_parquet(path)
    except Exception as exc:  # noqa: BLE001 - ArrowInvalid, OSError: a torn file
        raise ConfigError(
            str(root),
            "runs.parquet",
            f"unreadable ({' '.join(str(exc).split())[:120]}); rerun the same 'i4p sweep' "
            "to reassemble it from the stored chunks",
        ) from None


def read_series(results: str | Path, columns: list[str], run_ids: list[str]) -> pd.DataFrame:
    """``columns`` of the stored series of ``run_ids``, read one chunk at a time.

    A dataset scan over many chunks (one per run when the workers store their runs) holds
    read-ahead buffers per chunk: the driver's memory would grow with the runs.
    """
    parts = sorted((Path(results) / "series").glob("part-*.parquet"))
    wanted = pa.array(sorted(set(run_ids)), type=pa.string())
    table = _read_parts(parts, columns, wanted) if len(wanted) and parts else None
    if table is None or not table.num_rows:
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in columns})
    return table.to_pandas()


#: Chunk files read before their tables are combined into one (a table per file costs
#: tens of kilobytes of buffers and metadata, whatever its rows).
COMBINE_EVERY = 64


def _read_parts(
    parts: list[Path], columns: list[str] | None = None, run_ids: pa.Array | None = None
) -> pa.Table:
    """The chunks as one Arrow table (rows of ``run_ids`` only, if given), read one at a
    time and combined every :data:`COMBINE_EVERY`, so memory follows the rows, not the
    number of files; columns missing from some chunks are null there."""
    combined: list[pa.Table] = []
    pending: list[pa.Table] = []

    def combine() -> None:
        table = pa.concat_tables(pending, promote_options="permissive")
        combined.append(table.combine_chunks())
        pending.clear()

    for part in parts:
        table = pq.read_table(part, columns=columns, use_threads=False)
        table = table.replace_schema_metadata(None)
        if run_ids is not None:
            table = table.filter(pc.is_in(table["run_id"], value_set=run_ids))
        pending.append(table)
        if len(pending) >= COMBINE_EVERY:
            combine()
    if pending:
        combine()
    return pa.concat_tables(combined, promote_options="permissive")


def read_forks(results: str | Path) -> dict[str, tuple[str, int]]:
    """The fork map of a results directory: run_id -> (the run whose computed past it
    shares, the step it was forked at); ``{}`` without branching."""
    path = Path(results) / FORKS_FILE
    if not path.exists():
        return {}
    frame = pd.read_parquet(path)
    return {
        r: (f, int(a))
        for r, f, a in zip(frame["run_id"], frame["forked_from"], frame["forked_at"], strict=True)
    }


def read_manifest(results: str | Path) -> dict[str, Any]:
    """Read ``manifest.json`` of a results directory (``{}`` if missing)."""
    path = Path(results) / "manifest.json"
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(str(path), "", f"unreadable manifest: {exc}") from None

"""The sweep driver: :func:`run_experiment` runs an experiment into a resumable store.

Runs are listed lazily (:func:`~i4p_sim.sweep.spec.iter_runs`), grouped in batches, run on
an executor (:mod:`~i4p_sim.sweep.executors`) by :func:`~i4p_sim.sweep.worker.run_batch`
and written batch by batch into the :class:`~i4p_sim.sweep.store.Store`; runs already
stored are skipped, so a killed sweep resumes where it stopped. A second sweep into a
directory that a running sweep holds stops with a one-line error instead of clearing the
other's temp files and chunks. The report is written by the ``i4p sweep`` command, not
here.
"""

from __future__ import annotations

import concurrent.futures as cf
import itertools
import math
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from i4p_sim.config.errors import ConfigError
from i4p_sim.config.experiment import Experiment, load_experiment
from i4p_sim.sweep.executors import make_executor
from i4p_sim.sweep.manifest import finish_manifest, new_manifest, now
from i4p_sim.sweep.spec import RunSpec, iter_runs
from i4p_sim.sweep.storage import directory_lock
from i4p_sim.sweep.store import Store, read_manifest
from i4p_sim.sweep.worker import run_batch

__all__ = ["SweepResult", "run_experiment"]

#: Work per task worth its overhead: ~0.3 s of model time (a 64x64, 240-step run is ~1M
#: cell-steps).
CELL_STEPS_PER_TASK = 4_000_000
#: At most this many runs per task.
MAX_BATCH = 16
#: Aim for at least this many tasks per worker, so long runs leave no worker idle at the end.
TASKS_PER_SLOT = 6
#: Tasks in flight per executor slot.
IN_FLIGHT_PER_SLOT = 2
#: Seconds between rewrites of runs.parquet during a sweep.
ASSEMBLE_EVERY_S = 30


@dataclass
class SweepResult:
    """What :func:`run_experiment` returns."""

    experiment: Experiment
    out: Path
    runs: pd.DataFrame
    ran: int
    skipped: int
    failed: int
    wall_s: float


def default_results_dir(name: str, base: str | Path = "results") -> Path:
    """``results/<name>``, refused (one line) if it resolves outside ``results/``.

    The name pattern already keeps ``..`` and separators out; this also catches a symlink
    under ``results/`` that points elsewhere (a sweep clears its own subdirectories).
    """
    base = Path(base)
    root = base / name
    try:
        inside = root.resolve().is_relative_to(base.resolve()) and root.resolve() != base.resolve()
    except (OSError, RuntimeError) as exc:
        raise ConfigError(str(root), "", f"cannot resolve the path: {exc}") from None
    if not inside:
        raise ConfigError(
            str(root), "", "resolves outside results/; rename the experiment or give --out"
        )
    return root


def _batch_size(first: RunSpec | None, n_pending: int, slots: int) -> int:
    """Runs per task: enough to amortise a task's overhead on tiny runs, never so many that
    long runs leave a worker idle at the end."""
    by_count = math.ceil(n_pending / (slots * TASKS_PER_SLOT))
    if first is None:
        return max(1, min(MAX_BATCH, by_count))
    sc = first.scenario
    cell_steps = sc.grid.width * sc.grid.height * sc.steps
    by_cost = math.ceil(CELL_STEPS_PER_TASK / max(cell_steps, 1))
    return max(1, min(MAX_BATCH, by_count, by_cost))


def _batches(specs: Iterator[RunSpec], size: int) -> Iterator[list[RunSpec]]:
    while True:
        batch = list(itertools.islice(specs, size))
        if not batch:
            return
        yield batch


def _progress(total: int, desc: str) -> Any:
    from tqdm.auto import tqdm  # lazy: only a sweep with a progress bar needs it

    return tqdm(
        total=total,
        desc=desc,
        unit="run",
        disable=not sys.stderr.isatty(),
        dynamic_ncols=True,
    )


def run_experiment(
    experiment: str | Path | Experiment,
    *,
    out: str | Path | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    dask_local: int | None = None,
    replicates: int | None = None,
    steps: int | None = None,
    fresh: bool = False,
    retry_failed: bool = False,
    batch_size: int | None = None,
    progress: bool = True,
) -> SweepResult:
    """Run an experiment into a resumable results store.

    Parameters
    ----------
    experiment : str, Path or Experiment
        An experiment file or a loaded :class:`~i4p_sim.config.experiment.Experiment`.
    out : str or Path, optional
        Results directory (default ``results/<name>``).
    workers : int, optional
        Local worker processes (default: CPU count).
    scheduler : str, optional
        Dask scheduler address.
    dask_local : int, optional
        Start a Dask LocalCluster of this many workers.
    replicates, steps : int, optional
        Override the file's values (files only).
    fresh : bool
        Discard stored runs first.
    retry_failed : bool
        Rerun only the runs stored as failed.
    batch_size : int, optional
        Runs per task (default: automatic, so each worker gets several tasks).
    progress : bool
        Show a tqdm bar (only when stderr is a terminal).

    Returns
    -------
    SweepResult
        The assembled runs table and counts. No report is written (``i4p sweep`` and
        ``i4p report`` write it, with :func:`i4p_sim.report.html.write_report`).

    Raises
    ------
    ConfigError
        For a bad experiment, or when another sweep is writing the same directory.
    """
    if isinstance(experiment, Experiment):
        exp = experiment
    else:
        exp = load_experiment(experiment, replicates=replicates, steps=steps)
    root = Path(out) if out is not None else default_results_dir(exp.name)
    if root.exists() and not root.is_dir():
        raise ConfigError(str(root), "", "exists and is not a directory")
    # one sweep per directory: a second one would delete this one's files in flight
    with directory_lock(root):
        return _run_locked(
            exp, root, workers, scheduler, dask_local, fresh, retry_failed, batch_size, progress
        )


def _run_locked(
    exp: Experiment,
    root: Path,
    workers: int | None,
    scheduler: str | None,
    dask_local: int | None,
    fresh: bool,
    retry_failed: bool,
    batch_size: int | None,
    progress: bool,
) -> SweepResult:
    store = Store(root)
    if fresh:
        store.clear()
    store.prepare()

    t_start = time.perf_counter()
    started = now()
    status = store.stored_status()
    expected: set[str] = set()
    n_pending = n_skipped = 0
    for spec in iter_runs(exp):
        expected.add(spec.run_id)
        st = status.get(spec.run_id)
        if st is None or (retry_failed and st == "failed"):
            n_pending += 1
        else:
            n_skipped += 1
    del status

    def pending() -> Iterator[RunSpec]:
        st = store.stored_status() if n_skipped else {}
        for spec in iter_runs(exp):
            s = st.get(spec.run_id)
            if s is None or (retry_failed and s == "failed"):
                yield spec

    manifest = new_manifest(exp, started, read_manifest(root))
    ran = failed = 0
    executor_desc = "none (nothing to run)"
    interrupted = False
    try:
        if n_pending:
            with make_executor(workers, scheduler, dask_local) as (executor, desc, slots):
                executor_desc = desc
                manifest["executor"] = desc
                store.write_manifest(manifest)
                size = batch_size or _batch_size(next(iter_runs(exp), None), n_pending, slots)
                batches = _batches(pending(), size)
                in_flight: set[cf.Future] = set()
                last_assemble = time.monotonic()
                bar = _progress(n_pending, exp.name) if progress else None
                try:
                    while True:
                        while len(in_flight) < slots * IN_FLIGHT_PER_SLOT:
                            batch = next(batches, None)
                            if batch is None:
                                break
                            in_flight.add(executor.submit(run_batch, batch))
                        if not in_flight:
                            break
                        done, in_flight = cf.wait(in_flight, return_when=cf.FIRST_COMPLETED)
                        for fut in done:
                            rows, series, snapshots = fut.result()
                            store.write_batch(rows, series, snapshots)
                            del series, snapshots
                            ran += len(rows)
                            failed += sum(r["status"] == "failed" for r in rows)
                            if bar is not None:
                                bar.update(len(rows))
                        if time.monotonic() - last_assemble > ASSEMBLE_EVERY_S:
                            store.assemble(expected)
                            last_assemble = time.monotonic()
                except KeyboardInterrupt:
                    interrupted = True
                    for fut in in_flight:
                        fut.cancel()
                    raise
                finally:
                    if bar is not None:
                        bar.close()
    finally:
        runs = store.assemble(expected)
        wall = time.perf_counter() - t_start
        finish_manifest(
            manifest,
            runs,
            n_expected=len(expected),
            interrupted=interrupted,
            executor=executor_desc,
            wall_s=wall,
            ran=ran,
            failed=failed,
            skipped=n_skipped,
        )
        store.write_manifest(manifest)
    return SweepResult(exp, root, runs, ran, n_skipped, failed, time.perf_counter() - t_start)

"""The sweep driver: :func:`run_experiment` runs an experiment into a resumable store.

Runs are listed lazily (:func:`~i4p_sim.sweep.spec.iter_runs`), grouped in batches and run
on an executor (:mod:`~i4p_sim.sweep.executors`) by :func:`~i4p_sim.sweep.worker.run_task`;
each worker that sees the :class:`~i4p_sim.sweep.store.Store` (its session token) stores
every run as soon as it finishes, the driver writes the results of the others batch by
batch. Runs already stored are skipped, so a killed sweep resumes where it stopped. By
default a task is one or more whole prefix trees (:mod:`~i4p_sim.sweep.branching`): runs of
a seed that share their past compute it once; ``branch=False`` (``--no-branch``) runs every
run from step 0. A second sweep into a directory that a running sweep holds stops with a
one-line error instead of clearing the other's temp files and chunks. The report is written
by the ``i4p sweep`` command, not here.
"""

from __future__ import annotations

import collections
import concurrent.futures as cf
import contextlib
import itertools
import math
import os
import shutil
import signal
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from i4p_sim.config.errors import ConfigError, RunFailed
from i4p_sim.config.experiment import Experiment, load_experiment
from i4p_sim.config.limits import check_grid_memory
from i4p_sim.sim.kernels import require_kernels
from i4p_sim.sweep.branching import add_branches, branch_record, tree_batches
from i4p_sim.sweep.executors import make_executor, start_fork_server
from i4p_sim.sweep.manifest import finish_manifest, new_manifest, now
from i4p_sim.sweep.pairing import write_paired
from i4p_sim.sweep.progress import EVERY_S, make_progress
from i4p_sim.sweep.spec import RunSpec, iter_runs
from i4p_sim.sweep.storage import directory_lock, probe_writable
from i4p_sim.sweep.store import Store, read_manifest
from i4p_sim.sweep.worker import failed_rows, lost_rows, run_task

__all__ = [
    "SweepInterrupted",
    "SweepResult",
    "default_results_dir",
    "interrupted_error",
    "run_experiment",
]

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
#: A run that its worker process died running this many times (alone on the pool) is
#: recorded as failed.
MAX_WORKER_DEATHS = 2
#: Fresh pools started in one sweep before it stops.
MAX_POOL_RESTARTS = 20


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
    paired: pd.DataFrame | None = None


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
    branch: bool = True,
    manifest_extra: dict[str, Any] | None = None,
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
        Override the file's values (files only); reference and heat-map steps past the
        ``steps`` horizon are clamped (a note on stderr), a shock past it is an error.
    fresh : bool
        Discard stored runs first.
    retry_failed : bool
        Rerun only the runs stored as failed.
    batch_size : int, optional
        Runs per task (default: automatic, so each worker gets several tasks).
    progress : bool
        Show progress on stderr: a tqdm bar on a terminal, else a line every ~10 s or 10%
        of the runs (:mod:`~i4p_sim.sweep.progress`).
    branch : bool
        Run each seed's shared past once and fork it (:mod:`~i4p_sim.sweep.branching`);
        results are those of independent runs. The manifest records which runs were
        forked from which (``branching``).
    manifest_extra : dict, optional
        Keys added to the manifest (``i4p sweep``: ``maps``, each scenario's georeference
        and named regions).

    Returns
    -------
    SweepResult
        The assembled runs table and counts. No report is written (``i4p sweep`` and
        ``i4p report`` write it, with :func:`i4p_sim.report.html.write_report`).

    Raises
    ------
    ConfigError
        For a bad experiment (a shock past the horizon, the numba kernel without numba),
        or when another sweep is writing the same directory.
    SweepInterrupted
        Ctrl-C or SIGTERM: one line on how many runs are stored and that rerunning the
        same command resumes (the CLI exits 130, or 143 after SIGTERM).
    """
    if not (scheduler or dask_local):
        start_fork_server()  # its imports overlap the loading below
    if isinstance(experiment, Experiment):
        exp = experiment
    else:
        exp = load_experiment(experiment, replicates=replicates, steps=steps)
    for note in exp.notes:  # reference or heat-map steps clamped to a --steps horizon
        _log(f"note: {note}")
    # numba missing: one line with the install command, not every run stored as failed
    require_kernels([*exp.scenarios.values(), *exp.at_points.values()], exp.source)
    root = Path(out) if out is not None else default_results_dir(exp.name)
    if root.exists() and not root.is_dir():
        raise ConfigError(str(root), "", "exists and is not a directory")
    # the models of every worker at once must fit, and the directory must be writable,
    # before anything runs
    n_slots = dask_local or (1 if scheduler else (workers or os.cpu_count() or 1))
    check_grid_memory(exp.largest_cells(), exp.source, copies=n_slots, field="grid")
    existed = root.exists()
    probe_writable(root, "--out" if out is not None else "results directory")
    try:
        # one sweep per directory: a second one would delete this one's files in flight
        with directory_lock(root), _terminate_as_interrupt():
            return _run_locked(
                exp,
                root,
                workers,
                scheduler,
                dask_local,
                fresh,
                retry_failed,
                batch_size,
                progress,
                branch,
                manifest_extra,
            )
    except BaseException:
        # an unreachable scheduler (or any failure before a run was stored) leaves nothing
        if not existed and not any((root / "runs").glob("part-*.parquet")):
            shutil.rmtree(root, ignore_errors=True)
        raise


class SweepInterrupted(RunFailed):
    """Ctrl-C or SIGTERM during a sweep: what is stored and that rerunning resumes."""

    exit_code = 130


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so a sweep stops like on Ctrl-C."""


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """Handle SIGTERM like SIGINT while a sweep runs (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise _Terminated()

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def interrupted_error(root: Path, error: BaseException | None, what: str) -> SweepInterrupted:
    """The one-line error of an interrupted sweep: exit 130 on Ctrl-C, 143 on SIGTERM."""
    how = "terminated (SIGTERM)" if isinstance(error, _Terminated) else "interrupted"
    exc = SweepInterrupted(str(root), "", f"{how}; {what}")
    if isinstance(error, _Terminated):
        exc.exit_code = 128 + signal.SIGTERM
    return exc


@contextlib.contextmanager
def _interrupts_deferred() -> Iterator[None]:
    """Ignore Ctrl-C while the store and the manifest are closed (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _log(message: str) -> None:
    print(f"i4p: {message}", file=sys.stderr, flush=True)


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
    branch: bool = True,
    manifest_extra: dict[str, Any] | None = None,
) -> SweepResult:
    store = Store(root, log=_log)
    if fresh:
        store.clear()
    store.prepare()
    session = store.start_session()
    where = (str(root.resolve()), session)

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

    try:
        previous = read_manifest(root)
    except ConfigError as err:  # a torn manifest: start a new history, say so
        _log(f"{err.one_line()}; starting a new manifest")
        previous = {}
    manifest = new_manifest(exp, started, previous)
    manifest["branching"] = branching = branch_record(previous, branch)
    manifest.update(manifest_extra or {})
    ran = failed = 0
    executor_desc = "none (nothing to run)"
    interrupted = False
    error: BaseException | None = None
    try:
        if n_pending:
            with make_executor(workers, scheduler, dask_local) as (executor, desc, slots):
                executor_desc = desc
                manifest["executor"] = desc
                store.write_manifest(manifest)
                size = batch_size or _batch_size(next(iter_runs(exp), None), n_pending, slots)
                batches = tree_batches(pending(), size) if branch else _batches(pending(), size)
                in_flight: dict[cf.Future, list[RunSpec]] = {}
                # runs of batches lost with a dead worker: rerun one at a time, alone, so a
                # run that kills its worker is found and recorded as failed
                suspects: collections.deque[list[RunSpec]] = collections.deque()
                deaths: dict[str, int] = {}
                last_assemble = time.monotonic()
                bar = (
                    make_progress(exp.name, n_pending, n_skipped, len(expected))
                    if progress
                    else None
                )

                def record(rows, series, snapshots, info=None, batch=()) -> None:
                    forks = info["branches"] if info is not None else None
                    store.write_batch(rows, series, snapshots, forks, session)
                    statuses = [r["status"] for r in rows]
                    if info is not None:
                        add_branches(branching, info, batch)
                        statuses += list(info.get("stored", {}).values())
                    count(statuses)

                def count(statuses: list[str]) -> None:
                    nonlocal ran, failed
                    ran += len(statuses)
                    failed += sum(st == "failed" for st in statuses)
                    if bar is not None:
                        bar.update(len(statuses))

                def unstored(batch: list[RunSpec]) -> list[RunSpec]:
                    """The runs of a lost task that its worker did not store (the others
                    are counted): only these are rerun or recorded as failed."""
                    done = store.stored_in_session([s.run_id for s in batch], session)
                    count(list(done.values()))
                    return [s for s in batch if s.run_id not in done]

                try:
                    while True:
                        if suspects:
                            if not in_flight:
                                batch = suspects.popleft()
                                in_flight[executor.submit(run_task, batch, branch, where)] = batch
                        else:
                            while len(in_flight) < slots * IN_FLIGHT_PER_SLOT:
                                batch = next(batches, None)
                                if batch is None:
                                    break
                                in_flight[executor.submit(run_task, batch, branch, where)] = batch
                        if not in_flight:
                            break
                        done, _ = cf.wait(
                            in_flight, timeout=EVERY_S, return_when=cf.FIRST_COMPLETED
                        )
                        if not done and bar is not None:
                            bar.update(0)  # a progress line every ~10 s, even between runs
                        lost: list[list[RunSpec]] = []
                        for fut in done:
                            batch = in_flight.pop(fut)
                            try:
                                rows, series, snapshots, info = fut.result()
                            except BrokenProcessPool:
                                lost.append(batch)
                                continue
                            except Exception as exc:  # noqa: BLE001 - e.g. Dask's KilledWorker
                                error = f"{type(exc).__name__}: {exc}"[:2000]
                                # the steps the failed attempt computed (run_task sets it)
                                steps = getattr(exc, "steps_computed", 0)
                                branching["steps_computed"] += int(steps or 0)
                                record(failed_rows(unstored(batch), error), None, None)
                                continue
                            record(rows, series, snapshots, info, batch)
                            del series, snapshots
                        if lost:
                            # every task in flight died with the pool: rerun the runs their
                            # workers had not stored
                            lost.extend(in_flight.values())
                            in_flight.clear()
                            alone = len(lost) == 1 and len(lost[0]) == 1
                            lost = [b for b in map(unstored, lost) if b]
                            if not hasattr(executor, "restart"):
                                raise RunFailed(exp.source, "", "the worker pool broke")
                            executor.restart()
                            _log(
                                f"a worker process died; {sum(map(len, lost))} run(s) resubmitted "
                                f"on a fresh pool (restart {executor.restarts})"
                            )
                            for batch in lost:
                                if alone:  # this run was alone on the pool: it killed it
                                    rid = batch[0].run_id
                                    deaths[rid] = deaths.get(rid, 0) + 1
                                    if deaths[rid] >= MAX_WORKER_DEATHS:
                                        record(lost_rows(batch, deaths[rid]), None, None)
                                        continue
                                    suspects.appendleft(batch)
                                else:
                                    suspects.extend([spec] for spec in batch)
                            if executor.restarts > MAX_POOL_RESTARTS:
                                raise RunFailed(
                                    exp.source,
                                    "",
                                    f"worker processes died {executor.restarts} times; "
                                    "stopping (see the machine's memory and logs)",
                                )
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
    except KeyboardInterrupt as exc:
        interrupted = True
        error = exc
    except BaseException as exc:
        error = exc
        raise
    finally:
        with _interrupts_deferred():  # a second Ctrl-C does not tear the manifest
            _finish(
                store,
                manifest,
                expected,
                interrupted=interrupted,
                error=error,
                executor_desc=executor_desc,
                wall=time.perf_counter() - t_start,
                ran=ran,
                failed=failed,
                skipped=n_skipped,
            )
    if interrupted:
        stored = manifest.get("runs_ok", 0) + manifest.get("runs_failed", 0)
        raise interrupted_error(
            root,
            error,
            f"{stored} of {len(expected)} runs stored; rerun the same command to resume",
        ) from None
    runs = store.last_runs
    # paired metrics from the stored series (also on resume): paired.parquet
    try:
        paired = write_paired(root, exp, runs)
    except KeyboardInterrupt as exc:
        raise interrupted_error(
            root,
            exc,
            f"while writing paired.parquet; all {len(runs)} runs are stored; rerun the same "
            "command to finish",
        ) from None
    wall = time.perf_counter() - t_start
    return SweepResult(exp, root, runs, ran, n_skipped, failed, wall, paired)


def _finish(
    store: Store,
    manifest: dict[str, Any],
    expected: set[str],
    *,
    interrupted: bool,
    error: BaseException | None,
    executor_desc: str,
    wall: float,
    ran: int,
    failed: int,
    skipped: int,
) -> None:
    """Assemble runs.parquet and close the manifest: "interrupted" or "failed" after any
    error, never left at "running" (falls back to rewriting the manifest in place when the
    disk is full)."""
    import pandas as pd

    try:
        runs = store.assemble(expected)
    except Exception as exc:  # noqa: BLE001 - the manifest must still be closed
        _log(f"could not assemble runs.parquet: {exc}")
        runs = pd.DataFrame({"status": pd.Series(dtype=str), "wall_s": pd.Series(dtype=float)})
        if error is None:
            error = exc
    store.last_runs = runs
    finish_manifest(
        manifest,
        runs,
        n_expected=len(expected),
        interrupted=interrupted,
        executor=executor_desc,
        wall_s=wall,
        ran=ran,
        failed=failed,
        skipped=skipped,
    )
    if error is not None and not interrupted:
        manifest["status"] = "failed"
        manifest["error"] = " ".join(str(error).split())[:500] or type(error).__name__
    store.write_manifest_final(manifest)

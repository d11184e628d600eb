"""The sweep worker: runs a task of :class:`~i4p_sim.sweep.spec.RunSpec` through
:class:`~i4p_sim.sim.simulation.Simulation`; with branching
(:mod:`~i4p_sim.sweep.branching`), each prefix tree's shared past runs once and is forked by
snapshot and restore. Given the results directory and its session token (and when it sees
the same token there), the worker stores each run as soon as it finishes
(:meth:`~i4p_sim.sweep.store.Store.write_run`, in a writer thread, so that the ``fsync``
waits overlap the next run's compute; the task returns only once every run is stored), so
a killed task loses no finished run, and skips the runs its session already stored, so a
retried task computes only the prefixes of the others; a task whose session has ended (another sweep took the directory over after
its driver was killed) stops at its next run (:class:`SessionEnded`). A worker that does
not see the directory returns rows, series and snapshots to the driver.

Test hook: the environment variable ``I4P_FAIL_SCENARIO`` (comma-separated scenario
names), read here, makes runs of those scenarios raise ``RuntimeError`` before the model
is built. It exists to test failure isolation and ``--retry-failed``; it does not touch
the model, and it is not part of any run's id. Two more hooks test dead workers:
``I4P_KILL_SCENARIO`` (names) makes the worker process kill itself (``SIGKILL``) on runs of
those scenarios, and ``I4P_KILL_ONCE`` (a file path) makes the first run that finds the
file missing create it and kill its worker, once. ``I4P_FAULT_ONCE`` (``raise:N:PATH``
or ``kill:N:PATH``) makes a task that has stored N runs itself raise
:class:`TaskFault` (out of the task) or kill its worker, if it can create the file PATH
(once per sweep); ``I4P_LEAF_DELAY_S`` makes a worker sleep that long after each run it
stores (to interrupt a sweep mid-tree).
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import threading
import time
import traceback
from typing import Any

import numpy as np
import pandas as pd

from i4p_sim.config.twins import NULL_RESEED_KEY
from i4p_sim.core.field import warm_up
from i4p_sim.sim.simulation import SNAPSHOT_LAYERS, Simulation
from i4p_sim.stats.metrics import SUMMARY_KEYS, summary_metrics
from i4p_sim.sweep.branching import Node, plan, trees
from i4p_sim.sweep.executors import limit_threads
from i4p_sim.sweep.finite import NonFiniteState, check_finite
from i4p_sim.sweep.spec import RunSpec
from i4p_sim.sweep.store import Store

__all__ = [
    "FAIL_ENV",
    "FAULT_ENV",
    "Snapshots",
    "SessionEnded",
    "StoreFailed",
    "TaskAborted",
    "TaskFault",
    "failed_rows",
    "lost_rows",
    "run_batch",
    "run_task",
]

FAIL_ENV = "I4P_FAIL_SCENARIO"
KILL_ENV = "I4P_KILL_SCENARIO"
KILL_ONCE_ENV = "I4P_KILL_ONCE"
FAULT_ENV = "I4P_FAULT_ONCE"
DELAY_ENV = "I4P_LEAF_DELAY_S"
#: Finished runs that wait for a task's writer thread before the next run waits in turn.
WRITE_QUEUE = 2

#: Where a task stores its runs itself: (results directory, session token).
StoreRef = tuple[str, str]

#: run_id -> step -> layer -> (H, W) float32 map.
Snapshots = dict[str, dict[int, dict[str, np.ndarray]]]


def _failing(env: str = FAIL_ENV) -> set[str]:
    return {s.strip() for s in os.environ.get(env, "").split(",") if s.strip()}


def _maybe_kill(name: str) -> None:
    """The dead-worker test hooks (see the module docstring)."""
    if name in _failing(KILL_ENV):
        os.kill(os.getpid(), signal.SIGKILL)
    marker = os.environ.get(KILL_ONCE_ENV)
    if marker:
        try:
            fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return
        os.close(fd)
        os.kill(os.getpid(), signal.SIGKILL)


class TaskAborted(RuntimeError):
    """Ends a task at once (never recorded as a failed run)."""


class TaskFault(TaskAborted):
    """Raised out of a task by the ``I4P_FAULT_ONCE`` test hook."""


class SessionEnded(TaskAborted):
    """The results directory holds another session's token: the sweep that started this
    task is gone (killed) and another one writes there; the task stops storing runs."""


class StoreFailed(TaskAborted):
    """Storing a finished run failed (a full disk): the task stops, and the driver records
    its runs that are not stored as failed with this error."""


def _fault_after(stored: int) -> None:
    """The ``I4P_FAULT_ONCE`` and ``I4P_LEAF_DELAY_S`` test hooks (module docstring)."""
    delay = float(os.environ.get(DELAY_ENV) or 0)
    if delay > 0:
        time.sleep(delay)
    how, _, rest = (os.environ.get(FAULT_ENV) or "").partition(":")
    after, _, marker = rest.partition(":")
    if not marker or stored != int(after):
        return
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return
    if how == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    raise TaskFault(f"{FAULT_ENV} test hook: the task fails after storing {stored} run(s)")


def _open_store(ref: StoreRef | None) -> Store | None:
    """The results store if this worker sees it with the session's token, else None."""
    if ref is None:
        return None
    store = Store(ref[0])
    return store if store.holds_session(ref[1]) else None


def run_batch(
    specs: list[RunSpec],
) -> tuple[list[dict[str, Any]], pd.DataFrame | None, Snapshots]:
    """Run a batch of runs in a worker, each from step 0 (no branching).

    Parameters
    ----------
    specs : list of RunSpec
        The runs.

    Returns
    -------
    rows : list of dict
        One row per run (ids, parameters, summary metrics, status, error, wall_s).
    series : pandas.DataFrame or None
        Per-step measures of the ok runs, keyed by run_id, scenario, replicate, point, step.
    snapshots : dict
        run_id -> step -> layer (tension, violence) -> float32 map, for the ok runs whose
        spec asks for snapshots.
    """
    rows, series, snapshots, _ = run_task(specs, branch=False)
    return rows, series, snapshots


class _Writer:
    """Stores a task's finished runs in a thread, in the order they finish, each as
    :meth:`~i4p_sim.sweep.store.Store.write_run` does (a temp file, its ``fsync``,
    ``os.replace``, the directory's ``fsync``): the waits on the disk overlap the next runs'
    compute instead of adding to it. A task returns (reports its runs to the driver) only
    after :meth:`close` has stored them all. An error, or a test hook, stops the writer: it
    stores nothing more, and the error is raised in the task at its next run or at close.
    """

    def __init__(self, out: _Out) -> None:
        self.out = out
        self.queue: queue.Queue[tuple[Any, ...] | None] = queue.Queue(maxsize=WRITE_QUEUE)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._loop, name="i4p-store", daemon=True)
        self.thread.start()

    def put(self, item: tuple[Any, ...]) -> None:
        if self.error is not None:
            raise self.error
        self.queue.put(item)

    def _loop(self) -> None:
        while (item := self.queue.get()) is not None:
            if self.error is not None:
                continue  # stopped: nothing more is stored
            try:
                self.out.store_run(*item)
            except TaskAborted as exc:
                self.error = exc
            except BaseException as exc:  # noqa: BLE001 - raised in the task
                what = " ".join(f"{type(exc).__name__}: {exc}".split())[:500]
                self.error = StoreFailed(f"storing run {item[0]['run_id']} failed: {what}")

    def close(self, raise_error: bool = True) -> None:
        """Wait until every run put here is stored (or the writer stopped)."""
        self.queue.put(None)
        self.thread.join()
        if raise_error and self.error is not None:
            raise self.error


class _Out:
    """What a task collects: rows, series frames, snapshots, steps and branch records; with
    a ``store``, each finished run is stored as soon as it finishes (by a :class:`_Writer`)
    and only its status is kept."""

    def __init__(self, store: Store | None = None, session: str = "") -> None:
        self.rows: list[dict[str, Any]] = []
        self.frames: dict[str, pd.DataFrame] = {}
        self.snapshots: Snapshots = {}
        self.steps = 0
        self.branches: dict[str, list[Any]] = {}
        self.done: set[str] = set()
        self.store = store
        self.session = session
        self.stored: dict[str, str] = {}
        self.writer = _Writer(self) if store is not None else None

    def close(self, raise_error: bool = True) -> None:
        """Wait for the writer to store every finished run."""
        if self.writer is not None:
            self.writer.close(raise_error)

    def store_run(
        self,
        row: dict[str, Any],
        frame: pd.DataFrame | None,
        snaps: dict[int, dict[str, np.ndarray]] | None,
        fork: list[Any] | None,
    ) -> None:
        """Store one finished run (in the writer's thread)."""
        assert self.store is not None
        if not self.store.holds_session(self.session):
            raise SessionEnded(f"{self.store.root}: another sweep session writes here")
        self.store.write_run(row, frame, snaps, fork, self.session)
        self.stored[row["run_id"]] = row["status"]
        _fault_after(len(self.stored))

    def _keep(
        self,
        row: dict[str, Any],
        frame: pd.DataFrame | None = None,
        snaps: dict[int, dict[str, np.ndarray]] | None = None,
    ) -> None:
        rid = row["run_id"]
        self.done.add(rid)
        if self.store is None:
            self.rows.append(row)
            if frame is not None:
                self.frames[rid] = frame
            if snaps:
                self.snapshots[rid] = snaps
            return
        assert self.writer is not None
        self.writer.put((row, frame, snaps, self.branches.get(rid)))

    def base_row(self, spec: RunSpec) -> dict[str, Any]:
        return {
            "run_id": spec.run_id,
            "scenario": spec.name,
            "replicate": spec.replicate,
            "point": spec.point,
            "seed": spec.seed,
            **spec.params,
        }

    def failed(self, spec: RunSpec, error: str, wall: float) -> None:
        row = self.base_row(spec)
        row.update(dict.fromkeys(SUMMARY_KEYS, None))
        row["status"] = "failed"
        row["error"] = error
        row["wall_s"] = wall
        self._keep(row)

    def leaf(self, spec: RunSpec, sim: Simulation, wall: float) -> None:
        """Record ``spec``'s result from ``sim``, which is at the run's horizon."""
        t0 = time.perf_counter()
        try:
            series = sim.series()
            summary = summary_metrics(
                series, spec.scenario.resolved_reference_step(), window=spec.window
            )
            # NaN or infinity anywhere fails the run (stored as failed, never as ok)
            check_finite(series, summary, sim.model.layers)
        except NonFiniteState as exc:
            self.failed(spec, f"NonFiniteState: {exc}", wall + time.perf_counter() - t0)
            return
        row = self.base_row(spec)
        row.update(summary)
        row["status"] = "ok"
        row["error"] = ""
        frame = series.reset_index()
        frame.insert(0, "point", spec.point)
        frame.insert(0, "replicate", spec.replicate)
        frame.insert(0, "scenario", spec.name)
        frame.insert(0, "run_id", spec.run_id)
        wanted = set(spec.snapshot_steps)
        snaps = {s: layers for s, layers in sim.snapshots.items() if s in wanted}
        row["wall_s"] = wall + time.perf_counter() - t0
        self._keep(row, frame, snaps)


def failed_rows(specs: list[RunSpec], error: str) -> list[dict[str, Any]]:
    """Rows recording ``specs`` as failed with ``error`` (a task that was lost)."""
    out = _Out()
    for spec in specs:
        out.failed(spec, error, 0.0)
    return out.rows


def lost_rows(specs: list[RunSpec], deaths: int) -> list[dict[str, Any]]:
    """Rows recording runs whose worker process died ``deaths`` times running them."""
    return failed_rows(
        specs,
        f"WorkerDied: the worker process died {deaths} times running this run "
        "(killed, out of memory or crashed)",
    )


def run_task(
    specs: list[RunSpec], branch: bool = True, store: StoreRef | None = None
) -> tuple[list[dict[str, Any]], pd.DataFrame | None, Snapshots, dict[str, Any]]:
    """Run a task's runs; with ``branch``, each prefix tree's shared past once.

    Parameters
    ----------
    specs : list of RunSpec
        The runs.
    branch : bool
        Fork each prefix tree's shared past (else every run from step 0).
    store : tuple of (str, str), optional
        The results directory and the session's token: when this worker reads the same
        token there, each run is stored as soon as it finishes and the runs the session
        already stored (an earlier attempt of this task) are skipped.

    Returns
    -------
    tuple
        What :func:`run_batch` returns (empty when the runs were stored here) and
        ``info``: ``steps`` (model steps computed), ``branches`` (run_id -> [the run it
        was forked from, the step], for forked runs) and, when stored here, ``stored``
        (run_id -> status of every run of the task). Results are those of independent
        runs, bit for bit; only wall times differ.
    """
    limit_threads()
    failing = _failing()
    sink = _open_store(store)
    out = _Out(sink, store[1] if sink is not None and store else "")
    try:
        _run_all(specs, branch, out, failing)
    except BaseException as exc:
        out.close(raise_error=False)  # the runs finished before the error are stored
        # what this attempt computed, for the driver's count (steps_computed)
        with contextlib.suppress(Exception):
            exc.steps_computed = out.steps  # type: ignore[attr-defined]
        raise
    out.close()
    info: dict[str, Any] = {"steps": out.steps, "branches": out.branches}
    if sink is not None:
        info["stored"] = {s.run_id: out.stored[s.run_id] for s in specs}
        return [], None, {}, info
    # rows, series and snapshots in the task's order, whatever order the tree ran in
    order = {s.run_id: i for i, s in enumerate(specs)}
    out.rows.sort(key=lambda r: order[r["run_id"]])
    frames = [out.frames[s.run_id] for s in specs if s.run_id in out.frames]
    series_out = pd.concat(frames, ignore_index=True) if frames else None
    snapshots = {s.run_id: out.snapshots[s.run_id] for s in specs if s.run_id in out.snapshots}
    return out.rows, series_out, snapshots, info


def _run_all(specs: list[RunSpec], branch: bool, out: _Out, failing: set[str]) -> None:
    """The body of :func:`run_task`: every run of ``specs`` not stored yet."""
    sink = out.store
    if sink is not None:  # an earlier attempt of this task stored these: not recomputed
        out.stored.update(sink.stored_in_session([s.run_id for s in specs], out.session))
        out.done.update(out.stored)
        specs_todo = [s for s in specs if s.run_id not in out.done]
    else:
        specs_todo = specs
    # JIT-compile (or load from numba's cache) once per worker process, outside the runs'
    # timings: later calls are no-ops, so no run of a sweep pays the compilation
    for kernel in sorted({s.scenario.kernel for s in specs_todo}):
        with contextlib.suppress(Exception):  # a missing numba fails the runs themselves
            warm_up(kernel)
    if branch:
        todo = []
        for spec in specs_todo:
            if spec.name in failing:  # the test hook fails it exactly as a run alone does
                _run_alone(spec, out, failing)
            else:
                _maybe_kill(spec.name)
                todo.append(spec)
        for group in trees(todo):
            if len(group) > 1:
                try:
                    _run_tree(group, out)
                except TaskAborted:
                    raise
                except Exception:  # noqa: BLE001 - the runs not finished run on their own
                    pass
            for spec in group:
                if spec.run_id not in out.done:
                    _run_alone(spec, out, failing)
    else:
        for spec in specs_todo:
            _run_alone(spec, out, failing)


def _run_alone(spec: RunSpec, out: _Out, failing: set[str]) -> None:
    """One run from step 0."""
    t0 = time.perf_counter()
    try:
        _maybe_kill(spec.name)
        if spec.name in failing:
            raise RuntimeError(f"{FAIL_ENV} test hook: scenario '{spec.name}' fails")
        sim = Simulation(
            spec.scenario,
            communities=False,
            snapshot_steps=spec.snapshot_steps,
            snapshot_layers=SNAPSHOT_LAYERS,
            reseed_at=spec.reseed_at,
            reseed_key=NULL_RESEED_KEY,
        )
        try:
            try:
                sim.advance()
            finally:  # the steps of a run that fails part-way were computed too
                out.steps += sim.steps_done
            out.leaf(spec, sim, time.perf_counter() - t0)
        finally:
            sim.release()  # else Mesa keeps every model of the worker alive
    except TaskAborted:
        raise
    except Exception:  # noqa: BLE001 - a failing run is recorded, the sweep goes on
        out.failed(spec, traceback.format_exc(), time.perf_counter() - t0)


def _run_tree(specs: list[RunSpec], out: _Out) -> None:
    """Run one prefix tree (:func:`~i4p_sim.sweep.branching.plan`): each step once."""
    root = plan(specs)
    snap_steps = sorted({s for spec in specs for s in spec.snapshot_steps})
    first = root.specs[0]
    sim = Simulation(
        first.scenario,
        communities=False,
        snapshot_steps=snap_steps,
        snapshot_layers=SNAPSHOT_LAYERS,
        reseed_at=first.reseed_at,
        reseed_key=NULL_RESEED_KEY,
    )
    try:
        _visit(sim, root, None, 0.0, snap_steps, out)
    finally:
        sim.release()


def _n_leaves(node: Node) -> int:
    return len(node.leaves) + sum(_n_leaves(c) for c in node.children)


def _visit(
    sim: Simulation,
    node: Node,
    origin: list[Any] | None,
    carried: float,
    snap_steps: list[int],
    out: _Out,
) -> None:
    """Compute ``node``'s segment, record its leaves, fork for its children.

    ``origin`` is [the run this path was forked from, the step] (None on the trunk);
    ``carried`` the wall time each leaf below owes for the shared segments above.
    """
    t0 = time.perf_counter()
    before = sim.steps_done
    try:
        sim.advance(node.end)
    finally:  # a tree that fails part-way: its runs are retried alone, both attempts count
        out.steps += sim.steps_done - before
    snap = sim.snapshot() if node.children else None
    share = carried + (time.perf_counter() - t0) / _n_leaves(node)
    trunk = node.first_leaf().run_id
    for i, cont in enumerate([*node.leaves, *node.children]):
        here = origin if i == 0 else [trunk, node.end]
        if isinstance(cont, Node):
            lead = cont.specs[0]
            sim.restore(
                snap,
                lead.scenario,
                snapshot_steps=snap_steps,
                reseed_at=lead.reseed_at,
                reseed_key=NULL_RESEED_KEY,
            )
            _visit(sim, cont, here, share, snap_steps, out)
        else:
            if here is not None:
                out.branches[cont.run_id] = here
            out.leaf(cont, sim, share)

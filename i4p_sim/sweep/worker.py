"""The sweep worker: runs a task of :class:`~i4p_sim.sweep.spec.RunSpec` through
:class:`~i4p_sim.sim.simulation.Simulation` and returns rows, series and snapshots; with
branching (:mod:`~i4p_sim.sweep.branching`), each prefix tree's shared past runs once and
is forked by snapshot and restore.

Test hook: the environment variable ``I4P_FAIL_SCENARIO`` (comma-separated scenario
names), read here, makes runs of those scenarios raise ``RuntimeError`` before the model
is built. It exists to test failure isolation and ``--retry-failed``; it does not touch
the model, and it is not part of any run's id. Two more hooks test dead workers:
``I4P_KILL_SCENARIO`` (names) makes the worker process kill itself (``SIGKILL``) on runs of
those scenarios, and ``I4P_KILL_ONCE`` (a file path) makes the first run that finds the
file missing create it and kill its worker, once.
"""

from __future__ import annotations

import contextlib
import os
import signal
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

__all__ = ["FAIL_ENV", "Snapshots", "run_batch", "run_task"]

FAIL_ENV = "I4P_FAIL_SCENARIO"
KILL_ENV = "I4P_KILL_SCENARIO"
KILL_ONCE_ENV = "I4P_KILL_ONCE"

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


class _Out:
    """What a task collects: rows, series frames, snapshots, steps and branch records."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.frames: dict[str, pd.DataFrame] = {}
        self.snapshots: Snapshots = {}
        self.steps = 0
        self.branches: dict[str, list[Any]] = {}
        self.done: set[str] = set()

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
        self.rows.append(row)
        self.done.add(spec.run_id)

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
        self.frames[spec.run_id] = frame
        wanted = set(spec.snapshot_steps)
        snaps = {s: layers for s, layers in sim.snapshots.items() if s in wanted}
        if snaps:
            self.snapshots[spec.run_id] = snaps
        row["wall_s"] = wall + time.perf_counter() - t0
        self.rows.append(row)
        self.done.add(spec.run_id)


def run_task(
    specs: list[RunSpec], branch: bool = True
) -> tuple[list[dict[str, Any]], pd.DataFrame | None, Snapshots, dict[str, Any]]:
    """Run a task's runs; with ``branch``, each prefix tree's shared past once.

    Returns what :func:`run_batch` returns and ``info``: ``steps`` (model steps computed)
    and ``branches`` (run_id -> [the run it was forked from, the step], for forked runs).
    Results are those of independent runs, bit for bit; only wall times differ.
    """
    limit_threads()
    failing = _failing()
    # JIT-compile (or load from numba's cache) once per worker process, outside the runs'
    # timings: later calls are no-ops, so no run of a sweep pays the compilation
    for kernel in sorted({s.scenario.kernel for s in specs}):
        with contextlib.suppress(Exception):  # a missing numba fails the runs themselves
            warm_up(kernel)
    out = _Out()
    if branch:
        todo = []
        for spec in specs:
            if spec.name in failing:  # the test hook fails it exactly as a run alone does
                _run_alone(spec, out, failing)
            else:
                _maybe_kill(spec.name)
                todo.append(spec)
        for group in trees(todo):
            if len(group) > 1:
                try:
                    _run_tree(group, out)
                except Exception:  # noqa: BLE001 - the runs not finished run on their own
                    pass
            for spec in group:
                if spec.run_id not in out.done:
                    _run_alone(spec, out, failing)
    else:
        for spec in specs:
            _run_alone(spec, out, failing)
    # rows, series and snapshots in the task's order, whatever order the tree ran in
    order = {s.run_id: i for i, s in enumerate(specs)}
    out.rows.sort(key=lambda r: order[r["run_id"]])
    frames = [out.frames[s.run_id] for s in specs if s.run_id in out.frames]
    series_out = pd.concat(frames, ignore_index=True) if frames else None
    snapshots = {s.run_id: out.snapshots[s.run_id] for s in specs if s.run_id in out.snapshots}
    info = {"steps": out.steps, "branches": out.branches}
    return out.rows, series_out, snapshots, info


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
            sim.advance()
            out.steps += sim.steps_done
            out.leaf(spec, sim, time.perf_counter() - t0)
        finally:
            sim.release()  # else Mesa keeps every model of the worker alive
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
    sim.advance(node.end)
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

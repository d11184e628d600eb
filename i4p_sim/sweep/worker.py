"""The sweep worker: runs a batch of :class:`~i4p_sim.sweep.spec.RunSpec` through
:func:`i4p_sim.sim.simulation.simulate` and returns rows, series and snapshots.

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
from i4p_sim.stats.metrics import SUMMARY_KEYS
from i4p_sim.sweep.executors import limit_threads
from i4p_sim.sweep.finite import NonFiniteState, check_finite
from i4p_sim.sweep.spec import RunSpec

__all__ = ["FAIL_ENV", "Snapshots", "run_batch"]

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
    """Run a batch of runs in a worker.

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
    limit_threads()
    failing = _failing()
    # JIT-compile (or load from numba's cache) once per worker process, outside the runs'
    # timings: later calls are no-ops, so no run of a sweep pays the compilation
    for kernel in sorted({s.scenario.kernel for s in specs}):
        with contextlib.suppress(Exception):  # a missing numba fails the runs themselves
            warm_up(kernel)
    rows: list[dict[str, Any]] = []
    frames: list[pd.DataFrame] = []
    snapshots: Snapshots = {}
    for spec in specs:
        t0 = time.perf_counter()
        row: dict[str, Any] = {
            "run_id": spec.run_id,
            "scenario": spec.name,
            "replicate": spec.replicate,
            "point": spec.point,
            "seed": spec.seed,
            **spec.params,
        }
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
            ).advance()
            result = sim.result(window=spec.window)
            # NaN or infinity anywhere fails the run (stored as failed, never as ok)
            try:
                check_finite(result.series, result.summary, sim.model.layers)
            finally:
                sim.release()  # else Mesa keeps every model of the worker alive
            del sim
            row.update(result.summary)
            row["status"] = "ok"
            row["error"] = ""
            frame = result.series.reset_index()
            frame.insert(0, "point", spec.point)
            frame.insert(0, "replicate", spec.replicate)
            frame.insert(0, "scenario", spec.name)
            frame.insert(0, "run_id", spec.run_id)
            frames.append(frame)
            if result.snapshots:
                snapshots[spec.run_id] = result.snapshots
        except NonFiniteState as exc:
            row.update(dict.fromkeys(SUMMARY_KEYS, None))
            row["status"] = "failed"
            row["error"] = f"NonFiniteState: {exc}"
        except Exception:  # noqa: BLE001 - a failing run is recorded, the sweep goes on
            row.update(dict.fromkeys(SUMMARY_KEYS, None))
            row["status"] = "failed"
            row["error"] = traceback.format_exc()
        row["wall_s"] = time.perf_counter() - t0
        rows.append(row)
    series_out = pd.concat(frames, ignore_index=True) if frames else None
    return rows, series_out, snapshots

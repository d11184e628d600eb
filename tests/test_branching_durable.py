"""Branching sweeps (issue 12): each run is stored as soon as it finishes.

A worker that sees the results directory stores each finished run of a prefix tree at once,
in chunks named by the run's id. A task killed mid-tree keeps its finished runs; a resume
(or a retry of the task) recomputes only the prefixes of the missing ones; a retried Dask
task rewrites the same files, so every run is stored once and the store equals an
uninterrupted sweep's.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pandas as pd
import pytest

from i4p_sim.config.experiment import load_experiment
from i4p_sim.sweep.branching import plan_steps, trees
from i4p_sim.sweep.driver import run_experiment
from i4p_sim.sweep.spec import iter_runs
from i4p_sim.sweep.store import RUN_PART, Store, read_runs
from i4p_sim.sweep.worker import DELAY_ENV, FAULT_ENV, SessionEnded, TaskFault, run_task

from conftest import interrupt_sweep
from test_branching import assert_same_store, kinds_experiment, manifest


def run_files(root: Path) -> dict[str, bytes]:
    """The run chunks that workers stored themselves: file name -> content."""
    return {p.name: p.read_bytes() for p in (root / "runs").glob(RUN_PART.format("*"))}


def assert_each_run_once(root: Path, specs) -> None:
    runs = read_runs(root)
    assert sorted(runs["run_id"]) == sorted(s.run_id for s in specs)
    parts = sorted((root / "series").glob("part-*.parquet"))
    series = pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)
    assert not series.duplicated(["run_id", "step"]).any()


def test_a_task_stopped_mid_tree_keeps_its_runs_and_a_retry_computes_only_the_rest(
    tmp_path, monkeypatch
):
    exp_path = kinds_experiment(tmp_path)
    specs = list(iter_runs(load_experiment(exp_path, replicates=1)))
    tree = max(trees(specs), key=len)
    out = tmp_path / "out"
    store = Store(out)
    store.prepare()
    session = store.start_session()
    monkeypatch.setenv(FAULT_ENV, f"raise:3:{tmp_path / 'fired'}")
    with pytest.raises(TaskFault) as fault:  # as if the worker died after its third run
        run_task(tree, True, (str(out), session))
    assert fault.value.steps_computed > 0  # what the attempt computed, for the driver's count
    kept = run_files(out)
    stored = store.stored_in_session([s.run_id for s in tree], session)
    assert len(kept) == len(stored) == 3
    # the retry (same session): the three runs are not recomputed, the rest forks as a tree
    rows, series, snaps, info = run_task(tree, True, (str(out), session))
    assert (rows, series, snaps) == ([], None, {})
    missing = [s for s in tree if s.run_id not in stored]
    assert info["steps"] == plan_steps(missing) < plan_steps(tree)
    assert info["stored"].keys() == {s.run_id for s in tree}
    assert all(run_files(out)[name] == data for name, data in kept.items())
    # another session does not take these files for its own (a --retry-failed reruns)
    assert store.stored_in_session([s.run_id for s in tree], "other") == {}
    # a worker that does not see the directory (another machine) returns its results
    alone = run_task(tree[:2], True, (str(tmp_path / "elsewhere"), session))
    assert len(alone[0]) == 2 and "stored" not in alone[3]


def test_a_task_of_a_session_that_ended_stops_storing(tmp_path, monkeypatch):
    """A worker left running by a killed driver (SIGKILL) stops at its next run once another
    sweep has started in the directory, instead of writing beside it."""
    exp_path = kinds_experiment(tmp_path)
    tree = max(trees(iter_runs(load_experiment(exp_path, replicates=1))), key=len)
    out = tmp_path / "out"
    store = Store(out)
    store.prepare()
    old = store.start_session()
    real = Store.write_run

    def write_then_new_session(self, *args, **kwargs):
        real(self, *args, **kwargs)
        store.start_session()  # another sweep takes the directory over

    monkeypatch.setattr(Store, "write_run", write_then_new_session)
    with pytest.raises(SessionEnded):
        run_task(tree, True, (str(out), old))
    assert len(run_files(out)) == 1


@pytest.mark.slow
def test_a_sweep_killed_mid_tree_keeps_finished_runs_and_resumes_only_the_rest(
    tmp_path, monkeypatch
):
    exp_path = kinds_experiment(tmp_path)
    specs = list(iter_runs(load_experiment(exp_path, replicates=1)))
    out = tmp_path / "out"
    # one worker storing a run every 0.5 s: SIGTERM after two runs falls inside a tree
    monkeypatch.setenv(DELAY_ENV, "0.5")
    args = ["sweep", exp_path, "--out", out, "--workers", "1", "--replicates", "1"]
    proc, err, kids = interrupt_sweep(args, out, signal.SIGTERM, parts=2)
    assert proc.returncode == 143, err
    kept = run_files(out)
    done = set(read_runs(out)["run_id"])
    assert 2 <= len(kept) == len(done) < len(specs)
    monkeypatch.delenv(DELAY_ENV)
    before = manifest(out)["branching"]["steps_computed"]
    res = run_experiment(exp_path, out=out, replicates=1, workers=1, progress=False)
    assert res.ran == len(specs) - len(done) and res.skipped == len(done)
    missing = [s for s in specs if s.run_id not in done]
    assert manifest(out)["branching"]["steps_computed"] - before == plan_steps(missing)
    assert all(run_files(out)[name] == data for name, data in kept.items())  # not redone
    ref = tmp_path / "ref"
    run_experiment(exp_path, out=ref, replicates=1, workers=1, progress=False, branch=False)
    assert_same_store(ref, out)
    assert_each_run_once(out, specs)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("executor", "fault"),
    [
        ({"dask_local": 2}, "raise"),
        ({"dask_local": 1}, "kill"),
        ({"workers": 2}, "kill"),
    ],
    ids=["dask-retry", "dask-worker-dies", "pool-worker-dies"],
)
def test_a_retried_task_stores_each_run_once(tmp_path, monkeypatch, executor, fault):
    if "dask_local" in executor:
        pytest.importorskip("distributed")
    exp_path = kinds_experiment(tmp_path)
    specs = list(iter_runs(load_experiment(exp_path)))
    ref = tmp_path / "ref"
    run_experiment(exp_path, out=ref, workers=1, progress=False, branch=False)
    marker = tmp_path / "fired"
    monkeypatch.setenv(FAULT_ENV, f"{fault}:2:{marker}")
    out = tmp_path / "out"
    res = run_experiment(exp_path, out=out, progress=False, **executor)
    assert marker.exists()  # a task failed after storing two runs, and was retried
    assert res.ran == len(specs) and res.failed == 0
    assert_same_store(ref, out)
    assert_each_run_once(out, specs)

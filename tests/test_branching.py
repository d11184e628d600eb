"""Branching sweeps (issue 12): the shared past of a seed's runs is computed once.

Results equal independent runs — every column but the wall time, the series and the
snapshots, bit for bit — for every shipped experiment and every shock kind; the steps
computed equal the plan's count; the manifest records the forks; a resume recomputes only
the prefixes of the missing runs; on the pool and on Dask, with 1 and 2 workers.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from i4p_sim.config.experiment import Experiment, load_experiment
from i4p_sim.config.loading import read_toml
from i4p_sim.sweep.branching import plan, plan_steps, theoretical_steps, tree_batches, trees
from i4p_sim.sweep.driver import run_experiment
from i4p_sim.sweep.spec import iter_runs
from i4p_sim.sweep.store import read_forks, read_runs
from i4p_sim.sweep.worker import FAIL_ENV, run_task

from conftest import ROOT

EXPERIMENTS = [
    p
    for p in sorted(
        [
            *ROOT.glob("experiments/*.toml"),
            *ROOT.glob("experiments/*/*.toml"),
        ]
    )
    if any(k in read_toml(p) for k in ("scenarios", "base", "variants"))
]
SCEN = ROOT / "scenarios"

#: Every shock kind, alone and combined, at steps that make the plan fork at each.
KINDS = """
name = "kinds"
seed = 5
replicates = 2
steps = 40
reference_step = 18
noise_pairs = 1
base = "{base}"
set = ["grid.width=10", "grid.height=10", "council.regions=[2, 1]"]
[[variants]]
name = "none"
shocks = []
[[variants]]
name = "phased"
shocks = [{{ kind = "funding_withdrawal", at = 20, mode = "phased", ramp = 8 }}]
[[variants]]
name = "abrupt"
shocks = [{{ kind = "funding_withdrawal", at = 20, mode = "abrupt" }}]
[[variants]]
name = "partial_one"
shocks = [{{ kind = "funding_withdrawal", at = 14, mode = "partial", fraction = 0.5, donor = "undp" }}]
[[variants]]
name = "conditional"
shocks = [{{ kind = "funding_withdrawal", at = 12, mode = "phased", ramp = 6, condition = "autocratic_turn" }}, {{ kind = "autocratic_turn", at = 22, capture = 0.8 }}]
[[variants]]
name = "conditional_alone"
shocks = [{{ kind = "funding_withdrawal", at = 12, condition = "autocratic_turn" }}]
[[variants]]
name = "upheaval"
shocks = [{{ kind = "political_upheaval", at = 16 }}]
[[variants]]
name = "election"
shocks = [{{ kind = "election", at = 24, pre_steps = 6, pulse = 0.1 }}]
[[variants]]
name = "autocratic"
shocks = [{{ kind = "autocratic_turn", at = 22, capture = 1.0 }}]
[[variants]]
name = "border"
shocks = [{{ kind = "border_spillover", at = 10, duration = 10 }}]
[[variants]]
name = "economic"
shocks = [{{ kind = "economic_shock", at = 8 }}]
[[variants]]
name = "trigger"
shocks = [{{ kind = "trigger_incident", at = 12, spike = 0.9 }}]
[[variants]]
name = "economic_then_abrupt"
shocks = [{{ kind = "economic_shock", at = 8 }}, {{ kind = "funding_withdrawal", at = 20 }}]
[[variants]]
name = "abrupt_then_economic"
shocks = [{{ kind = "funding_withdrawal", at = 20 }}, {{ kind = "economic_shock", at = 8 }}]
[[variants]]
name = "two_triggers"
shocks = [{{ kind = "trigger_incident", at = 12 }}, {{ kind = "trigger_incident", at = 12 }}]
[[variants]]
name = "no_council_abrupt"
set = ["council.enabled=false"]
shocks = [{{ kind = "funding_withdrawal", at = 20 }}]
"""


def small(exp: Experiment, size: int = 6, points: int = 2) -> Experiment:
    """The experiment on a ``size`` x ``size`` grid, at most ``points`` parameter points."""

    def shrink(sc):
        return sc.model_copy(
            update={"grid": sc.grid.model_copy(update={"width": size, "height": size})}
        )

    exp.scenarios = {k: shrink(v) for k, v in exp.scenarios.items()}
    exp.extra = {k: shrink(v) for k, v in exp.extra.items()}
    exp.points = exp.points[:points]
    exp.at_points = {k: shrink(v) for k, v in exp.at_points.items() if k[1] < points}
    return exp


def kinds_experiment(tmp_path: Path) -> Path:
    path = tmp_path / "kinds.toml"
    path.write_text(KINDS.format(base=SCEN / "baseline.toml"))
    return path


def assert_same_task(a, b) -> None:
    """Two run_task results: equal but for the wall times (and the branch info)."""
    ra = pd.DataFrame(a[0]).drop(columns="wall_s")
    rb = pd.DataFrame(b[0]).drop(columns="wall_s")
    pd.testing.assert_frame_equal(ra, rb, check_exact=True)
    pd.testing.assert_frame_equal(a[1], b[1], check_exact=True)
    assert a[2].keys() == b[2].keys()
    for rid, steps in a[2].items():
        assert steps.keys() == b[2][rid].keys()
        for step, layers in steps.items():
            for name, grid in layers.items():
                assert np.array_equal(grid, b[2][rid][step][name])


# ------------------------------------------------------------------------------ plan


def test_plan_of_the_main_job_forks_at_each_first_effect():
    exp = load_experiment(ROOT / "experiments/funding_withdrawal.toml", replicates=1)
    specs = list(iter_runs(exp))
    groups = trees(specs)
    assert len(groups) == 2  # with and without local ownership: no shared prefix
    root = plan(groups[0])
    assert (root.start, root.end) == (0, 48)  # a phased exit at 60 with a 24-month ramp
    assert root.first_leaf().name == "no_shock"
    ends = sorted({c.end for c in root.children})
    assert ends == [60, 240]
    branched, independent = theoretical_steps(specs)
    assert independent == sum(s.scenario.steps for s in specs)
    assert branched == plan_steps(specs) < independent
    # every run of a task's trees is in exactly one batch, trees are never split
    batches = list(tree_batches(iter(specs), 3))
    assert sorted(s.run_id for b in batches for s in b) == sorted(s.run_id for s in specs)
    for b in batches:
        assert {len(g) for g in trees(b)} <= {len(g) for g in groups}


# ------------------------------------------------------------------ in-process equality


#: The main jobs run in the fast suite, the other shipped experiments in the slow one.
FAST = ("funding_withdrawal.toml", "i4p_factorial.toml")


@pytest.mark.parametrize(
    "path",
    [
        p
        if p.name in FAST and p.parent.name == "experiments"
        else pytest.param(p, marks=pytest.mark.slow)
        for p in EXPERIMENTS
    ],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_branched_task_equals_independent_runs_for_every_shipped_experiment(path):
    exp = small(load_experiment(path, replicates=1))
    specs = list(iter_runs(exp))
    alone = run_task(specs, branch=False)
    branched = run_task(specs, branch=True)
    assert_same_task(alone, branched)
    assert all(r["status"] == "ok" for r in branched[0])
    assert alone[3]["steps"] == sum(s.scenario.steps for s in specs)
    assert branched[3]["steps"] == theoretical_steps(specs)[0]


def test_branched_task_equals_independent_runs_for_every_shock_kind(tmp_path):
    exp = load_experiment(kinds_experiment(tmp_path))
    specs = list(iter_runs(exp))
    alone = run_task(specs, branch=False)
    branched = run_task(specs, branch=True)
    assert_same_task(alone, branched)
    assert branched[3]["steps"] == theoretical_steps(specs)[0] < alone[3]["steps"]
    kinds = {s.kind for sc in exp.scenarios.values() for s in sc.shocks}
    from i4p_sim.config.scenario import SHOCK_CLASSES

    assert kinds == set(SHOCK_CLASSES)
    # forked runs name the run whose past they share and the step
    names = {s.run_id: s.name for s in specs}
    forks = {
        names[rid]: (names[parent], at) for rid, (parent, at) in branched[3]["branches"].items()
    }
    assert forks["abrupt"][1] == 20 and forks["economic"] == ("none", 8)


def test_a_failing_run_in_a_tree_fails_alone(tmp_path, monkeypatch):
    exp = load_experiment(kinds_experiment(tmp_path), replicates=1)
    specs = list(iter_runs(exp))
    monkeypatch.setenv(FAIL_ENV, "none,abrupt")
    alone = run_task(specs, branch=False)
    branched = run_task(specs, branch=True)
    assert_same_task(alone, branched)
    failed = {r["scenario"] for r in branched[0] if r["status"] == "failed"}
    assert failed == {"none", "abrupt"}


def test_steps_of_runs_and_trees_that_fail_part_way_are_counted(tmp_path, monkeypatch):
    from i4p_sim.sim.simulation import Simulation

    exp = load_experiment(kinds_experiment(tmp_path), replicates=1)
    specs = [s for s in iter_runs(exp) if s.name in ("none", "abrupt", "economic", "trigger")]
    real = Simulation.advance
    executed = []

    def flaky(self, to=None):  # "abrupt" fails after step 25, in its tree and alone
        before = self.steps_done
        try:
            if self.scenario.name == "abrupt" and (to is None or to > 25):
                real(self, 25)
                raise RuntimeError("boom")
            return real(self, to)
        finally:
            executed.append(self.steps_done - before)

    monkeypatch.setattr(Simulation, "advance", flaky)
    rows, _, _, info = run_task(specs, branch=True)
    assert {r["scenario"] for r in rows if r["status"] == "failed"} == {"abrupt"}
    # the failed tree's segment and the retry alone computed steps too
    assert info["steps"] == sum(executed) > theoretical_steps(specs)[0]


# ------------------------------------------------------------------ sweeps end to end


def stored(root: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    runs = read_runs(root).drop(columns="wall_s").sort_values("run_id").reset_index(drop=True)
    parts = sorted((root / "series").glob("part-*.parquet"))
    series = pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)
    series = series.sort_values(["run_id", "step"]).reset_index(drop=True)
    return runs, series


def assert_same_store(a: Path, b: Path) -> None:
    ra, sa = stored(a)
    rb, sb = stored(b)
    pd.testing.assert_frame_equal(ra, rb, check_exact=True)
    pd.testing.assert_frame_equal(sa, sb, check_exact=True)
    snaps_a = sorted(p.name for p in (a / "snapshots").glob("*.npz"))
    assert snaps_a == sorted(p.name for p in (b / "snapshots").glob("*.npz"))
    for name in snaps_a:
        with np.load(a / "snapshots" / name) as x, np.load(b / "snapshots" / name) as y:
            assert sorted(x.files) == sorted(y.files)
            for key in x.files:
                assert np.array_equal(x[key], y[key])
    pa = pd.read_parquet(a / "paired.parquet").sort_values("run_id").reset_index(drop=True)
    pb = pd.read_parquet(b / "paired.parquet").sort_values("run_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(pa, pb, check_exact=True)


def manifest(root: Path) -> dict:
    return json.loads((root / "manifest.json").read_text())


@pytest.mark.slow
@pytest.mark.parametrize(
    "executor",
    [{"workers": 1}, {"workers": 2}, {"dask_local": 1}, {"dask_local": 2}],
    ids=["pool-1", "pool-2", "dask-1", "dask-2"],
)
def test_branched_sweep_equals_independent_sweep(tmp_path, executor):
    if "dask_local" in executor:
        pytest.importorskip("distributed")
    exp_path = kinds_experiment(tmp_path)
    ref = tmp_path / "ref"
    run_experiment(exp_path, out=ref, workers=1, progress=False, branch=False)
    out = tmp_path / "branched"
    run_experiment(exp_path, out=out, progress=False, **executor)
    assert_same_store(ref, out)
    m, mref = manifest(out)["branching"], manifest(ref)["branching"]
    specs = list(iter_runs(load_experiment(exp_path)))
    assert m["enabled"] and not mref["enabled"]
    assert m["steps_computed"] == theoretical_steps(specs)[0]
    assert mref["steps_computed"] == mref["steps_independent"] == m["steps_independent"]
    forks, forks_ref = read_forks(out), read_forks(ref)
    assert forks and not forks_ref
    ids = {s.run_id for s in specs}
    assert all(rid in ids and parent in ids for rid, (parent, _) in forks.items())


@pytest.mark.slow
@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_branched_sweep_of_every_shipped_experiment_on_two_workers(tmp_path, path):
    exp = small(load_experiment(path, replicates=2))
    ref, out = tmp_path / "ref", tmp_path / "branched"
    run_experiment(exp, out=ref, workers=2, progress=False, branch=False)
    run_experiment(exp, out=out, workers=2, progress=False)
    assert_same_store(ref, out)
    assert manifest(out)["branching"]["steps_computed"] == theoretical_steps(iter_runs(exp))[0]


@pytest.mark.slow
def test_resume_recomputes_only_the_prefixes_of_missing_runs(tmp_path, monkeypatch):
    exp_path = kinds_experiment(tmp_path)
    specs = list(iter_runs(load_experiment(exp_path)))
    out = tmp_path / "out"
    monkeypatch.setenv(FAIL_ENV, "abrupt,phased")
    run_experiment(exp_path, out=out, workers=1, progress=False)
    first = manifest(out)["branching"]["steps_computed"]
    monkeypatch.delenv(FAIL_ENV)
    run_experiment(exp_path, out=out, workers=1, progress=False, retry_failed=True)
    second = manifest(out)["branching"]["steps_computed"] - first
    missing = [s for s in specs if s.name in ("abrupt", "phased")]
    assert second == plan_steps(missing) < sum(s.scenario.steps for s in missing)
    ref = tmp_path / "ref"
    run_experiment(exp_path, out=ref, workers=1, progress=False, branch=False)
    assert_same_store(ref, out)


@pytest.mark.slow
@pytest.mark.parametrize(
    "executor",
    [{"workers": 1}, {"dask_local": 1}, {"dask_local": 2}],
    ids=["pool-1", "dask-1", "dask-2"],
)
def test_branched_sweep_of_the_main_job_on_every_executor(tmp_path, executor):
    if "dask_local" in executor:
        pytest.importorskip("distributed")
    exp = small(load_experiment(ROOT / "experiments/funding_withdrawal.toml", replicates=2))
    ref, out = tmp_path / "ref", tmp_path / "branched"
    run_experiment(exp, out=ref, workers=2, progress=False, branch=False)
    run_experiment(exp, out=out, progress=False, **executor)
    assert_same_store(ref, out)
    assert manifest(out)["branching"]["steps_computed"] == theoretical_steps(iter_runs(exp))[0]

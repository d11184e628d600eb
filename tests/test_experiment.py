"""Experiments: loading, seeds and ids, determinism across executors, failure isolation,
and compare on a real tiny sweep."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from i4p_sim import run_experiment
from i4p_sim.config.errors import ConfigError
from i4p_sim.config.experiment import apply_point, load_experiment
from i4p_sim.config.scenario import Scenario
from i4p_sim.stats.metrics import RUNS_SCHEMA, SUMMARY_KEYS, runs_columns
from i4p_sim.stats.tables import effects_table, interactions_table
from i4p_sim.sweep.spec import RunSpec, iter_runs, replicate_seeds
from i4p_sim.sweep.store import read_snapshots
from i4p_sim.sweep.worker import FAIL_ENV

from conftest import ROOT, experiment_text

REPO = ROOT

TINY = experiment_text("tiny")

FACTORIAL = experiment_text("factorial")


def write(tmp_path: Path, text: str, name: str = "exp.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def values(runs: pd.DataFrame) -> pd.DataFrame:
    cols = ["run_id", "scenario", "replicate", "point", "seed", "status", *SUMMARY_KEYS]
    return runs[cols].sort_values("run_id").reset_index(drop=True)


def series_of(out: Path) -> pd.DataFrame:
    s = pd.read_parquet(out / "series")
    return s.sort_values(["run_id", "step"]).reset_index(drop=True)


# --------------------------------------------------------------------------- loading


def test_shipped_experiments_load():
    # the experiments' runs plus noise_pairs null-perturbed runs per twin and point
    for name, runs in (("funding_withdrawal", 232), ("i4p_factorial", 208), ("landscape_lhs", 384)):
        exp = load_experiment(REPO / "experiments" / f"{name}.toml")
        assert exp.name == name
        assert exp.total_runs() == runs
        # one reference step for every scenario
        assert {sc.reference_step for sc in exp.scenarios.values()} == {exp.reference_step}
        assert all(isinstance(sc, Scenario) for sc in exp.scenarios.values())


def test_factorial_has_four_interactions_and_cells():
    exp = load_experiment(REPO / "experiments" / "i4p_factorial.toml")
    assert len(exp.scenarios) == 16
    assert len(exp.config.interactions) == 4
    assert exp.scenarios["none_abrupt"].lpc.enabled is False
    assert exp.scenarios["none_abrupt"].council.enabled is False


def test_lhs_sample_points_in_ranges():
    exp = load_experiment(REPO / "experiments" / "landscape_lhs.toml")
    pts = pd.DataFrame(exp.points)
    assert len(pts) == 32
    assert pts["lpc.density"].between(2.7, 21.7).all()
    assert pts["lpc.ownership"].between(0, 0.6).all()
    # Latin hypercube: each of n strata of a range holds exactly one point
    strata = np.floor((pts["lpc.ownership"] - 0.0) / 0.6 * 32).astype(int)
    assert sorted(strata) == list(range(32))


def test_axes_grid_and_sobol(tmp_path):
    grid = write(
        tmp_path, TINY + '\n[axes]\n"lpc.radius" = [5, 10]\ndynamics.contagion = [0.1, 0.2, 0.3]\n'
    )
    exp = load_experiment(grid)
    assert len(exp.points) == 6
    assert exp.total_runs() == 4 * 6 * 3
    sob = write(
        tmp_path,
        TINY + '\n[sample]\nmethod = "sobol"\nn = 8\n[sample.ranges]\n"lpc.ownership" = [0, 1]\n',
        "sob.toml",
    )
    assert len(load_experiment(sob).points) == 8


def test_seeds_common_and_stable():
    s4 = replicate_seeds(9, 4)
    s8 = replicate_seeds(9, 8)
    assert s4 == s8[:4]  # more replicates keep the stored ones
    assert len(set(s8)) == 8
    assert all(0 <= s < 2**63 for s in s8)


def test_run_ids_deterministic_and_crn(tmp_path):
    exp = load_experiment(write(tmp_path, TINY))
    a = list(iter_runs(exp))
    b = list(iter_runs(load_experiment(write(tmp_path, TINY, "again.toml"))))
    assert [r.run_id for r in a] == [r.run_id for r in b]
    assert len({r.run_id for r in a}) == len(a) == exp.total_runs()
    by_rep: dict[int, set[int]] = {}
    for r in a:
        by_rep.setdefault(r.replicate, set()).add(r.seed)
    assert all(len(seeds) == 1 for seeds in by_rep.values())  # common random numbers
    # the kernel is part of the id
    numba = load_experiment(write(tmp_path, TINY + 'kernel = "numba"\n', "k.toml"))
    assert {r.run_id for r in iter_runs(numba)}.isdisjoint({r.run_id for r in a})


def test_overrides_replicates_steps(tmp_path):
    exp = load_experiment(write(tmp_path, TINY), replicates=2, steps=20)
    assert exp.replicates == 2 and exp.steps == 20


@pytest.mark.parametrize(
    ("text", "field"),
    [
        (TINY + "colour = 1\n", "colour"),
        (TINY.replace("replicates = 3", "replicates = 0"), "replicates"),
        (TINY.replace('baseline = "baseline"', 'baseline = "nope"'), "baseline"),
        (TINY.replace("reference_step = 10", "reference_step = 99"), "reference_step"),
        (TINY.replace("baseline.toml", "missing.toml"), "scenarios.0"),
        (TINY + '\n[axes]\n"lpc.radius" = []\n', "axes.lpc.radius"),
        (TINY + '\n[axes]\n"lpc.ownership" = [2.0]\n', "axes/sample: lpc.ownership"),
        (
            TINY + '\n[sample]\nn = 4\n[sample.ranges]\n"lpc.ownership" = [0.5, 0.1]\n',
            "sample.ranges.lpc.ownership",
        ),
        (
            TINY
            + '\n[sample]\nmethod = "sobol"\nn = 5\n[sample.ranges]\n"lpc.ownership" = [0, 1]\n',
            "sample.n",
        ),
        (
            TINY + '\n[sample]\nn = 4\nmethod = "grid"\n[sample.ranges]\n"a.b" = [0, 1]\n',
            "sample.method",
        ),
        (
            TINY.replace('set = ["grid.width=12"', 'set = ["grid.width=-1"'),
            "scenarios.0 (baseline)",
        ),
        ('name = "x"\n', "scenarios"),
    ],
)
def test_bad_experiment_one_line_error(tmp_path, text, field):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_experiment(path)
    err = info.value
    assert err.source == str(path)
    assert err.field == field, err.one_line()
    assert "\n" not in err.one_line()


# --------------------------------------------------------------------------- running


@pytest.fixture(scope="module")
def reference_sweep(tmp_path_factory):
    """The tiny experiment on 1 worker: the values every other executor must match."""
    root = tmp_path_factory.mktemp("ref")
    exp = write(root, TINY)
    res = run_experiment(exp, out=root / "out", workers=1, progress=False)
    return exp, root / "out", res


def test_sweep_stores_everything(reference_sweep):
    exp, out, res = reference_sweep
    runs = pd.read_parquet(out / "runs.parquet")
    assert len(runs) == 12 and (runs["status"] == "ok").all()
    for col in (
        "run_id",
        "scenario",
        "replicate",
        "seed",
        "status",
        "error",
        "wall_s",
        *SUMMARY_KEYS,
    ):
        assert col in runs.columns
    series = pd.read_parquet(out / "series")
    assert set(series["run_id"]) == set(runs["run_id"])
    assert len(series) == 12 * 30
    import json

    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert len(manifest["config_hash"]) == 64
    assert "numpy" in manifest["versions"] and "i4p-sim" in manifest["versions"]
    assert manifest["executor"].startswith("process pool (1")
    # same seed per replicate across scenarios
    assert (runs.groupby("replicate")["seed"].nunique() == 1).all()


def test_rerun_skips_stored(reference_sweep):
    exp, out, _ = reference_sweep
    res = run_experiment(exp, out=out, workers=1, progress=False)
    assert res.ran == 0 and res.skipped == 12


@pytest.mark.slow
def test_determinism_two_workers_and_dask(reference_sweep, tmp_path):
    exp, out, _ = reference_sweep
    ref = values(pd.read_parquet(out / "runs.parquet"))
    ref_series = series_of(out)
    two = run_experiment(exp, out=tmp_path / "two", workers=2, progress=False)
    pd.testing.assert_frame_equal(values(two.runs), ref, check_exact=True)
    pd.testing.assert_frame_equal(series_of(tmp_path / "two"), ref_series, check_exact=True)
    pytest.importorskip("distributed")
    dask = run_experiment(exp, out=tmp_path / "dask", dask_local=2, progress=False)
    pd.testing.assert_frame_equal(values(dask.runs), ref, check_exact=True)
    pd.testing.assert_frame_equal(series_of(tmp_path / "dask"), ref_series, check_exact=True)
    import json

    assert (
        "LocalCluster" in json.loads((tmp_path / "dask" / "manifest.json").read_text())["executor"]
    )


FORK_SERVER_CHECK = """
import os
from i4p_sim.sweep import executors

assert executors.start_fork_server(), "no fork server"
# set after the server started: a forked worker still sees it, as a spawned one would
os.environ["I4P_TEST_POOL_ENV"] = "driver"
with executors.make_executor(workers=1) as (pool, desc, _):
    assert desc == "process pool (1 workers, forkserver)", desc
    assert pool.submit(os.getenv, "I4P_TEST_POOL_ENV").result() == "driver"
    assert pool.submit(os.getpid).result() != os.getpid()
# a variable read at import time changed since the server started: spawn instead
os.environ["NUMBA_I4P_TEST"] = "1"
pool = executors.RestartablePool(1)
assert pool.method == "spawn", pool.method
pool.shutdown()
print("ok")
"""


@pytest.mark.slow
def test_pool_workers_fork_from_the_server_and_get_the_drivers_environment():
    """In a fresh interpreter (the fork server is per process, and an earlier test may have
    changed a variable it read at import): Linux has a fork server and pools fork from it."""
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_I4P")}
    done = subprocess.run(
        [sys.executable, "-c", FORK_SERVER_CHECK],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]


@pytest.mark.slow
def test_spawned_workers_give_the_values_of_forked_ones(reference_sweep, tmp_path, monkeypatch):
    from i4p_sim.sweep import executors

    exp, out, _ = reference_sweep
    executors.start_fork_server()
    monkeypatch.setenv("NUMBA_I4P_TEST", "1")  # an import-time variable changed: spawn
    res = run_experiment(exp, out=tmp_path / "spawn", workers=2, progress=False)
    import json

    assert json.loads((tmp_path / "spawn" / "manifest.json").read_text())["executor"] == (
        "process pool (2 workers, spawn)"
    )
    pd.testing.assert_frame_equal(
        values(res.runs), values(pd.read_parquet(out / "runs.parquet")), check_exact=True
    )
    pd.testing.assert_frame_equal(series_of(tmp_path / "spawn"), series_of(out), check_exact=True)


def test_batching_does_not_change_values(reference_sweep, tmp_path):
    exp, out, _ = reference_sweep
    ref = values(pd.read_parquet(out / "runs.parquet"))
    one = run_experiment(exp, out=tmp_path / "b1", workers=1, batch_size=1, progress=False)
    pd.testing.assert_frame_equal(values(one.runs), ref, check_exact=True)


@pytest.mark.slow
def test_failure_isolation_and_retry(reference_sweep, tmp_path, monkeypatch):
    exp, out, _ = reference_sweep
    monkeypatch.setenv(FAIL_ENV, "no_i4p")
    res = run_experiment(exp, out=tmp_path / "f", workers=1, progress=False)
    runs = res.runs
    failed = runs[runs["status"] == "failed"]
    assert set(failed["scenario"]) == {"no_i4p"} and len(failed) == 3
    assert failed["error"].str.contains("Traceback").all()
    assert failed["error"].str.contains(FAIL_ENV).all()
    assert failed["cumulative_violence"].isna().all()
    assert (runs.loc[runs["scenario"] != "no_i4p", "status"] == "ok").all()
    # a plain rerun does not retry failures
    again = run_experiment(exp, out=tmp_path / "f", workers=1, progress=False)
    assert again.ran == 0
    monkeypatch.delenv(FAIL_ENV)
    retry = run_experiment(exp, out=tmp_path / "f", workers=1, retry_failed=True, progress=False)
    assert retry.ran == 3 and retry.skipped == 9
    assert (retry.runs["status"] == "ok").all() and len(retry.runs) == 12
    ref = values(pd.read_parquet(out / "runs.parquet"))
    pd.testing.assert_frame_equal(values(retry.runs), ref, check_exact=True)
    # the series hold each run exactly once
    s = pd.read_parquet(tmp_path / "f" / "series")
    assert s.groupby("run_id").size().eq(30).all() and s["run_id"].nunique() == 12


@pytest.mark.slow
def test_fresh_starts_over(reference_sweep, tmp_path):
    exp, out, _ = reference_sweep
    run_experiment(exp, out=tmp_path / "fr", workers=1, progress=False)
    res = run_experiment(exp, out=tmp_path / "fr", workers=1, fresh=True, progress=False)
    assert res.ran == 12 and res.skipped == 0


def test_compare_exact_zero_for_identical_cells(tmp_path):
    exp = write(tmp_path, FACTORIAL)
    res = run_experiment(exp, out=tmp_path / "out", workers=2, progress=False)
    runs = res.runs
    assert (runs["status"] == "ok").all()
    eff = effects_table(runs, "none", list(SUMMARY_KEYS[:3]) + ["funding_spent"], n_resamples=200)
    zero = eff[eff["scenario"] == "none_abrupt"]
    assert len(zero) == 4
    for col in ("estimate", "ci_low", "ci_high"):
        assert (zero[col] == 0.0).all(), zero
    assert (zero["n"] == 4).all()
    # the I4P changes something: not every row is zero
    assert (eff.loc[eff["scenario"] == "both", "estimate"] != 0).any()
    inter = interactions_table(
        runs,
        [{"name": "tiers", "none": "none", "a": "lpc", "b": "council", "ab": "both"}],
        ["cumulative_violence"],
        n_resamples=200,
    )
    assert list(inter["scale"]) == ["additive", "ratio"]
    assert inter["n"].eq(4).all()


def test_python_api_import():
    import i4p_sim

    assert i4p_sim.run_experiment is run_experiment


# --------------------------------------------------------------------------- layering


def test_each_scenario_point_is_validated_once(tmp_path, monkeypatch):
    import i4p_sim.config.experiment as experiment

    calls = []
    real = experiment.validate_scenario

    def counting(data, source="<scenario>"):
        calls.append(data["name"])
        return real(data, source)

    monkeypatch.setattr(experiment, "validate_scenario", counting)
    path = write(
        tmp_path, TINY + '\n[axes]\n"lpc.radius" = [5, 10]\ndynamics.contagion = [0.1, 0.2, 0.3]\n'
    )
    exp = load_experiment(path)
    # 4 scenarios once each, then each of the 4 x 6 (scenario, point) pairs once
    assert len(calls) == 4 + 4 * 6
    specs = list(iter_runs(exp))
    assert len(calls) == 4 + 4 * 6  # listing runs validates nothing again
    assert all(isinstance(s.scenario, Scenario) for s in specs)
    assert not hasattr(specs[0], "scenario_dict")
    spec = next(s for s in specs if s.point == 5 and s.replicate == 2)
    assert spec.scenario.seed == spec.seed
    assert spec.scenario.lpc.radius == 10 and spec.scenario.dynamics.contagion == 0.3
    assert spec.scenario.reference_step == exp.reference_step


def test_apply_point_takes_and_returns_a_scenario(tmp_path):
    exp = load_experiment(write(tmp_path, TINY))
    base = exp.scenarios["baseline"]
    assert apply_point(base, {}, "x") is base
    moved = apply_point(base, {"lpc.radius": 7}, "x")
    assert isinstance(moved, Scenario) and moved.lpc.radius == 7 and base.lpc.radius != 7
    with pytest.raises(ConfigError) as info:
        apply_point(base, {"lpc.ownership": 2.0}, "x")
    assert info.value.field == "axes/sample: lpc.ownership"


def test_run_ids_unchanged_by_the_split(tmp_path):
    """Ids are the sha256 of the same JSON ident as before the sweep package was split
    (fields added since, at their neutral value, left out: identity_scenario)."""
    import hashlib
    import json

    from i4p_sim._version import __version__
    from i4p_sim.sweep.spec import identity_scenario

    exp = load_experiment(write(tmp_path, TINY + '\n[axes]\n"lpc.radius" = [5, 10]\n'))
    for spec in iter_runs(exp):
        data = spec.scenario.to_dict()
        ident = {
            "scenario": identity_scenario(data),
            "params": spec.params,
            "seed": spec.seed,
            "steps": data["steps"],
            "window": exp.config.window,
            "version": __version__,
        }
        text = json.dumps(ident, sort_keys=True, default=str).encode()
        assert spec.run_id == hashlib.sha256(text).hexdigest()[:20]
    assert RunSpec.__dataclass_fields__.keys() >= {"scenario", "name", "window", "params"}


def test_snapshots_of_replicate_0_only_as_float32(reference_sweep):
    exp_path, out, res = reference_sweep
    runs = res.runs
    stored = {p.stem for p in (out / "snapshots").glob("*.npz")}
    assert stored == set(runs.loc[runs["replicate"] == 0, "run_id"])
    steps = res.experiment.heatmap_steps()
    assert steps == [9, 29]
    for rid in stored:
        snaps = read_snapshots(out, rid)
        assert list(snaps) == steps
        for layers in snaps.values():
            assert set(layers) == {"tension", "violence"}
            for grid in layers.values():
                assert grid.dtype == np.float32 and grid.shape == (12, 12)
    assert read_snapshots(out, runs.loc[runs["replicate"] == 1, "run_id"].iloc[0]) == {}


def test_snapshot_replicates_widens(tmp_path):
    exp = load_experiment(write(tmp_path, TINY + "snapshot_replicates = 2\n"))
    assert {s.replicate for s in iter_runs(exp) if s.snapshot_steps} == {0, 1}
    none = load_experiment(write(tmp_path, TINY + "snapshot_replicates = 0\n", "n.toml"))
    assert not any(s.snapshot_steps for s in iter_runs(none))


def test_run_experiment_writes_no_report(reference_sweep):
    _, out, res = reference_sweep
    assert not (out / "report.html").exists()
    assert not hasattr(res, "report")


def test_runs_table_columns_come_from_one_schema(reference_sweep, tmp_path):
    from i4p_sim.sweep.store import Store

    _, out, _ = reference_sweep
    runs = pd.read_parquet(out / "runs.parquet")
    assert list(runs.columns) == runs_columns()
    assert {c: str(t) for c, t in runs.dtypes.items()} == {
        c: str(pd.Series(dtype=t).dtype) for c, t in RUNS_SCHEMA.items()
    }
    empty = Store(tmp_path / "empty").assemble()
    assert list(empty.columns) == list(RUNS_SCHEMA) == runs_columns()
    assert tuple(c for c in RUNS_SCHEMA if c in SUMMARY_KEYS) == SUMMARY_KEYS
    params = runs_columns(["lpc.radius"])
    assert params.index("lpc.radius") == params.index("seed") + 1

"""Twins and the paired resilience metrics end to end (docs/ODD.md 4.9).

Twin resolution (declared, default, factorial, implicit), the null perturbation (the
re-seed hook), the sweep's ``paired.parquet`` and what ``compare`` and the report read.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from i4p_sim.config.errors import ConfigError
from i4p_sim.config.experiment import load_experiment
from i4p_sim.config.loading import load_scenario
from i4p_sim.sim.simulation import Simulation, simulate
from i4p_sim.stats.bootstrap import bootstrap_ci
from i4p_sim.stats.resilience import PAIRED_SCHEMA, paired_metrics, read_paired
from i4p_sim.sweep.driver import run_experiment
from i4p_sim.sweep.spec import iter_runs

from conftest import ROOT, SMALL, experiment_text, run_cli

SCEN = ROOT / "scenarios"
ABRUPT = '[{ kind = "funding_withdrawal", at = 10, mode = "abrupt" }]'
PHASED = '[{ kind = "funding_withdrawal", at = 10, mode = "phased", ramp = 6 }]'

#: A 2 x 3 factorial: tiers {both, lpc} x shocks {none, abrupt, phased}.
FACTORIAL = f"""
name = "twins"
seed = 1
replicates = 3
steps = 30
reference_step = 10
base = "{SCEN / "baseline.toml"}"
set = ["grid.width=12", "grid.height=12"]
[[variants]]
name = "both_none"
[[variants]]
name = "both_abrupt"
shocks = {ABRUPT}
[[variants]]
name = "both_phased"
shocks = {PHASED}
[[variants]]
name = "lpc_none"
set = ["council.enabled=false"]
[[variants]]
name = "lpc_abrupt"
set = ["council.enabled=false"]
shocks = {ABRUPT}
[[variants]]
name = "lpc_phased"
set = ["council.enabled=false"]
shocks = {PHASED}
"""

#: One shocked scenario and nothing else: its twin must be added (the small grid, where
#: there is some violence, so the null pairs' noise floor is above 0).
_SMALL_SETS = ", ".join(f'"{a}"' for a in SMALL if not a.startswith("steps="))
ALONE = f"""
name = "alone"
seed = 2
replicates = 3
steps = 60
noise_pairs = 2
set = [{_SMALL_SETS}, "shocks.0.at=30"]
scenarios = ["{SCEN / "withdrawal_abrupt.toml"}"]
"""


def write(tmp_path: Path, text: str, name: str = "exp.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# --------------------------------------------------------------------------- resolution


def test_default_twin_is_the_same_tiers_without_shocks(tmp_path):
    exp = load_experiment(write(tmp_path, FACTORIAL))
    assert exp.twins == {
        "both_none": "both_none",
        "both_abrupt": "both_none",
        "both_phased": "both_none",
        "lpc_none": "lpc_none",
        "lpc_abrupt": "lpc_none",
        "lpc_phased": "lpc_none",
    }
    assert exp.nulls == {"both_none": "both_none~null", "lpc_none": "lpc_none~null"}
    assert set(exp.extra) == {"both_none~null", "lpc_none~null"}  # no implicit twin needed
    assert exp.resolved_config()["twins"] == exp.twins


def test_shipped_factorial_twins_keep_the_tiers():
    exp = load_experiment(ROOT / "experiments" / "i4p_factorial.toml")
    for name, twin in exp.twins.items():
        if name != twin:
            assert twin == name.rsplit("_", 1)[0] + "_no_shock", (name, twin)


def test_declared_twin_wins_and_a_bad_one_is_a_one_line_error(tmp_path):
    text = FACTORIAL.replace(
        'name = "lpc_phased"\nset = ["council.enabled=false"]',
        'name = "lpc_phased"\ntwin = "lpc_abrupt"\nset = ["council.enabled=false"]',
    )
    exp = load_experiment(write(tmp_path, text))
    assert exp.twins["lpc_phased"] == "lpc_abrupt"
    assert exp.twins["lpc_abrupt"] == "lpc_none"
    bad = write(tmp_path, text.replace('twin = "lpc_abrupt"', 'twin = "nope"'), "bad.toml")
    with pytest.raises(ConfigError) as err:
        load_experiment(bad)
    line = err.value.one_line()
    assert "\n" not in line and "variants.5.twin" in line and "'nope'" in line


def test_implicit_twin_runs_with_the_same_seeds(tmp_path):
    exp = load_experiment(write(tmp_path, ALONE))
    assert exp.twins == {"withdrawal_abrupt": "withdrawal_abrupt~twin"}
    twin = exp.extra["withdrawal_abrupt~twin"]
    assert twin.shocks == [] and twin.reference_step == exp.reference_step == 30
    assert exp.nulls == {"withdrawal_abrupt~twin": "withdrawal_abrupt~twin~null"}
    specs = list(iter_runs(exp))
    assert len(specs) == exp.total_runs() == 3 + 3 + 2
    by = {(s.name, s.replicate): s for s in specs}
    for rep in range(3):
        assert by[("withdrawal_abrupt", rep)].seed == by[("withdrawal_abrupt~twin", rep)].seed
    nulls = [s for s in specs if s.name.endswith("~null")]
    assert [s.replicate for s in nulls] == [0, 1]
    assert all(s.reseed_at == 30 for s in nulls)
    assert all(s.reseed_at is None for s in specs if not s.name.endswith("~null"))
    # deterministic ids, distinct from the twin's
    again = [s.run_id for s in iter_runs(load_experiment(write(tmp_path, ALONE, "b.toml")))]
    assert again == [s.run_id for s in specs]
    assert len(set(again)) == len(again)


def test_noise_pairs_zero_runs_no_null_twins(tmp_path):
    exp = load_experiment(write(tmp_path, ALONE.replace("noise_pairs = 2", "noise_pairs = 0")))
    assert exp.nulls == {} and exp.total_runs() == 6
    assert {s.name for s in iter_runs(exp)} == {"withdrawal_abrupt", "withdrawal_abrupt~twin"}


def test_an_unshocked_experiment_has_no_extra_runs():
    exp = load_experiment(ROOT / "tests" / "data" / "tiny.toml")
    assert all(exp.twins[n] == n for n in exp.scenarios)
    assert exp.extra == {} and exp.nulls == {}


# --------------------------------------------------------------------------- the hook


def test_reseed_hook_changes_only_the_steps_from_its_month():
    sc = load_scenario(SCEN / "withdrawal_abrupt.toml", overrides=[*SMALL, "steps=40"])
    sc = sc.model_copy(update={"shocks": []})
    plain = simulate(sc).series
    assert plain.equals(simulate(sc, reseed_at=None).series)
    null = simulate(sc, reseed_at=20).series
    pd.testing.assert_frame_equal(null.iloc[:20], plain.iloc[:20], check_exact=True)
    assert not null["violence_share"].iloc[20:].equals(plain["violence_share"].iloc[20:])
    # deterministic, and the key matters
    assert null.equals(simulate(sc, reseed_at=20).series)
    other = simulate(sc, reseed_at=20, reseed_key=2).series
    assert not other["violence_share"].iloc[20:].equals(null["violence_share"].iloc[20:])
    sim = Simulation(sc, communities=False)
    with pytest.raises(ValueError, match="unknown stream"):
        sim.model.reseed_stream("nope", 1)


@pytest.mark.slow
def test_null_perturbation_has_zero_signed_excess_and_a_withdrawal_does_not():
    """30 paired seeds on the small grid (about 4 s): a twin re-seeded at the shock month
    has a signed excess over the twin whose 95% bootstrap interval contains 0, while its
    sum of positive parts does not (why the signed sum is primary); an abrupt withdrawal's
    signed excess is above 0."""
    sc = load_scenario(SCEN / "withdrawal_abrupt.toml", overrides=[*SMALL, "shocks.0.at=60"])
    twin_sc = sc.model_copy(update={"shocks": []})
    s = sc.resolved_reference_step()
    null, positive, shock = [], [], []
    for seed in range(30):
        twin = simulate(twin_sc.model_copy(update={"seed": seed})).series["violence_share"]
        nul = simulate(twin_sc.model_copy(update={"seed": seed}), reseed_at=s).series
        shk = simulate(sc.model_copy(update={"seed": seed})).series
        m = paired_metrics(nul["violence_share"], twin, s)
        null.append(m["resilience_loss"])
        positive.append(m["excess_positive"])
        shock.append(paired_metrics(shk["violence_share"], twin, s)["resilience_loss"])
    _, lo, hi = bootstrap_ci(null)
    assert lo < 0.0 < hi, (lo, hi)
    assert bootstrap_ci(positive)[1] > 0.0
    assert bootstrap_ci(shock)[1] > 0.0
    assert np.mean(shock) > 10 * abs(np.mean(null))


# --------------------------------------------------------------------------- the sweep


@pytest.fixture(scope="module")
def alone_sweep(tmp_path_factory):
    root = tmp_path_factory.mktemp("alone")
    exp = write(root, ALONE)
    res = run_experiment(exp, out=root / "out", workers=1, progress=False)
    return res


def test_sweep_writes_the_paired_table(alone_sweep):
    paired = read_paired(alone_sweep.out)
    assert list(paired.columns) == list(PAIRED_SCHEMA)
    pd.testing.assert_frame_equal(paired, alone_sweep.paired)
    assert len(paired) == 3 and set(paired["scenario"]) == {"withdrawal_abrupt"}
    assert set(paired["twin"]) == {"withdrawal_abrupt~twin"}
    assert not paired.isna().any().any()
    assert (paired["months_observed"] == 30).all()
    assert paired["tol"].nunique() == 1 and paired["tol"].iloc[0] > 0  # the 2 null pairs
    runs = alone_sweep.runs
    assert {"recovery_time", "resilience_loss"}.isdisjoint(runs.columns)  # not per run
    assert set(runs["scenario"]) == {
        "withdrawal_abrupt",
        "withdrawal_abrupt~twin",
        "withdrawal_abrupt~twin~null",
    }


def test_paired_table_is_rebuilt_from_the_store(alone_sweep):
    before = read_paired(alone_sweep.out)
    (alone_sweep.out / "paired.parquet").unlink()
    res = run_experiment(alone_sweep.experiment, out=alone_sweep.out, progress=False)
    assert res.ran == 0
    pd.testing.assert_frame_equal(read_paired(alone_sweep.out), before)


def test_compare_and_report_read_the_paired_table(alone_sweep):
    proc = run_cli("compare", alone_sweep.out)
    assert proc.returncode == 0, proc.stderr
    assert "against each shocked scenario's twin" in proc.stdout
    assert "withdrawal_abrupt~twin" in proc.stdout  # the twin named in the paired table
    proc = run_cli("report", alone_sweep.out, "--out", alone_sweep.out / "r.html")
    assert proc.returncode == 0, proc.stderr
    html = (alone_sweep.out / "r.html").read_text()
    assert "Against the twin" in html and "censored" in html
    # the headline states the variant against its implicit twin, named in words
    assert "in withdrawal abrupt without its shocks (its twin" in html


def test_compare_uses_paired_metrics_between_scenarios(tmp_path):
    exp = load_experiment(write(tmp_path, FACTORIAL.replace("replicates = 3", "replicates = 2")))
    res = run_experiment(exp, out=tmp_path / "out", workers=1, progress=False)
    paired = res.paired
    unshocked = paired[paired["scenario"] == paired["twin"]]
    assert (unshocked["resilience_loss"] == 0).all() and unshocked["recovered"].all()
    assert (unshocked["recovery_time"] == 0).all()
    proc = run_cli("compare", res.out, "--baseline", "both_none", "--metric", "resilience_loss")
    assert proc.returncode == 0, proc.stderr
    assert "both_abrupt" in proc.stdout and "~null" not in proc.stdout
    assert experiment_text("tiny")  # the shared test data still loads


def test_a_store_from_before_the_paired_metrics_assembles_without_them(tmp_path):
    from i4p_sim.stats.metrics import SUMMARY_KEYS
    from i4p_sim.sweep.store import Store

    store = Store(tmp_path)
    store.prepare()
    row = {"run_id": "a", "scenario": "s", "replicate": 0, "point": 0, "seed": 1}
    row |= dict.fromkeys(SUMMARY_KEYS, 0) | {"status": "ok", "error": "", "wall_s": 0.1}
    row |= {"recovery_time": 37, "recovered": True, "resilience_loss": 0.105}  # old columns
    store.write_batch([row], None)
    runs = store.assemble()
    assert {"recovery_time", "recovered", "resilience_loss"}.isdisjoint(runs.columns)
    assert list(runs.columns)[:5] == ["run_id", "scenario", "replicate", "point", "seed"]

"""Snapshot and restore of a Simulation (issue 12): a restored model continues bit for bit.

A snapshot holds arrays, generator states and scalars, never a Python agent; restore
writes in place (layers keep sharing memory with the grid's property layers), truncates
the series and may rebind a variant's configuration: a branch of a shared past equals the
variant's own run, for every shock kind.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from i4p_sim.config.loading import load_scenario
from i4p_sim.config.scenario import SHOCK_CLASSES
from i4p_sim.sim.agents import Community
from i4p_sim.sim.shocks import first_effect
from i4p_sim.sim.simulation import Simulation
from i4p_sim.sim.snapshot import TIER_ARRAYS

from conftest import ROOT

SCEN = ROOT / "scenarios"
TINY = ["grid.width=14", "grid.height=14", "steps=40", "seed=7"]

#: One shock of each kind, all in a 40-step run (at 20: effects from 14 to 39).
SHOCKS = {
    "funding_withdrawal": {"kind": "funding_withdrawal", "at": 20, "mode": "phased", "ramp": 8},
    "political_upheaval": {"kind": "political_upheaval", "at": 20, "duration": 6},
    "election": {"kind": "election", "at": 20, "pre_steps": 4, "pulse": 0.1},
    "autocratic_turn": {"kind": "autocratic_turn", "at": 20, "capture": 1.0},
    "border_spillover": {"kind": "border_spillover", "at": 20, "duration": 8},
    "economic_shock": {"kind": "economic_shock", "at": 20},
    "trigger_incident": {"kind": "trigger_incident", "at": 20, "spike": 0.9},
}


def busy(**fields):
    """A small scenario that exercises everything: regional councils, responses, crackdowns,
    agreements, an economic shock early on and a captured council later."""
    more = ["grid.width=20", "grid.height=20", "council.response_density=20"]
    more += ["council.regional_density=10", "state.crackdowns=10", "landscape.grievance_mean=0.6"]
    sc = load_scenario(SCEN / "regional_councils.toml", overrides=[*TINY, *more])
    shocks = [
        {"kind": "economic_shock", "at": 5, "magnitude": 0.4},
        {"kind": "autocratic_turn", "at": 25, "capture": 0.7},
    ]
    data = sc.to_dict() | {"shocks": shocks} | fields
    return type(sc).model_validate(data)


def assert_same(a: Simulation, b: Simulation) -> None:
    pd.testing.assert_frame_equal(a.series(), b.series(), check_exact=True)
    for name, layer in a.model.layers.items():
        assert np.array_equal(layer, b.model.layers[name]), name
    for name in TIER_ARRAYS:
        assert np.array_equal(getattr(a.model.committees, name), getattr(b.model.committees, name))
    assert np.array_equal(a.model.state.legitimacy, b.model.state.legitimacy)
    assert a.model.steps == b.model.steps
    assert a.summary() == b.summary()
    assert sorted(a.snapshots) == sorted(b.snapshots)


def test_restored_model_continues_bit_identically():
    sc = busy()
    ref = Simulation(sc, snapshot_steps=[4, 30]).advance()
    sim = Simulation(sc, snapshot_steps=[4, 30]).advance(18)
    snap = sim.snapshot()
    sim.advance()
    assert_same(sim, ref)
    layers = dict(sim.model.layers)
    sim.restore(snap)
    assert sim.steps_done == 18 and len(sim.series()) == 18 and sorted(sim.snapshots) == [4]
    # written in place: the property layers still are the model's arrays
    for name, layer in sim.model.layers.items():
        assert layer is layers[name]
        assert np.shares_memory(layer, sim.model.grid._mesa_property_layers[name].data)
    sim.advance()
    assert_same(sim, ref)
    # responses, crackdowns and warnings happened, so the queue and councils were exercised
    series = ref.series()
    assert series["warnings_answered"].sum() > 0 and series["crackdowns"].sum() > 0


def test_snapshot_holds_only_arrays_and_json():
    sim = Simulation(busy()).advance(12)
    snap = sim.snapshot()
    json.dumps(snap.meta)  # no default: plain JSON types only
    for name, arr in snap.arrays.items():
        assert isinstance(arr, np.ndarray) and arr.dtype != object, name
        live = [layer for layer in sim.model.layers.values()]
        assert not any(np.shares_memory(arr, layer) for layer in live), name


def test_snapshot_restores_into_a_fresh_model():
    """A snapshot restored into another model of the same scenario: identical continuation."""
    sc = busy()
    ref = Simulation(sc).advance()
    snap = Simulation(sc).advance(22).snapshot()
    other = Simulation(sc)
    other.restore(snap)
    other.advance()
    assert_same(other, ref)


def test_agent_created_after_a_fork_gets_the_same_id():
    """Mesa's agent-id counter (per model on 3.5, class-level on 3.3) is part of the state."""
    sc = busy()
    sim = Simulation(sc, communities=True).advance(10)
    snap = sim.snapshot()
    cell = sim.model.grid[(0, 0)]
    first = Community(sim.model, cell).unique_id
    Community(sim.model, cell)
    sim.restore(snap)
    assert Community(sim.model, cell).unique_id == first


def test_restore_refuses_other_dynamics():
    sim = Simulation(busy()).advance(5)
    snap = sim.snapshot()
    other = busy(seed=8)
    with pytest.raises(ValueError, match="dynamics or seed"):
        sim.restore(snap, other)
    changed = busy()
    changed = changed.model_copy(update={"lpc": changed.lpc.model_copy(update={"mediation": 0.5})})
    with pytest.raises(ValueError, match="dynamics or seed"):
        sim.restore(snap, changed)


@pytest.mark.parametrize("kind", sorted(SHOCK_CLASSES))
def test_branch_at_first_effect_equals_the_variants_own_run(kind):
    """The unshocked past, forked at the shock's first effect, continues as the shocked run."""
    base = load_scenario(SCEN / "baseline.toml", overrides=TINY)
    shocked = type(base).model_validate(
        base.to_dict() | {"name": "shocked", "shocks": [SHOCKS[kind]]}
    )
    at = first_effect(shocked.shocks[0])
    assert at <= SHOCKS[kind]["at"]
    own = Simulation(shocked).advance()
    sim = Simulation(base).advance(at)
    snap = sim.snapshot()
    sim.advance()  # the unshocked run goes on, then the fork
    sim.restore(snap, shocked)
    sim.advance()
    assert_same(sim, own)
    # and the shock does change the run from its first effect on (the declared step is
    # not too late by more than nothing: the step before it is still shared)
    plain = Simulation(base).advance()
    a, b = own.series(), plain.series()
    pd.testing.assert_frame_equal(a.iloc[:at], b.iloc[:at], check_exact=True)


def test_first_effect_of_a_phased_exit_is_the_ramp_start():
    sc = load_scenario(
        SCEN / "withdrawal_phased.toml",
        overrides=["shocks.0.at=60", "shocks.0.ramp=24", 'shocks.0.mode="phased"'],
    )
    assert first_effect(sc.shocks[0]) == 48


def test_conditional_withdrawal_branches_conservatively():
    base = load_scenario(SCEN / "baseline.toml", overrides=TINY)
    cond = {"kind": "funding_withdrawal", "at": 10, "condition": "autocratic_turn"}
    turn = {"kind": "autocratic_turn", "at": 16}
    shocked = type(base).model_validate(base.to_dict() | {"shocks": [cond, turn]})
    assert first_effect(shocked.shocks[0]) == 10  # its own at, before the turn it waits for
    own = Simulation(shocked).advance()
    sim = Simulation(base).advance(10)
    sim.restore(sim.snapshot(), shocked)
    sim.advance()
    assert_same(sim, own)


def test_reseed_is_a_branch_point():
    """A null-perturbed twin (decisions re-seeded at s) forks from its twin at s."""
    base = load_scenario(SCEN / "baseline.toml", overrides=TINY)
    own = Simulation(base, reseed_at=15, reseed_key=3).advance()
    sim = Simulation(base).advance(15)
    snap = sim.snapshot()
    sim.advance()
    sim.restore(snap, base, reseed_at=15, reseed_key=3)
    sim.advance()
    assert_same(sim, own)
    sim.restore(snap, base, reseed_at=None)  # and back: the reseeded stream is restored too
    sim.advance()
    assert_same(sim, Simulation(base).advance())


def test_run_with_twin_forks_its_twins_and_equals_independent_runs():
    """``i4p run``'s twin and null twins fork from the run's own past: same results."""
    from i4p_sim.config.twins import NULL_RESEED_KEY
    from i4p_sim.sim.simulation import simulate
    from i4p_sim.sweep.pairing import run_with_twin

    sc = busy()
    run = run_with_twin(sc, noise_pairs=2)
    alone = simulate(sc)
    pd.testing.assert_frame_equal(run.result.series, alone.series, check_exact=True)
    assert run.result.summary == alone.summary
    twin_sc = sc.model_copy(update={"shocks": [], "name": f"{sc.name}~twin"})
    twin = simulate(twin_sc)
    pd.testing.assert_frame_equal(run.twin.series, twin.series, check_exact=True)
    assert run.twin.summary == twin.summary
    ref = Simulation(sc).advance()
    for name, layer in run.layers.items():
        assert np.array_equal(layer, ref.model.layers[name])
    s = sc.resolved_reference_step()
    # the tolerance comes from the null twins: recompute it from independent runs
    from i4p_sim.stats.resilience import noise_floor

    nulls = [
        simulate(twin_sc, reseed_at=s, reseed_key=NULL_RESEED_KEY + i).series for i in range(2)
    ]
    tv = twin.series["violence_share"].to_numpy()
    pairs = [(tv, n["violence_share"].to_numpy()) for n in nulls]
    assert run.tol == noise_floor(pairs, s, window=12)

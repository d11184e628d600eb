"""Simulation and simulate(): the one way to run a model, and that finished models are freed."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest

from i4p_sim.config.loading import load_scenario
from i4p_sim.sim.simulation import Simulation, simulate

from conftest import SMALL


def _scenario():
    return load_scenario(None, overrides=[*SMALL, "steps=12"])


def test_advance_in_parts_equals_simulate_and_keeps_the_snapshots_asked_for() -> None:
    sc = _scenario()
    whole = simulate(sc, snapshot_steps=[3, 11])
    sim = Simulation(sc, communities=False, snapshot_steps=[3, 11])
    sim.advance(5)
    assert sim.steps_done == 5
    sim.advance()
    parts = sim.result()
    assert parts.series.equals(whole.series) and parts.summary == whole.summary
    assert sorted(whole.snapshots) == [3, 11]
    assert whole.snapshots[11]["tension"].dtype == np.float32
    assert np.array_equal(parts.snapshots[3]["violence"], whole.snapshots[3]["violence"])


def test_a_released_model_is_freed() -> None:
    sim = Simulation(_scenario(), communities=False)
    model = weakref.ref(sim.model)
    sim.advance()
    sim.release()
    del sim
    gc.collect()
    assert model() is None  # Mesa 3.3's class-level id registry no longer holds it


@pytest.mark.slow
def test_simulate_leaves_no_model_alive() -> None:
    import mesa

    gc.collect()
    before = sum(isinstance(o, mesa.Model) for o in gc.get_objects())
    for _ in range(3):
        simulate(_scenario())
    gc.collect()
    assert sum(isinstance(o, mesa.Model) for o in gc.get_objects()) == before

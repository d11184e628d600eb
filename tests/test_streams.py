"""Keyed random streams (docs/ODD.md 7.0): adding a stream or a shock shifts no other draw."""

from __future__ import annotations

import numpy as np

from i4p_sim.config.loading import load_scenario
from i4p_sim.core import streams as keyed
from i4p_sim.sim.model import LAYERS, I4PModel
from i4p_sim.sim.shocks import ShockSchedule

from conftest import SMALL

ECONOMIC = '{kind = "economic_shock", at = 20}'
TRIGGER = '{kind = "trigger_incident", at = 40}'


def model(shocks: str, seed: int = 3) -> I4PModel:
    sc = load_scenario(None, overrides=[*SMALL, f"shocks = [{shocks}]"])
    return I4PModel(sc, seed=seed, communities=False)


def test_named_streams_are_keyed_by_fixed_ids_not_by_their_number(monkeypatch) -> None:
    before = {k: g.random(5) for k, g in keyed.streams(11).items()}
    monkeypatch.setitem(keyed.STREAM_IDS, "unused", 99)
    after = keyed.streams(11)
    assert set(after) == set(before) | {"unused"}
    for name, draws in before.items():
        np.testing.assert_array_equal(after[name].random(5), draws)
    assert len({tuple(v) for v in before.values()}) == len(before)


def test_a_shock_stream_depends_on_the_shock_not_on_its_position() -> None:
    a = load_scenario(None, overrides=[f"shocks = [{ECONOMIC}, {TRIGGER}]"]).shocks
    alone = ShockSchedule([a[1]], seed=5).rngs[0].random(3)
    np.testing.assert_array_equal(ShockSchedule(a, seed=5).rngs[1].random(3), alone)
    np.testing.assert_array_equal(ShockSchedule(a[::-1], seed=5).rngs[0].random(3), alone)
    # two identical shocks get distinct streams; another seed gives another stream
    twice = ShockSchedule([a[1], a[1]], seed=5)
    assert not np.array_equal(twice.rngs[0].random(3), twice.rngs[1].random(3))
    assert not np.array_equal(ShockSchedule([a[1]], seed=6).rngs[0].random(3), alone)


def test_adding_a_later_shock_changes_nothing_before_it_fires() -> None:
    one, two = model(ECONOMIC), model(f"{TRIGGER}, {ECONOMIC}")
    for t in range(60):
        one.step()
        two.step()
        same = all(np.array_equal(one.layers[k], two.layers[k]) for k in LAYERS)
        assert same == (t < 40), t
        # the decisions stream draws the same fixed-shape array whatever the state
        np.testing.assert_array_equal(one.draws, two.draws)


def test_the_dynamics_never_draw_from_mesas_own_generators() -> None:
    m = model(f"{TRIGGER}, {ECONOMIC}")
    py_state, np_state = m.random.getstate(), m.rng.bit_generator.state
    m.run(60)
    assert m.random.getstate() == py_state
    assert m.rng.bit_generator.state == np_state

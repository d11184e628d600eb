"""A run's identity ignores fields added later at the value that reproduces the earlier model."""

from __future__ import annotations

from pathlib import Path

from i4p_sim.config.experiment import load_experiment
from i4p_sim.sweep.spec import IDENTITY_NEUTRAL, iter_runs, run_id

ROOT = Path(__file__).resolve().parents[1]


def _scenario() -> dict:
    return {"steps": 24, "lpc": {"radius": 3, "returns": 1.0}, "council": {"mandate": 0.8}}


def test_a_neutral_new_field_is_left_out_of_the_id_and_any_other_value_is_not() -> None:
    assert ("lpc", "returns") in IDENTITY_NEUTRAL
    with_field = _scenario()
    without = _scenario()
    del without["lpc"]["returns"]
    assert run_id(with_field, {}, 7, 24, 12) == run_id(without, {}, 7, 24, 12)
    convex = _scenario()
    convex["lpc"]["returns"] = 2.0
    assert run_id(convex, {}, 7, 24, 12) != run_id(without, {}, 7, 24, 12)
    # the caller's dict is not changed
    assert with_field["lpc"]["returns"] == 1.0


def test_run_ids_are_those_of_stores_written_before_lpc_returns_existed() -> None:
    """The first two run ids of tests/data/tiny.toml as computed at commit 309f807, before
    lpc.returns was added: stores written then still resume."""
    exp = load_experiment(ROOT / "tests" / "data" / "tiny.toml")
    runs = list(iter_runs(exp))
    assert {r.scenario.lpc.returns for r in runs} == {1.0}
    assert [r.run_id for r in runs[:2]] == ["65d5569f4721c011f7f2", "84b00477e7e4f0c5dc62"]

"""Failure modes (docs/ODD.md 7.9, 7.13): the I4P's effect is an output that can flip.

Paired seeds on the default 64 x 64 grid, violence after the turn (months 120-239).
"""

from __future__ import annotations

import numpy as np
import pytest

from i4p_sim.config.loading import load_scenario
from i4p_sim.sim.model import I4PModel

from conftest import ROOT

NONE = ["lpc.enabled=false", "council.enabled=false"]


def i4p_minus_none(name: str, extra=(), seeds=range(8)) -> np.ndarray:
    out = []
    for seed in seeds:
        post = {}
        for label, tiers in (("i4p", []), ("none", NONE)):
            sc = load_scenario(ROOT / "scenarios" / f"{name}.toml", overrides=[*extra, *tiers])
            m = I4PModel(sc, seed=seed, communities=False).run()
            post[label] = m.series()["violence_share"].to_numpy()[120:].sum()
        out.append(post["i4p"] - post["none"])
    return np.asarray(out)


def test_captured_i4p_differs_from_the_autocratic_turn_only_in_capture() -> None:
    captured = load_scenario(ROOT / "scenarios" / "captured_i4p.toml")
    turn = load_scenario(ROOT / "scenarios" / "autocratic_turn.toml")
    assert captured.shocks[0].capture == 1.0 and turn.shocks[0].capture == 0.0
    same = captured.model_copy(
        update={
            "shocks": [captured.shocks[0].model_copy(update={"capture": 0.0})],
            "name": turn.name,
            "description": turn.description,
        }
    )
    assert same == turn


@pytest.mark.slow
def test_in_a_captured_i4p_the_i4p_raises_violence_and_the_partisan_ablation_removes_it() -> None:
    """I4P - none > 0 in captured_i4p (paired); capture adds harm; the flip goes when the
    mechanism ODD names is ablated: the partisan drive (lpc.partisan_threshold 0.3 -> 0.1,
    inside its prior), through which the turn's legitimacy collapse makes committees
    insider partials to the out-groups."""
    captured = i4p_minus_none("captured_i4p")
    assert (captured > 0).all(), captured
    uncaptured = i4p_minus_none("captured_i4p", ["shocks.0.capture=0.0"])
    assert (captured > uncaptured).mean() >= 0.75, (captured, uncaptured)
    ablated = i4p_minus_none("captured_i4p", ["lpc.partisan_threshold=0.1"])
    assert ablated.mean() < 0 and (ablated < captured).all(), ablated

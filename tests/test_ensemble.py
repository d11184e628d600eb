"""Ensemble sweeps (DESIGN 3.1, last paragraph; issue 13): the share of members where a
contrast holds, with its bootstrap interval over members, on synthetic tables with a known
answer; an ensemble named by an experiment (validation, one-line errors); a tiny sweep."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from i4p_sim.stats.ensemble import classify, ensemble_shares, member_contrasts, share_sentence

METRIC = "cumulative_violence"


def _runs(effects: list[np.ndarray], base: float = 50.0, seed: int = 1) -> pd.DataFrame:
    """A runs table: per member ``k``, ``abrupt`` at ``base`` + noise and ``phased`` at
    ``abrupt + effects[k][r]`` for replicate ``r`` (paired)."""
    rng = np.random.default_rng(seed)
    rows = []
    for k, diffs in enumerate(effects):
        for r, d in enumerate(diffs):
            a = base + rng.normal(0, 3)
            rows.append({"scenario": "abrupt", "point": k, "replicate": r, METRIC: a})
            rows.append({"scenario": "phased", "point": k, "replicate": r, METRIC: a + d})
    out = pd.DataFrame(rows)
    out["status"] = "ok"
    out["community.threshold"] = out["point"] / 100
    return out


def _null(r: int = 10) -> np.ndarray:
    """Paired differences with mean exactly 0 and spread: the interval covers 0."""
    half = np.linspace(0.5, 2.0, r // 2)
    return np.concatenate([half, -half])


def test_share_and_interval_on_a_known_answer():
    rng = np.random.default_rng(7)
    # 30 members with a planted reduction of 10 (noise sd 1), 10 with none
    effects = [-10 + rng.normal(0, 1, 10) for _ in range(30)] + [_null() for _ in range(10)]
    runs = _runs(effects)
    members = member_contrasts(runs, [("phased", "abrupt", "phased vs abrupt")], [METRIC])
    assert len(members) == 40
    verdict = members.set_index("point")["verdict"]
    assert (verdict.loc[:29] == "holds").all()
    assert (verdict.loc[30:] == "undetermined").all()
    shares = ensemble_shares(members)
    assert len(shares) == 1
    row = shares.iloc[0]
    assert row["members"] == 40 and row["holds"] == 30
    assert row["reversed"] == 0 and row["undetermined"] == 10
    assert row["share"] == pytest.approx(0.75)
    # binomial sd sqrt(.75 * .25 / 40) = 0.068: a 95% interval of about +-0.13
    assert row["share_low"] < 0.75 < row["share_high"]
    assert 0.55 < row["share_low"] < 0.7 and 0.8 < row["share_high"] < 0.92
    # size: 30 of 40 per-member effects near -10, 10 near 0
    assert row["effect_median"] == pytest.approx(-10, abs=1.0)
    assert row["effect_q75"] > row["effect_median"] > row["effect_q25"]
    assert row["ratio_median"] == pytest.approx(0.8, abs=0.03)  # 40 vs 50
    text = share_sentence(row)
    assert "phased has less cumulative violence than abrupt in 75% [" in text
    assert "of 40 plausible worlds" in text and "median reduction 20%" in text


def test_reversed_members_and_direction():
    effects = [np.full(10, -3.0) + _null() / 10 for _ in range(5)]
    effects += [np.full(10, 3.0) + _null() / 10 for _ in range(3)] + [_null() for _ in range(2)]
    members = member_contrasts(_runs(effects), [("phased", "abrupt")], [METRIC])
    row = ensemble_shares(members).iloc[0]
    assert (row["holds"], row["reversed"], row["undetermined"]) == (5, 3, 2)
    assert row["share"] == pytest.approx(0.5)
    assert classify(-2.0, -1.0) == "holds" and classify(1.0, 2.0) == "reversed"
    assert classify(-1.0, 1.0) == "undetermined" and classify(float("nan"), 1.0) == "undetermined"
    assert classify(1.0, 2.0, "more") == "holds" and classify(-2.0, -1.0, "more") == "reversed"


def test_share_interval_is_over_members_not_replicates():
    """More replicates per member narrow each member's interval, not the share's: the share
    interval depends on the members' verdicts only."""
    rng = np.random.default_rng(3)
    few = [-10 + rng.normal(0, 1, 10) for _ in range(15)] + [_null(10) for _ in range(5)]
    many = [-10 + rng.normal(0, 1, 40) for _ in range(15)] + [_null(40) for _ in range(5)]
    a = ensemble_shares(member_contrasts(_runs(few), [("phased", "abrupt")], [METRIC]))
    b = ensemble_shares(member_contrasts(_runs(many), [("phased", "abrupt")], [METRIC]))
    cols = ["share", "share_low", "share_high"]
    assert a[cols].to_numpy() == pytest.approx(b[cols].to_numpy())

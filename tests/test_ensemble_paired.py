"""Per-member contrasts that need more than one pair of variants (issue 13): the tier
interaction ``(both - council) - (lpc - none)`` and early vs late exit as excess over each
exit's own twin in equal windows, on synthetic tables with a known answer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from i4p_sim.stats.ensemble import (
    ensemble_shares,
    member_interaction,
    member_window_contrast,
    window_excess,
)

METRIC = "cumulative_violence"
CELLS = {"none": "none", "a": "lpc_only", "b": "council_only", "ab": "both"}


def _factorial(interactions: list[float], replicates: int = 8, seed: int = 3) -> pd.DataFrame:
    """Per member ``k`` a paired 2x2 with main effects -20 (committees) and -25 (council)
    and a planted interaction ``interactions[k]`` (small noise per run)."""
    rng = np.random.default_rng(seed)
    rows = []
    for k, inter in enumerate(interactions):
        for r in range(replicates):
            base = 100 + rng.normal(0, 5)  # shared by the four cells: common random numbers
            cells = {
                "none": base,
                "lpc_only": base - 20,
                "council_only": base - 25,
                "both": base - 45 + inter,
            }
            for name, value in cells.items():
                rows.append(
                    {
                        "scenario": name,
                        "point": k,
                        "replicate": r,
                        METRIC: value + rng.normal(0, 0.5),
                        "status": "ok",
                    }
                )
    return pd.DataFrame(rows)


def test_member_interaction_recovers_planted_interactions():
    planted = [-6.0] * 6 + [6.0] * 3 + [0.0]
    members = member_interaction(_factorial(planted), CELLS, METRIC)
    assert len(members) == 10
    est = members.set_index("point")["estimate"]
    assert np.allclose(est.to_numpy(), planted, atol=1.0)
    verdict = members.set_index("point")["verdict"]
    assert (verdict.loc[:5] == "holds").all()  # super-additive: the I4P hypothesis
    assert (verdict.loc[6:8] == "reversed").all()
    assert verdict.loc[9] == "undetermined"
    assert members["scenario"].iloc[0] == "(both - council_only) - (lpc_only - none)"
    shares = ensemble_shares(members)
    row = next(shares.itertuples(index=False))
    assert (row.members, row.holds, row.reversed, row.undetermined) == (10, 6, 3, 1)
    assert row.share == pytest.approx(0.6)
    assert row.share_low < 0.6 < row.share_high


def test_member_interaction_ratio_is_the_ratio_of_means():
    members = member_interaction(_factorial([0.0], replicates=6, seed=5), CELLS, METRIC)
    runs = _factorial([0.0], replicates=6, seed=5)
    m = runs.groupby("scenario")[METRIC].mean()
    expected = m["both"] * m["none"] / (m["lpc_only"] * m["council_only"])
    assert members["ratio"].iloc[0] == pytest.approx(expected)


def _series(
    excess: dict[str, tuple[int, float]],
    members: int,
    replicates: int = 6,
    spread: dict[str, float] | None = None,
):
    """Per-step series of 200 months: ``steady`` at 0.1 (+ noise shared with the exits of
    the same member and replicate), each exit ``name`` at steady + ``size`` (times the
    member's number) from month ``at`` on, plus for an exit named in ``spread`` a
    per-replicate offset of mean exactly 0 in ``[-spread, spread]``."""
    spread = spread or {}
    rng = np.random.default_rng(11)
    rows = []
    steps = np.arange(200)
    for k in range(members):
        for r in range(replicates):
            noise = rng.normal(0, 0.01, steps.size)
            frames = {"steady": 0.1 + noise}
            for name, (at, size) in excess.items():
                off = np.linspace(-1, 1, replicates)[r] * spread.get(name, 0.0)
                frames[name] = 0.1 + noise + np.where(steps >= at, size * (k + 1) + off, 0.0)
            for name, values in frames.items():
                rows.append(
                    pd.DataFrame(
                        {
                            "scenario": name,
                            "point": k,
                            "replicate": r,
                            "step": steps,
                            "violence_share": values,
                        }
                    )
                )
    return pd.concat(rows, ignore_index=True)


def test_window_excess_is_the_mean_difference_over_the_window():
    s = _series({"early": (50, 0.02)}, members=1, replicates=2)
    e = window_excess(s, "early", "steady", 50, 40)
    assert list(e.columns) == ["point", "replicate", "excess", "scenario_mean", "twin_mean"]
    assert np.allclose(e["excess"], 0.02)
    # a window starting before the exit dilutes it: 10 of 40 months at zero
    assert np.allclose(window_excess(s, "early", "steady", 40, 40)["excess"], 0.015)


def test_early_vs_late_uses_equal_windows_from_each_exit():
    # both exits add the same excess after they happen: equal windows see no difference,
    # although a fixed horizon (to month 200) would credit the late exit with 60 fewer months
    same = _series({"early": (60, 0.02), "late": (120, 0.02)}, members=3, spread={"late": 0.005})
    rows = member_window_contrast(same, ("late", "steady", 120), ("early", "steady", 60), 80)
    assert len(rows) == 3 and np.allclose(rows["estimate"], 0.0, atol=1e-9)
    assert (rows["verdict"] == "undetermined").all()
    assert np.allclose(rows["ratio"], 1.0)
    assert (rows["ci_low"] < 0).all() and (rows["ci_high"] > 0).all()
    # the late exit does half the harm in every member: holds everywhere
    half = _series({"early": (60, 0.02), "late": (120, 0.01)}, members=4)
    rows = member_window_contrast(half, ("late", "steady", 120), ("early", "steady", 60), 80)
    assert (rows["verdict"] == "holds").all()
    assert np.allclose(rows["estimate"], [-0.01 * (k + 1) for k in range(4)])
    assert np.allclose(rows["ratio"], 0.5)
    share = next(ensemble_shares(rows).itertuples(index=False))
    assert (share.members, share.holds) == (4, 4)


def test_window_must_be_positive():
    s = _series({"early": (60, 0.02)}, members=1, replicates=2)
    with pytest.raises(ValueError, match="window"):
        member_window_contrast(s, ("early", "steady", 60), ("early", "steady", 60), 0)

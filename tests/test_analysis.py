"""Tests for i4p_sim.analysis."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from i4p_sim.stats.bootstrap import bootstrap_ci
from i4p_sim.stats.paired import (
    EFFECT_COLUMNS,
    averted_per_funding,
    interaction,
    paired_differences,
    paired_effects,
)

CELLS = {"none": "none", "a": "lpc", "b": "council", "ab": "both"}


def runs_table(values: dict[str, np.ndarray], metric: str = "m", **extra) -> pd.DataFrame:
    """One ok row per (scenario, replicate) from per-scenario value arrays."""
    rows = []
    for scenario, vals in values.items():
        for rep, v in enumerate(vals):
            row = {"scenario": scenario, "replicate": rep, "status": "ok", metric: float(v)}
            for key, per_scenario in extra.items():
                row[key] = float(per_scenario[scenario][rep])
            rows.append(row)
    return pd.DataFrame(rows)


@pytest.fixture
def shifted():
    """baseline ~ 5 + N(0, 1) per replicate, scenario = baseline + 0.5 + small noise."""
    rng = np.random.default_rng(42)
    base = 5.0 + rng.normal(0, 1, 40)
    scen = base + 0.5 + rng.normal(0, 0.05, 40)
    return base, scen, runs_table({"base": base, "scen": scen})


# --- paired_differences ----------------------------------------------------------------


def test_paired_differences_values_and_index(shifted):
    base, scen, runs = shifted
    d = paired_differences(runs, "scen", "base", "m")
    assert d.name == "m"
    assert list(d.index) == list(range(40))
    np.testing.assert_allclose(d.to_numpy(), scen - base)


def test_failed_runs_excluded():
    runs = runs_table({"base": [1.0, 2.0, 3.0, 4.0], "scen": [2.0, 3.0, 4.0, 5.0]})
    runs.loc[(runs.scenario == "scen") & (runs.replicate == 1), ["status", "m"]] = ["failed", 1e9]
    runs.loc[(runs.scenario == "base") & (runs.replicate == 3), "status"] = "failed"
    d = paired_differences(runs, "scen", "base", "m")
    assert list(d.index) == [0, 2]
    assert d.tolist() == [1.0, 1.0]
    eff = paired_effects(runs, "base", "m")
    assert eff.loc[0, "n"] == 2


def test_mismatched_replicates_inner_join():
    base = pd.DataFrame({"scenario": "base", "replicate": range(0, 5), "m": np.arange(0, 5.0)})
    scen = pd.DataFrame({"scenario": "scen", "replicate": range(2, 7), "m": np.arange(2, 7.0) * 2})
    runs = pd.concat([scen, base], ignore_index=True)  # no status column: all ok
    d = paired_differences(runs, "scen", "base", "m")
    assert list(d.index) == [2, 3, 4]
    assert d.tolist() == [2.0, 3.0, 4.0]


def test_nan_metric_pairs_dropped():
    runs = runs_table({"base": [1.0, np.nan, 3.0], "scen": [2.0, 5.0, 4.0]})
    assert list(paired_differences(runs, "scen", "base", "m").index) == [0, 2]


def test_pair_on_several_columns():
    rows = [
        {"scenario": s, "replicate": r, "x": x, "status": "ok", "m": r + 10 * x + (s == "s")}
        for s in ("b", "s")
        for x in (0.1, 0.2)
        for r in range(3)
    ]
    runs = pd.DataFrame(rows)
    d = paired_differences(runs, "s", "b", "m", pair_on=("replicate", "x"))
    assert isinstance(d.index, pd.MultiIndex)
    assert len(d) == 6
    assert (d == 1.0).all()
    with pytest.raises(ValueError, match="duplicate"):
        paired_differences(runs, "s", "b", "m")  # replicate alone is ambiguous


def test_validation_errors(shifted):
    _, _, runs = shifted
    with pytest.raises(ValueError, match="nope"):
        paired_differences(runs, "scen", "base", "nope")
    with pytest.raises(ValueError, match="typo"):
        paired_differences(runs, "typo", "base", "m")
    with pytest.raises(ValueError, match="confidence"):
        paired_effects(runs, "base", "m", confidence=1.5)


# --- bootstrap_ci ----------------------------------------------------------------------


def test_bootstrap_ci_small_samples():
    est, lo, hi = bootstrap_ci([])
    assert math.isnan(est) and math.isnan(lo) and math.isnan(hi)
    est, lo, hi = bootstrap_ci([3.0])
    assert est == 3.0 and math.isnan(lo) and math.isnan(hi)


@pytest.mark.parametrize("v", [0.0, 0.1, -2.5])
def test_bootstrap_ci_identical_values_exact(v):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        est, lo, hi = bootstrap_ci(np.full(20, v))
    assert est == lo == hi
    assert est == pytest.approx(v)
    assert bootstrap_ci(np.zeros(20)) == (0.0, 0.0, 0.0)


def test_bootstrap_ci_degenerate_bca_falls_back():
    # BCa cannot be computed for a two-point sample; percentile is used instead
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        est, lo, hi = bootstrap_ci([0.0, 1.0])
    assert est == 0.5
    assert 0.0 <= lo <= hi <= 1.0


def test_bootstrap_ci_deterministic_and_drops_nan():
    x = np.random.default_rng(1).normal(size=30)
    assert bootstrap_ci(x, seed=7) == bootstrap_ci(x, seed=7)
    assert bootstrap_ci(np.append(x, np.nan)) == bootstrap_ci(x)


def test_bootstrap_ci_other_statistic():
    x = np.arange(31.0)
    est, lo, hi = bootstrap_ci(x, statistic=np.median)
    assert est == 15.0
    assert lo < 15.0 < hi


# --- paired_effects --------------------------------------------------------------------


def test_paired_bootstrap_recovers_effect(shifted):
    base, scen, runs = shifted
    eff = paired_effects(runs, "base", "m")
    assert list(eff.columns) == list(EFFECT_COLUMNS)
    assert len(eff) == 1
    row = eff.iloc[0]
    assert row.scenario == "scen" and row.baseline == "base" and row.metric == "m"
    assert row.n == 40
    assert row.ci_low < 0.5 < row.ci_high
    assert row.ci_low > 0
    assert row.estimate == pytest.approx(np.mean(scen - base))
    # unpaired interval of the same difference in means is far wider
    unpaired = stats.bootstrap(
        (scen, base),
        lambda x, y, axis: np.mean(x, axis=axis) - np.mean(y, axis=axis),
        n_resamples=2000,
        rng=np.random.default_rng(0),
    ).confidence_interval
    assert (row.ci_high - row.ci_low) < 0.2 * (unpaired.high - unpaired.low)
    # ratio of means with its paired interval
    assert row.ratio == pytest.approx(np.mean(scen) / np.mean(base))
    assert row.ratio_low < row.ratio < row.ratio_high
    assert row.ratio_low > 1.0


def test_paired_effects_identical_cells_exact_zero():
    x = np.random.default_rng(3).uniform(0, 1, 25)
    runs = runs_table({"base": x, "same": x.copy(), "zero_a": np.zeros(25), "zero_b": np.zeros(25)})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        eff = paired_effects(runs, "base", ["m"], scenarios=["same", "base"])
        zeros = paired_effects(runs, "zero_a", "m", scenarios=["zero_b"])
    for row in eff.itertuples():
        assert (row.estimate, row.ci_low, row.ci_high) == (0.0, 0.0, 0.0)
        assert (row.ratio, row.ratio_low, row.ratio_high) == (1.0, 1.0, 1.0)
    assert not eff[["estimate", "ci_low", "ci_high", "ratio"]].isna().any().any()
    row = zeros.iloc[0]
    assert (row.estimate, row.ci_low, row.ci_high) == (0.0, 0.0, 0.0)
    assert (row.ratio, row.ratio_low, row.ratio_high) == (1.0, 1.0, 1.0)


def test_paired_effects_zero_baseline_mean_ratio_nan():
    runs = runs_table({"base": np.zeros(10), "scen": np.arange(10.0)})
    row = paired_effects(runs, "base", "m").iloc[0]
    assert row.estimate == pytest.approx(4.5)
    assert math.isnan(row.ratio) and math.isnan(row.ratio_low) and math.isnan(row.ratio_high)


def test_paired_effects_default_scenarios_and_metrics_order(shifted):
    base, scen, _ = shifted
    runs = runs_table({"scen": scen, "base": base, "other": base + 1})
    runs["k"] = runs["m"] * 2
    eff = paired_effects(runs, "base", ["m", "k"])
    assert list(zip(eff.scenario, eff.metric, strict=True)) == [
        ("scen", "m"),
        ("scen", "k"),
        ("other", "m"),
        ("other", "k"),
    ]
    assert eff.loc[2, "estimate"] == pytest.approx(1.0)


def test_paired_effects_deterministic(shifted):
    _, _, runs = shifted
    a = paired_effects(runs, "base", "m", seed=5)
    b = paired_effects(runs.sample(frac=1.0, random_state=1), "base", "m", seed=5)
    pd.testing.assert_frame_equal(a, b)


# --- interaction -----------------------------------------------------------------------


@pytest.fixture
def factorial():
    """2x2 design: none=10, a=7, b=8, ab=4 plus shared replicate noise (mean 0)."""
    noise = np.random.default_rng(11).normal(0, 1, 30)
    noise -= noise.mean()
    levels = {"none": 10.0, "lpc": 7.0, "council": 8.0, "both": 4.0}
    return runs_table({s: v + noise for s, v in levels.items()})


def test_interaction_additive_known(factorial):
    out = interaction(factorial, CELLS, "m")
    # ab - a - b + none = 4 - 7 - 8 + 10 = -1 (sub-additive: the tiers overlap)
    assert out["estimate"] == pytest.approx(-1.0)
    assert out["ci_low"] == pytest.approx(-1.0) and out["ci_high"] == pytest.approx(-1.0)
    assert out["n"] == 30 and out["scale"] == "additive" and out["reason"] is None


def test_interaction_additive_with_independent_noise():
    rng = np.random.default_rng(5)
    shared = rng.normal(0, 2, 60)
    levels = {"none": 10.0, "lpc": 7.0, "council": 8.0, "both": 4.0}
    runs = runs_table({s: v + shared + rng.normal(0, 0.2, 60) for s, v in levels.items()})
    out = interaction(runs, CELLS, "m")
    assert out["ci_low"] < -1.0 < out["ci_high"]
    assert out["ci_high"] < 0
    assert out["ci_high"] - out["ci_low"] < 0.5  # shared noise cancels


def test_interaction_ratio_known(factorial):
    out = interaction(factorial, CELLS, "m", scale="ratio")
    expected = (4 * 10) / (7 * 8)
    assert out["estimate"] == pytest.approx(expected)
    assert out["ci_low"] < expected < out["ci_high"]
    assert out["means"]["ab"] == pytest.approx(4.0)


def test_interaction_identical_cells_exact():
    # LPCs have no effect by construction: a == none and ab == b per replicate
    rng = np.random.default_rng(2)
    none = rng.uniform(0, 1, 20)
    b = rng.uniform(0, 1, 20)
    runs = runs_table({"none": none, "lpc": none.copy(), "council": b, "both": b.copy()})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        add = interaction(runs, CELLS, "m")
        rat = interaction(runs, CELLS, "m", scale="ratio")
    assert (add["estimate"], add["ci_low"], add["ci_high"]) == (0.0, 0.0, 0.0)
    assert (rat["estimate"], rat["ci_low"], rat["ci_high"]) == (1.0, 1.0, 1.0)


def test_interaction_ratio_zero_denominator():
    runs = runs_table(
        {"none": np.ones(5), "lpc": np.zeros(5), "council": np.ones(5), "both": np.ones(5)}
    )
    out = interaction(runs, CELLS, "m", scale="ratio")
    assert math.isnan(out["estimate"])
    assert "'a'" in out["reason"]
    all_zero = runs_table({s: np.zeros(5) for s in CELLS.values()})
    out = interaction(all_zero, CELLS, "m", scale="ratio")
    assert (out["estimate"], out["ci_low"], out["ci_high"]) == (1.0, 1.0, 1.0)


def test_interaction_inner_join_and_failed(factorial):
    runs = factorial.copy()
    runs.loc[(runs.scenario == "both") & (runs.replicate == 0), "status"] = "failed"
    runs = runs[~((runs.scenario == "council") & (runs.replicate == 1))]
    assert interaction(runs, CELLS, "m")["n"] == 28


def test_interaction_bad_args(factorial):
    with pytest.raises(ValueError, match="scale"):
        interaction(factorial, CELLS, "m", scale="log")
    with pytest.raises(ValueError, match="keys"):
        interaction(factorial, {"none": "none", "a": "lpc"}, "m")


# --- averted_per_funding ---------------------------------------------------------------


def test_averted_per_funding_known():
    rng = np.random.default_rng(8)
    shared = rng.normal(0, 3, 40)
    runs = runs_table(
        {"base": 20 + shared, "funded": 18 + shared + rng.normal(0, 0.1, 40)},
        metric="cumulative_violence",
        funding_spent={"base": np.zeros(40), "funded": 4 + rng.normal(0, 0.1, 40)},
    )
    out = averted_per_funding(runs, "funded", "base")
    assert out["n"] == 40
    assert out["estimate"] == pytest.approx(out["violence_averted"] / out["extra_funding"])
    assert out["estimate"] == pytest.approx(0.5, abs=0.02)
    assert out["ci_low"] < 0.5 < out["ci_high"]
    assert out["ci_high"] - out["ci_low"] < 0.05
    assert out["reason"] is None
    assert averted_per_funding(runs, "funded", "base") == out  # deterministic


def test_averted_per_funding_zero_extra_funding():
    runs = runs_table(
        {"base": np.full(10, 5.0), "scen": np.arange(10.0)},
        metric="v",
        f={"base": np.full(10, 2.0), "scen": np.full(10, 2.0)},
    )
    out = averted_per_funding(runs, "scen", "base", violence="v", funding="f")
    assert math.isnan(out["estimate"]) and math.isnan(out["ci_low"])
    assert out["extra_funding"] == 0.0
    assert out["violence_averted"] == pytest.approx(0.5)
    assert out["reason"] == "zero extra funding"


# --- contrasts, points and dose-response (i4p_sim.stats.contrasts) --------------------


def test_suggest_contrasts_one_factor_apart():
    from i4p_sim.stats.contrasts import suggest_contrasts

    names = ["no_shock", "abrupt_60", "phased_60", "abrupt_120", "abrupt_60_no_ownership"]
    descriptions = {
        "abrupt_60": "All donors stop at month 60, with local ownership",
        "abrupt_60_no_ownership": "All donors stop at month 60, without local ownership",
    }
    got = suggest_contrasts(names, descriptions)
    assert got == [
        ("phased_60", "abrupt_60", "phased vs abrupt"),
        ("abrupt_120", "abrupt_60", "120 vs 60"),
        (
            "abrupt_60_no_ownership",
            "abrupt_60",
            "without local ownership vs with local ownership",
        ),
    ]
    # no_shock differs from every exit in two words: never a contrast of its own
    assert not any("no_shock" in c[:2] for c in got)
    # without descriptions the added words name the group
    assert suggest_contrasts(["a", "a_x_y"]) == [("a_x_y", "a", "'x y' vs the same without it")]


def _two_points(n: int = 30) -> pd.DataFrame:
    """Two parameter points with opposite effects: +1 at p = 0.0, -1 at p = 1.0."""
    rng = np.random.default_rng(7)
    rows = []
    for point, (p, shift) in enumerate(((0.0, 1.0), (1.0, -1.0))):
        base = 5 + rng.normal(0, 1, n)
        for name, vals in (("base", base), ("scen", base + shift + rng.normal(0, 0.05, n))):
            for rep, v in enumerate(vals):
                rows.append(
                    {
                        "scenario": name,
                        "replicate": rep,
                        "point": point,
                        "x.p": p,
                        "status": "ok",
                        "cumulative_violence": float(v),
                    }
                )
    return pd.DataFrame(rows)


def test_effects_by_point_are_not_pooled():
    from i4p_sim.stats.contrasts import contrasts_table, effects_by_point
    from i4p_sim.stats.tables import effects_table

    runs = _two_points()
    pooled = effects_table(runs, "base", ["cumulative_violence"], n_resamples=200)
    assert abs(pooled["estimate"].iloc[0]) < 0.1  # the two effects cancel when pooled
    per = effects_by_point(runs, "base", ["cumulative_violence"], n_resamples=200)
    assert list(per["point"]) == [0, 1] and list(per["x.p"]) == [0.0, 1.0]
    assert per["estimate"].round(1).tolist() == [1.0, -1.0]
    assert (per["ci_low"].iloc[0] > 0) and (per["ci_high"].iloc[1] < 0)
    tab = contrasts_table(runs, [("scen", "base")], ["cumulative_violence"], by_point=True)
    assert tab["estimate"].round(1).tolist() == [1.0, -1.0]
    assert tab["p_higher"].tolist() == [1.0, 0.0]


def test_dose_response_table_levels_and_effects():
    from i4p_sim.stats.contrasts import dose_response_table

    table = dose_response_table(_two_points(), "x.p", "cumulative_violence", baseline="base")
    assert list(table["x.p"]) == [0.0, 0.0, 1.0, 1.0]
    scen = table[table["scenario"] == "scen"]
    assert scen["effect"].round(1).tolist() == [1.0, -1.0]
    assert (scen["low"] < scen["mean"]).all() and (scen["mean"] < scen["high"]).all()
    assert (table.loc[table["scenario"] == "base", "effect"] == 0).all()
    with pytest.raises(ValueError, match="censored"):
        dose_response_table(_two_points(), "x.p", "recovery_time")


def test_censored_metrics_are_never_plain_effects():
    from i4p_sim.stats.contrasts import contrasts_table, effects_by_point

    runs = _two_points()
    runs["recovery_time"] = 20
    eff = effects_by_point(runs, "base", ["recovery_time", "cumulative_violence"])
    assert set(eff["metric"]) == {"cumulative_violence"}
    tab = contrasts_table(runs, [("scen", "base")], ["recovery_time"])
    assert tab.empty


def test_funding_per_block_has_no_tiny_numbers():
    from i4p_sim.report.tables import funding_frame

    ftab = pd.DataFrame(
        {
            "funded": ["no_shock"],
            "versus": ["abrupt_60"],
            "violence_averted": [0.318],
            "extra_funding": [4328.0],
            "averted_per_funding": [7.348e-05],
            "ci_low": [6.035e-05],
            "ci_high": [8.507e-05],
            "n": [16],
        }
    )
    frame, block = funding_frame(ftab)
    assert block == 100  # 7.3e-05 x 1,000 communities = 0.073 per unit: 7.3 per 100 units
    per = frame["prevented per 100 funding units"].iloc[0]
    assert per == pytest.approx(7.348)
    assert frame["95% CI"].iloc[0] == "6.04 to 8.51"
    assert not any("_" in c for c in frame.columns)


def test_dose_response_bins_a_sampled_parameter():
    from i4p_sim.stats.contrasts import SAMPLE_BINS, dose_response_table

    rng = np.random.default_rng(3)
    rows = []
    for point, p in enumerate(rng.uniform(0, 1, 40)):
        for rep in range(3):
            for name, v in (("base", p), ("scen", 2 * p)):
                rows.append(
                    {
                        "scenario": name,
                        "replicate": rep,
                        "point": point,
                        "x.p": p,
                        "status": "ok",
                        "cumulative_violence": v + rng.normal(0, 0.01),
                    }
                )
    table = dose_response_table(pd.DataFrame(rows), "x.p", "cumulative_violence", baseline="base")
    scen = table[table["scenario"] == "scen"]
    assert len(scen) == SAMPLE_BINS and scen["n"].sum() == 40 * 3
    assert np.all(np.diff(scen["x.p"]) > 0)  # bins at increasing mean values
    assert np.allclose(scen["mean"], 2 * scen["x.p"], atol=0.02)  # the bin mean of x
    assert np.allclose(scen["effect"], scen["x.p"], atol=0.02)  # paired within points


def _factorial_two_points(n: int = 20) -> pd.DataFrame:
    """A 2x2 (none, lpc, council, both) at two parameter points whose interaction and
    funding effect have opposite signs: pooled over the points they cancel."""
    rng = np.random.default_rng(11)
    rows = []
    for point, (p, sign) in enumerate(((0.0, 1.0), (1.0, -1.0))):
        base = 0.5 + rng.normal(0, 0.01, n)
        cells = {"none": 0.0, "lpc": -0.1, "council": -0.1, "both": -0.2 + sign * 0.1}
        funds = {"none": 0.0, "lpc": 50.0, "council": 50.0, "both": 100.0}
        for name, shift in cells.items():
            for rep in range(n):
                rows.append(
                    {
                        "scenario": name,
                        "replicate": rep,
                        "point": point,
                        "x.p": p,
                        "status": "ok",
                        "cumulative_violence": base[rep] + shift + rng.normal(0, 0.002),
                        "funding_spent": funds[name],
                    }
                )
    return pd.DataFrame(rows)


def test_interactions_and_funding_by_point_are_not_pooled():
    from i4p_sim.stats.tables import funding_table, interactions_table

    runs = _factorial_two_points()
    inter = [{"name": "tiers", **CELLS}]
    pooled = interactions_table(runs, inter, ["cumulative_violence"], n_resamples=200)
    add = pooled[pooled["scale"] == "additive"]
    assert abs(add["estimate"].iloc[0]) < 0.01  # +0.1 and -0.1 cancel
    per = interactions_table(runs, inter, ["cumulative_violence"], by_point=True)
    assert list(per.columns[:3]) == ["interaction", "point", "x.p"]
    add = per[per["scale"] == "additive"]
    assert add["point"].tolist() == [0, 1] and add["x.p"].tolist() == [0.0, 1.0]
    assert add["estimate"].round(2).tolist() == [0.1, -0.1]
    # the funding table: both against none spends 100 more at each point
    ftab = funding_table(runs, "both", by_point=True)
    assert list(ftab.columns[:4]) == ["funded", "versus", "point", "x.p"]
    vs_none = ftab[ftab["versus"] == "none"]
    assert vs_none["point"].tolist() == [0, 1]
    assert vs_none["violence_averted"].round(2).tolist() == [0.1, 0.3]
    assert np.allclose(vs_none["averted_per_funding"], [0.001, 0.003], atol=1e-4)
    # one point: the same table as without by_point, no point columns
    one = runs[runs["point"] == 0].drop(columns=["x.p"])
    assert funding_table(one, "both", by_point=True).equals(funding_table(one, "both"))


def test_funding_block_is_shared_by_report_and_compare():
    from i4p_sim.stats.labels import funding_block

    assert funding_block([7.348e-05]) == 100  # 0.073 per unit -> 7.3 per 100 units
    assert funding_block([0.003, 0.001, float("nan")]) == 1  # 2 per unit already
    assert funding_block([]) == 1


@pytest.mark.slow
def test_compare_splits_interactions_and_funding_by_point(tmp_path):
    """``i4p compare`` on a 2x2 over a committee-density axis: the interaction and funding
    tables come once per point with the point's density, funding in the report's units."""
    from i4p_sim import run_experiment
    from i4p_sim.stats.contrasts import param_columns
    from i4p_sim.stats.format import format_number
    from i4p_sim.stats.labels import funding_block
    from i4p_sim.stats.tables import funding_table
    from i4p_sim.sweep.store import read_runs

    from conftest import experiment_text, run_cli

    exp = tmp_path / "cmp.toml"
    exp.write_text(experiment_text("compare_axis"))
    out = run_experiment(exp, out=tmp_path / "out", workers=1, progress=False).out
    proc = run_cli("compare", out)
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    inter = text.split("2 x 2 interactions", 1)[1].split("\n\n", 1)[0].splitlines()
    assert "at each parameter point separately" in inter[0]
    assert inter[1].split()[:3] == ["interaction", "point", "lpc.density"]
    points = {tuple(ln.split()[1:3]) for ln in inter[2:]}
    assert points == {("0", "5"), ("1", "20")}
    # funding: scaled and worded as the report, at each point
    head, *table = text.split("\nviolence prevented per ", 1)[1].split("\n\n", 1)[0].splitlines()
    assert "violent months per 1,000 communities" in head and "at each parameter point" in head
    cols = table[0].split()
    assert cols[:4] == ["funded", "versus", "point", "lpc.density"]
    runs = read_runs(out)
    assert param_columns(runs) == ["lpc.density"]
    ftab = funding_table(runs, "both", by_point=True)
    block = funding_block(ftab["averted_per_funding"])
    per = "prevented_per_unit" if block == 1 else f"prevented_per_{block}_units"
    assert per in cols and len(table) - 1 == len(ftab) > 2
    assert set(ftab["point"]) == {0, 1}
    for line, r in zip(table[1:], ftab.itertuples(index=False), strict=True):
        row = dict(zip(cols, line.split(), strict=True))
        assert (row["versus"], row["point"]) == (r.versus, str(r.point))
        assert row["prevented"] == format_number(r.violence_averted * 1000)
        assert row[per] == format_number(r.averted_per_funding * 1000 * block)
        assert "e-0" not in line  # never 7.5e-05

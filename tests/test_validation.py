"""Validation statistics on synthetic data with known answers (fast; no model runs).

The validation experiments themselves are long runs (``python -m i4p_sim.validation``),
not tests; the quick path takes over a minute and is left out of the suite.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import special

from i4p_sim.stats import events as es
from i4p_sim.stats.paired import interaction, paired_effects
from i4p_sim.sweep.driver import load_experiment
from i4p_sim.validation.common import (
    REPO,
    percentile_bootstrap,
    severe_draws,
    window_means,
)

# --------------------------------------------------------------------------- sampler


def test_sampler_matches_the_exact_pmf():
    rng = np.random.default_rng(0)
    alpha, xmin = 2.5, 3
    x = es.sample_power_law(alpha, xmin, 200_000, rng)
    assert x.min() >= xmin
    z = special.zeta(alpha, xmin)
    for k in (3, 4, 5, 10):
        expected = k**-alpha / z
        observed = np.mean(x == k)
        assert observed == pytest.approx(expected, abs=4 * math.sqrt(expected / x.size))


def test_sampler_tail_beyond_the_table_keeps_the_exponent():
    rng = np.random.default_rng(1)
    # a tiny table forces most of the tail through the continuous approximation
    x = es.sample_power_law(2.0, 1, 100_000, rng, table=50)
    share = np.mean(x >= 1000)
    expected = special.zeta(2.0, 1000) / special.zeta(2.0, 1)
    assert share == pytest.approx(expected, rel=0.15)


# --------------------------------------------------------------------------- fitting


@pytest.mark.parametrize(("alpha", "xmin"), [(2.0, 1), (2.5, 1), (2.2, 5)])
def test_power_law_recovers_alpha_with_known_xmin(alpha, xmin):
    rng = np.random.default_rng(int(alpha * 10) + xmin)
    x = es.sample_power_law(alpha, xmin, 20_000, rng)
    fit = es.fit_power_law(x, xmin=xmin)
    assert fit.xmin == xmin
    assert fit.n_tail == x.size
    assert abs(fit.alpha - alpha) < 4 * fit.alpha_se + 1e-3
    assert fit.alpha_se == pytest.approx((fit.alpha - 1) / math.sqrt(x.size))


def test_power_law_recovers_alpha_and_xmin_by_ks():
    """A body below xmin (uniform on 1..9) plus a power-law tail from 10: KS finds xmin."""
    rng = np.random.default_rng(7)
    body = rng.integers(1, 10, 4000)
    tail = es.sample_power_law(2.3, 10, 6000, rng)
    fit = es.fit_power_law(np.concatenate([body, tail]))
    assert 8 <= fit.xmin <= 13
    assert abs(fit.alpha - 2.3) < 0.08
    assert fit.n == 10_000


def test_mle_is_the_maximum_of_the_likelihood():
    rng = np.random.default_rng(3)
    x = es.sample_power_law(2.4, 2, 5000, rng)
    fit = es.fit_power_law(x, xmin=2)

    def loglik(a):
        return -x.size * math.log(special.zeta(a, 2)) - a * np.log(x).sum()

    assert fit.loglik == pytest.approx(loglik(fit.alpha))
    assert loglik(fit.alpha) >= loglik(fit.alpha + 0.01)
    assert loglik(fit.alpha) >= loglik(fit.alpha - 0.01)


def test_fit_rejects_non_integers():
    with pytest.raises(ValueError):
        es.fit_power_law([1.5, 2.0])
    with pytest.raises(ValueError):
        es.fit_power_law([0, 1, 2])
    with pytest.raises(ValueError):
        es.fit_power_law([])


def test_gof_high_for_a_power_law_low_for_a_geometric():
    rng = np.random.default_rng(11)
    x = es.sample_power_law(2.5, 1, 1500, rng)
    p_true, fit = es.power_law_gof(x, n_boot=40, seed=1, min_tail=100)
    assert p_true > 0.1
    assert abs(fit.alpha - 2.5) < 0.15
    # a geometric sample over the whole support is no power law
    g = rng.geometric(0.3, 1500)
    gfit = es.fit_power_law(g, xmin=1)
    p_geo, _ = es.power_law_gof(g, gfit, n_boot=40, seed=2, fixed_xmin=True)
    assert p_geo <= 0.05
    # and the likelihood ratio favours the exponential on it, the power law on x
    r_geo, _ = es.compare_exponential(g, gfit)
    r_pl, p_pl = es.compare_exponential(x, fit)
    assert r_geo < 0 < r_pl
    assert p_pl < 0.05


# --------------------------------------------------------------------------- clusters


def test_space_time_clusters_on_a_hand_made_stack():
    s = np.zeros((4, 6, 6), dtype=bool)
    # event A: a cell that moves diagonally over three steps (linked across steps)
    s[0, 0, 0] = True
    s[1, 1, 1] = True
    s[2, 2, 2] = True
    # event B: a 2x2 block at step 0 that disappears
    s[0, 4, 4] = s[0, 4, 5] = s[0, 5, 4] = s[0, 5, 5] = True
    # event C: same cell at steps 2 and 3 in the opposite corner, plus a diagonal
    # neighbour at step 3
    s[2, 0, 5] = True
    s[3, 0, 5] = True
    s[3, 1, 4] = True
    # event D: isolated at step 3, two cells away from anything
    s[3, 5, 0] = True
    sizes = sorted(es.event_sizes(s).tolist())
    assert sizes == [1, 3, 3, 4]
    # per step only (8-connected in space): A splits into 3 singletons, C into 1 + 2
    spatial = sorted(es.event_sizes(s, spatial=True).tolist())
    assert spatial == [1, 1, 1, 1, 1, 2, 4]
    assert es.event_sizes(np.zeros((2, 3, 3), dtype=bool)).size == 0


def test_clusters_do_not_link_across_a_gap_in_time():
    s = np.zeros((3, 3, 3), dtype=bool)
    s[0, 1, 1] = True
    s[2, 1, 1] = True  # same cell, but a calm step between
    assert sorted(es.event_sizes(s).tolist()) == [1, 1]


# --------------------------------------------------------------------------- relapse


def test_relapse_on_a_hand_made_series():
    # one area, yearly: violent, calm (onset at 1), calm, violent (relapse at lag 2),
    # calm (onset at 4), calm x 5, then end (followed 5 < window: censored)
    v = np.array([1, 0, 0, 1, 0, 0, 0, 0, 0, 0], dtype=bool)
    res = es.relapse(v, window=3, calm=1)
    assert res.onsets == 2
    assert res.lags.tolist() == [2, -1]
    assert res.followup.tolist() == [8, 5]
    assert res.complete == 2
    assert res.relapsed_complete == 1
    assert res.share == 0.5
    # window 1: the relapse at lag 2 is too late
    assert es.relapse(v, window=1).share == 0.0


def test_relapse_calm_length_and_burn_in():
    v = np.array([[1, 0, 1, 0, 0, 1, 0, 0, 0]], dtype=bool).T
    # calm=1: onsets at 1 (relapse lag 1) and 3 (lag 2) and 6 (censored)
    assert es.relapse(v, window=5, calm=1).lags.tolist() == [1, 2, -1]
    # calm=2: the one-step lull at 1 is no onset
    assert es.relapse(v, window=5, calm=2).lags.tolist() == [2, -1]
    assert es.relapse(v, window=5, calm=1, burn_in=4).lags.tolist() == [-1]


def test_kaplan_meier_uses_censored_onsets():
    # 4 onsets: relapse at lag 1, censored at 1, relapse at 3, still calm at 5 (censored)
    lags = np.array([1, -1, 3, -1])
    fol = np.array([9, 1, 9, 5])
    # lag 1: 4 at risk, 1 event -> 3/4; lag 2: 2 at risk; lag 3: 2 at risk, 1 event -> 1/2
    assert es.km_relapse_share(lags, fol, 5) == pytest.approx(1 - 0.75 * 0.5)
    # with full follow-up and no censoring it is the crude share
    assert es.km_relapse_share(np.array([1, 2, -1, -1]), np.array([9, 9, 9, 9]), 5) == 0.5
    assert math.isnan(es.km_relapse_share([], [], 5))


def test_relapse_multiple_areas_pool():
    v = np.zeros((6, 2), dtype=bool)
    v[0, :] = True
    v[3, 0] = True  # area 0 relapses at lag 2; area 1 stays calm
    res = es.relapse(v, window=4)
    assert res.onsets == 3  # area 0 at 1 and 4, area 1 at 1
    assert res.complete == 2
    assert res.relapsed_complete == 1


# --------------------------------------------------------------------------- paired effects


def _runs(effect: float, n: int = 24, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    common = rng.normal(10.0, 3.0, n)  # shared-seed noise, cancels in pairs
    rows = []
    for rep in range(n):
        for name, shift in (("base", 0.0), ("treat", effect)):
            rows.append(
                {
                    "scenario": name,
                    "replicate": rep,
                    "point": 0,
                    "status": "ok",
                    "cumulative_violence": common[rep] + shift + rng.normal(0, 0.05),
                }
            )
    return pd.DataFrame(rows)


def test_known_paired_effect_is_recovered():
    runs = _runs(-1.5)
    eff = paired_effects(runs, "base", "cumulative_violence", pair_on=["replicate", "point"])
    row = eff.iloc[0]
    assert row.ci_low < -1.5 < row.ci_high
    assert row.ci_high - row.ci_low < 0.2  # CRN: the common noise (sd 3) cancels
    assert row.n == 24


def test_known_interaction_is_recovered():
    rng = np.random.default_rng(5)
    rows = []
    for rep in range(30):
        base = rng.normal(10, 2)
        cells = {"none": base, "a": base - 4, "b": base - 3, "ab": base - 4 - 3 + 2}
        for name, value in cells.items():
            rows.append(
                {
                    "scenario": name,
                    "replicate": rep,
                    "cumulative_violence": value + rng.normal(0, 0.1),
                }
            )
    runs = pd.DataFrame(rows)
    res = interaction(
        runs, {c: c for c in ("none", "a", "b", "ab")}, "cumulative_violence", scale="additive"
    )
    assert res["ci_low"] < 2.0 < res["ci_high"]


# --------------------------------------------------------------------------- helpers


def test_percentile_bootstrap_brackets_a_known_mean():
    rng = np.random.default_rng(2)
    x = rng.normal(1.0, 1.0, 400)
    est, lo, hi = percentile_bootstrap(x, np.mean, n_resamples=500)
    assert lo < 1.0 < hi
    assert est == pytest.approx(x.mean())
    assert math.isnan(percentile_bootstrap(x[:1], np.mean)[1])


def test_window_means_per_scenario():
    series = pd.DataFrame(
        {
            "scenario": ["a"] * 4 + ["b"] * 4,
            "replicate": [0] * 8,
            "step": [0, 1, 2, 3] * 2,
            "violence_share": [0.0, 1.0, 2.0, 3.0, 1.0, 1.0, 1.0, 5.0],
        }
    )
    w = window_means(series, 1, 3)
    assert w.loc[0, "a"] == 1.5
    assert w.loc[0, "b"] == 1.0


def test_severe_draws_follow_the_probability():
    exp = load_experiment(REPO / "experiments" / "validation" / "elections.toml", replicates=400)
    flags = severe_draws(exp)
    assert len(flags) == 400
    assert 0.14 < flags.mean() < 0.26  # severe_probability 0.2


def test_validation_experiments_load():
    names = {
        "i4p_effect": 240,
        "funding_withdrawal": 280,
        "patch_scale": 156,
        "event_sizes": 8,
        "relapse": 60,
        "elections": 800,
    }
    for stem, runs in names.items():
        exp = load_experiment(REPO / "experiments" / "validation" / f"{stem}.toml")
        assert exp.name == f"validation_{stem}"
        assert exp.total_runs() == runs
    big = load_experiment(REPO / "experiments" / "validation" / "event_sizes.toml")
    dens = big.scenarios["i4p_default_density"]
    assert dens["grid"]["width"] == dens["grid"]["height"] == 256
    # default densities: 40 committees per 64 x 64 -> 640 per 256 x 256
    assert dens["lpc"]["count"] == 640
    assert [d["budget"] for d in dens["donors"]] == [480.0, 320.0]
    sens = load_experiment(REPO / "experiments" / "sensitivity.toml")
    assert sens.config.sample is not None and sens.config.sample.n & (sens.config.sample.n - 1) == 0

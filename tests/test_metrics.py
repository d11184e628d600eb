"""Tests for i4p_sim.stats.metrics (unpaired) and i4p_sim.stats.resilience (paired)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from i4p_sim.stats.metrics import SUMMARY_KEYS, moving_average, summary_metrics
from i4p_sim.stats.resilience import (
    PAIRED_SCHEMA,
    noise_floor,
    paired_metrics,
    paired_table,
    with_paired,
)
from i4p_sim.stats.tables import paired_summary_table


def make_series(violence, *, tension=None, lpcs=None, funding=None) -> dict[str, np.ndarray]:
    v = np.asarray(violence, dtype=float)
    n = v.size
    return {
        "violence_share": v,
        "mean_tension": np.zeros(n) if tension is None else np.asarray(tension, float),
        "lpcs_active": np.zeros(n) if lpcs is None else np.asarray(lpcs, float),
        "funding_disbursed": np.zeros(n) if funding is None else np.asarray(funding, float),
    }


# --- moving_average -----------------------------------------------------------------


def test_moving_average_partial_windows():
    np.testing.assert_allclose(moving_average([1, 2, 3, 4], 3), [1.0, 1.5, 2.0, 3.0])


def test_moving_average_window_longer_than_series():
    np.testing.assert_allclose(moving_average([1, 2], 5), [1.0, 1.5])


def test_moving_average_window_one_is_identity():
    x = np.array([0.3, 0.1, 0.7])
    np.testing.assert_array_equal(moving_average(x, 1), x)


def test_moving_average_empty():
    assert moving_average([], 3).shape == (0,)


@pytest.mark.parametrize("window", [0, -1, 1.5, True])
def test_moving_average_bad_window(window):
    with pytest.raises(ValueError, match="window"):
        moving_average([1.0, 2.0], window)


@settings(max_examples=50, deadline=None)
@given(
    x=st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=1, max_size=40),
    w=st.integers(1, 50),
)
def test_moving_average_matches_definition(x, w):
    expected = [np.mean(x[max(0, t - w + 1) : t + 1]) for t in range(len(x))]
    np.testing.assert_allclose(moving_average(x, w), expected, rtol=1e-12, atol=1e-9)


# --- summary_metrics ----------------------------------------------------------------


def test_keys_order_types_and_json():
    out = summary_metrics(make_series([0.0, 0.1, 0.2, 0.0]), 2, window=2)
    assert tuple(out) == SUMMARY_KEYS
    json.dumps(out)
    for key in ("time_to_peak", "lpcs_surviving"):
        assert type(out[key]) is int
    assert not {"recovery_time", "recovered", "resilience_loss"} & set(out)  # paired
    for key in (
        "cumulative_violence",
        "pre_violence",
        "peak_violence",
        "funding_spent",
        "mean_tension",
    ):
        assert type(out[key]) is float


def test_shock_and_recovery():
    v = [0, 0, 0, 0, 0.4, 0.4, 0.2, 0, 0, 0]
    # ma (w=2): 0 0 0 0 .2 .4 .3 .1 0 0
    out = summary_metrics(
        make_series(
            v,
            tension=np.arange(10),
            lpcs=[5, 5, 5, 5, 4, 4, 3, 3, 3, 3],
            funding=[1.0] * 4 + [0.5] * 6,
        ),
        4,
        window=2,
    )
    assert out["cumulative_violence"] == pytest.approx(1.0)
    assert out["pre_violence"] == 0.0
    assert out["peak_violence"] == pytest.approx(0.4)
    assert out["time_to_peak"] == 1
    assert out["lpcs_surviving"] == 3
    assert out["funding_spent"] == pytest.approx(7.0)
    assert out["mean_tension"] == pytest.approx(4.5)


def test_censored_recovery():
    v = [0.1] * 4 + [0.5] * 6
    out = summary_metrics(make_series(v), 4, window=2)
    assert out["pre_violence"] == pytest.approx(0.1)
    assert out["peak_violence"] == pytest.approx(0.5)
    assert out["time_to_peak"] == 1  # ma[4] = 0.3, ma[5] = 0.5


def test_no_disturbance_constant():
    out = summary_metrics(make_series([0.2] * 10), 5, window=3)
    assert out["pre_violence"] == pytest.approx(0.2)
    assert out["peak_violence"] == pytest.approx(0.2)
    assert out["time_to_peak"] == 0


def test_no_disturbance_peak_within_tolerance():
    # pre = 0.1 -> tol = 0.01; a bump to 0.105 is within tolerance
    v = [0.1] * 5 + [0.1, 0.1, 0.105, 0.1, 0.1]
    out = summary_metrics(make_series(v), 5, window=1)
    assert out["time_to_peak"] == 2
    assert out["peak_violence"] == pytest.approx(0.105)


def test_all_zero_violence():
    out = summary_metrics(make_series([0.0] * 6), 3)
    assert out["cumulative_violence"] == 0.0
    assert out["pre_violence"] == 0.0
    assert out["peak_violence"] == 0.0
    assert out["time_to_peak"] == 0


def test_reference_step_zero():
    v = [0.2, 0.6, 0.2, 0.2]
    # pre = v[0] = 0.2, tol = 0.02; ma (w=2): .2 .4 .4 .2
    out = summary_metrics(make_series(v), 0, window=2)
    assert out["pre_violence"] == pytest.approx(0.2)
    assert out["peak_violence"] == pytest.approx(0.4)
    assert out["time_to_peak"] == 1  # first argmax


def test_negative_reference_step_clipped_to_zero():
    v = [0.2, 0.6, 0.2, 0.2]
    assert summary_metrics(make_series(v), -5, window=2) == summary_metrics(
        make_series(v), 0, window=2
    )


def test_reference_step_at_end_and_beyond():
    v = [0.0, 0.1, 0.2, 0.3, 0.4]
    out = summary_metrics(make_series(v), 100, window=3)  # clipped to s = 4
    assert out == summary_metrics(make_series(v), 4, window=3)
    assert out["pre_violence"] == pytest.approx(0.2)  # mean of v[1:4]
    assert out["peak_violence"] == pytest.approx(0.3)  # mean of v[2:5]
    assert out["time_to_peak"] == 0


def test_partial_pre_window():
    # s = 2 < w = 5: pre uses positions 0..1 only; ma at s is a partial window
    v = [0.1, 0.3, 0.8, 0.0]
    out = summary_metrics(make_series(v), 2, window=5)
    assert out["pre_violence"] == pytest.approx(0.2)
    # ma: .1 .2 .4 .3
    assert out["peak_violence"] == pytest.approx(0.4)
    assert out["time_to_peak"] == 0


def test_dataframe_input_with_extra_columns_and_index():
    v = [0, 0, 0, 0, 0.4, 0.4, 0.2, 0, 0, 0]
    d = make_series(v, lpcs=[3] * 10)
    df = pd.DataFrame(d, index=np.arange(100, 110))
    df["largest_cluster"] = 1
    assert summary_metrics(df, 4, window=2) == summary_metrics(d, 4, window=2)


def test_lpcs_surviving_rounds_float_counts():
    out = summary_metrics(make_series([0.0, 0.0], lpcs=[4.0, 2.9999999999]), 1)
    assert out["lpcs_surviving"] == 3


@pytest.mark.parametrize(
    "missing", ["violence_share", "mean_tension", "lpcs_active", "funding_disbursed"]
)
def test_missing_column(missing):
    d = make_series([0.0, 0.1])
    del d[missing]
    with pytest.raises(ValueError, match=missing):
        summary_metrics(d, 1)


def test_empty_series():
    with pytest.raises(ValueError, match="empty"):
        summary_metrics(make_series([]), 0)
    with pytest.raises(ValueError, match="empty"):
        summary_metrics(pd.DataFrame(make_series([])), 0)


def test_unequal_lengths():
    d = make_series([0.0, 0.1])
    d["funding_disbursed"] = np.zeros(3)
    with pytest.raises(ValueError, match="unequal"):
        summary_metrics(d, 1)


@pytest.mark.parametrize("window", [0, -3])
def test_bad_window(window):
    with pytest.raises(ValueError, match="window"):
        summary_metrics(make_series([0.0, 0.1]), 1, window=window)


# --- paired metrics (stats.resilience) ----------------------------------------------


def test_paired_known_signed_and_positive_excess():
    twin = [0.1] * 10
    run = [0.1] * 4 + [0.3, 0.0, 0.2, 0.1, 0.1, 0.1]
    out = paired_metrics(run, twin, 4, window=1, tol=0.05)
    assert out["resilience_loss"] == pytest.approx(0.2)  # .2 - .1 + .1
    assert out["excess_positive"] == pytest.approx(0.3)  # .2 + .1
    assert out["recovery_time"] == 3  # last gap > tol at s + 2
    assert out["recovered"] is True
    assert out["months_observed"] == 6
    # the sign is the run's minus the twin's
    swapped = paired_metrics(twin, run, 4, window=1, tol=0.05)
    assert swapped["resilience_loss"] == pytest.approx(-0.2)
    assert swapped["excess_positive"] == pytest.approx(0.1)


def test_paired_recovery_uses_moving_averages():
    twin = [0.1] * 10
    run = [0.1] * 4 + [0.3, 0.0, 0.2, 0.1, 0.1, 0.1]
    # ma2 of the run from s: .2 .15 .1 .15 .1 .1; gaps .1 .05 0 .05 0 0
    out = paired_metrics(run, twin, 4, window=2, tol=0.06)
    assert (out["recovery_time"], out["recovered"]) == (1, True)
    out = paired_metrics(run, twin, 4, window=2, tol=0.0)
    assert (out["recovery_time"], out["recovered"]) == (4, True)  # last gap > 0 at s + 3


def test_paired_censored_is_value_plus_flag():
    out = paired_metrics([0.1] * 4 + [0.5] * 6, [0.1] * 10, 4, window=2, tol=0.01)
    assert out["resilience_loss"] == pytest.approx(2.4)
    assert out["recovered"] is False
    assert out["recovery_time"] == out["months_observed"] == 6  # T - s, never NaN
    json.dumps(out)


def test_paired_recovery_needs_k_months_observed():
    twin = np.zeros(12)
    run = twin.copy()
    run[4:9] = 1.0  # ma3 differs from the twin through t = 10
    out = paired_metrics(run, twin, 4, window=3, tol=0.0)
    assert out["recovered"] is False  # back only at t = 11: 1 month < k = 3
    assert out["recovery_time"] == out["months_observed"] == 8
    longer = paired_metrics(np.r_[run, [0.0] * 4], np.zeros(16), 4, window=3, tol=0.0)
    assert (longer["recovered"], longer["recovery_time"]) == (True, 7)


@settings(max_examples=30, deadline=None)
@given(
    x=st.lists(st.floats(0, 1, allow_nan=False), min_size=12, max_size=40),
    s=st.integers(0, 20),
    w=st.integers(1, 6),
)
def test_paired_run_against_itself_is_exactly_zero(x, s, w):
    s = min(s, len(x) - w)
    out = paired_metrics(x, x, s, window=w, tol=0.0)
    assert out["resilience_loss"] == 0.0
    assert out["excess_positive"] == 0.0
    assert out["recovery_time"] == 0
    assert out["recovered"] is True


def test_paired_bad_input():
    with pytest.raises(ValueError, match="length"):
        paired_metrics([0.0, 0.1], [0.0], 0)
    with pytest.raises(ValueError, match="tol"):
        paired_metrics([0.0, 0.1], [0.0, 0.1], 0, tol=-1.0)
    with pytest.raises(ValueError, match="non-finite"):
        paired_metrics([0.0, np.nan], [0.0, 0.1], 0)


def test_noise_floor():
    a, b = np.zeros(30), np.full(30, 0.1)
    assert noise_floor([(a, b)], 10, window=4) == pytest.approx(0.1)
    assert noise_floor([], 10) == 0.0
    # only months from s + k on count: a gap before that is ignored
    c = np.zeros(30)
    c[10] = 1.0  # the ma4 gap is back to 0 at t = 14 = s + k
    assert noise_floor([(a, c)], 10, window=4) == 0.0


def _pair_frames():
    """Two replicates of a calm scenario, its shocked variant and its null runs."""
    t = np.arange(20)
    calm = {0: np.full(20, 0.1), 1: np.full(20, 0.2)}
    shock = {r: v + np.where(t >= 10, 0.05, 0.0) for r, v in calm.items()}
    null = {r: v + np.where(t >= 10, 0.01, 0.0) for r, v in calm.items()}
    runs, frames = [], []
    for name, table in (("calm", calm), ("shock", shock), ("calm~null", null)):
        for rep, v in table.items():
            rid = f"{name}-{rep}"
            runs.append({"run_id": rid, "scenario": name, "replicate": rep, "point": 0})
            frames.append(pd.DataFrame({"run_id": rid, "step": t, "violence_share": v}))
    runs = pd.DataFrame(runs).assign(status="ok")
    return runs, pd.concat(frames, ignore_index=True)


def test_paired_table_twins_nulls_and_tol():
    runs, series = _pair_frames()
    twins = {"calm": "calm", "shock": "calm"}
    table = paired_table(runs, series, twins, {"calm": "calm~null"}, 10, window=2)
    assert list(table.columns) == list(PAIRED_SCHEMA)
    assert len(table) == 4  # calm (its own twin) and shock, 2 replicates each; no null rows
    calm = table[table["scenario"] == "calm"]
    assert (calm["resilience_loss"] == 0).all() and calm["recovered"].all()
    shock = table[table["scenario"] == "shock"]
    assert shock["resilience_loss"].to_numpy() == pytest.approx([0.5, 0.5])
    assert set(shock["twin_run_id"]) == {"calm-0", "calm-1"}  # replicate i with i
    assert shock["tol"].iloc[0] == pytest.approx(0.01)  # the null pairs' gaps
    assert not shock["recovered"].any()
    assert (shock["recovery_time"] == 10).all()
    assert not table.isna().any().any()


def test_paired_table_skips_a_failed_twin_and_with_paired_merges():
    runs, series = _pair_frames()
    runs.loc[runs["run_id"] == "calm-1", "status"] = "failed"
    table = paired_table(runs, series, {"calm": "calm", "shock": "calm"}, {}, 10, window=2)
    assert set(table["run_id"]) == {"calm-0", "shock-0"}
    assert (table["tol"] == 0).all()  # no null runs: the strictest band
    merged = with_paired(runs, table)
    assert len(merged) == len(runs)
    assert merged.loc[merged["run_id"] == "shock-1", "resilience_loss"].isna().all()
    assert str(merged["recovered"].dtype) == "boolean"


def test_paired_summary_table_marks_censoring():
    runs, series = _pair_frames()
    table = paired_table(runs, series, {"calm": "calm", "shock": "calm"}, {}, 10, window=2)
    summary = paired_summary_table(table, n_resamples=200)
    assert list(summary["scenario"]) == ["shock"]  # unshocked (own twin) rows are left out
    row = summary.iloc[0]
    assert row["recovered"] == "0/2" and row["censored"] == 2 and row["share_recovered"] == 0
    # a restricted mean, named as such: every run censored at its months observed
    assert row["recovery_rmean"] == 10 == row["months_observed"]
    assert "recovery_time" not in summary.columns
    assert row["resilience_loss"] == pytest.approx(0.5)


def test_paired_table_tol_is_per_parameter_point():
    runs, series = _pair_frames()
    runs1 = runs.assign(point=1, run_id=runs["run_id"] + "-p1")
    series1 = series.assign(run_id=series["run_id"] + "-p1")
    null1 = series1["run_id"].str.startswith("calm~null") & (series1["step"] >= 10)
    series1.loc[null1, "violence_share"] += 0.02  # a noisier point: gap 0.03
    table = paired_table(
        pd.concat([runs, runs1]),
        pd.concat([series, series1]),
        {"calm": "calm", "shock": "calm"},
        {"calm": "calm~null"},
        10,
        window=2,
    )
    tol = table[table["scenario"] == "shock"].groupby("point")["tol"].unique()
    assert tol[0] == pytest.approx([0.01]) and tol[1] == pytest.approx([0.03])


def test_noise_floor_is_a_simultaneous_band():
    # per pair the largest gap from s + k on; the 95% quantile over pairs of those maxima
    a = np.zeros(40)
    pairs = []
    for peak in (0.01, 0.02, 0.03, 0.04):
        b = np.zeros(40)
        b[30] = peak * 3  # one month: the ma3 gap is peak for three months
        pairs.append((a, b))
    tol = noise_floor(pairs, 10, window=3)
    assert tol == pytest.approx(np.quantile([0.01, 0.02, 0.03, 0.04], 0.95))
    # so at least 95% of the null pairs are within the band at every month: recovered at 0
    rec = [paired_metrics(b, a, 10, window=3, tol=0.04)["recovery_time"] for a, b in pairs]
    assert rec == [0, 0, 0, 0]

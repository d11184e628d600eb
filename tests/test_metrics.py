"""Tests for i4p_sim.metrics."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from i4p_sim.stats.metrics import SUMMARY_KEYS, moving_average, summary_metrics


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
    for key in ("time_to_peak", "recovery_time", "lpcs_surviving"):
        assert type(out[key]) is int
    assert type(out["recovered"]) is bool
    for key in (
        "cumulative_violence",
        "pre_violence",
        "peak_violence",
        "resilience_loss",
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
    assert out["recovery_time"] == 4  # ma[8] = 0 <= 0 + 0.005
    assert out["recovered"] is True
    assert out["resilience_loss"] == pytest.approx(1.0)
    assert out["lpcs_surviving"] == 3
    assert out["funding_spent"] == pytest.approx(7.0)
    assert out["mean_tension"] == pytest.approx(4.5)


def test_recovery_within_default_relative_tolerance():
    # pre = 0.2 -> tol = 0.02; ma must come back to <= 0.22
    v = [0.2] * 4 + [0.6, 0.6, 0.23, 0.21, 0.21, 0.21]
    out = summary_metrics(make_series(v), 4, window=1)
    assert out["pre_violence"] == pytest.approx(0.2)
    assert out["peak_violence"] == pytest.approx(0.6)
    assert out["time_to_peak"] == 0
    assert out["recovery_time"] == 3  # step 7 (0.23 is outside the tolerance)
    assert out["recovered"] is True


def test_explicit_tol():
    v = [0.2] * 4 + [0.6, 0.6, 0.23, 0.21, 0.21, 0.21]
    out = summary_metrics(make_series(v), 4, window=1, tol=0.05)
    assert out["recovery_time"] == 2
    out = summary_metrics(make_series(v), 4, window=1, tol=0.0)
    assert out["recovered"] is False
    assert out["recovery_time"] == 6


def test_censored_recovery():
    v = [0.1] * 4 + [0.5] * 6
    out = summary_metrics(make_series(v), 4, window=2)
    assert out["pre_violence"] == pytest.approx(0.1)
    assert out["peak_violence"] == pytest.approx(0.5)
    assert out["time_to_peak"] == 1  # ma[4] = 0.3, ma[5] = 0.5
    assert out["recovered"] is False
    assert out["recovery_time"] == 6  # T - s
    assert out["resilience_loss"] == pytest.approx(2.4)


def test_no_disturbance_constant():
    out = summary_metrics(make_series([0.2] * 10), 5, window=3)
    assert out["pre_violence"] == pytest.approx(0.2)
    assert out["peak_violence"] == pytest.approx(0.2)
    assert out["time_to_peak"] == 0
    assert out["recovery_time"] == 0
    assert out["recovered"] is True
    assert out["resilience_loss"] == pytest.approx(0.0, abs=1e-12)


def test_no_disturbance_peak_within_tolerance():
    # pre = 0.1 -> tol = 0.01; a bump to 0.105 is within tolerance
    v = [0.1] * 5 + [0.1, 0.1, 0.105, 0.1, 0.1]
    out = summary_metrics(make_series(v), 5, window=1)
    assert out["time_to_peak"] == 2
    assert out["peak_violence"] == pytest.approx(0.105)
    assert out["recovery_time"] == out["time_to_peak"] == 2
    assert out["recovered"] is True
    assert out["resilience_loss"] == pytest.approx(0.005)


def test_all_zero_violence():
    out = summary_metrics(make_series([0.0] * 6), 3)
    assert out["cumulative_violence"] == 0.0
    assert out["pre_violence"] == 0.0
    assert out["peak_violence"] == 0.0
    assert out["time_to_peak"] == 0
    assert out["recovery_time"] == 0
    assert out["recovered"] is True
    assert out["resilience_loss"] == 0.0


def test_reference_step_zero():
    v = [0.2, 0.6, 0.2, 0.2]
    # pre = v[0] = 0.2, tol = 0.02; ma (w=2): .2 .4 .4 .2
    out = summary_metrics(make_series(v), 0, window=2)
    assert out["pre_violence"] == pytest.approx(0.2)
    assert out["peak_violence"] == pytest.approx(0.4)
    assert out["time_to_peak"] == 1  # first argmax
    assert out["recovery_time"] == 3
    assert out["recovered"] is True
    assert out["resilience_loss"] == pytest.approx(0.4)


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
    assert out["recovered"] is False
    assert out["recovery_time"] == 1  # T - s
    assert out["resilience_loss"] == pytest.approx(0.2)


def test_partial_pre_window():
    # s = 2 < w = 5: pre uses positions 0..1 only; ma at s is a partial window
    v = [0.1, 0.3, 0.8, 0.0]
    out = summary_metrics(make_series(v), 2, window=5)
    assert out["pre_violence"] == pytest.approx(0.2)
    # ma: .1 .2 .4 .3
    assert out["peak_violence"] == pytest.approx(0.4)
    assert out["time_to_peak"] == 0
    assert out["recovered"] is False  # ma never back to <= 0.2 + 0.02
    assert out["recovery_time"] == 2
    assert out["resilience_loss"] == pytest.approx(0.6)


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


@pytest.mark.parametrize("tol", [-0.1, float("nan")])
def test_bad_tol(tol):
    with pytest.raises(ValueError, match="tol"):
        summary_metrics(make_series([0.0, 0.1]), 1, tol=tol)

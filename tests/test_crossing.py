"""The crossing point of a paired contrast along an axis (i4p_sim.stats.crossing, i4p crossing)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from i4p_sim.stats.crossing import contrast_matrix, crossing, first_crossing

from conftest import experiment_text, run_cli


def _runs(true_crossing: float, noise: float = 0.05, reps: int = 16) -> pd.DataFrame:
    """Synthetic runs: B - A = x - true_crossing plus per-replicate noise shared by all x."""
    rng = np.random.default_rng(0)
    xs = np.linspace(0.0, 1.0, 6)
    rows = []
    for r in range(reps):
        shift = rng.normal(0.0, noise)
        for x in xs:
            rows.append({"scenario": "a", "replicate": r, "p.x": x, "m": 1.0})
            rows.append(
                {"scenario": "b", "replicate": r, "p.x": x, "m": 1.0 + x - true_crossing + shift}
            )
    return pd.DataFrame(rows)


def test_first_crossing_interpolates_and_says_none_when_there_is_none():
    x = np.array([0.0, 1.0, 2.0])
    assert first_crossing(x, np.array([-1.0, 1.0, 3.0])) == pytest.approx(0.5)
    assert first_crossing(x, np.array([2.0, 0.0, -1.0])) == 1.0
    assert np.isnan(first_crossing(x, np.array([1.0, 2.0, 3.0])))


def test_a_planted_crossing_is_recovered_inside_its_interval():
    res = crossing(_runs(0.37), "p.x", ["a", "b"], "m", n_resamples=500)
    assert res.at == pytest.approx(0.37, abs=0.03)
    assert res.low_at <= 0.37 <= res.high_at and res.high_at - res.low_at < 0.2
    assert res.crossing_share > 0.95 and res.replicates == 16
    assert "changes sign at p.x" in res.sentence()


def test_no_crossing_is_reported_as_such():
    res = crossing(_runs(-0.5), "p.x", ["a", "b"], "m", n_resamples=200)
    assert np.isnan(res.at) and res.crossing_share == 0.0
    assert "no sign change" in res.sentence() and "above 0" in res.sentence()


def test_the_interaction_of_four_variants_is_ab_minus_b_minus_a_minus_none():
    rows = []
    for r in range(3):
        for x in (0.0, 1.0):
            for name, value in (("none", 0.0), ("a", 1.0), ("b", 2.0), ("ab", 5.0 + x)):
                rows.append({"scenario": name, "replicate": r, "p.x": x, "m": value})
    points, diffs = contrast_matrix(pd.DataFrame(rows), "p.x", ["none", "a", "b", "ab"], "m")
    np.testing.assert_array_equal(points, [0.0, 1.0])
    np.testing.assert_array_equal(diffs, [[2.0, 3.0]] * 3)  # (5 + x - 2) - (1 - 0)


def test_crossing_command_on_a_sweep_and_its_bad_flags(tmp_path):
    exp = tmp_path / "x.toml"
    exp.write_text(experiment_text("tiny") + '\n[axes]\n"lpc.inclusiveness" = [0.2, 1.0]\n')
    out = tmp_path / "res"
    assert run_cli("sweep", exp, "--out", out, "--no-report").returncode == 0
    names = sorted(pd.read_parquet(out / "runs.parquet")["scenario"].unique())
    r = run_cli("crossing", out, "--axis", "lpc.inclusiveness", "--a", names[0], "--b", names[-1])
    assert r.returncode == 0 and "lpc.inclusiveness" in r.stdout
    bad = run_cli("crossing", out, "--axis", "lpc.cost", "--a", names[0], "--b", names[-1])
    assert bad.returncode == 2 and "--axis" in bad.stderr and "lpc.inclusiveness" in bad.stderr
    bad = run_cli("crossing", out, "--axis", "lpc.inclusiveness", "--a", "nope", "--b", names[0])
    assert bad.returncode == 2 and "'nope' not found" in bad.stderr


def test_crossing_on_one_replicate_is_a_one_line_error(tmp_path):
    exp = tmp_path / "x.toml"
    text = experiment_text("tiny").replace("replicates = 3", "replicates = 1")
    exp.write_text(text + '\n[axes]\n"lpc.inclusiveness" = [0.2, 1.0]\n')
    out = tmp_path / "res"
    assert run_cli("sweep", exp, "--out", out, "--no-report").returncode == 0
    names = sorted(pd.read_parquet(out / "runs.parquet")["scenario"].unique())
    bad = run_cli("crossing", out, "--axis", "lpc.inclusiveness", "--a", names[0], "--b", names[-1])
    assert bad.returncode == 2 and "at least two paired replicates" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1

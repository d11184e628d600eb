"""Scenario discovery: PRIM (i4p_sim.stats.prim), the per-point outcome and the tree
(i4p_sim.stats.discovery), and ``i4p discover`` on a small Latin-hypercube sweep."""

from __future__ import annotations

import json
import sys

import numpy as np
import pandas as pd
import pytest

from i4p_sim.stats.discovery import parse_metric, point_outcomes, tree_rules
from i4p_sim.stats.prim import binomial_quasi_p, prim, quantile_cut

from conftest import DATA, experiment_text, run_cli

#: The planted box: cases of interest where a in [0.2, 0.6] and b >= 0.5.
PLANTED = {"p.a": (0.2, 0.6), "p.b": (0.5, 1.0)}


def planted(n: int = 500, flip: float = 0.05, seed: int = 4) -> tuple[pd.DataFrame, np.ndarray]:
    """Four uniform inputs (two of them noise); y inside the planted box, 5% labels flipped."""
    rng = np.random.default_rng(seed)
    x = pd.DataFrame(rng.uniform(size=(n, 4)), columns=["p.a", "p.b", "q.noise1", "q.noise2"])
    inside = np.ones(n, dtype=bool)
    for p, (lo, hi) in PLANTED.items():
        inside &= (x[p] >= lo) & (x[p] <= hi)
    return x, inside ^ (rng.uniform(size=n) < flip)


def test_quantile_cut_never_splits_equal_values():
    assert quantile_cut(np.arange(21.0), 0.05) == 1.5  # index 1 = its neighbour: move past it
    assert quantile_cut(np.array([1.0, 1, 1, 1, 2, 3, 3]), 0.05) == 1.5
    assert quantile_cut(np.array([1.0, 1, 2, 3, 3, 3, 3]), 0.95) == 2.5
    assert binomial_quasi_p(0, 10, 0.5) == 1.0
    assert binomial_quasi_p(10, 10, 0.5) == pytest.approx(0.5**10)


def test_a_planted_box_is_recovered_with_high_coverage_and_density():
    x, y = planted()
    res = prim(x, y)
    box = res.box
    assert set(PLANTED) <= set(box.restricted)
    assert box.coverage >= 0.8 and box.density >= 0.8
    for p, (lo, hi) in PLANTED.items():
        assert box.lims[p][0] == pytest.approx(lo, abs=0.06)
        assert box.lims[p][1] == pytest.approx(hi, abs=0.06)
    traj = res.trajectory_frame()
    assert traj["phase"].iloc[0] == "start" and traj["coverage"].iloc[0] == 1.0
    # peeling trades coverage for density: along the peels density rises, coverage never rises
    peels = traj[traj["phase"] != "paste"]
    assert (np.diff(peels["density"]) > 0).all() and (np.diff(peels["coverage"]) <= 0).all()
    assert traj["mass"].min() >= 0.05


def test_quasi_p_values_are_small_for_real_restrictions_and_large_for_noise_ones():
    x, y = planted()
    res = prim(x, y)
    last = len(res.trajectory) - 1  # the densest box: peeled past the planted one into noise
    noise = [p for p in res.trajectory[last].restricted if p.startswith("q.")]
    assert noise, "the densest box of this seed restricts a noise input"
    for index in (res.chosen, last):
        qp = res.quasi_p(index)
        for p in PLANTED:
            assert qp[p] < 1e-6, (index, p, qp)
        for p in (q for q in qp if q.startswith("q.")):
            assert qp[p] > 0.05, (index, p, qp)


def test_prim_rejects_an_outcome_with_no_or_only_cases_and_a_box_off_the_trajectory():
    x, y = planted(n=50)
    for bad in (np.zeros(50, dtype=bool), np.ones(50, dtype=bool)):
        with pytest.raises(ValueError, match="need some of both"):
            prim(x, bad)
    with pytest.raises(ValueError, match="not in the trajectory"):
        prim(x, y, box=999)
    assert prim(x, y, box=0).box.restricted == ()


def test_the_tree_splits_near_the_planted_bounds():
    x, y = planted()
    rules = tree_rules(x, y, max_depth=3)
    best = rules[0]
    assert best["predicted"] and best["density"] > 0.8
    conds = {(p, op): v for p, op, v in best["conditions"]}
    assert conds[("p.a", ">")] == pytest.approx(0.2, abs=0.05)
    assert conds[("p.a", "<=")] == pytest.approx(0.6, abs=0.05)
    assert conds[("p.b", ">")] == pytest.approx(0.5, abs=0.05)
    assert sum(r["n"] for r in rules) == len(y)


def test_metric_specs():
    assert parse_metric("cumulative_violence").kind == "mean"
    s = parse_metric("abrupt_120:resilience_loss")
    assert (s.kind, s.variant, s.metric) == ("mean", "abrupt_120", "resilience_loss")
    s = parse_metric("ratio:abrupt_120/phased_120:resilience_loss")
    assert (s.kind, s.b, s.a, s.metric) == ("ratio", "abrupt_120", "phased_120", "resilience_loss")
    for bad in ("a:b:c", "diff:a:m", "ratio:/b:m", "x:y:z:w", ":m", "diff:a/b/c:m"):
        with pytest.raises(ValueError, match="not a metric spec"):
            parse_metric(bad)


def _runs() -> pd.DataFrame:
    """Two points, three replicates; B = A * 3 at point 0, and A's mean <= 0 at point 1."""
    rows = []
    for point, x in ((0, 0.1), (1, 0.9)):
        for r in range(3):
            a = (1.0 + r) if point == 0 else (r - 1.5)
            b = 3.0 * a if point == 0 else 5.0
            rows += [
                {"scenario": "a", "point": point, "replicate": r, "p.x": x, "m": a},
                {"scenario": "b", "point": point, "replicate": r, "p.x": x, "m": b},
            ]
    rows.append({"scenario": "b", "point": 0, "replicate": 9, "p.x": 0.1, "m": 100.0})  # unpaired
    return pd.DataFrame(rows)


def test_replicates_are_averaged_per_point_and_contrasts_paired_per_replicate():
    runs = _runs()
    mean, dropped = point_outcomes(runs, parse_metric("b:m"), ["p.x"])
    assert dropped == 0 and mean["replicates"].tolist() == [4, 3]
    assert mean["value"].tolist() == pytest.approx([(3 + 6 + 9 + 100) / 4, 5.0])
    diff, dropped = point_outcomes(runs, parse_metric("diff:b/a:m"), ["p.x"])
    assert dropped == 0 and diff["replicates"].tolist() == [3, 3]  # replicate 9 has no pair
    assert diff["value"].tolist() == pytest.approx([4.0, 5.0 - (-0.5)])
    with pytest.raises(ValueError, match="common random numbers"):
        point_outcomes(runs.assign(seed=range(len(runs))), parse_metric("diff:b/a:m"), ["p.x"])
    ratio, dropped = point_outcomes(runs, parse_metric("ratio:b/a:m"), ["p.x"])
    assert dropped == 1 and ratio["point"].tolist() == [0]  # mean(a) = -0.5 there
    assert ratio["value"].tolist() == pytest.approx([3.0])


# ------------------------------------------------------------------ the command


@pytest.fixture(scope="module")
def lhs_sweep(tmp_path_factory):
    """The tiny Latin-hypercube sweep of tests/data/discover_lhs.toml, run once."""
    tmp = tmp_path_factory.mktemp("discover")
    exp = tmp / "discover_lhs.toml"
    exp.write_text(experiment_text("discover_lhs"))
    out = tmp / "res"
    r = run_cli("sweep", exp, "--out", out, "--no-report", "--workers", "1")
    assert r.returncode == 0, r.stderr
    return out


def _values(out, spec: str) -> np.ndarray:
    """The per-point values of ``spec`` in a results directory (what discover thresholds)."""
    from i4p_sim.stats.resilience import read_paired, with_paired

    runs = with_paired(pd.read_parquet(out / "runs.parquet"), read_paired(out))
    runs = runs[runs["status"] == "ok"]
    table, _ = point_outcomes(runs, parse_metric(spec), ["lpc.density", "dynamics.contagion"])
    return np.sort(table["value"].to_numpy(dtype=float))


def _box_lines(stdout: str) -> list[str]:
    return [ln.strip() for ln in stdout.splitlines() if " in [" in ln and "quasi-p" in ln]


@pytest.mark.slow
def test_discover_on_a_small_lhs_sweep_prints_a_box_and_writes_discover_json(lhs_sweep):
    # the cases of interest: the two points of highest mean tension under an abrupt exit
    # (few committees: low lpc.density)
    spec = "abrupt_8:mean_tension"
    v = _values(lhs_sweep, spec)
    r = run_cli("discover", lhs_sweep, "--metric", spec, "--above", (v[-2] + v[-3]) / 2)
    assert r.returncode == 0, r.stderr
    assert "2 of 12 design points" in r.stdout and "mean over the replicates" in r.stdout
    rec = json.loads((lhs_sweep / "discover.json").read_text())
    lines = _box_lines(r.stdout)
    assert lines and len(lines) == len(rec["box"]["restrictions"])
    for line, restriction in zip(lines, rec["box"]["restrictions"], strict=True):
        assert line.split()[0] == restriction["param"]
    assert "lpc.density" in [x["param"] for x in rec["box"]["restrictions"]]
    assert rec["box"]["coverage"] > 0 and rec["points"] == 12
    assert rec["trajectory"][0]["coverage"] == 1.0
    assert "classification tree" in r.stdout and rec["tree"]["leaves"]


def test_discover_a_paired_contrast(lhs_sweep):
    spec = "diff:abrupt_8/no_shock:mean_tension"
    r = run_cli(
        "discover", lhs_sweep, "--metric", spec, "--above", np.median(_values(lhs_sweep, spec))
    )
    assert r.returncode == 0, r.stderr
    assert "abrupt_8 - no_shock (paired per replicate)" in r.stdout and _box_lines(r.stdout)
    r = run_cli("discover", lhs_sweep, "--metric", "abrupt_8:resilience_loss", "--below", 1e9)
    assert r.returncode == 2 and "selects 12 of 12" in r.stderr


@pytest.mark.slow
def test_the_report_shows_the_discovery(lhs_sweep, tmp_path):
    from i4p_sim.report.discovery import discovery_section

    assert discovery_section(tmp_path, 0) == ""  # no discover.json: no section
    spec = "abrupt_8:mean_tension"
    v = _values(lhs_sweep, spec)
    assert run_cli("discover", lhs_sweep, "--metric", spec, "--above", v[-3]).returncode == 0
    assert run_cli("report", lhs_sweep).returncode == 0
    page = (lhs_sweep / "report.html").read_text()
    assert "Scenario discovery" in page and "Coverage-density trade-off" in page
    rec = json.loads((lhs_sweep / "discover.json").read_text())
    for restriction in rec["box"]["restrictions"]:
        assert restriction["param"] in page
    assert "rerun <code>i4p discover" not in page
    assert "rerun <code>i4p discover" in discovery_section(lhs_sweep, rec["runs_ok"] + 1)


@pytest.mark.parametrize(
    ("args", "flag", "says"),
    [
        (["--metric", "nope:resilience_loss", "--above", "0"], "--metric", "'nope' not found"),
        (["--metric", "resilience_loss", "--above", "0"], "--metric", "name one as VARIANT"),
        (["--metric", "abrupt_8:recovery_time", "--above", "0"], "--metric", "censored"),
        (["--metric", "abrupt_8:mean_tension", "--above", "9", "--by", "lpc.cost"], "--by", ""),
        (["--metric", "abrupt_8:mean_tension", "--above", "1e9"], "--above", "selects 0 of 12"),
        (["--metric", "ratio:abrupt_8:m", "--above", "1"], "--metric", "not a metric spec"),
    ],
)
def test_bad_discover_input_is_one_line_and_exit_2(lhs_sweep, args, flag, says):
    r = run_cli("discover", lhs_sweep, *args)
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1 and flag in r.stderr and says in r.stderr


def test_discover_needs_a_results_directory(tmp_path):
    r = run_cli("discover", tmp_path / "none", "--metric", "a:mean_tension", "--above", "1")
    assert r.returncode == 2 and "not a directory" in r.stderr
    assert (DATA / "discover_lhs.toml").exists()


def test_without_scikit_learn_prim_still_runs_and_a_note_names_the_extra(lhs_sweep, monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)  # import sklearn -> ImportError
    monkeypatch.setitem(sys.modules, "sklearn.tree", None)
    v = _values(lhs_sweep, "abrupt_8:mean_tension")
    r = run_cli("discover", lhs_sweep, "--metric", "abrupt_8:mean_tension", "--above", v[-3])
    assert r.returncode == 0 and _box_lines(r.stdout)
    assert "i4p-sim[calibrate]" in r.stderr and "not computed" in r.stdout


#: Two planted boxes: cases where a and b are below 0.35, or where c and d are above 0.7.
TWO = ({"p.a": (0.0, 0.35), "p.b": (0.0, 0.35)}, {"p.c": (0.7, 1.0), "p.d": (0.7, 1.0)})


def two_planted(n: int = 800, seed: int = 7) -> tuple[pd.DataFrame, np.ndarray]:
    """Five uniform inputs (one noise); y in either planted box (they may overlap)."""
    rng = np.random.default_rng(seed)
    columns = ["p.a", "p.b", "p.c", "p.d", "q.noise"]
    x = pd.DataFrame(rng.uniform(size=(n, 5)), columns=columns)
    y = np.zeros(n, dtype=bool)
    for planted_box in TWO:
        inside = np.ones(n, dtype=bool)
        for p, (lo, hi) in planted_box.items():
            inside &= (x[p] >= lo) & (x[p] <= hi)
        y |= inside
    return x, y


def _matches(lims: dict, planted_box: dict, tol: float = 0.06) -> bool:
    """The box restricts the planted parameters to about the planted limits."""
    return set(planted_box) <= set(lims) and all(
        abs(lims[p][0] - lo) <= tol and abs(lims[p][1] - hi) <= tol
        for p, (lo, hi) in planted_box.items()
    )


def test_two_planted_boxes_are_found_one_after_the_other():
    from i4p_sim.stats.prim import prim_boxes

    x, y = two_planted()
    one = prim(x, y)  # one box finds one of them only
    assert one.box.coverage < 0.7
    found, rows, stop = prim_boxes(x, y, 2)
    assert len(found) == 2 and stop == ""
    boxes = [{p: r.box.lims[p] for p in r.box.restricted} for r in found]
    assert (
        _matches(boxes[0], TWO[0])
        and _matches(boxes[1], TWO[1])
        or (_matches(boxes[0], TWO[1]) and _matches(boxes[1], TWO[0]))
    ), boxes
    assert found[0].box.density >= 0.9 and found[1].box.density >= 0.9
    # the second box ran on the points outside the first, and together they cover the cases
    assert len(rows[1]) == len(y) - found[0].box.n
    assert (found[0].box.k + found[1].box.k) / y.sum() >= 0.85
    # no third box: what is left is scattered, no denser than the whole sample
    more, _, stop = prim_boxes(x, y, 5)
    assert len(more) == 2 and "no denser than the whole sample" in stop
    assert len(prim_boxes(x, y, 1)[0]) == 1


def test_discover_boxes_prints_and_records_each_box(lhs_sweep):
    spec = "abrupt_8:mean_tension"
    v = _values(lhs_sweep, spec)
    r = run_cli("discover", lhs_sweep, "--metric", spec, "--above", v[-5], "--boxes", "3")
    assert r.returncode == 0, r.stderr
    rec = json.loads((lhs_sweep / "discover.json").read_text())
    assert rec["boxes_asked"] == 3
    assert len(rec["more_boxes"]) == 2 or rec["boxes_stop"]
    assert "box(es) together: coverage" in r.stdout
    for j, extra in enumerate(rec["more_boxes"], start=2):
        assert f"box {j} of 3: PRIM again on the {extra['points']} design points" in r.stdout
        assert extra["points"] < rec["points"]
    from i4p_sim.report.discovery import discovery_section

    section = discovery_section(lhs_sweep, rec["runs_ok"])
    assert "More boxes (<code>--boxes 3</code>)" in section
    bad = run_cli("discover", lhs_sweep, "--metric", spec, "--above", v[-5], "--boxes", "0")
    assert bad.returncode == 2 and "--boxes" in bad.stderr

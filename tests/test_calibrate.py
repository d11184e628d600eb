"""History matching (``i4p calibrate``, DESIGN 3.1): the implausibility measure, a toy
simulator with a known non-implausible region, one-line errors, and resume after a kill."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from i4p_sim.calibrate.implausibility import (
    implausibility,
    max_implausibility,
    model_variance,
    range_variance,
)
from i4p_sim.calibrate.matching import Box, Target, history_match

from conftest import ROOT, run_cli

pytest.importorskip("sklearn")

# --------------------------------------------------------------------- the measure


def test_implausibility_by_hand() -> None:
    assert range_variance(0.3, 0.5) == pytest.approx(0.0025)
    vm = model_variance(0.24, 60, 0.01, 4)
    assert vm == pytest.approx(0.24 / 60 + 0.0025)
    got = implausibility(0.4, [0.4, 0.5, np.nan], 0.0025, 0.0025, 0.0)
    assert got[0] == 0.0
    assert got[1] == pytest.approx(0.1 / np.sqrt(0.005))
    assert np.isinf(got[2])  # an undefined statistic is ruled out
    assert list(max_implausibility([[1.0, 2.0], [4.0, 0.5]])) == [2.0, 4.0]


# --------------------------------------------------------------------- the toy

SD = 0.03
TARGET_VAR = 0.0025  # +-0.15 at three sigma


def toy(wave: int, points: pd.DataFrame) -> pd.DataFrame:
    """f = x + y and g = x - y with Gaussian noise, 10 replicates per point."""
    rng = np.random.default_rng(wave)
    x, y = points["x"].to_numpy(), points["y"].to_numpy()
    r = 10
    f = (x + y)[:, None] + rng.normal(0, SD, (len(x), r))
    g = (x - y)[:, None] + rng.normal(0, SD, (len(x), r))
    return pd.DataFrame(
        {
            "f": f.mean(1),
            "f:var_model": f.var(1, ddof=1) / r,
            "g": g.mean(1),
            "g:var_model": g.var(1, ddof=1) / r,
        }
    )


def test_history_matching_recovers_the_toy_region() -> None:
    """Targets f = 1, g = 0: the non-implausible region is the square |x + y - 1| <= a,
    |x - y| <= a (a = 3 sd), of area 2 a^2 ~ 0.047 of the unit box."""
    box = Box(("x", "y"), (0.0, 0.0), (1.0, 1.0))
    targets = [Target("f", 1.0, TARGET_VAR, 0.0), Target("g", 0.0, TARGET_VAR, 0.0)]
    m = history_match(toy, box, targets, waves=3, points=30, candidates=1000, seed=1)
    ens = m.ensemble
    assert len(ens) >= 30
    # every member is in the region (with the noise of its own mean), none far outside
    a = 3 * np.sqrt(TARGET_VAR + SD**2 / 10)
    assert (np.abs(ens["x"] + ens["y"] - 1) <= a + 4 * SD / np.sqrt(10)).all()
    assert (np.abs(ens["x"] - ens["y"]) <= a + 4 * SD / np.sqrt(10)).all()
    # later waves sample the region: most of their points are not ruled out
    w = m.waves.set_index("wave")
    assert w.loc[1, "share_not_ruled_out"] < 0.25 < w.loc[3, "share_not_ruled_out"]
    # the emulators' estimate of the space not ruled out is the region's area
    assert 0.025 < w.loc[3, "space_fraction_after"] < 0.08
    # and the members spread over it (not one corner): both halves of the square
    assert (ens["x"] - ens["y"] > 0.02).any() and (ens["x"] - ens["y"] < -0.02).any()


def test_fill_waves_add_members_near_the_points_found_and_stop_at_the_target() -> None:
    """One wave of 20 points finds few of the toy's region (about 5% of the box); fill
    waves around them add members, each still inside the region, and stop once the
    ensemble has ``members`` points."""
    box = Box(("x", "y"), (0.0, 0.0), (1.0, 1.0))
    targets = [Target("f", 1.0, TARGET_VAR, 0.0), Target("g", 0.0, TARGET_VAR, 0.0)]
    sizes = {"waves": 1, "points": 40, "candidates": 500, "seed": 3}
    plain = history_match(toy, box, targets, **sizes)
    m = history_match(toy, box, targets, **sizes, members=30, fill_waves=5, fill_scale=0.05)
    assert 0 < len(plain.ensemble) < 30
    assert len(m.ensemble) >= 30
    w = m.waves.set_index("wave")
    assert not w.loc[1, "fill"] and w.loc[2:, "fill"].all()
    assert len(w) < 6  # stopped early: the target was reached
    # the first wave is the same with or without fill waves after it
    pd.testing.assert_frame_equal(plain.points, m.points[m.points["wave"] == 1])
    # a fill wave's points are far more often not ruled out than the first wave's
    assert w.loc[2, "share_not_ruled_out"] > 2 * w.loc[1, "share_not_ruled_out"]
    ens = m.ensemble
    a = 3 * np.sqrt(TARGET_VAR + SD**2 / 10)
    assert (np.abs(ens["x"] + ens["y"] - 1) <= a + 4 * SD / np.sqrt(10)).all()
    assert (np.abs(ens["x"] - ens["y"]) <= a + 4 * SD / np.sqrt(10)).all()
    # no fill wave runs when the waves already found enough members
    enough = history_match(toy, box, targets, **sizes, members=1, fill_waves=5)
    assert not enough.waves["fill"].any()


# --------------------------------------------------------------------- bad input

# loose targets (not the published ones), so that the tiny calibration keeps some points
TINY_TARGETS = """
[definitions]
region_cells = 16
active_cells = 1
episode_gap = 6
burn_in = 24

[sensitivity]
active_cells = [2]

[[target]]
name = "relapse_within_a_decade"
role = "calibration"
statistic = "KM relapse"
value = 0.9
low = 0.8
high = 1.0
var_discrepancy = 0.05

[[target]]
name = "serious_election_violence"
role = "calibration"
statistic = "share of serious elections"
threshold_cell_months = 2
threshold_sensitivity = [1]
value = 0.3
low = 0.0
high = 0.6
var_discrepancy = 0.05

[[target]]
name = "peace_spells_overdispersed"
role = "held_out"
statistic = "VMR of peace spells"
"""


def tiny_calibration(tmp: Path, extra: str = "", grid: int = 16) -> Path:
    """A calibration of one 16 x 16 region, 2 waves of 4 points, 2 replicates."""
    (tmp / "targets.toml").write_text(TINY_TARGETS)
    path = tmp / "tiny.toml"
    path.write_text(
        f"""
name = "tiny"
seed = 5
scenario = "{ROOT / "scenarios/baseline.toml"}"
elections = "{ROOT / "scenarios/election.toml"}"
targets = "targets.toml"
priors = "{ROOT / "experiments/priors.toml"}"
parameters = ["community.threshold", "community.exhaustion_cost", "shocks.election.pulse"]
set = ["grid.width={grid}", "grid.height={grid}", "lpc.density=40"]
steps = 240
waves = 2
points = 4
replicates = 2
candidates = 200
{extra}
[units]
relapse_within_a_decade = 60
serious_election_violence = 300
"""
    )
    return path


@pytest.mark.parametrize(
    ("extra", "grid", "message"),
    [
        ("colour = 1", 16, "unknown key"),
        ('parameters = ["lpc.nonsense"]\n', 16, "has no [[prior]]"),
        ("", 32, "need exactly one 16 x 16 region"),
        ('match = ["nope"]', 16, "'nope' unknown; allowed"),
        ("cutoff = -1.0", 16, "cutoff: got -1.0; must be > 0"),
    ],
)
def test_bad_calibration_is_one_line_exit_2(
    tmp_path: Path, extra: str, grid: int, message: str
) -> None:
    path = tiny_calibration(tmp_path, extra, grid)
    if extra.startswith("parameters"):  # replace, not add, the parameters line
        text = path.read_text().replace(extra, "")
        lines = [
            ln if not ln.startswith("parameters") else extra.strip() for ln in text.splitlines()
        ]
        path.write_text("\n".join(lines))
    proc = run_cli("calibrate", path, "--out", tmp_path / "out", "--no-progress")
    assert proc.returncode == 2, proc
    assert message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "Traceback" not in proc.stderr


def test_missing_calibration_file_and_bad_flag(tmp_path: Path) -> None:
    proc = run_cli("calibrate", tmp_path / "none.toml")
    assert proc.returncode == 2 and "file not found" in proc.stderr
    proc = run_cli("calibrate", tmp_path / "none.toml", "--workers", "0")
    assert proc.returncode == 2


def test_the_shipped_calibration_files_load() -> None:
    from i4p_sim.calibrate.design import load_calibration

    both = {"relapse_within_a_decade", "serious_election_violence"}
    for path, matched in (
        ("experiments/calibration.toml", both),
        ("experiments/ensembles/reference.toml", both),
        ("experiments/ensembles/reference_elections.toml", {"serious_election_violence"}),
    ):
        cal = load_calibration(ROOT / path, quick=True)
        assert 1 <= len(cal.box.names) <= 12
        assert {t.name for t in cal.targets} == matched
        assert {t.name for t in cal.blocked} >= both - matched


# --------------------------------------------------------------------- resume


@pytest.mark.slow
def test_killed_calibration_resumes_to_the_same_ensemble(tmp_path: Path, monkeypatch) -> None:
    """Interrupted in wave 2 (Ctrl-C in the driver after a batch is stored), then resumed
    on another worker count: the same points, implausibilities and ensemble as an
    uninterrupted run."""
    from i4p_sim.calibrate.ensemble import run_calibration
    from i4p_sim.sweep.driver import SweepInterrupted
    from i4p_sim.sweep.store import Store

    path = tiny_calibration(tmp_path)
    quiet = {"progress": False, "log": lambda m: None}
    whole = run_calibration(path, out=tmp_path / "whole", workers=2, **quiet)

    real = Store.write_batch
    calls = {"n": 0}

    def interrupting(self, *args, **kwargs):
        real(self, *args, **kwargs)
        if self.root.name == "wave_2":
            calls["n"] += 1
            if calls["n"] == 2:
                raise KeyboardInterrupt

    monkeypatch.setattr(Store, "write_batch", interrupting)
    with pytest.raises(SweepInterrupted):
        run_calibration(path, out=tmp_path / "killed", workers=1, **quiet)
    monkeypatch.setattr(Store, "write_batch", real)
    assert not (tmp_path / "killed" / "ensemble.parquet").exists()
    stored = pd.read_parquet(tmp_path / "killed" / "wave_2" / "runs.parquet")
    assert 0 < len(stored) < 4 * 2 * 2
    resumed = run_calibration(path, out=tmp_path / "killed", workers=1, **quiet)
    pd.testing.assert_frame_equal(resumed.matching.points, whole.matching.points)
    assert len(whole.ensemble) > 0
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "killed" / "ensemble.parquet"),
        pd.read_parquet(tmp_path / "whole" / "ensemble.parquet"),
    )
    # every output is written, and the report has its sections
    for name in ("waves", "points", "sensitivity", "heldout"):
        assert (tmp_path / "whole" / f"{name}.parquet").exists()
    page = (tmp_path / "whole" / "report.html").read_text()
    assert "not a posterior" in page and "Implausibility per target" in page


def test_report_figures_have_axis_titles() -> None:
    from i4p_sim.report.calibration import implausibility_figure, pairs_figure, space_figure

    points = pd.DataFrame(
        {"wave": [1, 1, 2], "a": [0.1, 0.5, 0.9], "b": [1.0, 2.0, 3.0], "t:I": [0.5, 4.0, 2.0]}
    )
    waves = pd.DataFrame({"wave": [1, 2], "space_fraction": [1.0, 0.3]})
    waves["space_fraction_after"] = [0.3, 0.2]
    figs = [
        implausibility_figure(points, ["t"], 3.0),
        space_figure(waves),
        pairs_figure(points, ["a", "b"], {"a": [0, 1], "b": [0, 4]}),
    ]
    for fig in figs:
        layout = fig.to_dict()["layout"]
        axes = [v for k, v in layout.items() if k.startswith(("xaxis", "yaxis"))]
        titled = [ax for ax in axes if (ax.get("title") or {}).get("text")]
        assert titled, fig
        # every bottom x axis and every left y axis of the grid has a title
        assert any(k.startswith("xaxis") for k in layout if (layout[k].get("title") or {}))
        assert any(k.startswith("yaxis") for k in layout if (layout[k].get("title") or {}))


@pytest.mark.parametrize("stem", ["reference", "reference_elections"])
def test_shipped_reference_ensembles(stem: str) -> None:
    """The shipped ensembles (experiments/ensembles/README.md) read on a clean checkout:
    every member within its prior box and not ruled out, with its provenance."""
    import json

    from i4p_sim.calibrate.design import load_calibration

    here = ROOT / "experiments" / "ensembles"
    ens = pd.read_parquet(here / f"{stem}.parquet")
    meta = json.loads((here / f"{stem}.json").read_text())
    cal = load_calibration(here / f"{stem}.toml", quick=True)
    # the declared targets rule out every point tried at these sizes (README.md): the
    # election-only reference is the one with members
    assert meta["ensemble_size"] == len(ens) >= (1 if stem == "reference_elections" else 0)
    assert meta["git_revision"] and meta["quick"] is True
    assert {"wave", "point", "max_I", *cal.box.names} <= set(ens.columns)
    assert (ens["max_I"] <= cal.config.cutoff).all()
    for name, lo, hi in zip(cal.box.names, cal.box.low, cal.box.high, strict=True):
        assert ens[name].between(lo, hi).all(), name

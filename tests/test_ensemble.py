"""Ensemble sweeps (DESIGN 3.1, last paragraph; issue 13): the share of members where a
contrast holds, with its bootstrap interval over members, on synthetic tables with a known
answer; an ensemble named by an experiment (validation, one-line errors); a tiny sweep."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from i4p_sim.cli import main
from i4p_sim.config.errors import ConfigError
from i4p_sim.config.experiment import load_experiment
from i4p_sim.report.compare import compare_text
from i4p_sim.report.html import write_report
from i4p_sim.stats.ensemble import classify, ensemble_shares, member_contrasts, share_sentence
from i4p_sim.sweep.driver import run_experiment

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
    row = next(shares.itertuples(index=False))
    assert row.members == 40 and row.holds == 30
    assert row.reversed == 0 and row.undetermined == 10
    assert row.share == pytest.approx(0.75)
    # binomial sd sqrt(.75 * .25 / 40) = 0.068: a 95% interval of about +-0.13
    assert row.share_low < 0.75 < row.share_high
    assert 0.55 < row.share_low < 0.7 and 0.8 < row.share_high < 0.92
    # size: 30 of 40 per-member effects near -10, 10 near 0
    assert row.effect_median == pytest.approx(-10, abs=1.0)
    assert row.effect_q75 > row.effect_median > row.effect_q25
    assert row.ratio_median == pytest.approx(0.8, abs=0.03)  # 40 vs 50
    text = share_sentence(row)
    assert "phased has less cumulative violence than abrupt in 75% [" in text
    assert "of 40 plausible worlds" in text and "median reduction 20%" in text
    assert "zero-width" not in text
    edge = share_sentence(row._replace(holds=40, share=1.0, share_low=1.0, share_high=1.0))
    assert "all hold: a zero-width interval; by the rule of three above 92%" in edge


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


# --------------------------------------------------------------------------- experiments

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"

TINY = f"""
name = "tiny_ensemble"
seed = 5
replicates = 2
steps = 24
reference_step = 6
noise_pairs = 0
base = "{SCENARIOS / "baseline.toml"}"
set = ["grid.width=10", "grid.height=10"]
ensemble = "ens.parquet"

[[variants]]
name = "steady"
shocks = []

[[variants]]
name = "abrupt"
shocks = [{{ kind = "funding_withdrawal", at = 8, donor = "all", mode = "abrupt" }}]

[report]
contrasts = [["steady", "abrupt"]]
"""


def _with(line: str) -> str:
    """TINY with a top-level line after its ensemble key."""
    return TINY.replace('ensemble = "ens.parquet"', f'ensemble = "ens.parquet"\n{line}')


def _ensemble(tmp_path: Path, table: pd.DataFrame | None = None, body: str = TINY) -> Path:
    if table is None:
        table = pd.DataFrame(
            {
                "wave": [1, 1, 2],
                "point": [3, 7, 1],
                "community.threshold": [0.15, 0.2, 0.25],
                "dynamics.grievance_forcing": [0.03, 0.04, 0.05],
                "shocks.election.pulse": [0.02, 0.03, 0.01],
                "serious_election_violence:I": [1.0, 2.0, 0.5],
                "max_I": [1.0, 2.0, 0.5],
            }
        )
    table.to_parquet(tmp_path / "ens.parquet")
    exp = tmp_path / "exp.toml"
    exp.write_text(body)
    return exp


def test_members_are_the_points_with_notes(tmp_path):
    exp = load_experiment(_ensemble(tmp_path))
    assert len(exp.points) == 3
    assert exp.points[1] == {
        "community.threshold": 0.2,
        "dynamics.grievance_forcing": 0.04,
        "shocks.election.pulse": 0.03,
    }
    assert exp.scenario_at("abrupt", 2).community.threshold == 0.25
    notes = " ".join(exp.notes)
    assert "3 members" in notes and "at least 50" in notes
    assert "2 replicates" in notes and "shocks.election.pulse changes nothing" in notes
    assert len(load_experiment(_ensemble(tmp_path, body=_with("members = 2"))).points) == 2


def test_shipped_reference_ensemble_loads():
    exp = load_experiment(Path(__file__).resolve().parents[1] / "experiments/ensemble_exit.toml")
    assert len(exp.points) == 30 and exp.replicates == 10
    assert "community.threshold" in exp.param_names


@pytest.mark.parametrize(
    "change, needles",
    [
        (lambda t, p: (p / "ens.parquet").unlink(), ["ensemble", "not found"]),
        (lambda t, p: (p / "ens.parquet").write_text("x"), ["cannot read", "Parquet"]),
        (lambda t, p: t.iloc[:0].to_parquet(p / "ens.parquet"), ["no members"]),
        (
            lambda t, p: t.assign(**{"community.nonsense": 1.0}).to_parquet(p / "ens.parquet"),
            ["member 0", "nonsense"],
        ),
        (
            lambda t, p: t.assign(**{"community.threshold": 7.0}).to_parquet(p / "ens.parquet"),
            ["member 0", "community.threshold"],
        ),
        (
            lambda t, p: t.assign(**{"community.threshold": np.nan}).to_parquet(p / "ens.parquet"),
            ["member 0", "not finite"],
        ),
        (lambda t, p: t[["wave", "max_I"]].to_parquet(p / "ens.parquet"), ["no parameter"]),
    ],
)
def test_bad_ensemble_is_one_line_exit_2(tmp_path, capsys, change, needles):
    exp = _ensemble(tmp_path)
    change(pd.read_parquet(tmp_path / "ens.parquet"), tmp_path)
    with pytest.raises(ConfigError) as err:
        load_experiment(exp)
    for needle in needles:
        assert needle in str(err.value)
    assert main(["check", str(exp)]) == 2
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("i4p: ") and needles[0] in lines[0]


def test_bad_ensemble_options(tmp_path):
    with pytest.raises(ConfigError, match="members: got 9; .* only 3 members"):
        load_experiment(_ensemble(tmp_path, body=_with("members = 9")))
    with pytest.raises(ConfigError, match="members: only with an ensemble"):
        no_file = TINY.replace('ensemble = "ens.parquet"', "members = 2")
        load_experiment(_ensemble(tmp_path, body=no_file))
    with pytest.raises(ConfigError, match="not two"):
        load_experiment(_ensemble(tmp_path, body=TINY + "[axes]\ncommunity.threshold = [0.1]\n"))


@pytest.mark.slow
def test_tiny_ensemble_sweep_and_compare(tmp_path):
    exp = _ensemble(tmp_path)
    out = tmp_path / "out"
    run_experiment(exp, out=out, workers=1, progress=False)
    runs = pd.read_parquet(out / "runs.parquet")
    ok = runs[runs["status"] == "ok"]
    assert sorted(ok["point"].unique()) == [0, 1, 2]
    assert "community.threshold" in runs.columns
    # common random numbers within a member: one seed per replicate, whatever the variant
    assert (ok.groupby(["point", "replicate"])["seed"].nunique() == 1).all()
    assert ok.groupby("replicate")["seed"].nunique().eq(1).all()
    text = compare_text(out)
    assert "over the ensemble (ens.parquet: 3 members x 2 replicates" in text
    assert "steady has less total violence than abrupt in " in text
    assert "of 3 plausible worlds" in text and "verdict" in text
    page = write_report(out, tmp_path / "report.html").read_text(encoding="utf-8")
    assert "Over the ensemble (ens.parquet, 3 members)" in page
    assert "Dose-response along each parameter axis" not in page  # confounded over members
    assert "no dose-response along one parameter" in text
    assert "steady has less total violence than abrupt in " in page
    assert "Each member&#x27;s paired interval" in page or "Each member's paired interval" in page

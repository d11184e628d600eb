"""The structure of docs/VALIDATION.md (issue 13), on synthetic inputs (fast; no model runs):
facts labelled input / mechanism / emergent with only emergent ones counted; calibration
targets and held-out checks from a calibration directory (an empty ensemble said plainly);
the headline policy contrasts as shares over an ensemble sweep; the null checks and failure
modes from their committed table; bad inputs as one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from i4p_sim.config.errors import ConfigError
from i4p_sim.validation.calibration import calibration_sections, heldout_verdict
from i4p_sim.validation.checks import checks_sections, load_checks
from i4p_sim.validation.labels import LABELS, label_claim
from i4p_sim.validation.policy import HEADLINE, member_match, policy_section, shock_start
from i4p_sim.validation.render import DocumentInfo, count_line, render_document, render_section
from i4p_sim.validation.results import Claim, Interval, SectionResult, Verdict
from i4p_sim.validation.sections import SECTION_NAMES

from conftest import one_error_line, run_cli

INFO = DocumentInfo("2026-01-01T00:00:00+00:00", "abc", "0.1", "i4p validate", 2, 60.0)


def _claim(fact: str, status: str, kind: str | None) -> Claim:
    return Claim(fact, "e.toml", (Interval(1.0, 0.5, 1.5),), "10", "lit",
                 Verdict(status, status), kind=kind, why="because")  # fmt: skip


# ---------------------------------------------------------------------------- labels


def test_only_emergent_checked_facts_are_counted():
    claims = [
        _claim("e1", "agrees", "emergent"),
        _claim("e2", "disagrees", "emergent"),
        _claim("e3", "inconclusive", "emergent"),
        _claim("e4", "unchecked", "emergent"),
        _claim("m1", "agrees", "mechanism"),
        _claim("m2", "agrees", "mechanism"),
        _claim("i1", "agrees", "input"),
        _claim("u1", "agrees", None),
    ]
    line = count_line(claims)
    assert line.startswith("**1 of 3 emergent facts agree**")
    assert "1 input and 2 mechanism facts" in line
    assert "1 emergent facts could not be checked" in line and "1 unlabelled" in line
    md = render_document([SectionResult("s", "1. S", (), tuple(claims))], INFO)
    lines = md.splitlines()
    head = "| fact | label | experiment | estimate [95% CI] | n | literature | verdict |"
    assert head in lines
    assert "| m1 | **mechanism**: because | `e.toml` | 1 [0.5, 1.5] | 10 | lit | agrees |" in lines
    assert any(ln.startswith("| u1 | unlabelled (not counted) |") for ln in lines)
    listed = md.split("## Where the model disagrees")[1]
    assert "- **e2** (emergent, disagrees;" in listed and "**m1**" not in listed


@pytest.mark.parametrize(
    "section, fact, kind",
    [
        ("i4p_effect", "I4P (both tiers) vs none, no shock", "emergent"),
        ("i4p_effect", "LPCs x council interaction, abrupt withdrawal at 120", "emergent"),
        ("funding_withdrawal", "abrupt exit at month 60 vs steady funding", "emergent"),
        ("funding_withdrawal", "phased vs abrupt exit (same money), month 120", "emergent"),
        ("funding_withdrawal", "local ownership under an abrupt exit at month 60", "emergent"),
        ("funding_withdrawal", "early (month 60) vs late (month 120) abrupt exit", "emergent"),
        ("patch_scale", "violence peaks at intermediate patch scale; mixed and", "mechanism"),
        ("event_sizes", "event sizes heavy-tailed, no_i4p", "emergent"),
        ("relapse", "relapse: areas returning to violence within a decade", "emergent"),
        ("elections", "elections with significant violence, with national council", "emergent"),
        (
            "sensitivity",
            "most influential parameter for `cumulative_violence` (Morris",
            "mechanism",
        ),
        ("sensitivity", "most influential parameter for `cumulative_violence` (Sobol", "mechanism"),
    ],
)
def test_every_section_fact_has_a_label(section, fact, kind):
    labelled = label_claim(section, _claim(fact, "agrees", None))
    assert labelled.kind == kind and labelled.why
    # the computed sections and the sensitivity section read from the stored sweeps
    assert set(LABELS) == {*SECTION_NAMES, "sensitivity"}
    assert "sensitivity" not in SECTION_NAMES  # no longer run at the defaults


def test_an_explicit_label_is_kept():
    c = _claim("I4P (both tiers) vs none", "agrees", "input")
    assert label_claim("i4p_effect", c).kind == "input"


# ---------------------------------------------------------------------------- calibration


def _calibration_dir(root: Path, members: int) -> Path:
    """A calibration directory of two waves x 4 points of two targets; the last
    ``members`` points of wave 2 not ruled out."""
    root.mkdir()
    rng = np.random.default_rng(0)
    rows = []
    for wave in (1, 2):
        for point in range(4):
            keep = wave == 2 and point >= 4 - members
            rows.append(
                {
                    "wave": wave,
                    "point": point,
                    "a.b": rng.uniform(),
                    "relapse": 0.35 + 0.05 * point,
                    "relapse:I": 1.0 if keep else 5.0,
                    "elections": 0.2,
                    "elections:I": 0.5 if keep or point == 0 else 4.0,
                    "max_I": 1.0 if keep else 5.0,
                    "not_ruled_out": keep,
                }
            )
    points = pd.DataFrame(rows)
    points.to_parquet(root / "points.parquet")
    points[points["not_ruled_out"]].to_parquet(root / "ensemble.parquet")
    waves = pd.DataFrame(
        {
            "wave": [1, 2],
            "points": [4, 4],
            "not_ruled_out": [0, members],
            "share_not_ruled_out": [0.0, members / 4],
            "space_fraction": [1.0, 0.2],
            "space_fraction_after": [0.2, 0.1],
            "note": ["", ""],
        }
    )
    waves.to_parquet(root / "waves.parquet")
    result = (
        f"over-dispersed (one-sided p < 0.05) in {members} of {members} members"
        if members
        else "no member to check"
    )
    pd.DataFrame(
        {"target": ["spells", "tail"], "members": [members, 0],
         "result": [result, "not evaluated: needs maps"]}
    ).to_parquet(root / "heldout.parquet")  # fmt: skip
    meta = {
        "source": "experiments/calibration.toml",
        "quick": True,
        "file": {"cutoff": 3.0, "targets": "targets.toml", "match": None},
        "sizes": {"waves": 2, "points": 4},
        "targets": [
            {"name": "relapse", "value": 0.4, "low": 0.3, "high": 0.5},
            {"name": "elections", "value": 0.19, "low": 0.15, "high": 0.25},
        ],
        "blocked": {"fragile": "no figure"},
        "git_revision": "deadbeef",
        "started": "s",
        "finished": "f",
        "wall_s": 125.0,
        "wave_wall_s": {"1": 60.0, "2": 65.0},
        "ensemble_size": members,
    }
    (root / "calibration.json").write_text(json.dumps(meta))
    return root


def test_calibration_and_heldout_tables(tmp_path):
    cal, held = calibration_sections(_calibration_dir(tmp_path / "cal", members=2))
    md = render_section(cal)
    assert "command `i4p calibrate experiments/calibration.toml --quick`" in md
    assert "`deadbeef`" in md and "2.1 min" in md and "not a posterior" in md
    lines = md.splitlines()
    # members are points 2 and 3 of wave 2: relapse 0.45 and 0.5
    assert any(ln.startswith("| `relapse` | 0.4 [0.3, 0.5] |") and
               "| 0.45 / 0.475 / 0.5 | 2 of 2 | 3 | w1: 4/4, w2: 2/4 | 2 |" in ln for ln in lines)  # fmt: skip
    assert any("`elections`" in ln and "w1: 3/4, w2: 1/4" in ln for ln in lines)
    assert not cal.findings
    assert [c.verdict.status for c in held.claims] == ["agrees", "unchecked"]
    assert all(c.kind == "emergent" for c in held.claims)
    assert "agrees in 2 of 2 members" in render_section(held)


def test_an_empty_ensemble_is_said_plainly(tmp_path):
    cal, held = calibration_sections(_calibration_dir(tmp_path / "cal", members=0))
    md = render_section(cal)
    assert "**The calibration ruled out every point**" in md
    assert md.count("| no ensemble | no ensemble | 3 |") == 2  # both targets
    rows = [ln for ln in md.splitlines() if ln.startswith("| `")]
    assert len(rows) == 2 and all(ln.endswith("| no ensemble |") for ln in rows)  # size
    assert "No ensemble" in render_section(held) and not held.claims
    doc = render_document([], INFO, [cal, held])
    listed = doc.split("## Where the model disagrees")[1]
    assert "**The calibration ruled out every point**" in listed
    assert "no threshold sensitivity table was stored" in listed


def test_an_empty_ensemble_with_a_threshold_that_would_leave_points(tmp_path):
    root = _calibration_dir(tmp_path / "cal", members=0)
    pd.DataFrame(
        {"definition": ["declared", "active_cells", "episode_gap"], "value": ["", "5", "24"],
         "not_ruled_out": [0, 3, 1]}
    ).to_parquet(root / "sensitivity.parquet")  # fmt: skip
    cal, _ = calibration_sections(root)
    finding = "".join(str(p) for p in cal.findings[0])
    assert "up to 3 points would not be ruled out (active_cells = 5;" in finding
    assert "| active_cells | 5 | 3 |" in render_section(cal)


def test_policy_with_an_empty_calibration_shows_the_other_ensembles_shares(tmp_path):
    from i4p_sim.validation.run import evidence_sections

    cal = _calibration_dir(tmp_path / "cal", members=0)
    ens = _ensemble_sweep(tmp_path / "ens", members=2, reps=3)
    section = evidence_sections(cal, ens)[3]
    policy = render_section(section)
    assert "**No point matched both calibration targets** (`relapse`, `elections`)" in policy
    assert "whose members come from the ensemble it names, `ensembles/x.parquet`" in policy
    assert "which targets it was matched on is not recorded beside it" in policy
    assert "a weaker statement than shares over a calibrated ensemble" in policy
    assert "**The calibration's ensemble is empty, so these 2 members are not from it**" in policy
    rows = [ln for ln in policy.splitlines() if ln.split(" | ")[0].lstrip("| ") in
            {h.label for h in HEADLINE}]  # fmt: skip
    assert len(rows) == len(HEADLINE) and "no ensemble" not in "".join(rows)
    assert "| 2 | 2 / 0 / 0 | 100.0% [100.0, 100.0]" in rows[0]  # the shares are shown
    # the findings say over which worlds the shares are
    assert all("over worlds not shown to be plausible" in str(f[0]) for f in section.findings)


def test_policy_names_the_targets_the_sweeps_ensemble_matched(tmp_path):
    ens = _ensemble_sweep(tmp_path / "ens", members=2, reps=3)
    manifest = json.loads((ens / "manifest.json").read_text())
    exp = tmp_path / "experiments"
    (exp / "ensembles").mkdir(parents=True)
    manifest["config"]["source"] = str(exp / "ensemble_policy.toml")
    manifest["config"]["file"]["ensemble"] = "ensembles/calibrated_elections.parquet"
    (ens / "manifest.json").write_text(json.dumps(manifest))
    record = {"file": {"match": ["serious_election_violence"]},
              "targets": [{"name": "serious_election_violence"}]}  # fmt: skip
    (exp / "ensembles" / "calibrated_elections.json").write_text(json.dumps(record))
    targets = ["relapse_within_a_decade", "serious_election_violence"]
    section = policy_section(ens, pd.DataFrame({"a.b": []}), targets)
    first = render_section(section).split("\n\n")[1]
    assert first == (
        "**No point matched both calibration targets** (`relapse_within_a_decade`, "
        "`serious_election_violence`): the calibration ruled out every point, so there is no "
        f"calibrated ensemble. The shares below are from the ensemble sweep `{ens}`, whose "
        "members come from the ensemble it names, `ensembles/calibrated_elections.parquet` "
        "(matched on `serious_election_violence` only; `relapse_within_a_decade` **not** "
        "matched). They are therefore shares **over worlds plausible for election violence "
        "only**, a weaker statement than shares over a calibrated ensemble."
    )
    found = "".join(str(p) for p in section.findings[0])
    assert "**tier interaction (both - council) - (committees - none)** over worlds plausible " \
        "for election violence only: holds in" in found  # fmt: skip
    # a calibration with members: no such paragraph
    assert "No point matched" not in render_section(
        policy_section(ens, pd.DataFrame({"a.b": [1.0]}))
    )


def test_heldout_verdicts():
    assert heldout_verdict(10, "over-dispersed ... in 7 of 10 members; x").status == "agrees"
    v = heldout_verdict(10, "over-dispersed ... in 5 of 10 members")
    assert v.status == "disagrees" and "only 5 of 10" in v.text
    assert heldout_verdict(0, "no member to check").text == "no ensemble"
    assert heldout_verdict(0, "not evaluated: needs maps").status == "unchecked"


def test_no_calibration_given_says_so():
    cal, held = calibration_sections(None)
    assert "--calibration DIR" in render_section(cal) and not held.claims


# ---------------------------------------------------------------------------- policy


def _ensemble_sweep(root: Path, members: int = 6, reps: int = 8) -> Path:
    """Runs and series of the headline variants with planted effects: every tier lowers
    violence in every member, the interaction is +2 (sub-additive), phased = abrupt + noise
    of mean 0, the late exit does half the harm of the early one after it, ownership lowers
    violence in the first half of the members only."""
    root.mkdir()
    rng = np.random.default_rng(1)
    runs, series = [], []
    steps = np.arange(100)
    for k in range(members):
        for r in range(reps):
            base = 50 + rng.normal(0, 3)
            jitter = np.linspace(-1, 1, reps)[r]
            values = {
                "none": base,
                "lpc_only": base - 10,
                "council_only": base - 12,
                "both": base - 20,  # (both - council) - (lpc - none) = +2
                "abrupt_60": base - 15,
                "phased_60": base - 15 + jitter,
                "abrupt_120": base - 17,
                "abrupt_60_no_ownership": base - 15 + (3 if k < members // 2 else jitter),
            }
            for name, v in values.items():
                runs.append({"scenario": name, "replicate": r, "point": k, "status": "ok",
                             "cumulative_violence": v + rng.normal(0, 0.1)})  # fmt: skip
            noise = rng.normal(0, 0.001, steps.size)
            for name, at, harm in (("both", 999, 0), ("abrupt_60", 40, 0.02),
                                   ("abrupt_120", 70, 0.01)):  # fmt: skip
                share = 0.05 + noise + np.where(steps >= at, harm, 0.0)
                series.append(pd.DataFrame({"scenario": name, "replicate": r, "point": k,
                                            "step": steps, "violence_share": share}))  # fmt: skip
    pd.DataFrame(runs).to_parquet(root / "runs.parquet")
    (root / "series").mkdir()
    pd.concat(series).to_parquet(root / "series" / "part-0.parquet")
    shock = {"kind": "funding_withdrawal", "mode": "abrupt", "donor": "all"}
    config = {
        "steps": 100,
        "file": {"ensemble": "ensembles/x.parquet", "replicates": reps},
        "twins": {"abrupt_60": "both", "abrupt_120": "both"},
        "scenarios": {
            "abrupt_60": {"shocks": [{**shock, "at": 40}]},
            "abrupt_120": {"shocks": [{**shock, "at": 70}]},
            "both": {"shocks": []},
        },
    }
    manifest = {"config": config, "command": "i4p sweep e.toml", "git_revision": "cafe"}
    (root / "manifest.json").write_text(json.dumps(manifest))
    return root


def test_policy_shares_table_on_planted_effects(tmp_path):
    section = policy_section(_ensemble_sweep(tmp_path / "ens"))
    md = render_section(section)
    rows = {ln.split(" | ")[0].lstrip("| "): ln for ln in md.splitlines() if ln.startswith("| ")}
    assert len([r for r in rows if r in {h.label for h in HEADLINE}]) == len(HEADLINE)
    i4p = rows["I4P (both tiers) vs none"]
    assert (
        "| 6 | 6 / 0 / 0 | 100.0% [100.0, 100.0] (all hold: by the rule of three above 50%)" in i4p
    )
    assert "| -20 (-20 to -20) |" in i4p.replace("-20.0", "-20")
    inter = rows["tier interaction (both - council) - (committees - none)"]
    assert "| 6 / 0 / 0 |" not in inter and "| 0 / 6 / 0 | 0.0% [0.0, 0.0] (none holds" in inter
    assert "| 0 / 0 / 6 |" in rows["phased vs abrupt exit at month 60"]
    late = rows["late (120) vs early (60) abrupt exit, equal windows"]
    assert "30 months from month 70 (abrupt_120) and from month 40 (abrupt_60)" in late
    assert "| 6 / 0 / 0 |" in late and "| 0.5 |" in late  # half the harm
    own = rows["local ownership under an abrupt exit at 60"]
    assert "| 3 / 0 / 3 | 50.0% [" in own
    assert "`i4p sweep e.toml`" in md and "`cafe`" in md
    # fewer than half the members bear out the interaction and phasing: disagreements
    found = [render_document([], INFO, [section]).split("## Where the model disagrees")[1]]
    assert len(section.findings) == 2
    assert (
        "**tier interaction (both - council) - (committees - none)** over the ensemble: "
        "holds in 0.0% [0.0, 0.0] of 6 members (reversed in 6)" in found[0]
    )
    assert "**phased vs abrupt exit at month 60**" in found[0] and "Tried: " in found[0]


def test_policy_missing_variants_and_no_sweep(tmp_path):
    root = _ensemble_sweep(tmp_path / "ens", members=2, reps=3)
    runs = pd.read_parquet(root / "runs.parquet")
    runs[runs["scenario"] != "phased_60"].to_parquet(root / "runs.parquet")
    md = render_section(policy_section(root))
    assert "not in this sweep: phased_60" in md
    assert "no ensemble" in render_section(policy_section(None))


def test_whether_the_sweep_ran_on_the_calibrations_ensemble():
    runs = pd.DataFrame({"point": [0, 0, 1, 1], "a.b": [0.1, 0.1, 0.2, 0.2], "x": 1})
    same = pd.DataFrame({"wave": [1, 2], "a.b": [0.2, 0.1], "a.b:I": [1.0, 2.0]})
    assert member_match(runs, same) == "These 2 members are the calibration's ensemble (2 members)."
    other = pd.DataFrame({"a.b": [0.1, 0.3, 0.4]})
    assert "**not** the calibration's ensemble: 1 of them are in it, which has 3" in member_match(
        runs, other
    )
    assert "**The calibration's ensemble is empty" in member_match(runs, other.iloc[:0])
    assert "lacks its parameter columns c.d" in member_match(runs, pd.DataFrame({"c.d": [1.0]}))


def test_shock_start_of_abrupt_and_phased_exits():
    abrupt = {"shocks": [{"kind": "funding_withdrawal", "at": 60, "mode": "abrupt"}]}
    phased = {"shocks": [{"kind": "funding_withdrawal", "at": 60, "mode": "phased", "ramp": 24}]}
    assert shock_start(abrupt) == 60 and shock_start(phased) == 48
    assert shock_start({"shocks": []}) is None


# ---------------------------------------------------------------------------- checks


def test_checks_file_rows_and_sections():
    nulls, failures = load_checks()
    assert {"placebo I4P", "peace spells against a Bernoulli null"} <= {r["check"] for r in nulls}
    fragile = [r for r in failures if "fragile" in r["contrast"]]
    assert fragile and "0.167 [0.144, 0.181]" in fragile[0]["crossing"]
    assert "agreement_breakdown = 0" in fragile[0]["ablation"]
    null, failure = checks_sections()
    assert [c.fact for c in null.claims] == ["null check: peace spells against a Bernoulli null"]
    md = render_section(failure)
    assert md.count("\n| ") == len(failures) + 1  # header + one row each
    assert "`i4p crossing results/fm_fragile --axis council.agreement_strength" in md


def test_bad_checks_file(tmp_path):
    bad = tmp_path / "c.toml"
    bad.write_text('[[null]]\ncheck = "x"\n[[failure]]\ncontrast = "y"\n')
    with pytest.raises(ConfigError, match="missing"):
        load_checks(bad)
    with pytest.raises(ConfigError, match="not found"):
        load_checks(tmp_path / "none.toml")


# ---------------------------------------------------------------------------- command line


def test_bad_results_directories_are_one_line_errors(tmp_path):
    cal = _calibration_dir(tmp_path / "cal", members=1)
    (cal / "heldout.parquet").unlink()
    cases = [
        (["--calibration", tmp_path / "nowhere"], "not a directory"),
        (["--calibration", cal], "heldout.parquet: not found"),
        (["--ensemble-results", tmp_path / "nowhere"], "not a directory"),
        (["--ensemble-results", cal], "runs.parquet: not found"),
    ]
    for args, needle in cases:
        line = one_error_line(run_cli("validate", "--only", "relapse", "--out",
                                      tmp_path / "v.md", *args))  # fmt: skip
        assert needle in line, line
    assert not (tmp_path / "v.md").exists()


def test_evidence_sections_in_document_order(tmp_path):
    from i4p_sim.validation.run import evidence_sections

    cal = _calibration_dir(tmp_path / "cal", members=2)
    sections = evidence_sections(cal, _ensemble_sweep(tmp_path / "ens", members=2, reps=3))
    names = [s.name for s in sections]
    assert names == [
        "sensitivity", "calibration", "heldout", "policy", "null_checks", "failure_modes"
    ]  # fmt: skip
    assert "No Morris screen was given (`i4p validate --screening DIR`" in render_section(
        sections[0]
    )
    policy = render_section(sections[3])
    assert (
        "**not** the calibration's ensemble (the sweep lacks its parameter columns a.b)" in policy
    )
    doc = render_document([], INFO, sections)
    assert doc.index("## Sensitivity") < doc.index("## Calibration targets")
    assert doc.index("## Calibration targets") < doc.index("## Held-out checks")
    assert doc.index("## Held-out checks") < doc.index("## Headline policy contrasts")
    assert doc.index("## Null checks") < doc.index("## Failure modes")


def test_a_second_ensemble_sweep_gets_its_own_policy_section(tmp_path):
    from i4p_sim.validation.run import evidence_sections

    cal = _calibration_dir(tmp_path / "cal", members=2)
    first = _ensemble_sweep(tmp_path / "ens", members=2, reps=3)
    second = _ensemble_sweep(tmp_path / "ens2", members=3, reps=3)
    sections = evidence_sections(cal, [first, second])
    names = [s.name for s in sections]
    assert names[3:5] == ["policy", "policy_2"]
    assert sections[4].title.endswith("another ensemble (2)")
    other = render_section(sections[4])
    assert "calibration's ensemble" not in other  # never compared with the calibration's
    assert "| 3 | " in other  # its own 3 members
    doc = render_document([], INFO, sections)
    assert doc.index("## Headline policy contrasts") < doc.index("another ensemble (2)")

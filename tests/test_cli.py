"""The ``i4p`` command line: run (table, JSON, --out), check and --help."""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from i4p_sim.cli import build_parser
from i4p_sim.sim.model import MEASURES
from i4p_sim.stats.metrics import SUMMARY_KEYS
from i4p_sim.stats.resilience import PAIRED_KEYS

from conftest import run_cli

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = sorted((ROOT / "scenarios").glob("*.toml"))
BASELINE = ROOT / "scenarios" / "baseline.toml"
SMALL = ["--steps", "24", "--set", "grid.width=16", "--set", "grid.height=16"]

# DESIGN.md section 2, verbatim
DESIGN_MEASURES = (
    "mean_tension",
    "max_tension",
    "violence_share",
    "violent_events",
    "affected_population",
    "largest_cluster",
    "mean_cohesion",
    "lpcs_active",
    "lpc_capacity",
    "council_mandate",
    "funding_disbursed",
    "funding_returned",  # model version 2: money a tier cannot use is returned, recorded
    "warnings_sent",
    "warnings_answered",
    "crackdowns",  # model version 2: the state's security actor
    "state_legitimacy",
)
DESIGN_SUMMARY_KEYS = (
    "cumulative_violence",
    "pre_violence",
    "peak_violence",
    "time_to_peak",
    "lpcs_surviving",
    "funding_spent",
    "mean_tension",
)
#: Paired metrics (against the twin), in ``i4p run``'s JSON after ``twin`` and ``tol``.
DESIGN_PAIRED_KEYS = (
    "resilience_loss",
    "excess_positive",
    "recovery_time",
    "recovered",
    "months_observed",
)
SUBCOMMANDS = (
    "check",
    "run",
    "sweep",
    "compare",
    "crossing",
    "calibrate",
    "discover",
    "optimize",
    "sensitivity",
    "report",
    "viz",
    "validate",
)


def i4p(*args: str | Path, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """Run ``i4p ARGS`` in this process, from ``cwd`` (see ``conftest.run_cli``)."""
    with contextlib.chdir(cwd):
        return run_cli(*args)


def ok(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 0, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    return proc.stdout


def test_design_names_match_the_code() -> None:
    assert tuple(MEASURES) == DESIGN_MEASURES
    assert tuple(SUMMARY_KEYS) == DESIGN_SUMMARY_KEYS
    assert tuple(PAIRED_KEYS) == DESIGN_PAIRED_KEYS


@pytest.fixture(scope="module")
def json_run() -> dict:
    return json.loads(ok(i4p("run", "scenarios/baseline.toml", *SMALL, "--format", "json")))


def test_run_json_has_exactly_the_summary_keys(json_run: dict) -> None:
    # no shocks: the unpaired metrics, and no twin
    assert list(json_run) == [*DESIGN_SUMMARY_KEYS, "twin", "tol"]
    assert json_run["twin"] is None and json_run["tol"] is None
    for key in ("time_to_peak", "lpcs_surviving"):
        assert isinstance(json_run[key], int), key
    for key in ("cumulative_violence", "pre_violence", "peak_violence"):
        assert json_run[key] >= 0.0
    assert 0.0 <= json_run["mean_tension"] <= 1.0
    assert json_run["funding_spent"] > 0.0


def test_run_is_deterministic(json_run: dict) -> None:
    again = json.loads(ok(i4p("run", BASELINE, *SMALL, "--format", "json")))
    assert again == json_run


def test_seed_flag_changes_the_run(json_run: dict) -> None:
    other = json.loads(ok(i4p("run", BASELINE, *SMALL, "--seed", "5", "--format", "json")))
    assert list(other) == list(json_run)
    assert other != json_run


def test_run_table_prints_every_key() -> None:
    out = ok(i4p("run", BASELINE, *SMALL))
    lines = out.splitlines()
    assert lines[0].startswith("no shocks: no twin was needed")
    assert "baseline" in lines[1] and "steps 24" in lines[1]
    shown = {line.split()[0] for line in lines[2:] if line.strip()}
    assert set(DESIGN_SUMMARY_KEYS) <= shown
    assert not set(DESIGN_PAIRED_KEYS) & shown


def test_run_with_shocks_runs_its_twin_and_reports_paired_metrics() -> None:
    args = ("run", "scenarios/withdrawal_abrupt.toml", *SMALL, "--set", "shocks.0.at=12")
    lines = ok(i4p(*args)).splitlines()
    assert lines[0].startswith("twin: withdrawal_abrupt~twin ")  # one line naming the twin
    assert "same seed" in lines[0]
    shown = {line.split()[0] for line in lines[2:] if line.strip()}
    assert set(DESIGN_SUMMARY_KEYS) | set(DESIGN_PAIRED_KEYS) | {"tol"} <= shown
    proc = i4p(*args, "--format", "json")
    assert "NaN" not in proc.stdout
    data = json.loads(ok(proc))
    assert list(data) == [*DESIGN_SUMMARY_KEYS, "twin", "tol", *DESIGN_PAIRED_KEYS]
    assert data["twin"] == "withdrawal_abrupt~twin"
    assert isinstance(data["recovered"], bool) and data["tol"] >= 0.0
    assert data["months_observed"] == 24 - 12
    assert 0 <= data["recovery_time"] <= data["months_observed"]
    assert data["excess_positive"] >= max(data["resilience_loss"], 0.0)


def test_run_out_writes_series_and_a_reproducible_scenario(tmp_path: Path) -> None:
    out = tmp_path / "run"
    first = json.loads(
        ok(
            i4p(
                "run",
                "scenarios/withdrawal_abrupt.toml",
                *SMALL,
                "--set",
                "shocks.0.at=12",
                "--seed",
                "3",
                "--out",
                out,
                "--format",
                "json",
            )
        )
    )
    series = pd.read_parquet(out / "series.parquet")
    assert set(DESIGN_MEASURES) <= set(series.columns)
    assert len(series) == 24
    if "step" in series.columns:
        assert series["step"].tolist() == list(range(24))
    assert series[list(DESIGN_MEASURES)].notna().all().all()
    # the withdrawal at step 12 shows in the funding series
    assert series["funding_disbursed"].iloc[11] > 0.0
    assert (series["funding_disbursed"].iloc[12:] == 0.0).all()

    resolved = out / "scenario.toml"
    check = ok(i4p("check", resolved))
    assert "ok" in check
    text = resolved.read_text()
    assert "extends" not in text  # fully resolved, stands alone
    again = json.loads(ok(i4p("run", resolved, "--format", "json")))
    assert again == first
    if (out / "summary.json").exists():
        assert json.loads((out / "summary.json").read_text()) == first


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_check_accepts_every_shipped_scenario(path: Path) -> None:
    out = ok(i4p("check", path.relative_to(ROOT)))
    assert "ok" in out and path.name in out


def test_top_level_help() -> None:
    out = ok(i4p("--help"))
    for name in SUBCOMMANDS:
        assert name in out
    assert "i4p run scenarios/baseline.toml" in out


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_subcommand_help(command: str) -> None:
    out = ok(i4p(command, "--help"))
    assert out.startswith(f"usage: i4p {command}")
    body = out.split("\n\n", 1)[1]
    # a description of what the command does, and a help text for each argument
    assert len(body.split()) > 15
    assert "positional arguments" in out or "options" in out


def test_every_argument_has_help() -> None:
    parser = build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert set(sub.choices) == set(SUBCOMMANDS)
    for name, subparser in sub.choices.items():
        assert subparser.description, name
        for action in subparser._actions:
            assert action.help, (name, action.dest)


def test_run_help_has_an_example_and_the_flags() -> None:
    out = ok(i4p("run", "--help"))
    assert "Example" in out or "e.g." in out
    for flag in ("--steps", "--seed", "--set", "--out", "--format"):
        assert flag in out
    assert "grid.width=40" in out


def test_version() -> None:
    assert ok(i4p("--version")).startswith("i4p-sim ")


@pytest.mark.slow
def test_the_console_script_and_python_m_are_the_same_program() -> None:
    exe = shutil.which("i4p") or str(Path(sys.executable).parent / "i4p")
    commands = [[sys.executable, "-m", "i4p_sim"]] + ([[exe]] if Path(exe).exists() else [])
    for cmd in commands:
        proc = subprocess.run([*cmd, "--version"], capture_output=True, text=True, timeout=60)
        assert ok(proc).startswith("i4p-sim ")
        proc = subprocess.run(
            [*cmd, "run", str(BASELINE), *SMALL, "--format", "json"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert set(json.loads(ok(proc))) == {*DESIGN_SUMMARY_KEYS, "twin", "tol"}


def test_validate_subcommand_lists_every_validation_section():
    from i4p_sim.validation.sections import SECTION_NAMES, compute_of

    for name in SECTION_NAMES:  # every name is a module whose NAME is that name
        assert callable(compute_of(name))
    assert name in i4p("validate", "--help").stdout
    proc = i4p("validate", "--only", "nope")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "--only" in proc.stderr.splitlines()[-1]

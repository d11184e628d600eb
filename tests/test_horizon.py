"""``--steps N`` and the horizon (issue 15): reference and heat-map steps past a ``--steps``
horizon are clamped with a one-line note, so every shipped experiment checks and sweeps
with any N past its last shock; a shock past the horizon is a one-line error naming the
file, the shock and the smallest N that keeps it (exit 2, nothing written)."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest

from i4p_sim.config.experiment import load_experiment
from i4p_sim.config.loading import load_scenario, read_toml

from conftest import DATA, ROOT, SCENARIOS, experiment_text, one_error_line, run_cli


def _is_experiment(path: Path) -> bool:
    raw = read_toml(path)
    return any(k in raw for k in ("scenarios", "base", "variants"))


EXPERIMENTS = [
    p
    for p in sorted(
        [
            *ROOT.glob("experiments/*.toml"),
            *ROOT.glob("experiments/validation/*.toml"),
            *ROOT.glob("experiments/failure_modes/*.toml"),
        ]
    )
    if _is_experiment(p)
]
#: Sensitivity designs of thousands of points: validating them takes tens of seconds.
LARGE_DESIGNS = {"screening", "sobol_top"}
#: Enough to reach month 180 (the last election of scenarios/election.toml) in well
#: under a second per run.
TINY_GRID = ["--set", "grid.width=6", "--set", "grid.height=6"]


def i4p(*args) -> object:
    with contextlib.chdir(ROOT):
        return run_cli(*args)


def last_shock_of_experiment(path: Path) -> int | None:
    """The latest shock month of any scenario at any parameter point (file's own steps)."""
    exp = load_experiment(path)
    scenarios = [*exp.scenarios.values(), *exp.at_points.values()]
    months = [s.at for sc in scenarios for s in sc.shocks]
    return max(months, default=None)


def test_every_shipped_experiment_is_found() -> None:
    names = {p.stem for p in EXPERIMENTS}
    assert {"funding_withdrawal", "i4p_factorial", "landscape_lhs", "sensitivity"} <= names
    assert {"elections", "event_sizes", "relapse"} <= names
    assert not {"priors", "targets", "calibration"} & names  # not experiments


@pytest.mark.parametrize(
    "path",
    [
        pytest.param(p, marks=pytest.mark.slow) if p.stem in LARGE_DESIGNS else p
        for p in EXPERIMENTS
    ],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_experiment_checks_and_sweeps_with_the_smallest_steps_past_its_last_shock(
    path: Path, tmp_path: Path
) -> None:
    rel = path.relative_to(ROOT)
    last = last_shock_of_experiment(path)
    n = 1 if last is None else last + 1
    proc = i4p("check", rel, "--steps", n)
    assert proc.returncode == 0, proc.stderr
    assert f"{n} steps" in proc.stdout
    exp = load_experiment(path, steps=n)
    # every clamped step is said, one line each; none is past the horizon (an ensemble's
    # notes on its size are said too)
    notes = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert all(ln.startswith(f"i4p: note: {rel}: ") for ln in notes)
    assert all("clamped" in ln or "ensemble" in ln for ln in notes)
    assert len(notes) == len(exp.notes)
    assert exp.steps == n
    assert all(0 <= s < n for s in exp.heatmap_steps())
    assert 0 <= exp.reference_step < n
    assert all(sc.resolved_reference_step() < n for sc in exp.scenarios.values())
    if exp.config.heatmap_steps and max(exp.config.heatmap_steps) >= n:
        assert any("heatmap_steps" in ln for ln in notes)
    if exp.config.reference_step is not None and exp.config.reference_step >= n:
        assert any("reference_step" in ln for ln in notes)
    if last is None:
        return
    # one step fewer loses the last shock: refused by check and by sweep, nothing written
    line = one_error_line(i4p("check", rel, "--steps", last))
    assert line.startswith(f"i4p: {rel}: ")
    assert f"at month {last} " in line and "shocks." in line
    assert f"--steps {n}" in line and f">= {n}" in line
    out = tmp_path / "never"
    swept = i4p("sweep", rel, "--steps", last, "--out", out, "--workers", "1", "--no-report")
    assert one_error_line(swept) == line
    assert not out.exists()


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_scenario_runs_with_the_smallest_steps_past_its_last_shock(
    path: Path, tmp_path: Path
) -> None:
    rel = path.relative_to(ROOT)
    sc = load_scenario(path)
    last = max((s.at for s in sc.shocks), default=None)
    n = 1 if last is None else last + 1
    grid = list(TINY_GRID)
    if sc.name == "trigger_incident":  # its incident is at the centre of the 64 x 64 map
        grid += ["--set", "shocks.0.row=3", "--set", "shocks.0.col=3"]
    if sc.landscape.maps():  # a real map sets the grid: coarse cells make it tiny
        grid = ["--set", "landscape.cell_km=100", "--set", "grid.height=11"]
        grid += ["--set", "grid.width=9"]
    assert i4p("check", rel, "--steps", n).returncode == 0
    proc = i4p("run", rel, "--steps", n, *grid, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    if last is not None:
        assert summary["twin"] is not None  # the shock is in the run: paired metrics
        assert summary["months_observed"] >= 1
        out = tmp_path / "out"
        line = one_error_line(i4p("run", rel, "--steps", last, *grid, "--out", out))
        assert line.startswith(f"i4p: {rel}: shocks.")
        assert f"at month {last} " in line and f"--steps {n}" in line
        assert not out.exists()
        assert one_error_line(i4p("check", rel, "--steps", last)) == line


def test_withdrawal_abrupt_at_100_steps_names_the_shock_and_121(tmp_path: Path) -> None:
    line = one_error_line(i4p("run", "scenarios/withdrawal_abrupt.toml", "--steps", "100"))
    assert line == (
        "i4p: scenarios/withdrawal_abrupt.toml: shocks.0: funding_withdrawal at month 120 is "
        "past the end of a 100-step run (months 0-99) and would be ignored; steps must be "
        ">= 121 to keep it (e.g. --steps 121)"
    )


def test_the_latest_shock_past_the_horizon_is_named() -> None:
    # election.toml votes at 60, 120 and 180: at 100 steps the last two are lost
    line = one_error_line(i4p("check", "scenarios/election.toml", "--steps", "100"))
    assert "shocks.2: election at month 180" in line and "--steps 181" in line


def test_a_scenario_file_whose_own_steps_are_too_short(tmp_path: Path) -> None:
    path = tmp_path / "short.toml"
    path.write_text(f'extends = "{ROOT / "scenarios" / "withdrawal_phased.toml"}"\nsteps = 100\n')
    for command in ("check", "run"):
        line = one_error_line(run_cli(command, path))
        assert line.startswith(f"i4p: {path}: shocks.0: funding_withdrawal at month 120")
        assert ">= 121" in line


def test_an_experiment_file_whose_own_steps_are_too_short(tmp_path: Path) -> None:
    path = tmp_path / "short.toml"
    path.write_text(experiment_text("report_factorial").replace("at = 10 }", "at = 30 }"))
    line = one_error_line(run_cli("check", path))
    assert line.startswith(f"i4p: {path}: none_abrupt: shocks.0: funding_withdrawal at month 30")
    assert "steps must be >= 31" in line and "steps = 31" in line


def test_the_files_own_bad_reference_or_heatmap_step_stays_an_error(tmp_path: Path) -> None:
    """Clamping is for ``--steps``; a file that contradicts itself is told so."""
    path = tmp_path / "e.toml"
    text = experiment_text("report_factorial")
    path.write_text(text.replace("heatmap_steps = [9, 20, 29]", "heatmap_steps = [9, 30]"))
    line = one_error_line(run_cli("check", path))
    assert "heatmap_steps.1: got 30; must be < steps (30)" in line
    path.write_text(text.replace("reference_step = 10", "reference_step = 30"))
    assert "reference_step: got 30" in one_error_line(run_cli("check", path))


def test_steps_override_clamps_heatmap_and_reference_steps_with_a_note() -> None:
    path = DATA / "report_factorial.toml"  # steps 30, heat maps at 9, 20, 29, shock at 10
    proc = run_cli("check", path, "--steps", "15")
    assert proc.returncode == 0, proc.stderr
    (note,) = proc.stderr.splitlines()
    assert note == (
        f"i4p: note: {path}: heatmap_steps 20, 29 past the last month of a 15-step run; "
        "clamped to 14"
    )
    exp = load_experiment(path, steps=15)
    assert exp.heatmap_steps() == [9, 14]
    assert exp.notes == [note.removeprefix("i4p: note: ")]
    assert load_experiment(path).notes == []


def test_sweep_with_steps_clamps_and_runs(tmp_path: Path) -> None:
    """A real (tiny) sweep with --steps: the note on stderr, the clamped steps in the
    manifest, snapshots stored at them."""
    path = tmp_path / "rep.toml"
    path.write_text(experiment_text("report_factorial").replace("replicates = 3", "replicates = 1"))
    out = tmp_path / "out"
    proc = run_cli("sweep", path, "--steps", "12", "--out", out, "--workers", "1", "--no-report")
    assert proc.returncode == 0, proc.stderr
    assert "i4p: note: " in proc.stderr and "clamped to 11" in proc.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert manifest["config"]["steps"] == 12
    assert manifest["config"]["heatmap_steps"] == [9, 11]

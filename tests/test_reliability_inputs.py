"""Issue 16, inputs: limits before work, strict and finite types, safe names, OS errors.

Every case is one line on stderr with exit 2 (1 for a run that started and failed), no
traceback, and nothing written.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
from pathlib import Path

import pytest

from i4p_sim.config.errors import ConfigError
from i4p_sim.config.experiment import load_experiment
from i4p_sim.config.limits import (
    BYTES_PER_CELL,
    MAX_RUNS,
    check_grid_memory,
)
from i4p_sim.config.loading import load_scenario, parse_set

from conftest import ROOT, run_cli

BASELINE = ROOT / "scenarios" / "baseline.toml"
TINY = ["--steps", "12", "--set", "grid.width=8", "--set", "grid.height=8"]


def one_line_error(res, code: int = 2) -> str:
    assert res.returncode == code, (res.returncode, res.stdout, res.stderr)
    lines = [ln for ln in res.stderr.splitlines() if not ln.startswith("usage:")]
    lines = [ln for ln in lines if "RuntimeWarning" not in ln and not ln.startswith("  ")]
    assert len(lines) == 1, res.stderr
    assert "Traceback" not in res.stderr
    return lines[0]


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# ------------------------------------------------------------------ limits


def test_huge_axes_refused_before_listing_points(tmp_path):
    # seven 30-value axes: 22 billion points; counted, never listed (this returns at once)
    axes = "\n".join(f"dynamics.{k} = [{', '.join(['0.1'] * 30)}]" for k in (
        "diffusion", "contagion", "decay", "memory_gain", "memory_decay",
        "cohesion_buffer", "violence_release"))  # fmt: skip
    exp = write(
        tmp_path / "big.toml",
        f'scenarios = ["{BASELINE}"]\nreplicates = 2\n[axes]\n{axes}\n',
    )
    line = one_line_error(run_cli("check", exp))
    assert "runs; at most" in line and f"{MAX_RUNS:,}" in line


def test_sample_times_replicates_over_cap(tmp_path):
    exp = write(
        tmp_path / "s.toml",
        f'scenarios = ["{BASELINE}"]\nreplicates = 100000\n'
        "[sample]\nn = 100000\nranges = { 'dynamics.decay' = [0.0, 1.0] }\n",
    )
    assert "runs; at most" in one_line_error(run_cli("check", exp))


def test_largest_grid_fails_fast_on_memory():
    res = run_cli("run", BASELINE, "--set", "grid.width=8192", "--set", "grid.height=8192")
    line = one_line_error(res)
    assert "cells need about" in line and "available" in line


def test_grid_memory_estimate_scales_with_cells():
    check_grid_memory(64 * 64, "x", available=10 * 64 * 64 * BYTES_PER_CELL)
    with pytest.raises(ConfigError, match="4 models at once"):
        check_grid_memory(64 * 64, "x", copies=4, available=2 * 64 * 64 * BYTES_PER_CELL)


def test_steps_over_the_cap():
    one_line_error(run_cli("run", BASELINE, "--steps", "100001"))


# ------------------------------------------------------------------ strict types


@pytest.mark.parametrize(
    "assignment",
    ["grid.width=true", "grid.torus=yes", "grid.torus=1", "grid.height=2.0", "seed=false"],
)
def test_no_loose_coercion(assignment):
    with pytest.raises(ConfigError):
        load_scenario(BASELINE, overrides=[assignment])


def test_width_true_in_a_file_is_refused(tmp_path):
    path = write(tmp_path / "s.toml", "[grid]\nwidth = true\n")
    assert "grid.width" in one_line_error(run_cli("check", path))


def test_toml_integers_still_work_for_floats(tmp_path):
    path = write(tmp_path / "s.toml", "[dynamics]\ndiffusion = 0\n[lpc]\ncost = 2\n")
    sc = load_scenario(path)
    assert sc.dynamics.diffusion == 0.0 and sc.lpc.cost == 2.0
    assert sc.council.regions == (1, 1)
    sc = load_scenario(path, overrides=["council.regions=[2, 3]"])
    assert sc.council.regions == (2, 3)


@pytest.mark.parametrize(
    "assignment",
    [
        "donors.0.budget=inf",
        "lpc.cost=inf",
        "landscape.population_mean=inf",
        "council.domestic_budget=nan",
    ],
)
def test_infinity_and_nan_refused(assignment):
    res = run_cli("run", BASELINE, *TINY, "--set", assignment, "--format", "json")
    assert "finite" in one_line_error(res)


def test_experiment_schema_is_strict(tmp_path):
    exp = write(tmp_path / "e.toml", f'scenarios = ["{BASELINE}"]\nreplicates = true\n')
    assert "replicates" in one_line_error(run_cli("check", exp))


# ------------------------------------------------------------------ names


@pytest.mark.parametrize("name", ["..", ".", "../x", "a/b", ".hidden", "a b", ""])
def test_experiment_names_cannot_escape_results(tmp_path, name):
    exp = write(tmp_path / "e.toml", f'name = {json.dumps(name)}\nscenarios = ["{BASELINE}"]\n')
    assert "name" in one_line_error(run_cli("check", exp))


def test_scenario_name_pattern(tmp_path):
    path = write(tmp_path / "s.toml", 'name = "../../etc"\n')
    assert "name" in one_line_error(run_cli("check", path))


def test_sweep_default_directory_stays_under_results(tmp_path, monkeypatch):
    """A name that passes the pattern still resolves under results/ (no symlink escape)."""
    from i4p_sim.sweep.driver import run_experiment

    monkeypatch.chdir(tmp_path)
    (tmp_path / "outside").mkdir()
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "esc").symlink_to(tmp_path / "outside")
    exp = write(tmp_path / "esc.toml", f'scenarios = ["{BASELINE}"]\nreplicates = 1\n')
    with pytest.raises(ConfigError, match="outside results"):
        run_experiment(exp, workers=1, steps=2, progress=False)
    assert list((tmp_path / "outside").iterdir()) == []


# ------------------------------------------------------------------ odd inputs


def test_symlink_loop(tmp_path):
    (tmp_path / "a.toml").symlink_to(tmp_path / "b.toml")
    (tmp_path / "b.toml").symlink_to(tmp_path / "a.toml")
    assert "symbolic links" in one_line_error(run_cli("check", tmp_path / "a.toml"))


def test_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "s.toml"
    os.mkfifo(fifo)
    assert "not a regular file" in one_line_error(run_cli("run", fifo))


def test_device_is_refused():
    assert "not a regular file" in one_line_error(run_cli("check", "/dev/zero"))


def test_5000_digit_integer(tmp_path):
    path = write(tmp_path / "s.toml", f"steps = {'9' * 5000}\n")
    assert "digits" in one_line_error(run_cli("check", path))
    one_line_error(run_cli("run", BASELINE, "--set", f"seed={'9' * 5000}"))
    with pytest.raises(ConfigError):
        parse_set(f"steps={'1' * 5000}")


def test_4000_digit_integer_message_is_short(tmp_path):
    path = write(tmp_path / "s.toml", f"steps = {'9' * 4000}\n")
    line = one_line_error(run_cli("check", path))
    assert len(line) < 300


def test_empty_scenario_name_in_experiment(tmp_path):
    exp = write(tmp_path / "e.toml", 'scenarios = [""]\n')
    assert "scenarios.0" in one_line_error(run_cli("check", exp))
    exp = write(tmp_path / "e2.toml", 'base = ""\n[[variants]]\nname = "a"\n')
    one_line_error(run_cli("check", exp))


def test_set_into_a_scalar_shock(tmp_path):
    path = write(tmp_path / "s.toml", "shocks = [1]\n")
    assert "shocks.0" in one_line_error(run_cli("run", path, "--set", "shocks.0.at=5"))


def test_viz_port_out_of_range():
    assert "65535" in one_line_error(run_cli("viz", "--port", "70000"))


# ------------------------------------------------------------------ OS errors


def test_run_out_onto_an_existing_file_fails_before_the_run(tmp_path, monkeypatch):
    target = write(tmp_path / "out", "keep")
    import i4p_sim.sim.simulation as simulation

    def boom(*a, **k):  # the run must not even start
        raise AssertionError("ran before checking --out")

    monkeypatch.setattr(simulation.Simulation, "advance", boom)
    line = one_line_error(run_cli("run", BASELINE, *TINY, "--out", target))
    assert "not a directory" in line
    assert target.read_text() == "keep"


def test_run_out_unwritable(tmp_path, monkeypatch):
    import tempfile

    real = tempfile.mkstemp

    def denied(*a, dir=None, **k):
        if dir is not None and Path(dir) == tmp_path / "ro":
            raise PermissionError(errno.EACCES, "Permission denied", str(dir))
        return real(*a, dir=dir, **k)

    monkeypatch.setattr(tempfile, "mkstemp", denied)
    line = one_line_error(run_cli("run", BASELINE, *TINY, "--out", tmp_path / "ro"))
    assert "Permission denied" in line


def test_disk_full_while_writing_is_one_line(tmp_path, monkeypatch):
    import i4p_sim.sweep.storage as storage

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "o"))

    monkeypatch.setattr(storage, "atomic_write_parquet", full)
    line = one_line_error(run_cli("run", BASELINE, *TINY, "--out", tmp_path / "o"))
    assert "No space left on device" in line


def test_report_on_unreadable_directory_is_one_line(tmp_path):
    with contextlib.suppress(FileExistsError):
        (tmp_path / "loop").symlink_to(tmp_path / "loop")
    one_line_error(run_cli("report", tmp_path / "loop"))


# ------------------------------------------------------------------ non-finite state


def test_overflowing_run_fails_with_a_clear_message():
    res = run_cli(
        "run", BASELINE, *TINY, "--set", "landscape.population_mean=1e308", "--format", "json"
    )
    line = one_line_error(res, code=1)
    assert "non-finite value in the model's state" in line
    assert res.stdout == ""


def test_json_output_is_always_valid_json():
    from i4p_sim.sweep.finite import json_dumps

    text = json_dumps({"a": float("nan"), "b": [float("inf"), 1.0], "c": True})
    assert json.loads(text) == {"a": None, "b": [None, 1.0], "c": True}
    res = run_cli("run", BASELINE, *TINY, "--format", "json")
    assert res.returncode == 0
    json.loads(res.stdout)


def test_finite_check_names_the_layer():
    import numpy as np
    import pandas as pd

    from i4p_sim.sweep.finite import NonFiniteState, check_finite

    with pytest.raises(NonFiniteState, match="series 'x' first at step 2"):
        check_finite(pd.DataFrame({"x": [0.0, 1.0, np.nan]}))
    with pytest.raises(NonFiniteState, match="layer 'tension'"):
        check_finite(layers={"tension": np.array([0.0, np.inf])})
    check_finite(pd.DataFrame({"x": [0.0]}), {"r": 1}, {"t": np.zeros(3)})


def test_load_experiment_points_are_not_materialised_when_too_many(tmp_path, monkeypatch):
    import i4p_sim.config.experiment as experiment

    def never(*a, **k):
        raise AssertionError("points listed before the size check")

    monkeypatch.setattr(experiment, "_points", never)
    vals = ", ".join(str(i / 1000) for i in range(1000))
    exp = write(
        tmp_path / "e.toml",
        f'scenarios = ["{BASELINE}"]\nreplicates = 2\n[axes]\n'
        f"'dynamics.decay' = [{vals}]\n'dynamics.diffusion' = [{vals}]\n",
    )
    with pytest.raises(ConfigError, match="runs; at most"):
        load_experiment(exp)


def test_config_errors_survive_pickling_between_processes():
    """A worker's ConfigError or RunFailed reaches the driver intact (a process pool
    pickles it; without ``__reduce__`` unpickling broke the pool)."""
    import pickle

    from i4p_sim.config.errors import ConfigError, RunFailed

    for cls in (ConfigError, RunFailed):
        err = pickle.loads(pickle.dumps(cls("a.toml", "lpc.cost", "must be >= 0")))
        assert type(err) is cls and str(err) == "a.toml: lpc.cost: must be >= 0"


def test_a_set_with_a_newline_is_still_a_one_line_error():
    """Found by the fuzzer under CI's hypothesis profile: ``--set '=\\n'``."""
    from i4p_sim.config.errors import ConfigError
    from i4p_sim.config.loading import load_scenario

    with pytest.raises(ConfigError) as info:
        load_scenario(None, overrides=["=\n"])
    assert "\n" not in info.value.one_line() and "'=\\n'" in info.value.one_line()

"""``--kernel numba`` without numba (issue 15): one line naming the command that installs
the ``fast`` extra, exit 2, no traceback, nothing written, for ``run`` and ``sweep``."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import pytest

from i4p_sim.core import field

from conftest import ROOT, experiment_text, one_error_line, run_cli, run_cli_subprocess

TINY = ["--steps", "3", "--set", "grid.width=6", "--set", "grid.height=6"]


@pytest.fixture
def no_numba(monkeypatch):
    """This process as if numba were not installed."""
    monkeypatch.setattr(field, "_numba", None)
    monkeypatch.setitem(sys.modules, "numba", None)  # makes `import numba` fail


def test_run_kernel_numba_without_numba_names_the_install_command(no_numba, tmp_path) -> None:
    out = tmp_path / "out"
    with contextlib.chdir(ROOT):  # in the checkout: the README's editable install
        proc = run_cli("run", "scenarios/baseline.toml", *TINY, "--kernel", "numba", "--out", out)
    line = one_error_line(proc)
    assert line.startswith("i4p: command line: --kernel: ")
    assert f'{sys.executable} -m pip install -e ".[fast]"' in line
    assert not out.exists()


def test_the_hint_names_the_checkout_from_elsewhere(no_numba, tmp_path) -> None:
    with contextlib.chdir(tmp_path):
        proc = run_cli("run", ROOT / "scenarios" / "baseline.toml", *TINY, "--kernel", "numba")
    assert f'-m pip install -e "{ROOT}[fast]"' in one_error_line(proc)


def test_a_scenario_file_asking_for_numba(no_numba, tmp_path) -> None:
    path = tmp_path / "s.toml"
    path.write_text('kernel = "numba"\n')
    line = one_error_line(run_cli("run", path, *TINY))
    assert line.startswith(f"i4p: {path}: kernel: ") and "[fast]" in line


def test_sweep_of_a_numba_experiment_without_numba_runs_nothing(no_numba, tmp_path) -> None:
    path = tmp_path / "e.toml"
    path.write_text(experiment_text("small") + 'kernel = "numba"\n')
    out = tmp_path / "out"
    line = one_error_line(run_cli("sweep", path, "--out", out, "--workers", "1", "--no-report"))
    assert line.startswith(f"i4p: {path}: kernel: ") and "pip install" in line
    assert "[fast]" in line
    assert not out.exists()


def test_with_numba_the_kernel_is_accepted() -> None:
    field.require_kernel("numba")  # numba is in the test extra (i4p-sim[fast])
    field.require_kernel("numpy")


@pytest.mark.slow
def test_no_traceback_in_a_real_process_without_numba(tmp_path: Path) -> None:
    """A process where ``import numba`` fails (a package on the path that refuses)."""
    blocker = tmp_path / "block" / "numba"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text('raise ImportError("No module named numba")\n')
    path = str(tmp_path / "block") + ":" + str(ROOT)
    proc = run_cli_subprocess(
        "run", "scenarios/baseline.toml", *TINY, "--kernel", "numba", env={"PYTHONPATH": path}
    )
    line = one_error_line(proc)
    assert line.startswith("i4p: command line: --kernel: kernel 'numba' needs")
    assert '-m pip install -e ".[fast]"' in line

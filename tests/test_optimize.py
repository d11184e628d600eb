"""i4p optimize: the exit-strategy search (DESIGN 3.2, issue 14).

Fast: the Pareto front on a small table, bad input (one line, exit 2), and a search killed
in-process after its first batch is stored and resumed, ending with the same trials and
values as an uninterrupted one and running no stored model run again. Slow: the CLI killed
by SIGINT and resumed, and 1 vs 2 workers, identical.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import re
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from conftest import ROOT, run_cli

pytest.importorskip("optuna")

from i4p_sim.optimize import front as front_mod  # noqa: E402
from i4p_sim.optimize import search as search_mod  # noqa: E402

SPACE = """
[space]
exit_start = [3, 8]
ramp = [2, 6]
lpc_share = [0.3, 0.9]
density = [5.0, 20.0]
placement = ["need", "random"]
domestic_budget = [0.5, 3.0]
"""


def tiny(tmp_path, extra: str = "", space: str = SPACE, steps: int = 16):
    path = tmp_path / "tiny.toml"
    path.write_text(
        f'name = "tiny"\nscenario = "{ROOT / "scenarios" / "baseline.toml"}"\n'
        'set = ["grid.width=12", "grid.height=12"]\n'
        f"steps = {steps}\nreplicates = 2\nbatch = 2\ntrials = 4\npopulation = 4\n"
        f"seed = 3\n{extra}{space}",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def in_threads(monkeypatch):
    """Runs in a thread of this process: no pool to spawn per batch (fast tests only)."""
    import i4p_sim.sweep.driver as driver

    @contextlib.contextmanager
    def threads(workers=None, scheduler=None, dask_local=None):
        with cf.ThreadPoolExecutor(1) as pool:
            yield pool, "thread (test)", 1

    monkeypatch.setattr(driver, "make_executor", threads)


def test_pareto_front_keeps_the_non_dominated() -> None:
    table = pd.DataFrame(
        {"trial": [0, 1, 2, 3], "excess_q": [1.0, 2.0, 0.5, 2.0], "money_mean": [5, 4, 9, 6]}
    )
    assert front_mod.pareto_front(table)["trial"].tolist() == [1, 0, 2]


def test_killed_after_the_first_batch_resumes_to_the_same_trials(tmp_path, monkeypatch, in_threads):
    path = tiny(tmp_path)
    ref = search_mod.run_search(path, out=tmp_path / "ref", workers=1, progress=False)
    real = search_mod.run_experiment
    calls = []

    def killed_in_batch_1(exp, **kw):
        calls.append(exp.name)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(exp, **kw)

    monkeypatch.setattr(search_mod, "run_experiment", killed_in_batch_1)
    with pytest.raises(KeyboardInterrupt):
        search_mod.run_search(path, out=tmp_path / "out", workers=1, progress=False)
    monkeypatch.setattr(search_mod, "run_experiment", real)
    res = search_mod.run_search(path, out=tmp_path / "out", workers=1, progress=False)
    pd.testing.assert_frame_equal(res.trials, ref.trials)
    pd.testing.assert_frame_equal(res.front, ref.front)
    assert res.skipped == ref.ran // 2 and res.ran == ref.ran // 2  # batch 0 not rerun
    assert len(res.trials) == 4 and (tmp_path / "out" / "report.html").is_file()
    again = search_mod.run_search(path, out=tmp_path / "out", workers=1, progress=False)
    assert again.ran == 0


def test_each_trial_runs_on_each_ensemble_member(tmp_path, in_threads) -> None:
    ens = ROOT / "experiments" / "ensembles" / "reference_elections.parquet"
    path = tiny(tmp_path, f'ensemble = "{ens}"\nmembers = 2\n')
    res = search_mod.run_search(path, trials=2, out=tmp_path / "out", workers=1, progress=False)
    assert res.ran == 2 * 2 * 2 * 2  # trials x members x replicates x (exit, steady twin)
    assert res.trials["members"].tolist() == [2, 2]
    assert res.trials["replicates"].tolist() == [4, 4]


@pytest.mark.parametrize(
    "extra, space, steps, needle",
    [
        ("bogus = 1\n", SPACE, 16, "bogus"),
        ("", SPACE.replace("ramp = [2, 6]", "ramp = [3, 6]"), 16, "space.ramp"),
        ("", SPACE, 10, "space.exit_start"),
        ("", SPACE.replace("[5.0, 20.0]", "[-1.0, 20.0]"), 16, "space"),
        ("", SPACE.replace('"random"]', '"nowhere"]'), 16, "placement"),
        ("quantile = 1.5\n", SPACE, 16, "quantile"),
        ('ensemble = "none.parquet"\n', SPACE, 16, "ensemble"),
        ("members = 2\n", SPACE, 16, "members"),
    ],
)
def test_bad_search_file_is_one_line_exit_2(tmp_path, extra, space, steps, needle) -> None:
    proc = run_cli("optimize", tiny(tmp_path, extra, space, steps), "--out", tmp_path / "o")
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], lines


def test_missing_file_and_bad_trials_exit_2(tmp_path) -> None:
    proc = run_cli("optimize", tmp_path / "none.toml")
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    proc = run_cli("optimize", tiny(tmp_path), "--trials", "0")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


@pytest.mark.slow
def test_cli_sigint_resume_and_workers_identical(tmp_path) -> None:
    path = tiny(tmp_path, steps=24)
    ref = search_mod.run_search(path, out=tmp_path / "w1", workers=1, progress=False)
    two = search_mod.run_search(path, out=tmp_path / "w2", workers=2, progress=False)
    pd.testing.assert_frame_equal(ref.trials, two.trials)
    out = tmp_path / "cli"
    args = ["optimize", path, "--out", out, "--workers", "2", "--no-progress"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "i4p_sim", *map(str, args)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not (out / "batch_1").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode != 0  # interrupted in batch 1, before the front was written
    assert (out / "batch_0" / "paired.parquet").is_file()
    assert not (out / "trials.parquet").exists()
    done = subprocess.run(
        [sys.executable, "-m", "i4p_sim", *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "phase out over" in done.stdout
    stored = re.search(r"(\d+) model runs, (\d+) already stored", done.stdout)
    assert stored and int(stored[2]) >= 8 and int(stored[1]) + int(stored[2]) == 16
    pd.testing.assert_frame_equal(pd.read_parquet(out / "trials.parquet"), ref.trials)


def test_i4p_report_rewrites_the_front_page_and_batches_link_to_it(tmp_path, in_threads) -> None:
    out = tmp_path / "out"
    search_mod.run_search(tiny(tmp_path), trials=2, out=out, workers=1, progress=False)
    (out / "report.html").unlink()
    proc = run_cli("report", out)
    assert proc.returncode == 0, proc.stderr
    assert "Pareto front page" in proc.stdout
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "Exit-strategy search: tiny" in page and "phase out over" in page
    assert "batch_0/report.html" not in page  # no batch report written yet
    proc = run_cli("report", out / "batch_0")  # a batch is a sweep: its own report
    assert proc.returncode == 0, proc.stderr
    batch = (out / "batch_0" / "report.html").read_text(encoding="utf-8")
    assert "batch 0 of the exit-strategy search" in batch and "href='../report.html'" in batch
    assert run_cli("report", out).returncode == 0
    assert "href='batch_0/report.html'" in (out / "report.html").read_text(encoding="utf-8")
    (out / "search.json").unlink()  # results of an older version: one line, what to do
    proc = run_cli("report", out)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    line = proc.stderr.strip()
    assert f"{out}: search.json: not found; rerun the same 'i4p optimize" in line


@pytest.mark.slow
def test_cli_sigkill_mid_batch_resumes_to_the_same_trials(tmp_path) -> None:
    """Killed without warning (SIGKILL to the search and its workers) in its second batch,
    the same command ends with the trials, values and front of an uninterrupted search."""
    import os

    path = tiny(tmp_path, steps=24)
    ref = search_mod.run_search(path, out=tmp_path / "ref", workers=1, progress=False)
    out = tmp_path / "cli"
    args = [sys.executable, "-m", "i4p_sim", "optimize", str(path), "--out", str(out)]
    args += ["--workers", "2", "--no-progress"]
    proc = subprocess.Popen(
        args,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not (out / "batch_1").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == -signal.SIGKILL
    assert (out / "batch_0" / "paired.parquet").is_file()
    assert not (out / "trials.parquet").exists()
    done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    stored = re.search(r"(\d+) model runs, (\d+) already stored", done.stdout)
    assert stored and int(stored[2]) >= 8 and int(stored[1]) + int(stored[2]) == 16
    pd.testing.assert_frame_equal(pd.read_parquet(out / "trials.parquet"), ref.trials)
    pd.testing.assert_frame_equal(pd.read_parquet(out / "front.parquet"), ref.front)

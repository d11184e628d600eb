"""The sweep/compare/report/check commands end to end, in subprocesses: resume after
SIGKILL, one-line errors with exit 2, failure isolation with --retry-failed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from i4p_sim.config.experiment import load_experiment
from i4p_sim.stats.metrics import SUMMARY_KEYS
from i4p_sim.sweep.spec import iter_runs
from i4p_sim.sweep.worker import FAIL_ENV

from conftest import ROOT, experiment_text, run_cli_subprocess

# every test here starts real processes (sweeps, signals, exit codes)
pytestmark = pytest.mark.slow

REPO = ROOT

RESUME = experiment_text("resume")

SMALL = experiment_text("small")


def cli(*args, env=None, timeout=120) -> subprocess.CompletedProcess:
    """``python -m i4p_sim ARGS`` in a subprocess (``conftest.run_cli_subprocess``)."""
    return run_cli_subprocess(*args, env=env, timeout=timeout)


def assert_one_line_error(proc: subprocess.CompletedProcess, *needles: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    # argparse's usage block (a "usage:" line and its indented continuations) may precede it
    lines = [
        ln
        for ln in proc.stderr.splitlines()
        if ln.strip() and not ln.startswith("usage:") and not ln.startswith(" ")
    ]
    assert len(lines) == 1, proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def stored(out: Path) -> pd.DataFrame:
    parts = sorted((out / "runs").glob("part-*.parquet"))
    return pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True) if parts else None


def test_resume_after_sigkill(tmp_path):
    exp = tmp_path / "resume.toml"
    exp.write_text(RESUME)
    expected = {r.run_id for r in iter_runs(load_experiment(exp))}
    assert len(expected) == 40 + 4  # 4 null-perturbed runs of the twin (baseline)
    out = tmp_path / "killed"
    proc = subprocess.Popen(
        [sys.executable, "-m", "i4p_sim.cli", "sweep", str(exp), "--out", str(out)]
        + ["--workers", "1", "--no-report"],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: we kill the driver and its worker
    )
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            parts = list((out / "runs").glob("part-*.parquet")) if (out / "runs").exists() else []
            if len(parts) >= 2:
                break
            assert proc.poll() is None, "sweep finished before it could be killed"
            time.sleep(0.02)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    partial = stored(out)
    assert partial is not None
    n_partial = partial["run_id"].nunique()
    assert 0 < n_partial < 44, n_partial

    res = cli("sweep", str(exp), "--out", str(out), "--workers", "2", "--no-report")
    assert res.returncode == 0, res.stderr
    assert f"skipped {n_partial} already stored" in res.stdout
    runs = pd.read_parquet(out / "runs.parquet")
    assert set(runs["run_id"]) == expected
    assert runs["run_id"].is_unique and len(runs) == 44
    # the paired table is rebuilt from the store after the resumed sweep: every run of the
    # experiment (not the null runs) against its twin, replicate i with replicate i
    paired = pd.read_parquet(out / "paired.parquet")
    assert len(paired) == 40 and not paired.isna().any().any()
    assert set(paired["twin"]) == {"baseline", "no_i4p"}
    shocked = paired[paired["scenario"].isin(["withdrawal_abrupt", "upheaval"])]
    twin_rep = runs.set_index("run_id").loc[shocked["twin_run_id"], "replicate"].to_numpy()
    assert (twin_rep == shocked["replicate"].to_numpy()).all()
    # every run stored exactly once in the chunks too (nothing run twice)
    assert stored(out)["run_id"].value_counts().max() == 1
    series = pd.read_parquet(out / "series")
    assert set(series["run_id"]) == expected
    assert series.groupby("run_id").size().eq(80).all()
    assert not series.duplicated(["run_id", "step"]).any()
    # the snapshots of replicate 0, each once, and no stale temp file
    snaps = {p.stem for p in (out / "snapshots").glob("*.npz")}
    assert snaps == set(runs.loc[runs["replicate"] == 0, "run_id"])
    assert not list((out / "snapshots").glob(".*"))

    clean = tmp_path / "clean"
    res = cli("sweep", str(exp), "--out", str(clean), "--workers", "2", "--no-report")
    assert res.returncode == 0, res.stderr
    cols = ["run_id", "scenario", "replicate", "seed", "status", *SUMMARY_KEYS]
    a = runs[cols].sort_values("run_id").reset_index(drop=True)
    b = pd.read_parquet(clean / "runs.parquet")[cols].sort_values("run_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    sa = series.sort_values(["run_id", "step"]).reset_index(drop=True)
    sb = pd.read_parquet(clean / "series").sort_values(["run_id", "step"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(sa, sb, check_exact=True)


def test_second_sweep_into_a_held_directory_stops_and_deletes_nothing(tmp_path):
    from i4p_sim.sweep.storage import directory_lock

    exp = tmp_path / "small.toml"
    exp.write_text(SMALL)
    out = tmp_path / "busy"
    # what a running sweep has in flight: a temp file and a series chunk whose run
    # chunk is not written yet (a resuming sweep would delete both)
    (out / "runs").mkdir(parents=True)
    (out / "series").mkdir()
    in_flight = [out / "runs" / ".part-1.parquet.abc.tmp", out / "series" / "part-1.parquet"]
    for path in in_flight:
        path.write_bytes(b"in flight")
    with directory_lock(out):
        for flags in ([], ["--fresh"]):
            res = cli("sweep", str(exp), "--out", str(out), "--workers", "1", *flags)
            assert_one_line_error(res, str(out), "in use by another sweep", f"pid {os.getpid()}")
            assert all(p.read_bytes() == b"in flight" for p in in_flight)
            assert not (out / "runs.parquet").exists()
    res = cli("sweep", str(exp), "--out", str(out), "--workers", "1", "--no-report")
    assert res.returncode == 0, res.stderr
    assert len(pd.read_parquet(out / "runs.parquet")) == 4
    assert not any(p.exists() for p in in_flight)  # the orphans of a dead sweep are dropped


def test_cli_failure_isolation_retry_compare_report(tmp_path):
    exp = tmp_path / "small.toml"
    exp.write_text(SMALL)
    out = tmp_path / "out"
    res = cli("sweep", str(exp), "--out", str(out), "--workers", "1", env={FAIL_ENV: "no_i4p"})
    assert res.returncode == 1, res.stderr
    assert "2 run(s) failed" in res.stderr and "Traceback" not in res.stderr
    assert (out / "report.html").exists()  # the report copes with failed runs
    runs = pd.read_parquet(out / "runs.parquet")
    assert dict(runs["status"].value_counts()) == {"ok": 2, "failed": 2}

    res = cli("sweep", str(exp), "--out", str(out), "--workers", "1", "--retry-failed")
    assert res.returncode == 0, res.stderr
    assert "ran 2, skipped 2" in res.stdout
    runs = pd.read_parquet(out / "runs.parquet")
    assert (runs["status"] == "ok").all() and len(runs) == 4
    manifest = json.loads((out / "manifest.json").read_text())
    assert [s["ran"] for s in manifest["sessions"]] == [4, 2]

    csv = tmp_path / "effects.csv"
    res = cli("compare", str(out), "--metric", "cumulative_violence", "--csv", str(csv))
    assert res.returncode == 0, res.stderr
    assert "no_i4p" in res.stdout and "cumulative_violence" in res.stdout
    table = pd.read_csv(csv)
    assert list(table["scenario"]) == ["no_i4p"] and int(table["n"].iloc[0]) == 2

    res = cli("report", str(out), "--out", str(tmp_path / "r.html"))
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "r.html").stat().st_size > 1_000_000  # plotly.js inline

    res = cli("check", str(exp))
    assert res.returncode == 0 and "experiment 'small', 4 runs" in res.stdout


@pytest.mark.parametrize(
    ("body", "needles"),
    [
        (SMALL + "colour = 2\n", ("colour", "unknown key")),
        (SMALL.replace("replicates = 2", 'replicates = "two"'), ("replicates",)),
        (SMALL + 'baseline = "nope"\n', ("baseline", "nope")),
        (
            SMALL + '\n[sample]\nn = 4\n[sample.ranges]\n"lpc.ownership" = [1, 0]\n',
            ("sample.ranges",),
        ),
        (SMALL.replace("baseline.toml", "gone.toml"), ("scenarios.0", "not found")),
        ("name = 'x'\nscenarios = [\n", ("malformed TOML",)),
    ],
    ids=["unknown-key", "bad-type", "bad-baseline", "bad-range", "missing-scenario", "bad-toml"],
)
def test_bad_experiment_files_exit_2(tmp_path, body, needles):
    exp = tmp_path / "bad.toml"
    exp.write_text(body)
    for command in (["check", str(exp)], ["sweep", str(exp), "--out", str(tmp_path / "o")]):
        proc = cli(*command)
        assert_one_line_error(proc, str(exp), *needles)
    assert not (tmp_path / "o").exists()


def test_bad_flags_exit_2(tmp_path):
    exp = tmp_path / "small.toml"
    exp.write_text(SMALL)
    assert_one_line_error(cli("sweep", str(exp), "--replicates", "0"), "--replicates")
    assert_one_line_error(cli("sweep", str(exp), "--workers", "two"), "--workers")
    assert_one_line_error(
        cli("sweep", str(exp), "--workers", "2", "--dask-local", "2"), "not allowed with"
    )
    assert_one_line_error(
        cli("sweep", str(exp), "--fresh", "--retry-failed", "--out", str(tmp_path / "o")),
        "--retry-failed",
    )
    assert_one_line_error(cli("sweep", str(tmp_path / "missing.toml")), "file not found")
    assert_one_line_error(cli("compare", str(tmp_path)), "runs.parquet")
    assert_one_line_error(cli("compare", str(tmp_path / "nowhere")), "not a directory")
    assert_one_line_error(cli("report", str(tmp_path / "nowhere")), "not a directory")
    (tmp_path / "file.txt").write_text("x")
    assert_one_line_error(
        cli("sweep", str(exp), "--out", str(tmp_path / "file.txt")), "not a directory"
    )


def test_compare_bad_baseline_and_metric(tmp_path):
    exp = tmp_path / "small.toml"
    exp.write_text(SMALL)
    out = tmp_path / "out"
    assert (
        cli("sweep", str(exp), "--out", str(out), "--workers", "1", "--no-report").returncode == 0
    )
    assert_one_line_error(cli("compare", str(out), "--baseline", "nope"), "--baseline", "nope")
    assert_one_line_error(cli("compare", str(out), "--metric", "happiness"), "--metric")

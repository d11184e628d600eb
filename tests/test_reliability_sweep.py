"""Issue 16, sweeps: dead workers, torn chunks, SIGTERM, disk full, unreachable scheduler,
non-finite runs stored as failed. Nothing is lost and the store never needs --fresh."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest

from i4p_sim.config.errors import ConfigError
from i4p_sim.config.experiment import load_experiment
from i4p_sim.sweep.spec import iter_runs

from conftest import experiment_text, interrupt_sweep, run_cli_subprocess

SMALL = experiment_text("small")
RESUME = experiment_text("resume")


def cli(*args, env=None, timeout=120) -> subprocess.CompletedProcess:
    """``python -m i4p_sim ARGS`` in a subprocess (``conftest.run_cli_subprocess``)."""
    return run_cli_subprocess(*args, env=env, timeout=timeout)


def manifest(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text())


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.fixture
def small_exp(tmp_path):
    exp = tmp_path / "small.toml"
    exp.write_text(SMALL)
    return exp


# ---------------------------------------------------------------- in process (fast)


@pytest.mark.slow
def test_truncated_chunk_is_quarantined_and_redone(tmp_path, small_exp, capsys):
    from i4p_sim.sweep.driver import run_experiment

    out = tmp_path / "out"
    first = run_experiment(small_exp, out=out, workers=1, batch_size=1, progress=False)
    assert (first.runs["status"] == "ok").all()
    parts = sorted((out / "runs").glob("part-*.parquet"))
    victim = parts[0]
    victim.write_bytes(victim.read_bytes()[:100])  # what a power loss leaves
    (out / "series" / victim.name).write_bytes(b"PAR1")
    capsys.readouterr()
    second = run_experiment(small_exp, out=out, workers=1, batch_size=1, progress=False)
    assert second.ran == 1 and len(second.runs) == len(first.runs)
    assert (second.runs["status"] == "ok").all()
    assert "quarantined unreadable chunk" in capsys.readouterr().err
    quarantined = {p.name for p in (out / "quarantine").iterdir()}
    assert quarantined == {f"runs-{victim.name}", f"series-{victim.name}"}
    pd.testing.assert_frame_equal(
        first.runs.drop(columns="wall_s"), second.runs.drop(columns="wall_s")
    )


def test_torn_manifest_does_not_block_resume(tmp_path, small_exp):
    from i4p_sim.sweep.driver import run_experiment

    out = tmp_path / "out"
    run_experiment(small_exp, out=out, workers=1, progress=False)
    (out / "manifest.json").write_text('{"experiment": "sm')
    res = run_experiment(small_exp, out=out, workers=1, progress=False)
    assert res.ran == 0 and manifest(out)["status"] == "complete"


def test_disk_full_marks_the_manifest_failed(tmp_path, small_exp, monkeypatch):
    import i4p_sim.sweep.store as store
    from i4p_sim.sweep.driver import run_experiment

    real = store.atomic_write_parquet
    calls = {"n": 0}

    def filling(path, frame):
        calls["n"] += 1
        if calls["n"] > 3:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(path, frame)

    monkeypatch.setattr(store, "atomic_write_parquet", filling)
    # workers that do not see the directory (another machine): the driver writes every run
    monkeypatch.setattr(store.Store, "start_session", lambda self: "not-in-the-directory")
    out = tmp_path / "out"
    with pytest.raises(OSError, match="No space"):
        run_experiment(small_exp, out=out, workers=1, batch_size=1, progress=False)
    m = manifest(out)
    assert m["status"] == "failed" and "No space" in m["error"]


def test_manifest_written_in_place_when_no_new_file_fits(tmp_path, small_exp, monkeypatch):
    import i4p_sim.sweep.store as store
    from i4p_sim.sweep.driver import run_experiment

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    out = tmp_path / "out"
    run_experiment(small_exp, out=out, workers=1, progress=False)
    s = store.Store(out)
    monkeypatch.setattr(store, "atomic_write_text", full)
    s.write_manifest_final({"experiment": "small", "status": "failed"})
    m = manifest(out)
    assert m["status"] == "failed" and "short manifest" in m["note"]


def test_non_finite_run_is_stored_as_failed(tmp_path):
    from i4p_sim.sweep.driver import run_experiment

    exp = tmp_path / "nf.toml"
    exp.write_text(SMALL.replace('name = "small"', 'name = "nf"') + "\n[axes]\n"
                   "'landscape.population_mean' = [1000.0, 1e308]\n")  # fmt: skip
    res = run_experiment(exp, out=tmp_path / "o", workers=1, progress=False)
    bad = res.runs[res.runs["landscape.population_mean"] > 1e300]
    good = res.runs[res.runs["landscape.population_mean"] < 1e300]
    assert (bad["status"] == "failed").all() and len(bad)
    assert bad["error"].str.contains("non-finite value in the model's state").all()
    assert (good["status"] == "ok").all()
    assert json.loads((tmp_path / "o" / "manifest.json").read_text())  # valid JSON


def test_unwritable_results_dir_fails_before_running(tmp_path, small_exp):
    from i4p_sim.sweep.driver import run_experiment

    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(ConfigError, match="cannot write here: Not a directory"):
        run_experiment(small_exp, out=target / "sub", workers=1, progress=False)
    with pytest.raises(ConfigError, match="exists and is not a directory"):
        run_experiment(small_exp, out=target, workers=1, progress=False)


# ---------------------------------------------------------------- real processes (slow)


@pytest.mark.slow
def test_dead_worker_is_survived_and_a_killer_run_recorded_failed(tmp_path, small_exp):
    out = tmp_path / "out"
    proc = cli(
        "sweep", small_exp, "--out", out, "--workers", "2", "--no-report",
        env={"I4P_KILL_SCENARIO": "no_i4p"},
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr and "BrokenProcessPool" not in proc.stderr
    assert "a worker process died" in proc.stderr
    runs = pd.read_parquet(out / "runs.parquet")
    assert len(runs) == 4
    killer = runs[runs["scenario"] == "no_i4p"]
    assert (killer["status"] == "failed").all()
    assert killer["error"].str.contains("WorkerDied").all()
    assert (runs[runs["scenario"] == "baseline"]["status"] == "ok").all()
    assert manifest(out)["status"] == "complete"


@pytest.mark.slow
def test_one_dead_worker_loses_nothing(tmp_path, small_exp):
    out = tmp_path / "out"
    env = {"I4P_KILL_ONCE": str(tmp_path / "killed-once")}
    proc = cli("sweep", small_exp, "--out", out, "--workers", "2", "--no-report", env=env)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "killed-once").exists()
    runs = pd.read_parquet(out / "runs.parquet")
    assert len(runs) == 4 and (runs["status"] == "ok").all()


@pytest.mark.slow
def test_sigterm_ends_workers_and_says_how_to_resume(tmp_path):
    exp = tmp_path / "resume.toml"
    exp.write_text(RESUME)
    out = tmp_path / "out"
    args = ["sweep", exp, "--out", out, "--workers", "2", "--no-report"]
    proc, err, kids = interrupt_sweep(args, out, signal.SIGTERM, parts=2, module="i4p_sim.cli")
    assert len(kids) >= 2  # the workers and the resource tracker
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "Traceback" not in err
    # stderr is a pipe: progress lines, then one line on what is stored
    lines = [ln for ln in err.splitlines() if ln.strip()]
    lines = [ln for ln in lines if not ln.startswith("i4p: progress: ")]
    assert len(lines) == 1 and "runs stored" in lines[0] and "resume" in lines[0], err
    time.sleep(0.5)
    assert [k for k in kids if alive(k)] == []
    assert manifest(out)["status"] == "interrupted"
    total = len({r.run_id for r in iter_runs(load_experiment(exp))})
    proc2 = cli("sweep", exp, "--out", out, "--workers", "2", "--no-report")
    assert proc2.returncode == 0, proc2.stderr
    assert len(pd.read_parquet(out / "runs.parquet")) == total


@pytest.mark.slow
def test_unreachable_scheduler_leaves_nothing(tmp_path, small_exp):
    pytest.importorskip("distributed")
    out = tmp_path / "never"
    proc = cli("sweep", small_exp, "--out", out, "--scheduler", "tcp://127.0.0.1:9")
    assert proc.returncode == 2, proc.stderr
    assert "cannot connect" in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists()


def test_worker_frees_each_model(tmp_path, small_exp):
    """Mesa 3.3 keeps every model in ``Agent._ids``: a worker grew by one model per run."""
    from mesa import Agent

    from i4p_sim.sweep.worker import run_batch

    specs = list(iter_runs(load_experiment(small_exp)))
    before = len(Agent.__dict__.get("_ids", {}))
    rows, _, _ = run_batch(specs)
    assert all(r["status"] == "ok" for r in rows)
    assert len(Agent.__dict__.get("_ids", {})) == before


def test_writes_fsync_the_file_and_the_directory(tmp_path, monkeypatch):
    import stat as stat_mod

    import i4p_sim.sweep.storage as storage

    synced: list[str] = []
    real = os.fsync

    def spy(fd):
        kind = "dir" if stat_mod.S_ISDIR(os.fstat(fd).st_mode) else "file"
        synced.append(kind)
        return real(fd)

    monkeypatch.setattr(storage.os, "fsync", spy)
    storage.atomic_write_parquet(tmp_path / "a.parquet", pd.DataFrame({"x": [1]}))
    assert synced == ["file", "dir"]
    synced.clear()
    storage.atomic_write_text(tmp_path / "a.txt", "hello")
    assert synced == ["file", "dir"]


@pytest.mark.slow
def test_compare_and_report_on_torn_files_are_one_line(tmp_path, small_exp):
    from i4p_sim.sweep.driver import run_experiment

    from conftest import run_cli

    out = tmp_path / "out"
    run_experiment(small_exp, out=out, workers=1, progress=False)
    part = sorted((out / "series").glob("part-*.parquet"))[0]
    part.write_bytes(part.read_bytes()[:50])
    res = run_cli("report", out)
    assert res.returncode == 2 and "quarantine" in res.stderr, res.stderr
    (out / "runs.parquet").write_bytes(b"PAR1 torn")
    res = run_cli("compare", out)
    assert res.returncode == 2 and "reassemble" in res.stderr, res.stderr
    res = run_experiment(small_exp, out=out, workers=1, progress=False)  # recovers
    assert len(res.runs) == 4 and (res.runs["status"] == "ok").all()
    assert run_cli("report", out).returncode == 0

"""A sweep seen from a non-terminal (issue 15): periodic progress lines on stderr, Ctrl-C
says what is stored and that rerunning resumes (exit 130), and the manifest records the
command as typed."""

from __future__ import annotations

import io
import json
import re
import shlex
import signal
from pathlib import Path

import pandas as pd
import pytest

from i4p_sim.sweep.manifest import typed_command
from i4p_sim.sweep.progress import EVERY_S, LineProgress, format_seconds

from conftest import ROOT, experiment_text, interrupt_sweep, run_cli_subprocess

PROGRESS = re.compile(
    r"^i4p: progress: (?P<name>\S+): stored (?P<stored>\d+)/(?P<total>\d+) runs, "
    r"(?P<elapsed>[0-9a-z ]+) elapsed(, ~(?P<left>[0-9a-z ]+) left)?$"
)


class Clock:
    """A settable monotonic clock."""

    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_line_progress_every_tenth_of_the_runs_and_every_ten_seconds() -> None:
    clock, out = Clock(), io.StringIO()
    bar = LineProgress("exp", todo=100, stored=20, total=120, stream=out, clock=clock)
    clock.t += 1
    for _ in range(9):
        bar.update(1)  # 9 runs: less than 10% and 1 s: quiet
    assert out.getvalue() == ""
    bar.update(1)  # the tenth run: 10%
    assert out.getvalue() == "i4p: progress: exp: stored 30/120 runs, 1 s elapsed, ~9 s left\n"
    clock.t += EVERY_S  # ten seconds without a new run: a line all the same
    bar.update(0)
    assert out.getvalue().splitlines()[-1] == (
        "i4p: progress: exp: stored 30/120 runs, 11 s elapsed, ~1 min 39 s left"
    )
    bar.update(0)  # and not again right away
    assert len(out.getvalue().splitlines()) == 2
    bar.update(90)
    assert (
        out.getvalue().splitlines()[-1] == "i4p: progress: exp: stored 120/120 runs, 11 s elapsed"
    )
    bar.close()


def test_the_last_run_always_prints_a_line_even_after_an_uneven_batch() -> None:
    clock, out = Clock(), io.StringIO()
    bar = LineProgress("exp", todo=44, stored=0, total=44, stream=out, clock=clock)
    bar.update(43)  # a line (43 >= 10% of 44)
    bar.update(1)  # only 1 more run, within 10 s: printed all the same, being the last
    assert out.getvalue().splitlines()[-1].startswith("i4p: progress: exp: stored 44/44 runs")
    assert len(out.getvalue().splitlines()) == 2


def test_format_seconds() -> None:
    assert format_seconds(0.4) == "0 s"
    assert format_seconds(59.6) == "1 min 00 s"
    assert format_seconds(125) == "2 min 05 s"
    assert format_seconds(2 * 3600 + 7 * 60 + 3) == "2 h 07 min"


@pytest.mark.parametrize(
    ("argv", "typed"),
    [
        (
            [
                str(ROOT / "i4p_sim" / "__main__.py"),
                "sweep",
                "experiments/x.toml",
                "--steps",
                "120",
            ],
            "python -m i4p_sim sweep experiments/x.toml --steps 120",
        ),
        (
            [str(ROOT / "i4p_sim" / "validation" / "__main__.py"), "--quick"],
            "python -m i4p_sim.validation --quick",
        ),
        (
            [str(ROOT / "i4p_sim" / "cli.py"), "sweep", "a.toml"],
            "python -m i4p_sim.cli sweep a.toml",
        ),
        (["/opt/venv/bin/i4p", "sweep", "my exp.toml"], "i4p sweep 'my exp.toml'"),
        (["benchmarks/bench_sweep.py", "--quick"], "python benchmarks/bench_sweep.py --quick"),
        (["-c"], "python -c"),
    ],
)
def test_typed_command(argv: list[str], typed: str) -> None:
    assert typed_command(argv) == typed


def _resume_experiment(tmp_path: Path) -> Path:
    exp = tmp_path / "resume.toml"
    exp.write_text(experiment_text("resume"))
    return exp


@pytest.mark.slow
def test_piped_sweep_prints_progress_lines_and_the_manifest_has_the_typed_command(
    tmp_path: Path,
) -> None:
    exp = _resume_experiment(tmp_path)
    out = tmp_path / "out"
    args = ["sweep", str(exp), "--out", str(out), "--workers", "2", "--no-report"]
    proc = run_cli_subprocess(*args)  # stderr is a pipe, as under nohup, CI or | tee
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and "\r" not in proc.stderr  # no tqdm bar
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    found = [PROGRESS.match(ln) for ln in lines]
    assert lines and all(found), proc.stderr
    stored = [int(m["stored"]) for m in found]
    assert stored == sorted(stored) and stored[-1] == 44
    assert {m["total"] for m in found} == {"44"} and {m["name"] for m in found} == {"resume"}
    # every 10% of the runs, or every 10 s on a slow (loaded) machine: not every run
    minutes, _, seconds = found[-1]["elapsed"].rpartition(" min ")
    elapsed = 60 * int(minutes or 0) + int(seconds.split()[0])
    assert 2 <= len(lines) <= 11 + elapsed // 10, (len(lines), elapsed)
    assert found[0]["left"] is not None
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["command"] == "python -m i4p_sim " + shlex.join(args)


@pytest.mark.slow
def test_ctrl_c_says_what_is_stored_and_rerunning_resumes(tmp_path: Path) -> None:
    exp = _resume_experiment(tmp_path)
    out = tmp_path / "out"
    args = ["sweep", str(exp), "--out", str(out), "--workers", "1", "--no-report"]
    args += ["--replicates", "20"]  # 84 runs on one worker: several seconds to interrupt
    proc, err, _ = interrupt_sweep(args, out, signal.SIGINT)  # Ctrl-C after one chunk
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    lines = [ln for ln in err.splitlines() if ln.strip() and not PROGRESS.match(ln)]
    assert len(lines) == 1, err
    m = re.fullmatch(
        rf"i4p: {re.escape(str(out))}: interrupted; (\d+) of 84 runs stored; "
        r"rerun the same command to resume",
        lines[0],
    )
    assert m, lines[0]
    n_stored = int(m[1])
    assert 0 < n_stored < 84
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "interrupted"
    assert manifest["runs_ok"] + manifest["runs_failed"] == n_stored
    again = run_cli_subprocess(*args)
    assert again.returncode == 0, again.stderr
    assert f"skipped {n_stored} already stored" in again.stdout
    assert len(pd.read_parquet(out / "runs.parquet")) == 84

"""Shared fixtures: the small test grid, the repository's paths and the CLI, in-process.

Stochastic tests use :data:`SMALL` (a quarter of the default region, densities kept) so
they take seconds. :func:`run_cli` calls ``i4p_sim.cli.main`` in this process (fast, for
the many error-message tests); :func:`run_cli_subprocess` starts ``python -m i4p_sim`` for
the few tests that need a real process (exit codes, signals, no traceback on stderr) and
are marked ``slow``.
"""

from __future__ import annotations

import collections
import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

sys.path.insert(0, str(Path(__file__).parent))

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"
SCENARIOS = sorted((ROOT / "scenarios").glob("*.toml"))

# 32 x 32 is a quarter of the default region: committees, donor budgets and the council's
# rapid-response capacity are densities (per 1,000 inhabited cells), so they stay as in
# the defaults by themselves.
SMALL = [
    "grid.width=32",
    "grid.height=32",
    "steps=120",
]
SEEDS = range(20)


# ------------------------------------------------------------------ hypothesis

# CI: derandomized (the same examples every run, so a failure reproduces) and bounded; locally
# random with the same bound. HYPOTHESIS_PROFILE overrides (e.g. "long" for a deeper search).
settings.register_profile(
    "ci",
    derandomize=True,
    max_examples=80,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "dev", max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "long", max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
)

#: Inputs tried and clean per kind, filled by tests/test_fuzz.py and printed at the end.
FUZZ_COUNTS: collections.Counter = collections.Counter()


@pytest.fixture
def small():
    """Overrides for the small test grid."""
    return list(SMALL)


def run_cli(*args: str | Path) -> subprocess.CompletedProcess:
    """Run ``i4p ARGS`` in this process; return what a subprocess run would.

    ``returncode`` is ``main``'s return value or argparse's exit status; stdout and stderr
    are captured. An exception escaping ``main`` (a traceback, for a user) propagates and
    fails the test.
    """
    from i4p_sim.cli import main

    argv = [str(a) for a in args]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse's usage errors and --help
            code = exc.code if isinstance(exc.code, int) else 1
    return subprocess.CompletedProcess(["i4p", *argv], code, out.getvalue(), err.getvalue())


def run_cli_subprocess(
    *args: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None, timeout=120
) -> subprocess.CompletedProcess:
    """Run ``python -m i4p_sim ARGS`` in a subprocess (for ``slow`` tests)."""
    import os

    return subprocess.run(
        [sys.executable, "-m", "i4p_sim", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd or ROOT,
        env={**os.environ, **(env or {})},
        timeout=timeout,
    )


def one_error_line(proc: subprocess.CompletedProcess) -> str:
    """The one stderr line of a bad-input exit (code 2, no traceback); fails otherwise."""
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    return lines[0]


def interrupt_sweep(
    args: list[str | Path], out: Path, sig: int, *, parts: int = 1, module: str = "i4p_sim"
) -> tuple[subprocess.Popen, str, list[int]]:
    """Start ``python -m MODULE ARGS`` (a sweep into ``out``) in its own session, send it
    ``sig`` once ``parts`` run chunks are stored, and wait for it to end.

    Returns the finished process, its stderr and the process ids of its children seen just
    before the signal (pool workers; to check they are gone). The process group is killed
    if anything fails, so no sweep outlives its test.
    """
    import os
    import signal
    import time

    proc = subprocess.Popen(
        [sys.executable, "-m", module, *map(str, args)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if len(list((out / "runs").glob("part-*.parquet"))) >= parts:
                break
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.05)
        kids = children_of(proc.pid)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    return proc, err, kids


def children_of(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (Linux /proc)."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry.name))
    return out


# ------------------------------------------------------------------ suite times

#: CI budgets per suite, in seconds (the README's test command runs all three).
BUDGETS = {"not slow": 90.0, "slow": 720.0, "browser": 300.0}
_suite_seconds = dict.fromkeys(BUDGETS, 0.0)


def _suite(item_keywords) -> str:
    if "browser" in item_keywords:
        return "browser"
    return "slow" if "slow" in item_keywords else "not slow"


def pytest_runtest_logreport(report) -> None:
    """Add each test's setup, call and teardown time to its suite's total."""
    _suite_seconds[_suite(report.keywords)] += report.duration


def pytest_terminal_summary(terminalreporter) -> None:
    """Print each suite's wall time against its CI budget (printed, never asserted)."""
    parts = []
    for suite, budget in BUDGETS.items():
        spent = _suite_seconds[suite]
        flag = "" if spent <= budget else " OVER BUDGET"
        parts.append(f"{suite} {spent:.1f} s (budget {budget:.0f} s){flag}")
    terminalreporter.write_line("suite times: " + "; ".join(parts))
    if FUZZ_COUNTS:
        kinds = sorted({k.rsplit(" ", 1)[0] for k in FUZZ_COUNTS})
        shown = [f"{k} {FUZZ_COUNTS[k + ' clean']}/{FUZZ_COUNTS[k + ' tried']}" for k in kinds]
        tried = sum(v for k, v in FUZZ_COUNTS.items() if k.endswith(" tried"))
        clean = sum(v for k, v in FUZZ_COUNTS.items() if k.endswith(" clean"))
        terminalreporter.write_line(
            f"fuzz: {tried} inputs tried, {clean} clean (clean/tried: {'; '.join(shown)})"
        )


def experiment_text(name: str) -> str:
    """The text of ``tests/data/<name>.toml`` with its scenario paths made absolute.

    The files name scenarios relative to themselves (``../../scenarios/...``), so they load
    in place; tests that write a variant of the text elsewhere need absolute paths.
    """
    text = (DATA / f"{name}.toml").read_text(encoding="utf-8")
    return text.replace('"../../scenarios/', f'"{ROOT / "scenarios"}/')

"""Sweep benchmark: executor overhead, 2-worker speed-up, driver memory.

Prints

1. the per-run overhead of the executor on tiny runs (process pool, and Dask LocalCluster
   when ``distributed`` is installed): (sweep wall time - the same runs in-process) / runs,
   pool start-up included and also shown on its own;
2. the speed-up of 2 workers over 1 on runs of about 1 s (target >= 1.8x);
3. the driver's peak memory (tracemalloc peak and ru_maxrss, each measured in a fresh
   subprocess) for sweeps of 100 and of 2,000 tiny runs (target: flat).

Run: ``python benchmarks/bench_sweep.py [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from i4p_sim.config.experiment import load_experiment
from i4p_sim.sweep.driver import run_experiment
from i4p_sim.sweep.executors import make_executor
from i4p_sim.sweep.spec import iter_runs
from i4p_sim.sweep.worker import run_batch

REPO = Path(__file__).resolve().parents[1]
SCEN = REPO / "scenarios"


def experiment_text(name: str, size: int, steps: int, replicates: int, scenarios: int = 2) -> str:
    files = ["baseline", "no_i4p", "withdrawal_abrupt", "upheaval"][:scenarios]
    listed = ", ".join(f'"{SCEN / f}.toml"' for f in files)
    return (
        f'name = "{name}"\nseed = 1\nreplicates = {replicates}\nsteps = {steps}\n'
        f"reference_step = {steps // 2}\n"
        f'set = ["grid.width={size}", "grid.height={size}"]\nscenarios = [{listed}]\n'
    )


def write_exp(tmp: Path, *args) -> Path:
    path = tmp / f"{args[0]}.toml"
    path.write_text(experiment_text(*args))
    return path


def sweep(path: Path, out: Path, **kw) -> float:
    t0 = time.perf_counter()
    run_experiment(path, out=out, fresh=True, progress=False, **kw)
    return time.perf_counter() - t0


def overhead(tmp: Path, n_runs: int) -> None:
    path = write_exp(tmp, "tiny", 8, 10, n_runs // 2)
    specs = list(iter_runs(load_experiment(path)))
    run_batch(specs[:4])  # warm imports
    t0 = time.perf_counter()
    run_batch(specs)
    inproc = time.perf_counter() - t0
    print(
        f"[overhead] {len(specs)} tiny runs (8x8, 10 steps) in-process: "
        f"{inproc / len(specs) * 1e3:.2f} ms/run"
    )

    t0 = time.perf_counter()
    with make_executor(workers=1) as (ex, _, _):
        ex.submit(int, 0).result()
    startup = time.perf_counter() - t0
    wall = sweep(path, tmp / "o1", workers=1)
    print(
        f"[overhead] process pool, 1 worker: start-up {startup:.2f} s; sweep {wall:.2f} s "
        f"-> overhead {(wall - inproc) / len(specs) * 1e3:.2f} ms/run incl. start-up, "
        f"{(wall - inproc - startup) / len(specs) * 1e3:.2f} ms/run excl."
    )
    wall = sweep(path, tmp / "o1b", workers=1, batch_size=1)
    print(
        f"[overhead] process pool, 1 worker, unbatched (1 run/task): sweep {wall:.2f} s -> "
        f"{(wall - inproc - startup) / len(specs) * 1e3:.2f} ms/run excl. start-up"
    )
    try:
        import distributed  # noqa: F401
    except ImportError:
        print("[overhead] dask: not installed, skipped")
        return
    wall = sweep(path, tmp / "od", dask_local=1)
    print(
        f"[overhead] dask LocalCluster(1): sweep {wall:.2f} s incl. cluster start -> "
        f"{(wall - inproc) / len(specs) * 1e3:.2f} ms/run incl. start-up"
    )


def speedup(tmp: Path, n_runs: int) -> None:
    path = write_exp(tmp, "onesec", 128, 900, n_runs // 2)
    specs = list(iter_runs(load_experiment(path)))
    t0 = time.perf_counter()
    run_batch(specs[:1])
    print(f"[speed-up] one run of 128x128, 900 steps: {time.perf_counter() - t0:.2f} s")
    w1 = sweep(path, tmp / "s1", workers=1)
    w2 = sweep(path, tmp / "s2", workers=2)
    print(
        f"[speed-up] {len(specs)} runs: 1 worker {w1:.2f} s, 2 workers {w2:.2f} s "
        f"-> speed-up {w1 / w2:.2f}x (target >= 1.8x: {'PASS' if w1 / w2 >= 1.8 else 'MISS'})"
    )


_MEMORY_CHILD = r"""
import json, resource, sys, time, tracemalloc
from i4p_sim import run_experiment
path, out = sys.argv[1], sys.argv[2]
tracemalloc.start()
t0 = time.perf_counter()
res = run_experiment(path, out=out, fresh=True, progress=False, workers=2)
wall = time.perf_counter() - t0
_, peak = tracemalloc.get_traced_memory()
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"runs": len(res.runs), "peak": peak, "rss_kb": rss, "wall": wall}))
"""


def memory(tmp: Path, sizes: tuple[int, ...]) -> None:
    for n in sizes:
        path = write_exp(tmp, f"mem{n}", 6, 8, n // 2)
        proc = subprocess.run(
            [sys.executable, "-c", _MEMORY_CHILD, str(path), str(tmp / f"m{n}")],
            capture_output=True,
            text=True,
            check=True,
        )
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        print(
            f"[memory] {r['runs']:>5} runs: driver tracemalloc peak "
            f"{r['peak'] / 2**20:6.1f} MiB, ru_maxrss {r['rss_kb'] / 1024:6.1f} MiB "
            f"({r['wall']:.1f} s)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs (a smoke test)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        # the speed-up first: the Dask cluster of the overhead section leaves threads behind
        speedup(tmp, 4 if args.quick else 16)
        overhead(tmp, 100 if args.quick else 400)
        memory(tmp, (100, 400) if args.quick else (100, 2000))


if __name__ == "__main__":
    main()

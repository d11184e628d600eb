"""Sweep benchmark: executor overhead, 2-worker speed-up, driver memory.

Prints

1. the per-run overhead of the executor on tiny runs (process pool, and Dask LocalCluster
   when ``distributed`` is installed): (sweep wall time - the same runs in-process) / runs,
   pool start-up included and also shown on its own;
2. the speed-up of 2 workers over 1 on runs of about 1 s (target >= 1.8x);
3. the driver's peak memory (tracemalloc peak and ru_maxrss, each measured in a fresh
   subprocess) for branching sweeps of 48, 200 and 800 tiny runs (target: flat);
4. branching (issue 12), for each shipped experiment: the theoretical model steps with and
   without branching computed from its schema (the file's replicates and points), then,
   side by side in one run on 2 workers at a smaller size (``--replicates``, ``--points``,
   ``--grid``), the steps computed without and with branching (from the manifest), the
   theoretical ratio of that size, the wall times and the measured ratio (targets: steps
   computed = theoretical; wall ratio <= theoretical ratio + 0.1);
5. the size of a snapshot against the model's live arrays (target <= 2x at 1024 x 1024).

Run: ``python benchmarks/bench_sweep.py [--quick] [--only branching,snapshot]``.
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from i4p_sim.config.experiment import Experiment, load_experiment
from i4p_sim.config.loading import load_scenario, read_toml
from i4p_sim.sim.simulation import Simulation
from i4p_sim.sweep.branching import theoretical_steps
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


def sweep(path: Path | Experiment, out: Path, **kw) -> float:
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

#: Four runs per replicate that share their past (three forks of ``none``): the driver
#: sees what branching adds per run (the fork map) as well as rows and progress.
_MEMORY_EXPERIMENT = """
name = "mem{n}"
seed = 1
replicates = {replicates}
steps = 12
reference_step = 6
base = "{base}"
set = ["grid.width=6", "grid.height=6"]
[[variants]]
name = "none"
shocks = []
[[variants]]
name = "abrupt"
shocks = [{{ kind = "funding_withdrawal", at = 6 }}]
[[variants]]
name = "economic"
shocks = [{{ kind = "economic_shock", at = 4 }}]
[[variants]]
name = "trigger"
shocks = [{{ kind = "trigger_incident", at = 8 }}]
"""


def memory(tmp: Path, sizes: tuple[int, ...]) -> None:
    """The driver's peak memory (tracemalloc, ru_maxrss) for branching sweeps of tiny runs
    of each size, each in a fresh subprocess; the ratio of the largest to the smallest."""
    peaks = []
    for n in sizes:
        path = tmp / f"mem{n}.toml"
        base = SCEN / "baseline.toml"
        path.write_text(_MEMORY_EXPERIMENT.format(n=n, replicates=max(1, n // 4), base=base))
        proc = subprocess.run(
            [sys.executable, "-c", _MEMORY_CHILD, str(path), str(tmp / f"m{n}")],
            capture_output=True,
            text=True,
            check=True,
        )
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        peaks.append(r["peak"])
        print(
            f"[memory] {r['runs']:>5} runs: driver tracemalloc peak "
            f"{r['peak'] / 2**20:6.2f} MiB, ru_maxrss {r['rss_kb'] / 1024:6.1f} MiB "
            f"({r['wall']:.1f} s)",
            flush=True,
        )
    print(
        f"[memory] tracemalloc peak at {sizes[-1]} runs / at {sizes[0]} runs: "
        f"{peaks[-1] / peaks[0]:.2f}x for {sizes[-1] / sizes[0]:.0f}x the runs"
    )


EXPERIMENTS = [
    p
    for p in sorted([*REPO.glob("experiments/*.toml"), *REPO.glob("experiments/*/*.toml")])
    if any(k in read_toml(p) for k in ("scenarios", "base", "variants"))
]


def shrink(exp: Experiment, points: int, grid: int | None) -> Experiment:
    """The experiment with at most ``points`` parameter points, on a ``grid`` square."""

    def small(sc):
        if grid is None:
            return sc
        return sc.model_copy(
            update={"grid": sc.grid.model_copy(update={"width": grid, "height": grid})}
        )

    exp.scenarios = {k: small(v) for k, v in exp.scenarios.items()}
    exp.extra = {k: small(v) for k, v in exp.extra.items()}
    exp.points = exp.points[:points]
    exp.at_points = {k: small(v) for k, v in exp.at_points.items() if k[1] < points}
    return exp


def branching(
    tmp: Path,
    replicates: int,
    points: int,
    grid: int | None,
    workers: int,
    repeat: int = 2,
    match: str = "",
) -> None:
    print(
        f"[branching] theoretical: the files' replicates and points; measured: {replicates} "
        f"replicate(s), <= {points} point(s), grid {grid or 'of the file'}, {workers} workers; "
        f"wall times: the fastest of {repeat} sweeps each, alternating"
    )
    head = (
        f"{'experiment':<36} {'th.ratio':>8} | {'runs':>5} {'steps no-br':>11} "
        f"{'steps br':>9} {'= theory':>8} {'th.ratio':>8} {'wall no-br':>10} {'wall br':>8} "
        f"{'ratio':>6} target"
    )
    print(head)
    for path in EXPERIMENTS:
        name = str(path.relative_to(REPO / "experiments"))
        if match and not any(m in name for m in match.split(",")):
            continue
        full_b, full_i = theoretical_steps(iter_runs(load_experiment(path)))
        exp = shrink(load_experiment(path, replicates=replicates), points, grid)
        specs = list(iter_runs(exp))
        th_b, th_i = theoretical_steps(specs)
        walls: dict[bool, list[float]] = {False: [], True: []}
        for _ in range(repeat):  # alternating: a load change on a shared machine hits both
            for branch in (False, True):
                walls[branch].append(
                    sweep(exp, tmp / f"b{int(branch)}", workers=workers, branch=branch)
                )
        w_no, w_br = min(walls[False]), min(walls[True])
        m_no = json.loads((tmp / "b0" / "manifest.json").read_text())["branching"]
        m_br = json.loads((tmp / "b1" / "manifest.json").read_text())["branching"]
        ratio = w_br / w_no
        th = th_b / th_i
        print(
            f"{name:<36} {full_b / full_i:8.3f} | {len(specs):5d} {m_no['steps_computed']:11d} "
            f"{m_br['steps_computed']:9d} {str(m_br['steps_computed'] == th_b):>8} {th:8.3f} "
            f"{w_no:9.2f}s {w_br:7.2f}s {ratio:6.3f} "
            f"{'PASS' if ratio <= th + 0.1 else 'MISS'} (<= {th + 0.1:.3f})",
            flush=True,
        )


def live_bytes(model) -> int:
    """Bytes of the distinct numpy arrays the model and its parts hold."""
    seen: dict[int, int] = {}
    parts = [model, model.committees, model.state, model.responses, *model.councils]
    for part in parts:
        for value in vars(part).values():
            values = value.values() if isinstance(value, dict) else [value]
            for v in values:
                if isinstance(v, np.ndarray):
                    base = v if v.base is None else v.base
                    if isinstance(base, np.ndarray):
                        seen[id(base)] = base.nbytes
    return sum(seen.values())


def snapshot_size(size: int) -> None:
    sc = load_scenario(
        REPO / "scenarios" / "baseline.toml",
        overrides=[f"grid.width={size}", f"grid.height={size}"],
    )
    sim = Simulation(sc, communities=False).advance(3)
    t0 = time.perf_counter()
    snap = sim.snapshot()
    took = time.perf_counter() - t0
    live, held = live_bytes(sim.model), snap.nbytes()
    print(
        f"[snapshot] {size} x {size}: snapshot {held / 2**20:.1f} MiB, live arrays "
        f"{live / 2**20:.1f} MiB -> {held / live:.2f}x (target <= 2x: "
        f"{'PASS' if held <= 2 * live else 'MISS'}); taken in {took * 1e3:.0f} ms"
    )
    sim.release()
    del sim, snap
    gc.collect()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs (a smoke test)")
    parser.add_argument(
        "--only",
        default="speedup,overhead,memory,branching,snapshot",
        help="comma-separated sections to run",
    )
    parser.add_argument("--replicates", type=int, default=2, help="branching: replicates")
    parser.add_argument("--points", type=int, default=2, help="branching: parameter points")
    parser.add_argument("--grid", type=int, help="branching: grid side (default: the file's)")
    parser.add_argument("--repeat", type=int, default=2, help="branching: sweeps per mode")
    parser.add_argument(
        "--match",
        default="",
        help="branching: only experiments whose path has one of these comma-separated substrings",
    )
    parser.add_argument("--snapshot-grid", type=int, default=1024, help="snapshot: grid side")
    args = parser.parse_args()
    only = set(args.only.split(","))
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        # the speed-up first: the Dask cluster of the overhead section leaves threads behind
        if "speedup" in only:
            speedup(tmp, 4 if args.quick else 16)
        if "branching" in only:
            branching(
                tmp,
                1 if args.quick else args.replicates,
                args.points,
                args.grid,
                2,
                args.repeat,
                args.match,
            )
        if "snapshot" in only:
            snapshot_size(256 if args.quick else args.snapshot_grid)
        if "overhead" in only:
            overhead(tmp, 100 if args.quick else 400)
        if "memory" in only:
            memory(tmp, (48, 200) if args.quick else (48, 200, 800))


if __name__ == "__main__":
    main()

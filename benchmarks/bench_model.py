"""Benchmark of the full I4P model: step time, scaling, construction and peak memory.

Usage::

    python benchmarks/bench_model.py [--quick]

(a) A full model step (default scenario and agents: 40 committees, one council, two
    donors, one Community agent per inhabited cell, DataCollector included) at 64^2,
    256^2 and 1024^2, numpy and numba kernels alternately on the same model: median
    ms/step after warm-up steps, and the scaling ratio t(1024^2) / t(256^2) (16x the
    cells). Targets: <= 5 ms/step at 256^2 (numpy kernel); ratio <= 20.
(b) Model construction at 256^2 and 1024^2 against building the bare Mesa
    ``OrthogonalMooreGrid`` of the same size, interleaved in the same run: medians and
    their ratio. Target: <= 2x the bare grid.
(c) Peak memory (max RSS) of a fresh process that builds a 1024^2 model and runs 5
    steps, next to one that only builds the bare grid, and the interpreter's own RSS.
(d) Mesa's own Epstein civil-violence example (``mesa.examples.advanced
    .epstein_civil_violence``, its default densities and vision) against the I4P model on
    the same grid (64^2 and 128^2), the same number of steps, interleaved: median ms per
    step of each and their ratio. The issue asks the I4P step to stay far faster.

All timings are wall-clock medians (section (a) also prints the medians of the process's
CPU time per step, what the step costs when other jobs share the machine); the ratios
compare figures measured in this run.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import mesa  # noqa: E402
import numpy as np  # noqa: E402
from mesa.discrete_space import OrthogonalMooreGrid  # noqa: E402

from i4p_sim.config.loading import load_scenario  # noqa: E402
from i4p_sim.sim.simulation import Simulation  # noqa: E402

TARGET_STEP_MS = 5.0
TARGET_SCALING = 20.0
TARGET_CONSTRUCTION = 2.0


def have_numba() -> bool:
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


def scenario(n: int, kernel: str = "numpy"):
    base = load_scenario(None)
    grid = base.grid.model_copy(update={"width": n, "height": n})
    return base.model_copy(update={"grid": grid, "kernel": kernel})


def machine() -> str:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = (
        f"python {platform.python_version()}, numpy {np.__version__}, mesa {mesa.__version__}"
    )
    if have_numba():
        import numba

        versions += f", numba {numba.__version__}"
    return f"{os.cpu_count()} CPUs ({cpu}); {versions}"


# ------------------------------------------------------------------------- timing


def use_kernel(sim: Simulation, kernel: str) -> None:
    """Switch the tension kernel of a running simulation (the model reads it every step)."""
    model = sim.model
    model.config = model.config.model_copy(update={"kernel": kernel})


def one_step(sim: Simulation) -> None:
    sim.advance(sim.steps_done + 1)


def time_steps(
    sim: Simulation, kernels: list[str], steps: int, warmup: int, cpu: dict | None = None
) -> dict[str, float]:
    """Median seconds per step for each kernel, alternating kernels on one simulation.

    Wall-clock; the medians of this process's CPU time per step go to ``cpu`` if given
    (on a shared machine the wall clock also counts the time other jobs held the CPU).
    """
    times: dict[str, list[float]] = {k: [] for k in kernels}
    cpu_times: dict[str, list[float]] = {k: [] for k in kernels}
    for k in kernels:
        use_kernel(sim, k)
        for _ in range(warmup):
            one_step(sim)
    for _ in range(steps):
        for k in kernels:
            use_kernel(sim, k)
            c0, t0 = time.process_time(), time.perf_counter()
            one_step(sim)
            times[k].append(time.perf_counter() - t0)
            cpu_times[k].append(time.process_time() - c0)
    if cpu is not None:
        cpu.update({k: statistics.median(v) for k, v in cpu_times.items()})
    return {k: statistics.median(v) for k, v in times.items()}


def build_grid(n: int, gc_paused: bool = False) -> float:
    gc.collect()
    if gc_paused:
        gc.disable()
    t0 = time.perf_counter()
    grid = OrthogonalMooreGrid((n, n), torus=False, random=random.Random(0))
    dt = time.perf_counter() - t0
    gc.enable()
    del grid
    gc.collect()
    return dt


def build_model(n: int) -> tuple[float, Simulation]:
    sc = scenario(n)
    gc.collect()
    t0 = time.perf_counter()
    sim = Simulation(sc)
    return time.perf_counter() - t0, sim


def construction(n: int, repeats: int) -> tuple[float, float, float, Simulation]:
    """Median build times of the bare grid (as Mesa builds it, and with the garbage
    collector paused, as the model builds its own) and of the model, interleaved."""
    grids, paused, models = [], [], []
    model = None
    for _ in range(repeats):
        grids.append(build_grid(n))
        paused.append(build_grid(n, gc_paused=True))
        model = None  # free the previous model before building the next one
        gc.collect()
        dt, model = build_model(n)
        models.append(dt)
    med = statistics.median
    return med(grids), med(paused), med(models), model


# ------------------------------------------------------------------------ Epstein


def epstein_model(n: int, seed: int = 0):
    """Mesa's Epstein civil-violence example on an n x n grid, or None if not shipped.

    Default parameters; Mesa 3.5 takes them (and the seed) as an ``EpsteinScenario``.
    """
    try:
        from mesa.examples.advanced.epstein_civil_violence import model as example
    except ImportError:
        return None
    scenario_cls = getattr(example, "EpsteinScenario", None)
    if scenario_cls is not None:
        return example.EpsteinCivilViolence(width=n, height=n, scenario=scenario_cls(rng=seed))
    return example.EpsteinCivilViolence(width=n, height=n, seed=seed)


def against_epstein(n: int, steps: int) -> tuple[float, float] | None:
    """Median seconds per step of the Epstein example and of the I4P model, interleaved.

    One warm-up step each, then ``steps`` steps of each in turn (the I4P model with its
    default agents, DataCollector and numpy kernel).
    """
    epstein = epstein_model(n)
    if epstein is None:
        return None
    sim = Simulation(scenario(n))
    epstein.step()
    one_step(sim)
    t_epstein, t_i4p = [], []
    for _ in range(steps):
        t0 = time.perf_counter()
        epstein.step()
        t_epstein.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        one_step(sim)
        t_i4p.append(time.perf_counter() - t0)
    return statistics.median(t_epstein), statistics.median(t_i4p)


# ------------------------------------------------------------------------- memory


def _peak_rss_kb() -> int:
    """High-water mark of this process's resident set (VmHWM; reset by exec, unlike
    ``ru_maxrss``, which a child inherits from the parent it was forked from)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    import resource  # not Linux: fall back on ru_maxrss (KiB on Linux, bytes on macOS)

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def _memory_child(what: str, n: int) -> None:
    base = _peak_rss_kb()
    if what == "model":
        Simulation(scenario(n)).advance(5)
    else:
        grid = OrthogonalMooreGrid((n, n), torus=False, random=random.Random(0))  # noqa: F841
    print(json.dumps({"base_kb": base, "peak_kb": _peak_rss_kb()}))


def peak_memory(what: str, n: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--memory-child", what, "--size", str(n)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    data = json.loads(out.strip().splitlines()[-1])
    return {"base_mb": data["base_kb"] / 1024, "peak_mb": data["peak_kb"] / 1024}


# -------------------------------------------------------------------------- main


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--memory-child", choices=["model", "grid"], help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, default=1024, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_child:
        _memory_child(args.memory_child, args.size)
        return 0

    quick = args.quick
    kernels = ["numpy"] + (["numba"] if have_numba() else [])
    print(machine())
    if hasattr(os, "getloadavg"):
        print("load average at start: " + ", ".join(f"{x:.2f}" for x in os.getloadavg()))
    print(f"{'quick' if quick else 'full'} run; wall-clock medians after warm-up\n")

    # warm-up: imports, numba compilation (or cache load), first-touch of code paths
    warm = Simulation(scenario(32))
    time_steps(warm, kernels, steps=2, warmup=2)
    del warm

    all_ok = True

    # (b) construction first: the last 1024^2 model is reused for the step timings
    print("(b) construction vs the bare Mesa OrthogonalMooreGrid of the same size")
    print("  (the model pauses the garbage collector while it builds its grid and agents;")
    print("   'paused' is the bare grid built the same way: the like-for-like reference)")
    print(
        f"{'grid':>10} {'bare grid':>10} {'model':>9} {'ratio':>7}  target"
        f"          {'paused':>8} {'ratio':>7}"
    )
    models: dict[int, Simulation] = {}
    for n, reps in ((256, 3 if quick else 5), (1024, 1 if quick else 3)):
        t_grid, t_paused, t_model, models[n] = construction(n, reps)
        ratio = t_model / t_grid
        ok = ratio <= TARGET_CONSTRUCTION
        all_ok &= ok
        print(
            f"{n:>5}^2    {t_grid:>8.2f} s {t_model:>7.2f} s {ratio:>6.2f}x  "
            f"<= {TARGET_CONSTRUCTION:g}x  {verdict(ok)}   {t_paused:>6.2f} s "
            f"{t_model / t_paused:>6.2f}x   ({reps} repeat{'s' * (reps > 1)})"
        )
        print(
            f"{'':>10} {models[n].model.n_inhabited:,} Community agents, "
            f"{len(models[n].model.agents):,} Mesa agents in all",
            flush=True,
        )

    # (a) full step
    print("\n(a) full model step, default agents (ms per step; wall clock, then CPU time)")
    print(
        f"{'grid':>10} "
        + " ".join(f"{k:>9}" for k in kernels)
        + " "
        + " ".join(f"{'cpu ' + k:>11}" for k in kernels)
        + "  target"
    )
    per: dict[int, dict[str, float]] = {}
    per_cpu: dict[int, dict[str, float]] = {}
    for n in (64, 256, 1024):
        sim = models.get(n) or Simulation(scenario(n))
        steps = {64: 60, 256: 30, 1024: 10}[n] // (2 if quick else 1)
        per_cpu[n] = {}
        per[n] = time_steps(sim, kernels, steps=steps, warmup=3, cpu=per_cpu[n])
        note = ""
        if n == 256:
            ok = per[n]["numpy"] * 1e3 <= TARGET_STEP_MS
            all_ok &= ok
            note = f"numpy <= {TARGET_STEP_MS:g} ms  {verdict(ok)}"
        print(
            f"{n:>5}^2    "
            + " ".join(f"{per[n][k] * 1e3:>9.2f}" for k in kernels)
            + " "
            + " ".join(f"{per_cpu[n][k] * 1e3:>11.2f}" for k in kernels)
            + f"  {note}",
            flush=True,
        )
    for k in kernels:
        ratio = per[1024][k] / per[256][k]
        ok = ratio <= TARGET_SCALING
        all_ok &= ok
        print(
            f"  scaling t(1024^2)/t(256^2), {k:>5}: {ratio:5.1f}x  (16x the cells; target "
            f"<= {TARGET_SCALING:g}x)  {verdict(ok)};  CPU time "
            f"{per_cpu[1024][k] / per_cpu[256][k]:5.1f}x"
        )
    models.clear()
    gc.collect()

    # (d) Mesa's Epstein example on the same grid
    print("\n(d) Mesa's Epstein civil-violence example vs the I4P model, same grid and steps")
    print(f"{'grid':>10} {'Epstein':>11} {'I4P':>9} {'ratio':>8}")
    for n, steps in ((64, 10 if quick else 20), (128, 3 if quick else 6)):
        found = against_epstein(n, steps)
        if found is None:
            print("  mesa.examples.advanced.epstein_civil_violence is not in this Mesa")
            break
        t_epstein, t_i4p = found
        print(
            f"{n:>5}^2    {t_epstein * 1e3:>8.1f} ms {t_i4p * 1e3:>6.2f} ms {t_epstein / t_i4p:>7.0f}x"
            f"  ({steps} steps each, interleaved)",
            flush=True,
        )

    # (c) memory
    print("\n(c) peak memory (max RSS of a fresh process), 1024^2")
    mem_model = peak_memory("model", 1024)
    mem_grid = peak_memory("grid", 1024)
    print(f"  interpreter after imports      {mem_model['base_mb']:8.0f} MB")
    print(f"  bare Mesa grid                 {mem_grid['peak_mb']:8.0f} MB")
    print(f"  model (built + 5 steps)        {mem_model['peak_mb']:8.0f} MB")
    print(
        f"  model over bare grid           {mem_model['peak_mb'] - mem_grid['peak_mb']:8.0f} MB"
        "  (Community agents, layers, buffers)"
    )
    return 0 if all_ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""Before/after A/B of the full model step: this tree against a git revision, interleaved.

Usage::

    python benchmarks/bench_ab.py [--rev REV] [--grid N] [--steps S] [--kernel numpy|numba]

The package at ``REV`` (default ``HEAD``) is exported with ``git archive`` into a
temporary directory under another name (``i4p_ab_before``), so both versions run in one
process: two simulations of the default scenario on an N x N grid, stepped alternately
(the order swapped every step), so that the load of other jobs on a shared machine falls
on both alike. Prints the medians of the wall-clock and process CPU time per step, their
ratios, whether the two runs stayed bit for bit identical (every layer and the per-step
series), and the load average.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from i4p_sim.config.loading import load_scenario  # noqa: E402
from i4p_sim.sim.simulation import Simulation  # noqa: E402

BEFORE = "i4p_ab_before"


def export(rev: str, into: Path) -> None:
    """The package at ``rev`` as package ``BEFORE`` under ``into``."""
    archive = into / "before.tar"
    with archive.open("wb") as fh:
        subprocess.run(["git", "archive", rev, "i4p_sim"], cwd=ROOT, stdout=fh, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    (into / "i4p_sim").rename(into / BEFORE)
    for path in (into / BEFORE).rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        path.write_text(re.sub(r"\bi4p_sim\b", BEFORE, text), encoding="utf-8")


def scenario(load, n: int, kernel: str):
    base = load(None)
    grid = base.grid.model_copy(update={"width": n, "height": n})
    return base.model_copy(update={"grid": grid, "kernel": kernel})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rev", default="HEAD", help="git revision of 'before'")
    parser.add_argument("--grid", type=int, default=256)
    parser.add_argument("--steps", type=int, default=400, help="timed steps of each")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--kernel", default="numpy", choices=("numpy", "numba"))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        export(args.rev, Path(tmp))
        sys.path.insert(0, tmp)
        before = __import__(f"{BEFORE}.config.loading", fromlist=["load_scenario"])
        before_sim = __import__(f"{BEFORE}.sim.simulation", fromlist=["Simulation"])
        sims = {
            "before": before_sim.Simulation(scenario(before.load_scenario, args.grid, args.kernel)),
            "after": Simulation(scenario(load_scenario, args.grid, args.kernel)),
        }
        for sim in sims.values():
            sim.advance(args.warmup)
        wall: dict[str, list[float]] = {k: [] for k in sims}
        cpu: dict[str, list[float]] = {k: [] for k in sims}
        for i in range(args.steps):
            for name in ("before", "after") if i % 2 else ("after", "before"):
                sim = sims[name]
                c0, t0 = time.process_time(), time.perf_counter()
                sim.advance(sim.model.steps + 1)
                wall[name].append(time.perf_counter() - t0)
                cpu[name].append(time.process_time() - c0)
        a, b = sims["before"].model, sims["after"].model
        same = all(np.array_equal(a.layers[k], b.layers[k]) for k in a.layers)
        same = same and a.series().equals(b.series())
    med = {k: (statistics.median(wall[k]), statistics.median(cpu[k])) for k in sims}
    print(f"{args.grid}^2, {args.kernel} kernel, {args.steps} steps each, interleaved")
    print(
        f"before ({args.rev}): wall {med['before'][0] * 1e3:.3f} ms, CPU {med['before'][1] * 1e3:.3f} ms"
    )
    print(
        f"after (this tree): wall {med['after'][0] * 1e3:.3f} ms, CPU {med['after'][1] * 1e3:.3f} ms"
    )
    print(
        f"after / before: wall {med['after'][0] / med['before'][0]:.3f}, "
        f"CPU {med['after'][1] / med['before'][1]:.3f}; identical: {same}"
    )
    print("load average (1, 5, 15 min): " + ", ".join(f"{x:.2f}" for x in os.getloadavg()))
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())

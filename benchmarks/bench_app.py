"""Benchmark of the browser app's frame: step + figure update, server side.

Usage::

    python benchmarks/bench_app.py [--size 128] [--frames 120] [--quick]

One *frame* is what the play clock asks of the server: step the session's twins (baseline
and shocked) by one step, rebuild the maps, time series and panels, and encode Dash's JSON
response. It is measured end to end through Dash's own ``/_dash-update-component``
endpoint (Flask test client, in process, no network), in the twin view (three heat maps)
and the single view, after a funding withdrawal has been injected, with the series
growing as it would during play. Also reported: the parts (model step of both twins,
figure building, JSON encoding) and the payload size.

Target (issue 4): a 128 x 128 grid animates at >= 10 frames per second, i.e. a frame takes
<= 100 ms server side. The verdict uses the 95th percentile, not the median.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dash._utils import to_json  # noqa: E402

from i4p_sim.app import create_app  # noqa: E402
from i4p_sim.app.callbacks import Form, render  # noqa: E402
from i4p_sim.app.client import DashClient  # noqa: E402
from i4p_sim.app.sessions import TwinRun  # noqa: E402
from i4p_sim.config.loading import load_scenario  # noqa: E402

TARGET_MS = 100.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def frames(client: DashClient, n: int) -> tuple[list[float], int]:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        client.press("clock")
        times.append((time.perf_counter() - t0) * 1000)
    return times, client.last_bytes


#: The app stops a run at its horizon; the benchmark times steps, so it sets one far away.
NO_HORIZON = ["steps=100000"]


def parts(size: int, n: int) -> dict[str, float]:
    scenario = load_scenario(overrides=[f"grid.width={size}", f"grid.height={size}", *NO_HORIZON])
    run = TwinRun(scenario)
    run.step(5)
    run.inject("funding_withdrawal", mode="abrupt")
    step_ms, render_ms, encode_ms = [], [], []
    form = Form(layer="tension", twin=True)
    for _ in range(n):
        t0 = time.perf_counter()
        run.step(1)
        t1 = time.perf_counter()
        view = render(run, form)
        t2 = time.perf_counter()
        to_json(view)
        t3 = time.perf_counter()
        step_ms.append((t1 - t0) * 1000)
        render_ms.append((t2 - t1) * 1000)
        encode_ms.append((t3 - t2) * 1000)
    return {
        "step both twins": statistics.median(step_ms),
        "build figures": statistics.median(render_ms),
        "encode JSON": statistics.median(encode_ms),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=128, help="grid side (default 128)")
    parser.add_argument("--frames", type=int, default=120, help="frames per view")
    parser.add_argument("--quick", action="store_true", help="30 frames per view")
    args = parser.parse_args(argv)
    n = 30 if args.quick else args.frames
    size = args.size

    scenario = load_scenario(overrides=[f"grid.width={size}", f"grid.height={size}", *NO_HORIZON])
    app = create_app(scenario)
    print(f"browser app frame benchmark: {size} x {size} grid, {n} frames per view")
    print(
        f"  (default scenario: {scenario.lpc.density:g} LPCs per 1,000 inhabited cells, {len(scenario.donors)} donors)"
    )

    client = DashClient(app)
    t0 = time.perf_counter()
    client.load()
    print(
        f"  page load (session + two models + first render): "
        f"{(time.perf_counter() - t0) * 1000:.0f} ms"
    )
    for _ in range(5):
        client.press("step")
    client.press("shock-withdraw")
    frames(client, 5)  # warm-up

    verdicts = []
    for label, twin in (("twin view (3 maps)", ["on"]), ("single view (1 map)", [])):
        client.choose("twin", twin)
        times, size_bytes = frames(client, n)
        med, p95 = statistics.median(times), percentile(times, 0.95)
        ok = p95 <= TARGET_MS
        verdicts.append(ok)
        print(
            f"  {label:<20} median {med:6.1f} ms/frame  p95 {p95:6.1f} ms  "
            f"=> {1000 / med:6.0f} fps possible  payload {size_bytes / 1024:5.0f} kB  "
            f"[{'OK' if ok else 'TOO SLOW'}: target <= {TARGET_MS:.0f} ms]"
        )

    print("  parts of a twin-view frame (median):")
    for name, ms in parts(size, max(10, n // 2)).items():
        print(f"    {name:<16} {ms:6.2f} ms")
    verdict = all(verdicts)
    print(f"verdict: {'PASS' if verdict else 'FAIL'} (>= 10 fps server side at {size}^2)")
    return 0 if verdict else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""Soak of the browser app: concurrent sessions against a real ``i4p viz`` (waitress) on
loopback for a bounded time; reports the server's peak memory.

Usage::

    python benchmarks/bench_soak.py [--size 128] [--clients 24] [--seconds 30] [--quick]

It starts ``python -m i4p_sim viz`` on 127.0.0.1 (a free port) with a scenario of
``--size`` x ``--size``, then ``--clients`` threads each act as a browser tab: a fresh
session id, the page-load call, then Step, play-clock ticks, shock buttons and now and then
Reset or a new tab (a new session id, so sessions churn past the store's limits). Every
request goes to the loopback address only, loops are bounded by ``--seconds`` and
``--max-requests``, and the server is stopped at the end. The server's resident memory
(``VmRSS`` of its process, sampled every 0.1 s) is reported with its peak, along with the
requests, HTTP status counts, latency percentiles and how many new sessions the memory
budget refused.

Verdict: no HTTP 5xx or lost connection, no traceback in the server's log, and peak memory
at most ``--max-rss-mib`` (default 4096). The sessions' budget (``MAX_TOTAL_CELLS`` x
2 KiB, what the models alone hold) is printed beside it; figures, JSON encoding in 8
request threads and allocator slack come on top (figures in docs/performance.md).
"""

from __future__ import annotations

import argparse
import collections
import copy
import json
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from i4p_sim.app import create_app  # noqa: E402
from i4p_sim.app.client import _DISPATCH, DashClient  # noqa: E402
from i4p_sim.app.server import is_loopback  # noqa: E402
from i4p_sim.app.sessions import MAX_TOTAL_CELLS  # noqa: E402
from i4p_sim.config.limits import BYTES_PER_CELL  # noqa: E402
from i4p_sim.config.loading import load_scenario  # noqa: E402

HOST = "127.0.0.1"
ACTIONS = ["step"] * 4 + ["clock"] * 4 + ["shock-upheaval", "shock-economic", "reset-same"]


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def template(size: int) -> dict:
    """The dispatcher's request body for this layout (built in process, never served)."""
    sc = load_scenario(overrides=[f"grid.width={size}", f"grid.height={size}"])
    return DashClient(create_app(sc)).body(_DISPATCH, [])


class Tab:
    """One browser tab: a session id and its controls' click counts."""

    def __init__(self, body: dict) -> None:
        self.body = copy.deepcopy(body)
        self.session = str(uuid.uuid4())
        self.clicks: collections.Counter = collections.Counter()
        for entry in self.body["state"]:
            if isinstance(entry, dict) and entry["id"] == "session-id":
                entry["value"] = self.session

    def request(self, action: str | None) -> bytes:
        b = copy.deepcopy(self.body)
        if action is None:
            b["changedPropIds"] = []
        else:
            prop = "n_intervals" if action == "clock" else "n_clicks"
            self.clicks[action] += 1
            for entry in b["inputs"]:
                if entry["id"] == action and entry["property"] == prop:
                    entry["value"] = self.clicks[action]
            b["changedPropIds"] = [f"{action}.{prop}"]
        return json.dumps(b).encode()


def soak(args: argparse.Namespace) -> dict:
    assert is_loopback(HOST)
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        scen = Path(tmp) / "soak.toml"
        # a far horizon: the app stops a run there, and the soak wants every tick to step
        scen.write_text(f"steps = 100000\n[grid]\nwidth = {args.size}\nheight = {args.size}\n")
        log = open(Path(tmp) / "server.log", "w+")  # noqa: SIM115
        server = subprocess.Popen(
            [sys.executable, "-m", "i4p_sim", "viz", str(scen), "--host", HOST]
            + ["--port", str(port)],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://{HOST}:{port}"
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    urllib.request.urlopen(url + "/", timeout=5).read()
                    break
                except OSError:
                    time.sleep(0.2)
            else:
                raise SystemExit("server did not start")
            base_kib = rss_kib(server.pid)
            body = template(args.size)
            stats = run_clients(args, url, body, server.pid)
        finally:
            server.terminate()
            server.wait(timeout=30)
            log.seek(0)
            server_log = log.read()
            log.close()
    stats["base_rss_mib"] = base_kib / 1024
    stats["traceback_in_log"] = "Traceback" in server_log
    stats["server_log_lines"] = len(server_log.splitlines())
    return stats


def run_clients(args: argparse.Namespace, url: str, body: dict, pid: int) -> dict:
    stop = threading.Event()
    lock = threading.Lock()
    codes: collections.Counter = collections.Counter()
    latencies: list[float] = []
    refused = [0]
    sessions = [0]
    peak = [0]
    total = [0]

    def sampler() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], rss_kib(pid))
            time.sleep(0.1)

    def client(k: int) -> None:
        rng = random.Random(k)
        tab = Tab(body)
        sessions[0] += 1
        first = True
        while not stop.is_set():
            with lock:
                if total[0] >= args.max_requests:
                    return
                total[0] += 1
            if not first and rng.random() < args.churn:
                tab = Tab(body)  # a new tab: a new session
                with lock:
                    sessions[0] += 1
                first = True
            action = None if first else rng.choice(ACTIONS)
            first = False
            req = urllib.request.Request(
                url + "/_dash-update-component",
                data=tab.request(action),
                headers={"Content-Type": "application/json"},
            )
            t0 = time.perf_counter()
            try:
                with urllib.request.urlopen(req, timeout=60) as resp:
                    data = resp.read()
                    code = resp.status
            except urllib.error.HTTPError as exc:
                code, data = exc.code, b""
            except OSError:
                code, data = -1, b""
            dt = time.perf_counter() - t0
            with lock:
                codes[code] += 1
                latencies.append(dt)
                if b"No room for a new session" in data:
                    refused[0] += 1
            time.sleep(args.think)

    threads = [threading.Thread(target=sampler, daemon=True)]
    threads += [
        threading.Thread(target=client, args=(k,), daemon=True) for k in range(args.clients)
    ]
    t_start = time.monotonic()
    for t in threads:
        t.start()
    time.sleep(args.seconds)
    stop.set()
    for t in threads[1:]:
        t.join(timeout=90)
    lat = sorted(latencies) or [0.0]
    return {
        "size": args.size,
        "clients": args.clients,
        "seconds": round(time.monotonic() - t_start, 1),
        "requests": len(latencies),
        "status": dict(codes),
        "sessions_opened": sessions[0],
        "new_sessions_refused": refused[0],
        "latency_median_ms": 1000 * statistics.median(lat),
        "latency_p95_ms": 1000 * lat[int(0.95 * (len(lat) - 1))],
        "peak_rss_mib": peak[0] / 1024,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", type=int, default=128, help="grid side (default 128)")
    p.add_argument("--clients", type=int, default=24, help="concurrent tabs (default 24)")
    p.add_argument("--seconds", type=float, default=30.0, help="soak time (default 30)")
    p.add_argument("--max-requests", type=int, default=20_000, help="request cap")
    p.add_argument("--churn", type=float, default=0.01, help="chance a tab is replaced")
    p.add_argument("--think", type=float, default=0.05, help="seconds between a tab's requests")
    p.add_argument("--max-rss-mib", type=float, default=4096.0, help="verdict's memory cap")
    p.add_argument("--quick", action="store_true", help="8 clients, 8 s, 64 x 64")
    args = p.parse_args(argv)
    if args.quick:
        args.size, args.clients, args.seconds = 64, 8, 8.0
    stats = soak(args)
    budget_mib = MAX_TOTAL_CELLS * BYTES_PER_CELL / 2**20
    limit = args.max_rss_mib
    for key, value in stats.items():
        shown = f"{value:.1f}" if isinstance(value, float) else value
        print(f"{key:>22}: {shown}")
    bad = [c for c in stats["status"] if c >= 500 or c < 0]
    ok = not bad and not stats["traceback_in_log"] and stats["peak_rss_mib"] <= limit
    print(
        f"verdict: {'PASS' if ok else 'FAIL'} (no 5xx or lost connections, no traceback, "
        f"peak RSS {stats['peak_rss_mib']:.0f} MiB <= {limit:.0f} MiB; the models' budget is "
        f"{budget_mib:.0f} MiB)"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""Issue 16, the app: memory budget across sessions, isolation, malformed payloads, security
headers, waitress with a one-line error on a taken port, loopback unless asked."""

from __future__ import annotations

import copy
import json
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid

import pytest

from i4p_sim.app import create_app
from i4p_sim.app.client import _DISPATCH, DashClient
from i4p_sim.app.server import CSP, bind, is_loopback
from i4p_sim.app.sessions import SessionBudgetFull, SessionStore, TwinRun
from i4p_sim.config.errors import ConfigError
from i4p_sim.config.loading import load_scenario

from conftest import ROOT, run_cli

SMALL = ["grid.width=12", "grid.height=10", "lpc.density=14"]


@pytest.fixture(scope="module")
def scenario():
    return load_scenario(overrides=SMALL)


@pytest.fixture
def app(scenario):
    return create_app(scenario, max_sessions=4)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


# ------------------------------------------------------------------ sessions


def test_budget_evicts_oldest_idle_never_an_active_one(scenario):
    clock = Clock()
    cells = TwinRun.cells_of(scenario)
    store = SessionStore(
        lambda: TwinRun(scenario), max_cells=3 * cells, clock=clock, active_seconds=10
    )
    ids = [str(uuid.uuid4()) for _ in range(5)]
    for i in ids[:3]:
        store.get(i)
        clock.now += 1
    # all three used within 10 s: active, so a fourth is refused, none evicted
    with pytest.raises(SessionBudgetFull):
        store.get(ids[3])
    assert len(store) == 3 and store.refused == 1
    clock.now = 100
    store.get(ids[1])  # touched: now active; ids[0] is the oldest idle one
    store.get(ids[3])
    assert ids[0] not in store and ids[1] in store and ids[2] in store
    assert store.total_cells <= 3 * cells


def test_a_session_in_a_request_is_never_evicted(scenario):
    clock = Clock()
    store = SessionStore(lambda: TwinRun(scenario), max_sessions=1, clock=clock, active_seconds=0)
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    run_a, _ = store.get(a)
    clock.now = 5
    held = threading.Event()
    release = threading.Event()

    def busy():
        with run_a.lock:
            held.set()
            release.wait(5)

    t = threading.Thread(target=busy)
    t.start()
    held.wait(5)
    try:
        with pytest.raises(SessionBudgetFull):
            store.get(b)
    finally:
        release.set()
        t.join()
    store.get(b)  # now idle: evicted for the new one
    assert a not in store and b in store


def test_larger_grid_on_apply_is_checked_against_the_budget(scenario):
    from i4p_sim.app.callbacks import Form, act

    cells = TwinRun.cells_of(scenario)
    store = SessionStore(lambda: TwinRun(scenario), max_cells=cells * 2)
    run, _ = store.get(str(uuid.uuid4()))
    form = Form(seed=1, params={"grid.width": 200, "grid.height": 200})
    with run.lock:
        out = act(run, "apply", form)
    assert out.error and "budget" in out.message
    assert run.scenario.grid.width == scenario.grid.width  # the run is kept


def test_concurrent_new_sessions_build_one_model_at_a_time(scenario, monkeypatch):
    building = {"now": 0, "peak": 0}
    lock = threading.Lock()

    def factory():
        with lock:
            building["now"] += 1
            building["peak"] = max(building["peak"], building["now"])
        time.sleep(0.01)
        try:
            return TwinRun(scenario)
        finally:
            with lock:
                building["now"] -= 1

    store = SessionStore(factory, max_sessions=64)
    threads = [threading.Thread(target=store.get, args=(str(uuid.uuid4()),)) for _ in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert building["peak"] == 1 and len(store) == 24


def test_sessions_are_isolated(app):
    a, b = DashClient(app), DashClient(app)
    a.load()
    b.load()
    a.press("step")
    a.press("step")
    a.press("shock-upheaval")
    out_b = b.press("step")
    run_a, _ = app.i4p_store.get(a.session_id)
    run_b, _ = app.i4p_store.get(b.session_id)
    assert run_a is not run_b
    assert run_a.t == 2 and run_b.t == 1
    assert len(run_a.injected) == 1 and run_b.injected == []
    assert "Injected" not in json.dumps(out_b)


# ------------------------------------------------------------------ malformed payloads


def _malformed(body: dict) -> list[dict]:
    out = []
    for i, entry in enumerate(body["state"]):
        for bad in (None, 1e308, -1, "x" * 5000, [1, 2, 3], {"a": 1}, True, [[]], "NaN"):
            b = copy.deepcopy(body)
            if isinstance(entry, list):  # a pattern-matching ALL state: every item
                for item in b["state"][i]:
                    item["value"] = bad
            else:
                b["state"][i]["value"] = bad
            out.append(b)
    for i in range(len(body["inputs"])):
        for bad in ("x", -5, 1.5, [1], {"k": None}):
            b = copy.deepcopy(body)
            b["inputs"][i]["value"] = bad
            b["changedPropIds"] = [f"{b['inputs'][i]['id']}.{b['inputs'][i]['property']}"]
            out.append(b)
    for mutate in (
        lambda b: b.pop("inputs"),
        lambda b: b.pop("state"),
        lambda b: b.update(inputs=b["inputs"][:2]),
        lambda b: b.update(state="nope"),
        lambda b: b.update(output="..nothing.here.."),
        lambda b: b.update(changedPropIds="step.n_clicks"),
        lambda b: b.update(changedPropIds=[None, 5]),
        lambda b: b["state"][-1][0].update(value={"no": "path"}),
        lambda b: b["state"][-1][0].update(value="not a dict"),
        lambda b: b["state"][-2].pop(),
        lambda b: b["state"].pop(),
    ):
        b = copy.deepcopy(body)
        mutate(b)
        out.append(b)
    return out


def test_malformed_callback_payloads_never_500_nor_exception_text(app):
    c = DashClient(app)
    c.load()
    body = c.body(_DISPATCH, ["step.n_clicks"])
    cases = _malformed(body)
    codes = []
    for b in cases:
        resp = c.http.post("/_dash-update-component", json=b)
        codes.append(resp.status_code)
        assert resp.status_code < 500, (resp.status_code, json.dumps(b)[:400])
        text = resp.get_data(as_text=True)
        assert "Traceback" not in text
        for word in ("Error:", "Exception", "object has no attribute", "not subscriptable"):
            assert word not in text, (word, text[:400])
    for raw in (b"{not json", b"[]", b"null", b'{"output": 5}'):
        resp = c.http.post("/_dash-update-component", data=raw, content_type="application/json")
        assert 400 <= resp.status_code < 500, (raw, resp.status_code)
    assert len(cases) > 50


def test_other_callbacks_with_bad_payloads(app):
    c = DashClient(app)
    c.load()
    for prefix in (
        "download-csv",
        "download-toml",
        "..download-anim",
        "..clock.disabled",
        "..cell.data",
    ):
        body = c.body(prefix, [])
        for bad in ("not-a-uuid", None, 12, ["x"], {"a": 1}):
            b = copy.deepcopy(body)
            for entry in b["state"] + b["inputs"]:
                entry["value"] = bad
            b["changedPropIds"] = [f"{b['inputs'][0]['id']}.{b['inputs'][0]['property']}"]
            resp = c.http.post("/_dash-update-component", json=b)
            assert resp.status_code < 500, (prefix, bad, resp.status_code)


# ------------------------------------------------------------------ headers


def test_security_headers_on_page_assets_and_callbacks(app):
    c = DashClient(app)
    for resp in (
        c.http.get("/"),
        c.http.get("/_dash-layout"),
        c.http.post("/_dash-update-component", json=c.body(_DISPATCH, [])),
    ):
        h = resp.headers
        assert h["Content-Security-Policy"] == CSP
        assert "frame-ancestors 'none'" in h["Content-Security-Policy"]
        assert h["X-Content-Type-Options"] == "nosniff"
        assert h["X-Frame-Options"] == "DENY"
        assert "Python" not in h.get("Server", "") and "Werkzeug" not in h.get("Server", "")


# ------------------------------------------------------------------ serving


def test_loopback_detection():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert is_loopback("127.3.4.5")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.1.2.3")


def test_taken_port_is_a_one_line_error_before_serving():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError, match="already in use"):
            bind("127.0.0.1", port)
        res = run_cli("viz", "--port", str(port))
    assert res.returncode == 2
    assert "serving" not in res.stdout
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "already in use" in lines[0]


@pytest.mark.slow
def test_viz_serves_with_waitress_quietly_and_warns_beyond_loopback(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    scen = tmp_path / "s.toml"
    scen.write_text("[grid]\nwidth = 12\nheight = 10\n[lpc]\ndensity = 14.0\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "i4p_sim", "viz", str(scen), "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        resp = None
        while time.monotonic() < deadline:
            try:
                resp = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5)
                break
            except OSError:
                time.sleep(0.3)
        assert resp is not None
        assert resp.headers["Server"] == "i4p"
        assert resp.headers["X-Frame-Options"] == "DENY"
        for _ in range(3):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/_dash-layout", timeout=5).read()
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=30)
    assert out.count("\n") == 1 and "serving on http://127.0.0.1" in out
    assert err.strip() == "" or "Traceback" not in err
    assert "GET /" not in err  # no line per request


def test_beyond_loopback_only_on_request_with_a_warning(app, monkeypatch, capsys):
    """Nothing is bound here: the socket and the server are stand-ins."""
    import waitress

    from i4p_sim.app import server as server_mod

    class FakeSocket:
        def getsockname(self):
            return ("0.0.0.0", 8050)

    class Stop(Exception):
        pass

    def fake_create_server(*a, **k):
        raise Stop

    monkeypatch.setattr(server_mod, "bind", lambda host, port: FakeSocket())
    monkeypatch.setattr(server_mod, "quiet_logs", lambda: None)
    monkeypatch.setattr(waitress, "create_server", fake_create_server)
    with pytest.raises(Stop):
        server_mod.serve(app, "0.0.0.0", 8050)
    assert "no authentication" in capsys.readouterr().err
    with pytest.raises(Stop):
        server_mod.serve(app, "127.0.0.1", 8050)
    assert capsys.readouterr().err == ""


# ------------------------------------------------------------------ models are freed


@pytest.mark.slow
def test_reset_and_eviction_free_the_models(scenario):
    """Mesa 3.3 keeps every model in ``Agent._ids``; a Reset leaked two models (47 MiB at
    128 x 128) before the app released them."""
    import gc
    import weakref

    run = TwinRun(scenario)
    old = [weakref.ref(run.baseline), weakref.ref(run.shocked)]
    run.reset()
    gc.collect()
    assert [r() for r in old] == [None, None]

    clock = Clock()
    store = SessionStore(lambda: TwinRun(scenario), max_sessions=1, clock=clock, active_seconds=0)
    first, _ = store.get(str(uuid.uuid4()))
    model = weakref.ref(first.baseline)
    del first
    clock.now = 1
    store.get(str(uuid.uuid4()))  # evicts the first (idle)
    gc.collect()
    assert model() is None

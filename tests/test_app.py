"""Tests of the browser app's logic without a browser: sessions, twins, shocks, exports,
parameter validation, figures and the Dash callbacks over HTTP (Flask test client)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import uuid
from io import StringIO
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from i4p_sim import app as app_module
from i4p_sim.app import create_app
from i4p_sim.app.callbacks import (
    Form,
    act,
    ordered_triggers,
    parse_cell,
    play_state,
    render,
    scenario_from_form,
)
from i4p_sim.app.client import DashClient
from i4p_sim.app.figures import (
    LAYERS,
    decode_typed,
    difference,
    layer_values,
    map_figure,
    typed_array,
)
from i4p_sim.app.sessions import MAX_SIDE, SessionStore, TwinRun
from i4p_sim.cli import main
from i4p_sim.config.errors import ConfigError
from i4p_sim.config.loading import load_scenario
from i4p_sim.sim.model import LAYERS as MODEL_LAYERS
from i4p_sim.sim.model import MEASURES, I4PModel
from i4p_sim.sim.shocks import withdrawal_multiplier
from i4p_sim.sim.simulation import Simulation

from conftest import run_cli

SMALL = ["grid.width=20", "grid.height=16", "lpc.density=20"]


@pytest.fixture
def scenario():
    return load_scenario(overrides=SMALL)


@pytest.fixture
def run(scenario):
    return TwinRun(scenario)


def same_state(a: I4PModel, b: I4PModel) -> bool:
    return all(np.array_equal(a.layers[k], b.layers[k]) for k in MODEL_LAYERS)


# ------------------------------------------------------------------------------ twins


def test_twins_identical_until_first_shock_then_diverge(run):
    run.step(6)
    assert run.t == 6 and run.baseline.steps == 6
    assert same_state(run.baseline, run.shocked)
    assert np.all(difference(run.baseline, run.shocked, "tension")[run.shocked.inhabited] == 0)
    run.inject("funding_withdrawal", mode="abrupt", donor="all")
    run.step(4)
    assert not same_state(run.baseline, run.shocked)
    assert np.nanmax(np.abs(difference(run.baseline, run.shocked, "tension"))) > 0
    # the baseline never sees injected shocks; its donors keep paying
    assert len(run.baseline.shocks.shocks) == 0
    assert all(d.budget == d.base_budget for d in run.baseline.donors)
    assert all(d.budget == 0 for d in run.shocked.donors)


def test_phased_withdrawal_ramp_starts_now(run):
    run.step(3)
    item = run.inject("funding_withdrawal", mode="phased", donor="undp")
    shock = item.shock
    assert shock.at == 3 + shock.ramp // 2
    assert withdrawal_multiplier(shock, shock.at, 2) == 1.0
    assert 0.0 < withdrawal_multiplier(shock, shock.at, 3) < 1.0
    assert withdrawal_multiplier(shock, shock.at, 3 + shock.ramp) == 0.0


def test_election_campaign_starts_now(run):
    run.step(2)
    item = run.inject("election")
    assert item.shock.at == 2 + item.shock.pre_steps
    assert item.step == 2


@pytest.mark.parametrize(
    "trigger",
    [
        "shock-withdraw",
        "shock-upheaval",
        "shock-election",
        "shock-autocratic",
        "shock-border",
        "shock-economic",
        "shock-trigger",
    ],
)
def test_every_shock_button_injects_into_shocked_twin_only(run, trigger):
    run.step(2)
    out = act(run, trigger, Form(cell=(3, 4), edge="north", withdraw_mode="phased"))
    assert not out.error, out.message
    assert "Injected at step 2" in out.message
    assert len(run.injected) == 1 and len(run.shocked.shocks.shocks) == 1
    assert len(run.baseline.shocks.shocks) == 0
    run.step(3)  # fires without error


def test_trigger_needs_a_clicked_cell_and_a_cell_on_the_grid(run):
    out = act(run, "shock-trigger", Form(cell=None))
    assert out.error and "Click a cell" in out.message
    out = act(run, "shock-trigger", Form(cell=(99, 2)))
    assert out.error and "row" in out.message and "grid.height" in out.message
    assert run.injected == []


def test_bad_withdrawal_donor_is_a_message_not_a_crash(run):
    out = act(run, "shock-withdraw", Form(withdraw_donor="nobody"))
    assert out.error and "donor" in out.message
    with pytest.raises(ConfigError):
        run.inject("no_such_kind")


def test_step_button_uses_click_count_when_requests_merge(run):
    act(run, "step", Form(step_clicks=1))
    assert run.t == 1
    act(run, "step", Form(step_clicks=4))  # three clicks merged into one request
    assert run.t == 4
    act(run, "clock", Form(steps_per_frame=5))
    assert run.t == 9


def test_reset_same_and_new_seed(run):
    run.step(3)
    run.inject("economic_shock")
    seed = run.scenario.seed
    act(run, "reset-same", Form())
    assert run.t == 0 and run.injected == [] and run.scenario.seed == seed
    out = act(run, "reset-new", Form())
    assert run.t == 0 and "new seed" in out.message
    fresh = TwinRun(run.scenario)
    assert np.array_equal(fresh.shocked.layers["group"], run.shocked.layers["group"])


def test_ordered_triggers_puts_resets_and_shocks_before_steps():
    assert ordered_triggers(["step", "shock-withdraw", None, "reset-same"]) == [
        "reset-same",
        "shock-withdraw",
        "step",
    ]
    assert ordered_triggers([]) == []


# ------------------------------------------------------------------------- parameters


def form_for(scenario, **params):
    base = {
        "grid.width": scenario.grid.width,
        "grid.height": scenario.grid.height,
        "lpc.density": scenario.lpc.density,
        "donor.undp.budget": 30.0,
    }
    base.update(params)
    return Form(seed=scenario.seed, tiers=["lpc", "council"], params=base)


def test_parameters_validated_like_scenario_files(scenario):
    new = scenario_from_form(scenario, form_for(scenario, **{"lpc.density": 3}))
    assert new.lpc.density == 3
    new = scenario_from_form(scenario, form_for(scenario, **{"donor.undp.budget": 5}))
    assert {d.name: d.budget for d in new.donors}["undp"] == 5
    off = form_for(scenario)
    off.tiers = ["council"]
    assert scenario_from_form(scenario, off).lpc.enabled is False
    cases = {
        "grid.width": (0, "controls: grid.width: got 0; must be >= 1"),
        "lpc.density": (None, "controls: lpc.density: empty or not a number"),
        "donor.undp.budget": (-1, "must be >= 0"),
        "grid.height": (MAX_SIDE + 1, "at most"),
    }
    for path, (value, expected) in cases.items():
        with pytest.raises(ConfigError, match="controls") as info:
            scenario_from_form(scenario, form_for(scenario, **{path: value}))
        assert expected in info.value.one_line()
        assert "\n" not in info.value.one_line()


def test_apply_with_bad_value_keeps_the_run(run):
    run.step(2)
    out = act(run, "apply", form_for(run.scenario, **{"grid.width": -3}))
    assert out.error and "grid.width" in out.message
    assert run.t == 2
    out = act(run, "apply", form_for(run.scenario, **{"grid.width": 12}))
    assert not out.error and run.t == 0 and run.shocked.shape == (16, 12)


# ---------------------------------------------------------------------------- exports


def test_exported_toml_reproduces_the_shocked_run(run, tmp_path):
    run.step(3)
    run.inject("funding_withdrawal", mode="abrupt", donor="bilateral")
    run.step(2)
    run.inject("trigger_incident", row=4, col=5)
    run.inject("funding_withdrawal", mode="phased", donor="undp")
    run.step(5)
    path = tmp_path / "exported.toml"
    path.write_text(run.export_toml())
    loaded = load_scenario(path)
    assert len(loaded.shocks) == 3
    replay_run = Simulation(loaded, communities=False).advance(run.t)
    live = pd.DataFrame(run.series("shocked"))
    replay = replay_run.series().reset_index(drop=True)[list(MEASURES)]
    pd.testing.assert_frame_equal(live, replay, check_dtype=False)


def test_exported_toml_runs_with_the_cli(run, tmp_path, capsys):
    run.step(2)
    run.inject("political_upheaval")
    path = tmp_path / "s.toml"
    path.write_text(run.export_toml())
    assert main(["run", str(path), "--steps", "6"]) == 0
    assert "cumulative_violence" in capsys.readouterr().out


def test_export_csv_has_one_row_per_step(run):
    run.step(4)
    df = pd.read_csv(StringIO(run.export_csv()), index_col="step")
    assert len(df) == 4 and list(df.columns) == list(MEASURES)
    assert np.allclose(df["mean_tension"], run.shocked.series()["mean_tension"])


# --------------------------------------------------------------------------- sessions


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_store_bounds_sessions_lru_and_idle(scenario):
    clock = FakeClock()
    store = SessionStore(
        lambda: TwinRun(scenario), max_sessions=3, idle_seconds=60, clock=clock, active_seconds=0
    )
    ids = [str(uuid.uuid4()) for _ in range(4)]
    runs = [store.get(i)[0] for i in ids[:3]]
    assert len({id(r) for r in runs}) == 3
    again, created = store.get(ids[0])  # touch the first: now the second is LRU
    assert again is runs[0] and not created
    store.get(ids[3])
    assert len(store) == 3 and ids[1] not in store and ids[0] in store
    clock.now = 30
    store.get(ids[3])
    clock.now = 61
    _, created = store.get(ids[3])
    assert not created and len(store) == 1  # the idle ones went
    _, created = store.get(ids[0])
    assert created  # an expired session starts afresh


def test_store_rejects_non_uuid_ids(scenario):
    store = SessionStore(lambda: TwinRun(scenario))
    for bad in (None, "", "x" * 100, "../etc", 42):
        with pytest.raises(ValueError):
            store.get(bad)


def test_sessions_are_independent_under_concurrency(scenario):
    store = SessionStore(lambda: TwinRun(scenario), max_sessions=8)
    ids = [str(uuid.uuid4()) for _ in range(4)]
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            for _ in range(k + 1):
                run, _ = store.get(ids[k])
                with run.lock:
                    run.step(1)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    assert [store.get(i)[0].t for i in ids] == [1, 2, 3, 4]


# ---------------------------------------------------------------------------- figures


def test_typed_array_round_trip():
    a = np.array([[0.25, np.nan], [1.0, -2.5]])
    spec = typed_array(a)
    assert spec["dtype"] == "f4" and spec["shape"] == "2, 2"
    back = decode_typed(spec)
    assert np.allclose(back[~np.isnan(a)], a[~np.isnan(a)]) and np.isnan(back[0, 1])


@pytest.mark.parametrize("layer", list(LAYERS))
def test_every_layer_renders(run, layer):
    run.step(2)
    fig = map_figure(run.shocked, layer, title="t")
    z = decode_typed(fig["data"][0]["z"])
    assert z.shape == run.shocked.shape
    assert np.all(np.isnan(z[~run.shocked.inhabited]))
    expected = layer_values(run.shocked, layer)
    assert np.array_equal(np.isnan(z), np.isnan(expected))
    lpcs = fig["data"][1]
    assert len(lpcs["x"]) == run.shocked.committees.n
    assert "capacity" in lpcs["hovertemplate"] and "legitimacy" in lpcs["hovertemplate"]


def test_render_twin_and_single_and_markers(run):
    run.step(3)
    run.inject("autocratic_turn")
    run.step(2)
    view = render(run, Form(layer="cohesion", twin=True))
    assert view["base"] is not None and view["diff"] is not None
    assert "step 5" in view["status"]
    shapes = view["series"]["layout"]["shapes"]
    assert shapes and all(s["x0"] == 3 for s in shapes)
    labels = [a["text"] for a in view["series"]["layout"]["annotations"]]
    assert "Autocratic turn" in labels
    names = {tr["name"] for tr in view["series"]["data"]}
    assert names == {"with shocks", "baseline"}
    single = render(run, Form(layer="tension", twin=False))
    assert single["base"] is None and single["diff"] is None
    assert {tr["name"] for tr in single["series"]["data"]} == {"run"}


def test_small_helpers():
    assert parse_cell({"points": [{"x": 4, "y": 7}]}) == (7, 4)
    assert parse_cell({"points": []}) is None and parse_cell(None) is None
    assert play_state("play", False) is True
    assert play_state("pause", True) is False
    assert play_state("speed", True) is True


# ----------------------------------------------------------- callbacks over HTTP (Dash)


@pytest.fixture
def app(scenario):
    return create_app(scenario, max_sessions=4)


def test_create_app_serves_locally_and_page_loads(app):
    assert app.config.serve_locally is True
    assert not app.config.external_stylesheets and not app.config.external_scripts
    http = app.server.test_client()
    page = http.get("/").data.decode()
    assert "I4P simulator" in page
    assert "https://" not in page and "cdn" not in page.lower()
    layout = http.get("/_dash-layout").data.decode()
    assert "https://" not in layout


def test_each_page_load_gets_its_own_session_id(app):
    a, b = DashClient(app), DashClient(app)
    assert a.session_id != b.session_id
    uuid.UUID(a.session_id)


def test_dispatcher_over_http(app):
    c = DashClient(app)
    out = c.load()
    assert "step 0" in out["status"]["children"]
    assert out["base-box"]["style"] == {"display": "block"}
    out = c.press("step")
    assert "step 1" in out["status"]["children"]
    c.values["cell.data"] = [2, 3]
    out = c.press("shock-trigger")
    assert "Trigger incident at (2, 3)" in out["message"]["children"]
    for _ in range(3):
        out = c.press("clock")
    assert "step 4" in out["status"]["children"]
    assert out["series"]["figure"]["layout"]["shapes"]
    out = c.choose("layer", "violence")
    assert "step 4" in out["status"]["children"]  # changing the view does not step
    out = c.choose("twin", [])
    assert out["base-box"]["style"] == {"display": "none"}
    assert "map-base" not in out  # not re-sent when hidden


def test_dispatcher_reports_bad_parameters_in_the_page(app):
    c = DashClient(app)
    c.load()
    c.set_param("grid.width", -5)
    out = c.press("apply")
    assert out["message"]["className"] == "message error"
    assert "grid.width" in out["message"]["children"]
    c.set_param("grid.width", 10)
    out = c.press("apply")
    assert out["message"]["className"] == "message info"
    assert "10" in out["status"]["children"].split("·")[2]


def test_two_clients_never_share_a_run(app):
    a, b = DashClient(app), DashClient(app)
    a.load()
    b.load()
    for _ in range(3):
        a.press("step")
    assert "step 0" in b.load()["status"]["children"]
    b.press("shock-upheaval")
    assert "shocks injected 0" in a.load()["status"]["children"]


def test_downloads(app, tmp_path):
    c = DashClient(app)
    c.load()
    c.press("step")
    c.press("shock-economic")
    c.press("step")
    csv = c.call("download-csv", ["export-csv.n_clicks"])["download-csv"]["data"]
    assert csv["filename"].endswith(".csv") and csv["content"].startswith("step,")
    toml = c.call("download-toml", ["export-toml.n_clicks"])["download-toml"]["data"]
    path = tmp_path / toml["filename"]
    path.write_text(toml["content"])
    sc = load_scenario(path)
    assert [s.kind for s in sc.shocks] == ["economic_shock"] and sc.shocks[0].at == 1
    Simulation(sc, communities=False).advance(4)


def test_expired_session_starts_afresh_with_a_message(app):
    c = DashClient(app)
    c.load()
    c.press("step")
    app.i4p_store.drop(c.session_id)
    out = c.press("step")
    assert "expired" in out["message"]["children"]
    assert "step 0" in out["status"]["children"]


def test_invalid_session_id_is_a_message(app):
    c = DashClient(app)
    c.values["session-id.data"] = "not-a-uuid"
    out = c.load()
    assert "reload" in out["message"]["children"]


def test_create_app_rejects_bad_scenario_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[grid]\nwidth = 0\n")
    with pytest.raises(ConfigError, match="grid.width"):
        create_app(bad)
    big = tmp_path / "big.toml"
    big.write_text(f"[grid]\nwidth = {MAX_SIDE + 1}\n")
    with pytest.raises(ConfigError, match="at most"):
        create_app(big)


def test_viz_command_binds_loopback_by_default(monkeypatch):
    seen = {}

    def fake_serve(app, host, port):
        seen.update(host=host, port=port)

    monkeypatch.setattr(app_module, "serve", fake_serve)
    res = run_cli("viz", "--port", "8123")
    assert res.returncode == 0, res.stderr
    assert seen == {"host": "127.0.0.1", "port": 8123}


@pytest.mark.slow
@pytest.mark.parametrize(("ci", "expected"), [("", "1 skipped"), ("true", "1 error")])
def test_browser_tests_skip_locally_but_fail_in_ci_without_chromium(tmp_path, ci, expected):
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PATH": str(tmp_path), "CI": ci}  # no chromium on this PATH
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-rs",
            "-p",
            "no:cacheprovider",
            str(root / "tests" / "test_app_browser.py"),
            "-k",
            "second_page",
        ],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert expected in proc.stdout, proc.stdout[-2000:]
    assert (proc.returncode != 0) == bool(ci)
    reason = "Chromium not found" if not ci else "CI=true but Chromium is not installed"
    assert reason in proc.stdout

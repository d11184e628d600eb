"""Tests of the browser app's logic without a browser: sessions, twins, shocks, exports,
parameter validation, figures and the Dash callbacks over HTTP (Flask test client)."""

from __future__ import annotations

import base64
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
from i4p_sim.app import export as export_module
from i4p_sim.app.callbacks import (
    Form,
    act,
    ordered_triggers,
    parse_cell,
    play_state,
    render,
    scenario_from_form,
)
from i4p_sim.app.charts import HEADLINE, summarise
from i4p_sim.app.client import DashClient, _walk
from i4p_sim.app.export import AnimationUnavailable, animation, available_formats, replay_layer
from i4p_sim.app.figures import (
    LAYERS,
    decode_typed,
    difference,
    layer_values,
    map_figure,
    typed_array,
)
from i4p_sim.app.info import LAYER_INFO
from i4p_sim.app.sessions import (
    EXTEND_STEPS,
    MAX_REPLICATES,
    MAX_SIDE,
    SessionStore,
    TwinRun,
    check_replicates,
)
from i4p_sim.cli import main
from i4p_sim.config.errors import ConfigError
from i4p_sim.config.loading import load_scenario, validate_scenario
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


def test_export_csv_has_both_twins_one_row_per_step(run):
    run.step(2)
    run.inject("funding_withdrawal", mode="abrupt", donor="all")
    run.step(4)
    df = pd.read_csv(StringIO(run.export_csv()))
    assert list(df.columns) == ["twin", "replicate", "seed", "step", *MEASURES]
    assert df.groupby("twin").size().to_dict() == {"baseline": 6, "shocked": 6}
    shocked = df[df.twin == "shocked"].set_index("step")
    baseline = df[df.twin == "baseline"].set_index("step")
    assert np.allclose(shocked["mean_tension"], run.shocked.series()["mean_tension"])
    assert np.allclose(baseline["mean_tension"], run.baseline.series()["mean_tension"])
    assert not np.allclose(shocked["funding_disbursed"], baseline["funding_disbursed"])


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
    assert "month 5 /" in view["status"]
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
    assert "month 0 /" in out["status"]["children"]
    assert out["base-box"]["style"] == {"display": "block"}
    out = c.press("step")
    assert "month 1 /" in out["status"]["children"]
    c.values["cell.data"] = [2, 3]
    out = c.press("shock-trigger")
    assert "Trigger incident at (2, 3)" in out["message"]["children"]
    for _ in range(3):
        out = c.press("clock")
    assert "month 4 /" in out["status"]["children"]
    assert out["series"]["figure"]["layout"]["shapes"]
    out = c.choose("layer", "violence")
    assert "month 4 /" in out["status"]["children"]  # changing the view does not step
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
    assert "month 0 /" in b.load()["status"]["children"]
    b.press("shock-upheaval")
    assert "shocks injected 0" in a.load()["status"]["children"]


def test_downloads(app, tmp_path):
    c = DashClient(app)
    c.load()
    c.press("step")
    c.press("shock-economic")
    c.press("step")
    csv = c.call("download-csv", ["export-csv.n_clicks"])["download-csv"]["data"]
    assert csv["filename"].endswith(".csv") and csv["content"].startswith("twin,replicate,")
    twins = pd.read_csv(StringIO(csv["content"]))
    assert sorted(set(twins["twin"])) == ["baseline", "shocked"] and len(twins) == 4
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
    assert "month 0 /" in out["status"]["children"]


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


# ------------------------------------------------- twins, horizon, ensembles (issue 15)


def shocked_scenario(steps: int = 240):
    """SMALL with a withdrawal of all funding at month 3 written in the scenario itself."""
    data = load_scenario(overrides=SMALL).to_dict()
    data["steps"] = steps
    data["shocks"] = [{"kind": "funding_withdrawal", "at": 3, "donor": "all", "mode": "abrupt"}]
    return validate_scenario(data, "test")


def test_twins_are_the_scenario_without_and_with_its_own_shocks():
    run = TwinRun(shocked_scenario())
    assert len(run.shocked.shocks.shocks) == 1 and len(run.baseline.shocks.shocks) == 0
    run.step(3)
    assert same_state(run.baseline, run.shocked)  # identical until the shock fires
    run.step(4)
    assert not same_state(run.baseline, run.shocked)
    assert np.nanmax(np.abs(difference(run.baseline, run.shocked, "tension"))) > 0
    assert all(d.budget == d.base_budget for d in run.baseline.donors)
    assert all(d.budget == 0 for d in run.shocked.donors)
    run.inject("economic_shock")  # live shocks go to the shocked twin only
    assert len(run.baseline.shocks.shocks) == 0
    run.step(1)
    assert run.scheduled_fired() == [(3, "funding withdrawal")]  # not the injected one
    view = render(run, Form(layer="tension", twin=True))
    title = view["diff"]["layout"]["title"]["text"]
    assert float(title.split("= ")[-1]) > 0


def test_run_stops_at_the_horizon_and_continue_goes_on():
    run = TwinRun(shocked_scenario(steps=8))
    assert run.horizon == 8
    assert run.step(50) == 8 and run.t == 8 and run.at_horizon
    out = act(run, "step", Form())
    assert run.t == 8 and "horizon" in out.message and "Continue" in out.message
    assert "month 8 / 8" in render(run, Form())["status"]
    out = act(run, "continue", Form())
    assert run.horizon == 8 + EXTEND_STEPS and "Horizon moved" in out.message
    act(run, "clock", Form(steps_per_frame=5))
    assert run.t == 13 and not run.at_horizon
    assert "month 13 / 68" in render(run, Form())["status"]
    run.inject("election")  # its vote at month 19, inside the horizon of 68
    assert run.scenario_with_shocks().steps == 68
    run.step(50)
    run.step(5)
    assert run.t == 68 and run.horizon == 68
    run.inject("election")  # its vote at month 74, past the horizon: the file covers it
    assert run.scenario_with_shocks().steps == 75
    act(run, "reset-same", Form())
    assert run.horizon == 8 and run.t == 0


def test_ensemble_runs_replicates_with_their_own_seeds(scenario):
    run = TwinRun(scenario, replicates=3)
    assert run.cells == 3 * 2 * 20 * 16
    seeds = [pair[1].scenario.seed for pair in run.pairs]
    assert seeds == [scenario.seed, scenario.seed + 1, scenario.seed + 2]
    run.step(4)
    run.inject("political_upheaval")
    assert all(len(pair[1].model.shocks.shocks) == 1 for pair in run.pairs)
    assert all(len(pair[0].model.shocks.shocks) == 0 for pair in run.pairs)
    run.step(2)
    ens = run.ensemble("shocked")
    assert ens["mean_tension"].shape == (3, 6)
    assert not np.allclose(ens["mean_tension"][0], ens["mean_tension"][1])
    csv = pd.read_csv(StringIO(run.export_csv()))
    assert sorted(set(csv["replicate"])) == [0, 1, 2] and len(csv) == 3 * 2 * 6
    fig = render(run, Form(layer="tension", twin=True))["series"]
    bands = [tr for tr in fig["data"] if tr.get("fill") == "tonexty"]
    assert len(bands) == 2 * len(HEADLINE)  # shocked and baseline band in every panel
    median = next(tr for tr in fig["data"] if tr["name"] == "with shocks (median)")
    assert np.allclose(decode_typed(median["y"]), np.median(ens["violence_share"], axis=0))
    mid, low, high = summarise(ens["mean_tension"])
    assert np.all(low <= mid) and np.all(mid <= high)
    assert "3 replicates" in render(run, Form())["status"]


def test_replicates_are_checked_against_range_and_cell_budget(scenario):
    assert check_replicates(4, scenario) == 4 and check_replicates(2.0, scenario) == 2
    for bad, expected in [
        (0, "must be from 1 to"),
        (MAX_REPLICATES + 1, "must be from 1 to"),
        (2.5, "whole number"),
        (None, "whole number"),
        ("3", "whole number"),
    ]:
        with pytest.raises(ConfigError, match="replicates") as info:
            check_replicates(bad, scenario)
        assert expected in info.value.one_line()
    one = TwinRun.cells_of(scenario)
    with pytest.raises(ConfigError) as info:
        check_replicates(5, scenario, max_cells=4 * one)
    assert "at most 4 replicate(s)" in info.value.one_line()
    run = TwinRun(scenario)
    run.budget = 4 * one
    run.step(2)
    out = act(run, "apply", Form(seed=scenario.seed, replicates=5, params={}))
    assert out.error and "replicates" in out.message and run.t == 2 and run.replicates == 1
    out = act(run, "apply", Form(seed=scenario.seed, replicates=3, params={}))
    assert not out.error and run.replicates == 3 and "3 replicates" in out.message


def test_replicates_over_http_and_the_store_budget(scenario):
    cells = TwinRun.cells_of(scenario)
    app = create_app(scenario, max_sessions=2, max_cells=6 * cells)
    c = DashClient(app)
    c.load()
    c.values["replicates.value"] = 7
    out = c.press("apply")
    assert out["message"]["className"] == "message error"
    assert "at most 6 replicate(s)" in out["message"]["children"]
    c.values["replicates.value"] = 3
    out = c.press("apply")
    assert out["message"]["className"] == "message info"
    c.press("step")
    assert app.i4p_store.total_cells == 3 * cells


def test_clock_stops_at_the_horizon_over_http():
    app = create_app(shocked_scenario(steps=3), max_sessions=2)
    c = DashClient(app)
    c.load()
    stops = []
    for _ in range(4):
        out = c.press("clock")
        stops.append(out.get("horizon-stop", {}).get("data"))
    assert stops[:2] == [None, None] and stops[2] == 3 and stops[3] == 4
    assert "month 3 / 3" in out["status"]["children"]
    c.values["horizon-stop.data"] = 4
    c.values["clock.disabled"] = False
    res = c.call("..clock.disabled", ["horizon-stop.data"])
    assert res["clock"]["disabled"] is True
    out = c.press("continue")
    assert "Horizon moved" in out["message"]["children"]
    out = c.press("step")
    assert "month 4 / 63" in out["status"]["children"]


# ---------------------------------------------------------------- layers, maps, info


def test_sign_layer_is_the_mediation_sign_map():
    for threshold, sign in [(0.3, 1.0), (0.9, -1.0)]:
        sc = load_scenario(overrides=[*SMALL, f"lpc.partisan_threshold={threshold}"])
        run = TwinRun(sc)
        run.step(3)
        values = layer_values(run.shocked, "sign")
        expected = run.shocked.committees.mediation_sign_map().astype(float)
        inhabited = run.shocked.inhabited
        assert np.array_equal(values[inhabited], expected[inhabited])
        assert sign in set(np.unique(values[inhabited]))
    fig = map_figure(run.shocked, "sign", title="t")
    assert fig["data"][0]["colorbar"]["ticktext"] == ["drives", "none", "calms"]


def test_maps_have_axis_and_colour_bar_titles(run):
    run.step(1)
    assert set(LAYER_INFO) == set(LAYERS)  # the Info panel explains every layer
    for layer in LAYERS:
        fig = map_figure(run.shocked, layer, title="t")
        assert fig["layout"]["xaxis"]["title"]["text"] == "column (cell)"
        assert fig["layout"]["yaxis"]["title"]["text"] == "row (cell)"
        bar = fig["data"][0]["colorbar"]["title"]["text"]
        assert LAYERS[layer][0] in bar and LAYER_INFO[layer][0] in bar
    diff = render(run, Form(layer="violence", twin=True))["diff"]
    assert "shocked - baseline" in diff["data"][0]["colorbar"]["title"]["text"]


def test_charts_never_start_empty_and_reset_their_ranges(run):
    first = render(run, Form(layer="tension", twin=True))
    fig = first["series"]
    assert fig["data"] == []
    assert all(fig["layout"][k]["visible"] is False for k in fig["layout"] if "axis" in k)
    texts = [a["text"] for a in fig["layout"]["annotations"]]
    assert sum("press Step or Play" in t for t in texts) == len(HEADLINE)
    run.step(2)
    fig = render(run, Form(layer="tension", twin=True))["series"]
    assert all(fig["layout"][k]["visible"] is True for k in fig["layout"] if "axis" in k)
    assert fig["layout"]["xaxis4"]["title"]["text"].startswith("month")
    revision = fig["layout"]["uirevision"]
    map_revision = render(run, Form())["main"]["layout"]["uirevision"]
    act(run, "reset-same", Form())
    after = render(run, Form(layer="tension", twin=True))
    assert after["series"]["layout"]["uirevision"] != revision
    assert after["main"]["layout"]["uirevision"] != map_revision


def test_council_funded_share_only_after_the_first_month(run):
    def funded(panel):
        council = panel[0]
        return council.children[2].children[0].children[3].children

    assert funded(render(run, Form())["institutions"]) == "-"
    run.step(1)
    assert funded(render(run, Form())["institutions"]).endswith("%")


def test_info_panel_explains_layers_markers_and_units(app):
    layout = app.layout()
    panel = next(c for c in _walk(layout) if getattr(c, "id", None) == "info-panel")
    text = " ".join(str(getattr(c, "children", "")) for c in _walk(panel))
    for needle in ("Grey cells", "Size = capacity", "green = active", "one step is one month"):
        assert needle in text
    for label, _, _ in LAYERS.values():
        assert label in text


# ------------------------------------------------------------------------- animation


def test_animation_gif_replays_the_shocked_run(run):
    run.step(2)
    run.inject("trigger_incident", row=4, col=5)
    run.step(3)
    frames, months, style, lpcs = replay_layer(*run.replay_recipe(), "tension")
    assert months == [1, 2, 3, 4, 5]
    assert np.array_equal(frames[-1], layer_values(run.shocked, "tension"), equal_nan=True)
    data = animation(*run.replay_recipe(), "sign", "gif")
    assert data[:4] == b"GIF8"
    import imageio.v3 as iio

    images = iio.imread(data, extension=".gif")
    assert images.shape[0] == 5 and max(images.shape[1:3]) >= 320
    with pytest.raises(ValueError, match="nothing to animate"):
        animation(run.scenario, [], 0, "tension")


def test_animation_mp4_and_missing_packages(run, monkeypatch):
    run.step(3)
    assert "mp4" in available_formats()  # the anim extra installs imageio-ffmpeg
    data = animation(*run.replay_recipe(), "tension", "mp4")
    assert data[4:8] == b"ftyp"
    monkeypatch.setattr(export_module, "available_formats", lambda: [])
    with pytest.raises(AnimationUnavailable, match="i4p-sim\\[anim\\]"):
        animation(*run.replay_recipe(), "tension", "gif")


def test_animation_download_over_http(app):
    c = DashClient(app)
    c.load()
    c.values["layer.value"] = "violence"
    c.values["anim-format.value"] = "gif"
    out = c.call("..download-anim", ["export-anim.n_clicks"])
    assert "run at least one month" in out["export-message"]["children"]
    c.press("step")
    c.press("step")
    out = c.call("..download-anim", ["export-anim.n_clicks"])
    sent = out["download-anim"]["data"]
    assert sent["base64"] and sent["filename"].endswith("-violence-month2.gif")
    assert base64.b64decode(sent["content"])[:4] == b"GIF8"
    c.values["anim-format.value"] = "avi"
    out = c.call("..download-anim", ["export-anim.n_clicks"])
    assert "bad input" in out["export-message"]["children"]

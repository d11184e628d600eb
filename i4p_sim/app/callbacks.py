"""Callbacks of the app, as thin Dash wrappers around pure, testable functions.

One dispatcher callback owns every output that depends on the run (maps, series, status,
institutions, messages): whatever triggered it (Step, the play clock, Reset, a shock
button, Apply, the layer menu, the twin switch), it takes the session's lock, acts, and
renders. :func:`act` and :func:`render` hold the logic and are unit-tested without a
browser; bad inputs come back as a one-line message in the page, never as an exception.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import dash
from dash import ALL, Input, Output, State, ctx, no_update

from i4p_sim.config.errors import ConfigError
from i4p_sim.config.loading import set_path, validate_scenario
from i4p_sim.config.scenario import Scenario

from .figures import difference_figure, map_figure, series_figure
from .layout import institutions_panel, status_text
from .sessions import SessionBudgetFull, SessionStore, TwinRun, check_app_limits

log = logging.getLogger(__name__)

#: Trigger id -> (shock kind, needs a clicked cell).
SHOCK_BUTTONS = {
    "shock-withdraw": "funding_withdrawal",
    "shock-upheaval": "political_upheaval",
    "shock-election": "election",
    "shock-autocratic": "autocratic_turn",
    "shock-border": "border_spillover",
    "shock-economic": "economic_shock",
    "shock-trigger": "trigger_incident",
}
SHOW, HIDE = {"display": "block"}, {"display": "none"}


@dataclass
class Form:
    """The controls' values that a dispatch may use."""

    layer: str = "tension"
    twin: bool = True
    steps_per_frame: int = 1
    withdraw_mode: str = "abrupt"
    withdraw_donor: str = "all"
    edge: str = "west"
    cell: tuple[int, int] | None = None
    seed: Any = None
    step_clicks: int | None = None
    tiers: list[str] = field(default_factory=lambda: ["lpc", "council"])
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class Outcome:
    """What a dispatch did: a message for the page and whether it is an error."""

    message: str = ""
    error: bool = False


def scenario_from_form(base: Scenario, form: Form) -> Scenario:
    """Apply the parameter controls to ``base`` and validate like a scenario file.

    Parameters
    ----------
    base : Scenario
        The current scenario (its shocks schedule and unlisted fields are kept).
    form : Form
        Seed, enabled tiers and the ``params`` by dotted path (``donor.NAME.budget``
        for donor budgets).

    Raises
    ------
    ConfigError
        One line naming the field and what is allowed.
    """
    data = base.to_dict()
    data = set_path(data, "seed", form.seed, source="controls")
    data = set_path(data, "lpc.enabled", "lpc" in (form.tiers or []), source="controls")
    data = set_path(data, "council.enabled", "council" in (form.tiers or []), source="controls")
    donor_index = {d["name"]: i for i, d in enumerate(data.get("donors", []))}
    for path, value in form.params.items():
        parts = path.split(".")
        if parts[0] == "donor":  # donor.NAME.field -> donors.<index>.field
            index = donor_index.get(".".join(parts[1:-1]))
            if index is None:
                continue
            path = f"donors.{index}.{parts[-1]}"
        data = set_path(data, path, value, source="controls")
    missing = [p for p, v in {"seed": form.seed, **form.params}.items() if v is None]
    if missing:
        field_ = missing[0].replace("donor.", "donors.")
        raise ConfigError("controls", field_, "empty or not a number")
    scenario = validate_scenario(data, "controls")
    check_app_limits(scenario)
    return scenario


def act(run: TwinRun, trigger: str | None, form: Form) -> Outcome:
    """Do what ``trigger`` asks to ``run`` (the caller holds ``run.lock``).

    Parameters
    ----------
    run : TwinRun
    trigger : str or None
        The id of the control that fired (``None`` on page load).
    form : Form

    Returns
    -------
    Outcome
        A message for the page; errors (bad inputs) never raise.
    """
    try:
        if trigger == "step":
            # Dash merges clicks that arrive while a request is in flight into one
            # request; the click count tells how many steps were asked for.
            n = 1
            if form.step_clicks is not None:
                n = max(1, int(form.step_clicks) - run.step_clicks_seen)
                run.step_clicks_seen = int(form.step_clicks)
            run.step(n)
            return Outcome()
        if trigger == "clock":
            run.step(max(1, int(form.steps_per_frame or 1)))
            return Outcome()
        if trigger == "reset-same":
            run.reset()
            return Outcome(f"Reset to step 0 (seed {run.scenario.seed}).")
        if trigger == "reset-new":
            run.reset(new_seed=True)
            return Outcome(f"Reset to step 0 with a new seed ({run.scenario.seed}).")
        if trigger == "apply":
            run.reset(scenario_from_form(run.scenario, form))
            return Outcome(f"Parameters applied; reset to step 0 (seed {run.scenario.seed}).")
        if trigger in SHOCK_BUTTONS:
            kind = SHOCK_BUTTONS[trigger]
            params: dict[str, Any] = {}
            if kind == "funding_withdrawal":
                params = {"mode": form.withdraw_mode, "donor": form.withdraw_donor}
            elif kind == "border_spillover":
                params = {"edge": form.edge}
            elif kind == "trigger_incident":
                if form.cell is None:
                    return Outcome("Click a cell on the map first, then Trigger incident.", True)
                params = {"row": form.cell[0], "col": form.cell[1]}
            item = run.inject(kind, **params)
            return Outcome(f"Injected at step {item.step}: {item.label} (shocked twin only).")
        return Outcome()
    except ConfigError as err:
        return Outcome(err.one_line(), True)
    except SessionBudgetFull as err:
        return Outcome(f"Not applied: {err}.", True)
    except (TypeError, ValueError, OverflowError, KeyError, IndexError, AttributeError):
        # a malformed value from the page: say so, never show an exception's text
        log.info("malformed input for %r ignored", trigger)
        return Outcome("bad input: a control's value is not valid; nothing changed", True)


def render(run: TwinRun, form: Form) -> dict[str, Any]:
    """Figures and panels for the run's current state (the caller holds ``run.lock``).

    Returns
    -------
    dict
        ``main``, ``base``, ``diff`` (``None`` when the twin view is off), ``series``,
        ``status`` and ``institutions``.
    """
    layer = form.layer
    twin = form.twin
    shocked, baseline = run.shocked, run.baseline
    markers = [(i.step, i.label) for i in run.injected]
    scheduled = [(s, k.replace("_", " ")) for s, k in baseline.shocks.fired]
    out: dict[str, Any] = {
        "main": map_figure(shocked, layer, title="With your shocks" if twin else "Run"),
        "base": None,
        "diff": None,
        "series": series_figure(
            run.series("shocked"),
            run.series("baseline") if twin else None,
            markers,
            scheduled,
        ),
        "status": status_text(shocked, len(run.injected)),
        "institutions": institutions_panel(shocked, baseline if twin else None),
    }
    if twin:
        out["base"] = map_figure(baseline, layer, title="Baseline (same seed, no injected shocks)")
        out["diff"] = difference_figure(baseline, shocked, layer)
    return out


_ORDER = ("reset-same", "reset-new", "apply", *SHOCK_BUTTONS, "step", "clock", "layer", "twin")


def ordered_triggers(ids: Any) -> list[str]:
    """Triggered control ids in the order to act on them (resets, shocks, then steps).

    Dash may merge several triggers into one request; acting in a fixed order makes a
    shock injected together with a step land before that step.
    """
    seen = {i for i in ids if isinstance(i, str)}
    return [i for i in _ORDER if i in seen]


def parse_cell(click: dict | None) -> tuple[int, int] | None:
    """(row, col) of a heat-map click (``clickData``), or None."""
    try:
        point = click["points"][0]
        return int(round(float(point["y"]))), int(round(float(point["x"])))
    except (KeyError, IndexError, TypeError, ValueError, OverflowError, AttributeError):
        return None


def play_state(trigger: str | None, playing: bool) -> bool:
    """Whether the clock runs after ``trigger`` (``play`` / ``pause``)."""
    if trigger == "play":
        return True
    if trigger == "pause":
        return False
    return playing


def make_form(
    step_clicks: Any,
    layer: Any,
    twin: Any,
    steps_per_frame: Any,
    mode: Any,
    donor: Any,
    edge: Any,
    cell: Any,
    seed: Any,
    tiers: Any,
    values: Any,
    ids: Any,
) -> Form:
    """The :class:`Form` of a dispatch request, type-checked: a malformed payload (wrong
    shapes or types, which only a hand-made request sends) raises TypeError or ValueError.
    """
    if layer is not None and not isinstance(layer, str):
        raise TypeError("layer")
    if step_clicks is not None and (
        not isinstance(step_clicks, int) or isinstance(step_clicks, bool) or step_clicks < 0
    ):
        raise TypeError("n_clicks")
    if cell is not None and cell != []:
        if not (
            isinstance(cell, list | tuple)
            and len(cell) == 2
            and all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in cell)
        ):
            raise TypeError("cell")
    if tiers is not None and not (
        isinstance(tiers, list) and all(isinstance(t, str) for t in tiers)
    ):
        raise TypeError("tiers")
    if not isinstance(values, list) or not isinstance(ids, list) or len(values) != len(ids):
        raise TypeError("params")
    params: dict[str, Any] = {}
    for i, v in zip(ids, values, strict=True):
        if not isinstance(i, dict) or not isinstance(i.get("path"), str):
            raise TypeError("param id")
        params[i["path"]] = v
    for name, value in (("mode", mode), ("donor", donor), ("edge", edge)):
        if value is not None and not isinstance(value, str):
            raise TypeError(name)
    return Form(
        layer=layer or "tension",
        twin=bool(twin),
        steps_per_frame=steps_per_frame or 1,
        withdraw_mode=mode or "abrupt",
        withdraw_donor=donor or "all",
        edge=edge or "west",
        cell=tuple(cell) if cell else None,
        seed=seed,
        step_clicks=step_clicks,
        tiers=tiers or [],
        params=params,
    )


def register(app: dash.Dash, store: SessionStore) -> None:
    """Attach every callback of the app to ``app``, with runs kept in ``store``."""

    @app.callback(
        Output("map-main", "figure"),
        Output("map-base", "figure"),
        Output("map-diff", "figure"),
        Output("series", "figure"),
        Output("status", "children"),
        Output("institutions", "children"),
        Output("message", "children"),
        Output("message", "className"),
        Output("base-box", "style"),
        Output("diff-box", "style"),
        Output("seed-input", "value"),
        Input("step", "n_clicks"),
        Input("clock", "n_intervals"),
        Input("reset-same", "n_clicks"),
        Input("reset-new", "n_clicks"),
        Input("apply", "n_clicks"),
        *(Input(b, "n_clicks") for b in SHOCK_BUTTONS),
        Input("layer", "value"),
        Input("twin", "value"),
        State("session-id", "data"),
        State("steps-per-frame", "value"),
        State("withdraw-mode", "value"),
        State("withdraw-donor", "value"),
        State("border-edge", "value"),
        State("cell", "data"),
        State("seed-input", "value"),
        State("tiers", "value"),
        State({"type": "param", "path": ALL}, "value"),
        State({"type": "param", "path": ALL}, "id"),
    )
    def dispatch(*args: Any) -> tuple:
        (
            session_id,
            steps_per_frame,
            mode,
            donor,
            edge,
            cell,
            seed,
            tiers,
            values,
            ids,
        ) = args[-10:]
        layer, twin = args[-12], args[-11]

        def message_only(text: str) -> tuple:
            return (no_update,) * 6 + (text, "message error", no_update, no_update, no_update)

        try:
            triggers = ordered_triggers(ctx.triggered_prop_ids.values())
            trigger = triggers[-1] if triggers else None
            form = make_form(
                args[0], layer, twin, steps_per_frame, mode, donor, edge, cell, seed, tiers,
                values, ids,
            )  # fmt: skip
        except (TypeError, ValueError, KeyError, AttributeError, OverflowError):
            log.info("malformed dispatch payload ignored")
            return message_only("bad input: this request's values are not valid; nothing changed")
        try:
            run, created = store.get(session_id)
        except SessionBudgetFull as err:
            return message_only(f"No room for a new session: {err}.")
        except ValueError:
            return message_only("This page has no valid session; reload it.")
        with run.lock:
            outcome = Outcome()
            if created:
                run.step_clicks_seen = int(args[0] or 0)
            if created and trigger is not None:
                outcome = Outcome("Your session had expired; a fresh run was started.", True)
            else:
                for each in triggers:
                    result = act(run, each, form)
                    if result.message:
                        outcome = result
            try:
                view = render(run, form)
            except Exception:  # never let a rendering bug (or a bad layer) kill the page
                log.exception("render failed")
                return message_only("could not draw this view (bad input?); nothing changed")
            seed_out = run.scenario.seed
        if trigger == "clock" and not outcome.message:
            message, css = no_update, no_update
        else:
            message = outcome.message
            css = "message error" if outcome.error else ("message info" if message else "message")
        box = SHOW if form.twin else HIDE
        return (
            view["main"],
            view["base"] if form.twin else no_update,
            view["diff"] if form.twin else no_update,
            view["series"],
            view["status"],
            view["institutions"],
            message,
            css,
            box,
            box,
            seed_out,
        )

    @app.callback(
        Output("clock", "disabled"),
        Output("clock", "interval"),
        Input("play", "n_clicks"),
        Input("pause", "n_clicks"),
        Input("speed", "value"),
        State("clock", "disabled"),
    )
    def play_pause(_play: Any, _pause: Any, speed: Any, disabled: bool) -> tuple:
        playing = play_state(ctx.triggered_id, not bool(disabled))
        ok = isinstance(speed, int | float) and not isinstance(speed, bool)
        fps = float(speed) if ok and 0.1 <= speed <= 100 else 5.0
        return (not playing, int(1000 / fps))

    @app.callback(
        Output("cell", "data"),
        Output("cell-label", "children"),
        Input("map-main", "clickData"),
        Input("map-base", "clickData"),
        Input("map-diff", "clickData"),
        prevent_initial_call=True,
    )
    def pick_cell(*clicks: Any) -> tuple:
        source = {"map-main": 0, "map-base": 1, "map-diff": 2}.get(ctx.triggered_id, 0)
        cell = parse_cell(clicks[source])
        if cell is None:
            return no_update, no_update
        return list(cell), f"cell (row {cell[0]}, col {cell[1]}) selected"

    @app.callback(
        Output("download-csv", "data"),
        Input("export-csv", "n_clicks"),
        State("session-id", "data"),
        prevent_initial_call=True,
    )
    def export_csv(_n: Any, session_id: str) -> dict:
        try:
            run, _ = store.get(session_id)
        except ValueError:
            return no_update
        with run.lock:
            name = f"{run.scenario.name}-seed{run.scenario.seed}-step{run.t}.csv"
            return {"content": run.export_csv(), "filename": name, "type": "text/csv"}

    @app.callback(
        Output("download-toml", "data"),
        Input("export-toml", "n_clicks"),
        State("session-id", "data"),
        prevent_initial_call=True,
    )
    def export_toml(_n: Any, session_id: str) -> dict:
        try:
            run, _ = store.get(session_id)
        except ValueError:
            return no_update
        with run.lock:
            name = f"{run.scenario.name}-seed{run.scenario.seed}-with-shocks.toml"
            return {"content": run.export_toml(), "filename": name, "type": "application/toml"}

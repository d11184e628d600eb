"""Callbacks of the app, as thin Dash wrappers around pure, testable functions.

One dispatcher callback owns every output that depends on the run (maps, series, status,
institutions, messages): whatever triggered it (Step, the play clock, Reset, Continue, a
shock button, Apply, the layer menu, the twin switch), it takes the session's lock, acts,
and renders. :func:`act` and :func:`render` hold the logic and are unit-tested without a
browser; bad inputs come back as a one-line message in the page, never as an exception.
At the horizon the dispatcher tells the play clock to stop (the ``horizon-stop`` store).
The downloads are in :mod:`i4p_sim.app.downloads`.
"""

from __future__ import annotations

import logging
from typing import Any

import dash
from dash import ALL, Input, Output, State, ctx, no_update

from i4p_sim.config.errors import ConfigError

from .charts import series_figure
from .downloads import register_downloads
from .figures import difference_figure, map_figure
from .forms import (
    SHOCK_BUTTONS,
    Form,
    Outcome,
    make_form,
    ordered_triggers,
    parse_cell,
    play_state,
    scenario_from_form,
)
from .layout import institutions_panel, status_text
from .sessions import SessionBudgetFull, SessionStore, TwinRun, check_replicates

__all__ = [
    "Form",
    "Outcome",
    "act",
    "ordered_triggers",
    "parse_cell",
    "play_state",
    "register",
    "render",
    "scenario_from_form",
]

log = logging.getLogger(__name__)

SHOW, HIDE = {"display": "block"}, {"display": "none"}


def _horizon_note(run: TwinRun) -> Outcome:
    return Outcome(
        f"Reached the horizon (month {run.t} / {run.horizon}); press Continue to run further."
    )


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
            return _horizon_note(run) if run.at_horizon else Outcome()
        if trigger == "clock":
            run.step(max(1, int(form.steps_per_frame or 1)))
            return _horizon_note(run) if run.at_horizon else Outcome()
        if trigger == "continue":
            run.extend()
            return Outcome(f"Horizon moved to month {run.horizon}; press Play or Step.")
        if trigger == "reset-same":
            run.reset()
            return Outcome(f"Reset to step 0 (seed {run.scenario.seed}).")
        if trigger == "reset-new":
            run.reset(new_seed=True)
            return Outcome(f"Reset to step 0 with a new seed ({run.scenario.seed}).")
        if trigger == "apply":
            scenario = scenario_from_form(run.scenario, form)
            n = check_replicates(form.replicates, scenario, run.budget)
            run.reset(scenario, replicates=n)
            ensemble = f", {n} replicates" if n > 1 else ""
            return Outcome(
                f"Parameters applied; reset to step 0 (seed {run.scenario.seed}{ensemble})."
            )
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
    rev = run.generation
    shocked, baseline = run.shocked, run.baseline
    markers = [(i.step, i.label) for i in run.injected]
    if run.replicates > 1:
        lines, base_lines = run.ensemble("shocked"), run.ensemble("baseline")
    else:
        lines, base_lines = run.series("shocked"), run.series("baseline")
    title = "With the scenario's shocks and yours" if twin else "Run"
    out: dict[str, Any] = {
        "main": map_figure(shocked, layer, title=title, revision=rev),
        "base": None,
        "diff": None,
        "series": series_figure(
            lines,
            base_lines if twin else None,
            markers,
            run.scheduled_fired(),
            revision=rev,
        ),
        "status": status_text(shocked, len(run.injected), run.horizon, run.replicates),
        "institutions": institutions_panel(shocked, baseline if twin else None),
    }
    if twin:
        out["base"] = map_figure(
            baseline, layer, title="Baseline (same seed, without shocks)", revision=rev
        )
        out["diff"] = difference_figure(baseline, shocked, layer, revision=rev)
    return out


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
        Output("horizon-stop", "data"),
        Input("step", "n_clicks"),
        Input("clock", "n_intervals"),
        Input("reset-same", "n_clicks"),
        Input("reset-new", "n_clicks"),
        Input("apply", "n_clicks"),
        *(Input(b, "n_clicks") for b in SHOCK_BUTTONS),
        Input("continue", "n_clicks"),
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
        State("replicates", "value"),
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
            replicates,
            values,
            ids,
        ) = args[-11:]
        layer, twin = args[-13], args[-12]

        def message_only(text: str) -> tuple:
            return (no_update,) * 6 + (text, "message error") + (no_update,) * 4

        try:
            triggers = ordered_triggers(ctx.triggered_prop_ids.values())
            trigger = triggers[-1] if triggers else None
            form = make_form(
                args[0], layer, twin, steps_per_frame, mode, donor, edge, cell, seed, tiers,
                values, ids, replicates,
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
            # at the horizon the play clock stops (a new value each tick, so it fires)
            stop = args[1] if trigger == "clock" and run.at_horizon else no_update
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
            stop,
        )

    @app.callback(
        Output("clock", "disabled"),
        Output("clock", "interval"),
        Input("play", "n_clicks"),
        Input("pause", "n_clicks"),
        Input("speed", "value"),
        Input("horizon-stop", "data"),
        State("clock", "disabled"),
    )
    def play_pause(_play: Any, _pause: Any, speed: Any, stop: Any, disabled: bool) -> tuple:
        trigger = ctx.triggered_id
        if trigger == "horizon-stop":
            trigger = "pause" if stop else None
        playing = play_state(trigger, not disabled)
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

    register_downloads(app, store)

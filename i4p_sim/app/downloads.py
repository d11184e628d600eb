"""The app's downloads: both twins' series (CSV), the scenario with the injected shocks
(TOML) and an animation of the shown layer over the run so far (GIF or MP4).

An animation recomputes the run (:mod:`i4p_sim.app.export`) outside the session's lock,
from a copy of what it needs taken under the lock.
"""

from __future__ import annotations

import logging
from typing import Any

import dash
from dash import Input, Output, State, dcc, no_update

from .export import FORMATS, AnimationUnavailable, animation
from .figures import LAYERS
from .sessions import SessionStore

log = logging.getLogger(__name__)


def animation_download(
    store: SessionStore, session_id: Any, layer: Any, fmt: Any
) -> tuple[dict[str, Any] | None, str]:
    """The download (``dcc.send_bytes`` dict) of an animation, or ``None`` and a message.

    Parameters
    ----------
    store : SessionStore
    session_id : Any
        The page's session id.
    layer : Any
        The layer shown (a key of :data:`~i4p_sim.app.figures.LAYERS`).
    fmt : Any
        ``gif`` or ``mp4``.
    """
    if layer not in LAYERS or fmt not in FORMATS:
        return None, "bad input: unknown layer or animation format"
    try:
        run, _ = store.get(session_id)
    except ValueError:
        return None, "This page has no valid session; reload it."
    with run.lock:
        scenario, shocks, steps = run.replay_recipe()
        name = f"{scenario.name}-seed{scenario.seed}-{layer}-month{steps}{FORMATS[fmt][0]}"
    if steps < 1:
        return None, "Nothing to animate yet: run at least one month."
    try:
        data = animation(scenario, shocks, steps, layer, fmt)
    except AnimationUnavailable as err:
        return None, str(err)
    except Exception:  # never a traceback in the page
        log.exception("animation failed")
        return None, "could not make the animation"
    sent = dcc.send_bytes(data, name, type=FORMATS[fmt][1])
    kib = len(data) / 1024
    return sent, f"Animation of {LAYERS[layer][0]}, months 1-{steps}: {name} ({kib:,.0f} KiB)."


def register_downloads(app: dash.Dash, store: SessionStore) -> None:
    """Attach the download callbacks to ``app``."""

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
            name = f"{run.scenario.name}-seed{run.scenario.seed}-step{run.t}-twins.csv"
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

    @app.callback(
        Output("download-anim", "data"),
        Output("export-message", "children"),
        Input("export-anim", "n_clicks"),
        State("session-id", "data"),
        State("layer", "value"),
        State("anim-format", "value"),
        prevent_initial_call=True,
    )
    def export_animation(_n: Any, session_id: Any, layer: Any, fmt: Any) -> tuple:
        sent, message = animation_download(store, session_id, layer, fmt)
        return (sent if sent is not None else no_update), message

"""The browser app (``i4p viz``): a Dash app with live shocks, twins and ensembles.

Heat map of any layer (the per-cell sign map of mediation included) with the committees on
top, council and donor state, time series of the headline measures, play / pause / step /
reset and Continue past the scenario's horizon, parameter controls validated like scenario
files, buttons that inject a shock now, a twin view (the scenario without its shocks and
with them plus the injected ones, from the same seed, with their difference), ensembles of
N seeds (median and 10-90% band), exports (both twins' CSV, TOML, a GIF / MP4 of a layer)
and an Info panel. Every browser session has its own runs in a bounded server-side store.
Assets are served locally: it works with no internet at all.
"""

from __future__ import annotations

from pathlib import Path

import dash

from i4p_sim.config.loading import load_scenario
from i4p_sim.config.scenario import Scenario

from .callbacks import register
from .layout import INDEX, build_layout
from .server import harden, serve
from .sessions import MAX_TOTAL_CELLS, SessionStore, TwinRun, check_app_limits

__all__ = ["create_app", "serve"]


def create_app(
    scenario: Scenario | str | Path | None = None,
    *,
    max_sessions: int = 16,
    idle_seconds: float = 1800.0,
    max_cells: int = MAX_TOTAL_CELLS,
) -> dash.Dash:
    """Build the Dash app.

    Parameters
    ----------
    scenario : Scenario, str or Path, optional
        The scenario every new session starts from (a TOML path is loaded and validated);
        ``None`` is the default scenario.
    max_sessions : int
        Sessions (browser tabs) kept at once; the least recently used is evicted first.
    idle_seconds : float
        Sessions idle for longer are freed.
    max_cells : int
        Memory budget: model cells of all sessions together (two models a replicate).

    Returns
    -------
    dash.Dash
        The app; its server-side store is ``app.i4p_store``.

    Raises
    ------
    ConfigError
        If the scenario file is invalid or its grid too large for the browser.
    """
    source = "<default>" if scenario is None else str(scenario)
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    else:
        source = scenario.name
    check_app_limits(scenario, source=source)
    base = scenario
    app = dash.Dash(
        __name__,
        title="I4P simulator",
        serve_locally=True,
        external_stylesheets=[],
        external_scripts=[],
        include_assets_files=False,
        update_title=None,
        index_string=INDEX,
        suppress_callback_exceptions=False,
    )

    def factory() -> TwinRun:
        return TwinRun(base)

    factory.cells = TwinRun.cells_of(base)  # type: ignore[attr-defined]
    store = SessionStore(
        factory, max_sessions=max_sessions, idle_seconds=idle_seconds, max_cells=max_cells
    )
    app.layout = lambda: build_layout(base)
    register(app, store)
    harden(app)
    app.i4p_store = store  # type: ignore[attr-defined]
    app.i4p_scenario = base  # type: ignore[attr-defined]
    return app

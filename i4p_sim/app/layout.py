"""Page layout of the app and the small HTML panels (status, councils, donors).

The layout is a function of the scenario the app was started with; every page load gets a
fresh session id (uuid4) in a memory ``dcc.Store``, so two tabs never share a run.
"""

from __future__ import annotations

import uuid
from typing import Any

from dash import dcc, html

from i4p_sim.config.scenario import Scenario
from i4p_sim.sim.model import I4PModel

from .export import available_formats
from .figures import LAYERS
from .info import info_panel
from .twins import EXTEND_STEPS, MAX_REPLICATES

#: Scenario fields offered as numeric inputs: dotted path -> (label, min, max, step).
PARAM_INPUTS: dict[str, tuple[str, float, float, float]] = {
    "grid.width": ("Grid width", 1, 256, 1),
    "grid.height": ("Grid height", 1, 256, 1),
    "lpc.density": ("LPCs / 1,000 cells", 0, 1000, 0.01),
    "lpc.radius": ("LPC radius", 0, 64, 1),
    "council.response_density": ("Responses / step / 1,000 cells", 0, 1000, 0.01),
    "landscape.groups": ("Identity groups", 1, 16, 1),
    "landscape.patch_scale": ("Group patch scale", 0, 64, 0.5),
}
#: Scenario fields offered as sliders: dotted path -> (label, min, max, step).
PARAM_SLIDERS: dict[str, tuple[str, float, float, float]] = {
    "community.threshold": ("Mobilisation threshold", 0.0, 1.0, 0.01),
    "dynamics.contagion": ("Contagion", 0.0, 0.5, 0.01),
    "landscape.grievance_mean": ("Mean grievance", 0.0, 1.0, 0.01),
}
SPEEDS = {1: "1 fps", 2: "2", 5: "5", 10: "10 fps"}

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0;
       background: #f6f6f4; color: #222; font-size: 13px; }
.app { display: flex; min-height: 100vh; }
.sidebar { width: 300px; flex: none; padding: 10px 12px; background: #fff;
           border-right: 1px solid #ddd; overflow-y: auto; max-height: 100vh;
           box-sizing: border-box; }
.main { flex: 1; padding: 8px 12px; min-width: 0; }
h1 { font-size: 17px; margin: 4px 0 8px 0; }
h3 { font-size: 13px; margin: 12px 0 4px 0; text-transform: uppercase; color: #555;
     letter-spacing: 0.04em; }
button { margin: 2px 2px; padding: 4px 8px; border: 1px solid #bbb; border-radius: 4px;
         background: #f3f3f3; cursor: pointer; font-size: 12px; }
button:hover { background: #e6e6e6; }
button.primary { background: #2166ac; color: #fff; border-color: #2166ac; }
button.shock { background: #fbe9e7; border-color: #d6604d; }
.row { display: flex; gap: 6px; align-items: center; flex-wrap: wrap; margin: 3px 0; }
.param { display: grid; grid-template-columns: 130px 1fr; align-items: center;
         margin: 2px 0; }
.param input { width: 90px; }
.status { font-size: 14px; padding: 6px 8px; background: #fff; border: 1px solid #ddd;
          border-radius: 4px; margin-bottom: 6px; }
.message { min-height: 18px; padding: 4px 6px; margin: 6px 0; border-radius: 4px; }
.message.error { background: #fdecea; color: #8a1c1c; border: 1px solid #e0a0a0; }
.message.info { background: #eef5fb; color: #1d4f7a; border: 1px solid #b5d0e8; }
.maps { display: flex; gap: 6px; }
.maps > div { flex: 1; min-width: 0; background: #fff; border: 1px solid #ddd; }
.panel { background: #fff; border: 1px solid #ddd; padding: 4px 8px; margin: 6px 0; }
table.small { border-collapse: collapse; margin: 2px 12px 2px 0; display: inline-table;
              vertical-align: top; }
table.small td, table.small th { padding: 1px 8px; border-bottom: 1px solid #eee;
                                 text-align: left; font-size: 12px; }
.hint { color: #666; font-size: 11px; }
.param.wide { grid-template-columns: 60px 1fr; }  /* a 10-digit seed shows whole */
details.panel summary { cursor: pointer; font-weight: 600; padding: 2px 0; }
table.info { border-collapse: collapse; margin: 2px 0 6px 0; }
table.info td, table.info th { padding: 2px 8px; border-bottom: 1px solid #eee;
                               text-align: left; vertical-align: top; font-size: 12px; }
h4 { font-size: 12px; margin: 8px 0 2px 0; }
"""

INDEX = (
    "<!DOCTYPE html>\n<html>\n<head>\n{%metas%}\n<title>{%title%}</title>\n{%favicon%}\n"
    "{%css%}\n<style>" + CSS + "</style>\n</head>\n<body>\n{%app_entry%}\n<footer>\n"
    "{%config%}\n{%scripts%}\n{%renderer%}\n</footer>\n</body>\n</html>"
)


def _get(scenario: Scenario, path: str) -> Any:
    node: Any = scenario
    for part in path.split("."):
        node = getattr(node, part)
    return node


def _param_input(scenario: Scenario, path: str) -> html.Div:
    label, lo, hi, step = PARAM_INPUTS[path]
    return html.Div(
        [
            html.Label(label, htmlFor=f"param-{path}"),
            dcc.Input(
                id={"type": "param", "path": path},
                type="number",
                value=_get(scenario, path),
                min=lo,
                max=hi,
                # "any": a density such as 0.814 is valid, not flagged for its decimals
                step=step if float(step).is_integer() else "any",
                debounce=True,
            ),
        ],
        className="param",
    )


def _param_slider(scenario: Scenario, path: str) -> html.Div:
    label, lo, hi, step = PARAM_SLIDERS[path]
    return html.Div(
        [
            html.Label(label),
            dcc.Slider(
                id={"type": "param", "path": path},
                min=lo,
                max=hi,
                step=step,
                value=_get(scenario, path),
                marks=None,
                tooltip={"placement": "bottom", "always_visible": False},
            ),
        ],
        className="param",
    )


def _donor_input(name: str, budget: float) -> html.Div:
    return html.Div(
        [
            html.Label(f"Donor '{name}' budget"),
            dcc.Input(
                id={"type": "param", "path": f"donor.{name}.budget"},
                type="number",
                value=budget,
                min=0,
                step=1,
                debounce=True,
            ),
        ],
        className="param",
    )


def build_layout(scenario: Scenario) -> html.Div:
    """The whole page for one browser session (a fresh uuid4 session id each load).

    Parameters
    ----------
    scenario : Scenario
        The scenario the app was started with (initial values of the controls).
    """
    donors = [d.name for d in scenario.donors]
    sidebar = html.Div(
        [
            html.H1("I4P simulator"),
            html.H3("Run"),
            html.Div(
                [
                    html.Button("▶ Play", id="play", className="primary"),
                    html.Button("Pause", id="pause"),
                    html.Button("Step", id="step"),
                ],
                className="row",
            ),
            html.Div(
                [
                    html.Button("Reset (same seed)", id="reset-same"),
                    html.Button("Reset (new seed)", id="reset-new"),
                ],
                className="row",
            ),
            html.Div(
                [
                    html.Button(f"Continue (+{EXTEND_STEPS} months)", id="continue"),
                    html.Span(
                        f"the run stops at the horizon ({scenario.steps} months)",
                        className="hint",
                    ),
                ],
                className="row",
            ),
            html.Div(
                [
                    html.Label("Speed"),
                    html.Div(
                        dcc.Slider(id="speed", min=1, max=10, step=None, value=5, marks=SPEEDS),
                        style={"flex": "1"},
                    ),
                ],
                className="row",
            ),
            html.Div(
                [
                    html.Label("Steps per frame"),
                    dcc.Dropdown(
                        id="steps-per-frame",
                        options=[1, 2, 5, 10],
                        value=1,
                        clearable=False,
                        style={"width": "80px"},
                    ),
                ],
                className="row",
            ),
            html.H3("View"),
            dcc.Dropdown(
                id="layer",
                options=[{"label": label, "value": key} for key, (label, _, _) in LAYERS.items()],
                value="tension",
                clearable=False,
            ),
            dcc.Checklist(
                id="twin",
                options=[
                    {
                        "label": " Twin view (without shocks | with shocks | difference)",
                        "value": "on",
                    }
                ],
                value=["on"],
            ),
            html.H3("Inject a shock now"),
            html.Div(
                [
                    dcc.RadioItems(
                        id="withdraw-mode",
                        options=["abrupt", "phased"],
                        value="abrupt",
                        inline=True,
                    ),
                    dcc.Dropdown(
                        id="withdraw-donor",
                        options=["all", *donors],
                        value="all",
                        clearable=False,
                        style={"width": "110px"},
                    ),
                ],
                className="row",
            ),
            html.Button("Withdraw funding", id="shock-withdraw", className="shock"),
            html.Div(
                [
                    html.Button("Political upheaval", id="shock-upheaval", className="shock"),
                    html.Button("Election", id="shock-election", className="shock"),
                    html.Button("Autocratic turn", id="shock-autocratic", className="shock"),
                    html.Button("Economic shock", id="shock-economic", className="shock"),
                ],
                className="row",
            ),
            html.Div(
                [
                    html.Button("Border spillover", id="shock-border", className="shock"),
                    dcc.Dropdown(
                        id="border-edge",
                        options=["west", "east", "north", "south"],
                        value="west",
                        clearable=False,
                        style={"width": "90px"},
                    ),
                ],
                className="row",
            ),
            html.Div(
                [
                    html.Button("Trigger incident", id="shock-trigger", className="shock"),
                    html.Span("click a cell on the map", id="cell-label", className="hint"),
                ],
                className="row",
            ),
            html.H3("Scenario parameters"),
            html.Div(
                [
                    html.Label("Seed"),
                    dcc.Input(id="seed-input", type="number", value=scenario.seed, min=0, step=1),
                ],
                className="param wide",
            ),
            html.Div(
                [
                    html.Label("Replicates (seeds)", htmlFor="replicates"),
                    dcc.Input(
                        id="replicates",
                        type="number",
                        value=1,
                        min=1,
                        max=MAX_REPLICATES,
                        step=1,
                        debounce=True,
                    ),
                ],
                className="param",
            ),
            html.P(
                "More than 1 replicate runs an ensemble (seed, seed+1, ...): the charts "
                "show its median and 10-90% band; the maps show the first seed.",
                className="hint",
            ),
            dcc.Checklist(
                id="tiers",
                options=[
                    {"label": " LPCs (grassroots tier)", "value": "lpc"},
                    {"label": " Peace council (top-down tier)", "value": "council"},
                ],
                value=[
                    *(["lpc"] if scenario.lpc.enabled else []),
                    *(["council"] if scenario.council.enabled else []),
                ],
            ),
            *(_param_input(scenario, p) for p in PARAM_INPUTS),
            *(_param_slider(scenario, p) for p in PARAM_SLIDERS),
            *(_donor_input(d.name, d.budget) for d in scenario.donors),
            html.Button("Apply parameters & reset", id="apply", className="primary"),
            html.H3("Export"),
            html.Div(
                [
                    html.Button("Series of both twins (CSV)", id="export-csv"),
                    html.Button("Scenario + shocks (TOML)", id="export-toml"),
                ],
                className="row",
            ),
            html.Div(
                [
                    html.Button("Animate the layer shown", id="export-anim"),
                    dcc.Dropdown(
                        id="anim-format",
                        options=[{"label": f.upper(), "value": f} for f in available_formats()]
                        or [{"label": "GIF (needs imageio)", "value": "gif"}],
                        value="gif",
                        clearable=False,
                        style={"width": "80px"},
                    ),
                ],
                className="row",
            ),
            html.Div("", id="export-message", className="hint"),
            dcc.Download(id="download-csv"),
            dcc.Download(id="download-toml"),
            dcc.Download(id="download-anim"),
            html.P(
                "The exported TOML runs with `i4p run FILE`.",
                className="hint",
            ),
        ],
        className="sidebar",
    )
    main = html.Div(
        [
            html.Div("starting...", id="status", className="status"),
            html.Div("", id="message", className="message"),
            info_panel({key: label for key, (label, _, _) in LAYERS.items()}),
            html.Div(
                [
                    html.Div(
                        dcc.Graph(id="map-base", config={"displaylogo": False}), id="base-box"
                    ),
                    html.Div(dcc.Graph(id="map-main", config={"displaylogo": False})),
                    html.Div(
                        dcc.Graph(id="map-diff", config={"displaylogo": False}), id="diff-box"
                    ),
                ],
                className="maps",
            ),
            html.Div(id="institutions", className="panel"),
            html.Div(dcc.Graph(id="series", config={"displaylogo": False}), className="panel"),
        ],
        className="main",
    )
    return html.Div(
        [
            dcc.Store(id="session-id", data=str(uuid.uuid4())),
            dcc.Store(id="cell", data=None),
            dcc.Store(id="horizon-stop", data=None),
            dcc.Interval(id="clock", interval=200, disabled=True),
            sidebar,
            main,
        ],
        className="app",
    )


def _table(header: list[str], rows: list[list[Any]], caption: str) -> html.Table:
    return html.Table(
        [
            html.Caption(caption, style={"textAlign": "left", "fontWeight": "600"}),
            html.Thead(html.Tr([html.Th(h) for h in header])),
            html.Tbody([html.Tr([html.Td(c) for c in row]) for row in rows]),
        ],
        className="small",
    )


def institutions_panel(shocked: I4PModel, baseline: I4PModel | None = None) -> list:
    """Tables of the councils' state and the donors' budgets (baseline alongside in twin)."""
    t = max(shocked.steps - 1, 0)  # the step last computed
    t_done = shocked.steps
    council_rows = []
    for c in shocked.councils:
        if c.suspended(t):
            state = f"suspended until step {c.suspended_until}"
        elif t < c.agreement_until:
            state = "brokering a national agreement"
        else:
            state = "active"
        council_rows.append(
            [
                c.name,
                f"{c.effective_mandate(t):.2f}",
                state,
                f"{c.funded_share():.0%}" if t_done else "-",  # no money before month 1
                c.responses_sent,
            ]
        )
    if not council_rows:
        council_rows = [["(no council in this scenario)", "", "", "", ""]]
    donor_rows = []
    base = {d.name: d for d in baseline.donors} if baseline is not None else {}
    for d in shocked.donors:
        row = [d.name, d.policy, f"{d.budget:.1f}", f"{d.base_budget:.1f}"]
        if baseline is not None:
            row.append(f"{base[d.name].budget:.1f}" if d.name in base else "")
        donor_rows.append(row)
    donor_header = ["donor", "policy", "budget now", "original"]
    if baseline is not None:
        donor_header.append("baseline now")
    tier = shocked.committees
    lpc_rows = [
        [
            f"{int(tier.active.sum())} / {tier.n}",
            f"{tier.capacity.mean():.2f}" if tier.n else "-",
            f"{tier.ownership.mean():.2f}" if tier.n else "-",
            f"{tier.legitimacy.mean():.2f}" if tier.n else "-",
            f"{shocked.civic_space:.2f}",
        ]
    ]
    return [
        _table(
            ["council", "mandate", "state", "funded (of cost)", "responses"],
            council_rows,
            "Peace councils (run with shocks)",
        ),
        _table(donor_header, donor_rows, "Donors"),
        _table(
            ["LPCs active", "capacity", "ownership", "legitimacy", "civic space"],
            lpc_rows,
            "Local peace committees (means)",
        ),
    ]


def status_text(
    shocked: I4PModel, n_injected: int, horizon: int | None = None, replicates: int = 1
) -> str:
    """One line: month and horizon, seed, grid, and the latest headline measures."""
    m = shocked.measures
    sc = shocked.config
    horizon = sc.steps if horizon is None else horizon
    end = "  (horizon reached: Continue to go on)" if shocked.steps >= horizon else ""
    ensemble = f"  ·  {replicates} replicates (maps: seed {sc.seed})" if replicates > 1 else ""
    return (
        f"month {shocked.steps} / {horizon}{end}  ·  seed {sc.seed}{ensemble}  ·  "
        f"{sc.grid.height}x{sc.grid.width}  ·  "
        f"violence {m['violence_share']:.1%}  ·  mean tension {m['mean_tension']:.3f}  ·  "
        f"LPCs active {int(m['lpcs_active']) if shocked.steps else shocked.committees.n}  ·  "
        f"shocks injected {n_injected}"
    )

"""The app's Info panel (NetLogo's Info tab): what every layer, marker and number means.

Plain data and one builder; the colour-bar titles of the maps (:mod:`i4p_sim.app.figures`)
use the same units, so the panel and the maps never disagree.
"""

from __future__ import annotations

from dash import html

#: Per map layer: (unit shown on its colour bar, what it is).
LAYER_INFO: dict[str, tuple[str, str]] = {
    "tension": (
        "0-1",
        "Latent conflict pressure: grievance, friction at group boundaries, the memory of "
        "violence, shocks and contagion from violent neighbours raise it; cohesion and "
        "peace work (mediation, rapid responses) damp it; it spreads to neighbours.",
    ),
    "violence": (
        "1 = violent",
        "Communities that mobilised violently this month (1) or not (0): a decision, when "
        "grievance outweighs the sanction expected (the state's presence, the committees' "
        "social sanction), exhaustion and a threshold.",
    ),
    "cohesion": (
        "0-1",
        "Ties across identity groups; high cohesion damps tension and contagion.",
    ),
    "grievance": (
        "0-1",
        "Felt injustice (economic and political); it drives tension up. Shocks raise it.",
    ),
    "memory": (
        "0-1",
        "A slowly decaying trace of past violence in the cell; it feeds tension (the "
        "relapse channel).",
    ),
    "group": ("group", "The identity group living in each cell (a category, no order)."),
    "population": ("people / cell", "Inhabitants per cell (relative units)."),
    "coverage": (
        "damping / month",
        "Share of tension the local peace committees' mediation removes each month "
        "(0 outside every committee's catchment).",
    ),
    "sign": (
        "+1 / 0 / -1",
        "Sign of mediation per cell: +1 (green) where committees calm tension on balance, "
        "-1 (purple) where partisan committees, below the partisan threshold of the "
        "legitimacy the cell's group grants them, drive it; 0 outside every catchment.",
    ),
}

#: Markers, colours and panels of the page: (name, explanation).
MARKERS: list[tuple[str, str]] = [
    (
        "Circles on the maps",
        "Local peace committees (LPCs). Size = capacity (0-1: small = weak, large = "
        "strong); green = active, grey = dormant (capacity fell below its floor). "
        "Hover a circle for its capacity, ownership, legitimacy and funding.",
    ),
    (
        "Grey cells",
        "Uninhabited land (no community lives there): no value is drawn.",
    ),
    (
        "Difference map",
        "Shocked twin minus baseline twin on the same cell: red = higher with the shocks, "
        "blue = lower, white = no change. Its title gives the largest change.",
    ),
    (
        "Twins",
        "Baseline = the scenario file without its scheduled shocks; shocked = the file as "
        "written plus the shocks you inject now. Both share the seed, so they are "
        "identical until the first shock fires.",
    ),
    (
        "Time-series lines",
        "Solid = the run with shocks; dashed grey = baseline. In an ensemble the line is "
        "the median over replicates and the shaded band holds 10-90% of them. Dashed red "
        "verticals = shocks you injected; dotted grey = the scenario's own shocks.",
    ),
    (
        "Peace councils table",
        "Mandate (0-1): the council's authority; responses: rapid responses sent so far; "
        "funded: share of its running cost covered this month (domestic budget plus "
        "donor money), shown from the first month on.",
    ),
    (
        "Donors table",
        "Budget per month in funding units (the scenario's budgets, scaled per 1,000 "
        "inhabited cells); 'original' is before any withdrawal.",
    ),
    (
        "Horizon",
        "A run stops at the scenario's horizon ('month 37 / 240'); Continue adds months past it.",
    ),
]

UNITS = (
    "Time: one step is one month. Shares (violence, tension, cohesion, mandate) run from 0 "
    "to 1. Funding is in the scenario's budget units per month."
)


def info_panel(layer_labels: dict[str, str]) -> html.Details:
    """The collapsible Info panel: layers with units, markers and units.

    Parameters
    ----------
    layer_labels : dict
        Layer key -> the name the layer menu shows.
    """
    layers = [
        html.Tr([html.Td(html.B(layer_labels.get(key, key))), html.Td(unit), html.Td(text)])
        for key, (unit, text) in LAYER_INFO.items()
    ]
    markers = [html.Tr([html.Td(html.B(name)), html.Td(text)]) for name, text in MARKERS]
    return html.Details(
        [
            html.Summary("Info: what the maps, markers and charts show", id="info-summary"),
            html.Div(
                [
                    html.H4("Map layers"),
                    html.Table(
                        [html.Thead(html.Tr([html.Th("layer"), html.Th("unit"), html.Th("")]))]
                        + [html.Tbody(layers)],
                        className="info",
                    ),
                    html.H4("Markers and panels"),
                    html.Table(html.Tbody(markers), className="info"),
                    html.P(UNITS),
                ],
                id="info-text",
            ),
        ],
        id="info-panel",
        className="panel",
    )

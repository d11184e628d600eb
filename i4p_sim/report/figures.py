"""The report's plotly figures: the forest plot, heat maps and dose-response curves
(the time series are in :mod:`i4p_sim.report.series`).

Every axis has a title, in plain words with its unit (:mod:`i4p_sim.stats.labels`);
values are shown in display units (violence per 1,000 communities, shares in %).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from i4p_sim.report.series import PALETTE
from i4p_sim.stats.labels import metric_label, param_label

__all__ = ["dose_response_figure", "fig_html", "forest_figure", "heatmap_figure"]

_VIOLENCE_SCALE = [[0, "#f7f7f7"], [0.5, "#f7f7f7"], [0.5, "#b2182b"], [1, "#b2182b"]]


def fig_html(fig: Any) -> str:
    """A figure as an HTML fragment (plotly.js is inlined once by the page)."""
    return fig.to_html(full_html=False, include_plotlyjs=False, config={"displaylogo": False})


def forest_figure(effects: pd.DataFrame, metrics: list[str], order: list[str]) -> Any:
    """Paired effects against the baseline, one panel per metric, with 95% intervals."""
    labels = [metric_label(m) for m in metrics]
    fig = make_subplots(
        rows=1,
        cols=len(metrics),
        subplot_titles=[lab.label for lab in labels],
        shared_yaxes=True,
        horizontal_spacing=0.03,
    )
    names = [n.replace("_", " ") for n in order]
    for j, (metric, lab) in enumerate(zip(metrics, labels, strict=True)):
        sub = (
            effects[effects["metric"] == metric]
            .set_index("scenario")
            .reindex(order)
            .dropna(subset=["estimate"])
        )
        est = sub["estimate"].to_numpy(dtype=float) * lab.scale
        low = np.nan_to_num(sub["ci_low"].to_numpy(dtype=float), nan=0.0) * lab.scale
        high = np.nan_to_num(sub["ci_high"].to_numpy(dtype=float), nan=0.0) * lab.scale
        fig.add_trace(
            go.Scatter(
                x=est,
                y=[n.replace("_", " ") for n in sub.index],
                mode="markers",
                marker={"size": 8, "color": "#1f77b4"},
                error_x={
                    "type": "data",
                    "symmetric": False,
                    "array": np.maximum(high - est, 0),
                    "arrayminus": np.maximum(est - low, 0),
                },
                showlegend=False,
                name=lab.label,
                customdata=np.stack([low, high, sub["n"].to_numpy()], axis=1) if len(sub) else None,
                hovertemplate="%{y}: %{x:.3g} [%{customdata[0]:.3g}, %{customdata[1]:.3g}], "
                "n=%{customdata[2]}<extra></extra>",
            ),
            row=1,
            col=j + 1,
        )
        fig.add_vline(x=0, line={"color": "#888", "dash": "dot"}, row=1, col=j + 1)
        fig.update_xaxes(
            title_text=f"difference<br>({lab.unit})", title_font={"size": 11}, row=1, col=j + 1
        )
        fig.update_yaxes(title_text="variant" if j == 0 else "", row=1, col=j + 1)
    fig.update_yaxes(autorange="reversed", categoryorder="array", categoryarray=names)
    fig.update_annotations(font_size=12)
    fig.update_layout(height=max(360, 28 * len(order) + 160), margin={"t": 50, "l": 10, "r": 10})
    return fig


def _axis_suffix(row: int, col: int, ncols: int) -> str:
    k = (row - 1) * ncols + col
    return "" if k == 1 else str(k)


def heatmap_figure(grids: dict[str, dict[int, dict[str, np.ndarray]]]) -> Any:
    """Tension and violence maps: two rows per scenario, one column per month; square
    cells, the months as column titles and ``scenario: layer`` as row titles (no title per
    panel to overlap), one colour scale per layer (tension 0-1; violence yes / no).

    ``grids`` maps scenario -> step -> layer (``tension``, ``violence``) -> 2-D map.
    """
    shown = list(grids)
    steps = sorted({s for snaps in grids.values() for s in snaps})
    nrows, ncols = 2 * len(shown), max(1, len(steps))
    row_titles = [
        f"{n.replace('_', ' ')}: {layer}" for n in shown for layer in ("tension", "violence")
    ]
    fig = make_subplots(
        rows=nrows,
        cols=ncols,
        column_titles=[f"after month {s}" for s in steps],
        row_titles=row_titles,
        horizontal_spacing=0.02,
        vertical_spacing=0.04,
    )
    for i, name in enumerate(shown):
        for k, step in enumerate(steps):
            layers = grids[name].get(step)
            if layers is None:
                continue
            fig.add_trace(
                go.Heatmap(
                    z=layers["tension"],
                    zmin=0,
                    zmax=1,
                    coloraxis="coloraxis",
                    name=f"{name} tension, month {step}",
                ),
                row=2 * i + 1,
                col=k + 1,
            )
            fig.add_trace(
                go.Heatmap(
                    z=layers["violence"],
                    zmin=0,
                    zmax=1,
                    coloraxis="coloraxis2",
                    name=f"{name} violence, month {step}",
                ),
                row=2 * i + 2,
                col=k + 1,
            )
    for r in range(1, nrows + 1):
        for c in range(1, ncols + 1):
            fig.update_yaxes(scaleanchor=f"x{_axis_suffix(r, c, ncols)}", row=r, col=c)
    fig.update_xaxes(
        showticklabels=False, constrain="domain", title_text="west to east", title_font_size=9
    )
    fig.update_yaxes(
        showticklabels=False,
        autorange="reversed",
        constrain="domain",
        title_text="north to south",
        title_font_size=9,
    )
    fig.update_annotations(font_size=12)
    fig.update_layout(
        height=280 * nrows + 160,
        margin={"t": 60, "l": 30, "r": 60, "b": 10},
        coloraxis={
            "colorscale": "YlOrRd",
            "cmin": 0,
            "cmax": 1,
            "colorbar": {
                "title": {"text": "tension (0 calm, 1 at the threshold)", "side": "top"},
                "orientation": "h",
                "x": 0.25,
                "y": -0.05,
                "yanchor": "top",
                "len": 0.45,
                "thickness": 12,
            },
        },
        coloraxis2={
            "colorscale": _VIOLENCE_SCALE,
            "cmin": 0,
            "cmax": 1,
            "colorbar": {
                "title": {"text": "violence this month", "side": "top"},
                "orientation": "h",
                "x": 0.75,
                "y": -0.05,
                "yanchor": "top",
                "len": 0.3,
                "thickness": 12,
                "tickvals": [0.25, 0.75],
                "ticktext": ["none", "a violent event"],
            },
        },
    )
    return fig


def dose_response_figure(table: pd.DataFrame, param: str, metric: str) -> Any:
    """The metric (mean over runs with its 95% interval) against the values of one
    parameter axis, one line per scenario (click the legend to hide one)."""
    lab = metric_label(metric)
    fig = go.Figure()
    for i, (name, sub) in enumerate(table.groupby("scenario", sort=False)):
        sub = sub.sort_values(param)
        y = sub["mean"].to_numpy(dtype=float) * lab.scale
        low = np.nan_to_num(sub["low"].to_numpy(dtype=float) * lab.scale, nan=0.0)
        high = np.nan_to_num(sub["high"].to_numpy(dtype=float) * lab.scale, nan=0.0)
        fig.add_trace(
            go.Scatter(
                x=sub[param],
                y=y,
                mode="lines+markers",
                name=str(name).replace("_", " "),
                line={"color": PALETTE[i % len(PALETTE)]},
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": np.maximum(high - y, 0),
                    "arrayminus": np.maximum(y - low, 0),
                },
            )
        )
    fig.update_layout(
        title={"text": f"{lab.label} along {param_label(param).lower()}"},
        xaxis={"title": {"text": param_label(param)}},
        yaxis={"title": {"text": f"{lab.label} ({lab.unit})"}},
        legend={"title": {"text": "scenario"}},
        height=440,
        margin={"t": 60, "l": 70, "r": 20, "b": 50},
    )
    return fig

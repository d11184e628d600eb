"""The report's plotly figures: time-series bands, the forest plot and heat maps."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

__all__ = [
    "SERIES_COLUMNS",
    "bands",
    "fig_html",
    "forest_figure",
    "heatmap_figure",
    "time_series_figure",
]

SERIES_COLUMNS = ("violence_share", "mean_tension", "lpcs_active", "funding_disbursed")
SERIES_TITLES = {
    "violence_share": "share of communities with a violent event",
    "mean_tension": "mean tension",
    "lpcs_active": "local peace committees active",
    "funding_disbursed": "funding disbursed per month",
}
PALETTE = (
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#ff7f0e",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
    "#393b79",
    "#637939",
    "#8c6d31",
    "#843c39",
    "#7b4173",
    "#3182bd",
)

#: Quantiles of the replicate bands (low, median, high).
BAND_QUANTILES = (0.1, 0.5, 0.9)


def fig_html(fig: Any) -> str:
    """A figure as an HTML fragment (plotly.js is inlined once by the page)."""
    return fig.to_html(full_html=False, include_plotlyjs=False, config={"displaylogo": False})


def bands(series: pd.DataFrame) -> pd.DataFrame:
    grouped = series.groupby(["scenario", "step"])[list(SERIES_COLUMNS)]
    q = grouped.quantile(list(BAND_QUANTILES)).unstack(-1)
    q.columns = [f"{m}_{int(p * 100)}" for m, p in q.columns]
    return q.reset_index()


def time_series_figure(bands: pd.DataFrame, order: list[str], ref_step: int) -> Any:
    fig = make_subplots(
        rows=2,
        cols=2,
        subplot_titles=[SERIES_TITLES[c] for c in SERIES_COLUMNS],
        vertical_spacing=0.12,
        horizontal_spacing=0.08,
    )
    for i, name in enumerate(order):
        sub = bands[bands["scenario"] == name]
        if sub.empty:
            continue
        color = PALETTE[i % len(PALETTE)]
        rgb = tuple(int(color[k : k + 2], 16) for k in (1, 3, 5))
        fill = f"rgba({rgb[0]},{rgb[1]},{rgb[2]},0.15)"
        for j, col in enumerate(SERIES_COLUMNS):
            r, c = divmod(j, 2)
            x = sub["step"].tolist()
            fig.add_trace(
                go.Scatter(
                    x=x + x[::-1],
                    y=sub[f"{col}_90"].tolist() + sub[f"{col}_10"].tolist()[::-1],
                    fill="toself",
                    fillcolor=fill,
                    line={"width": 0},
                    hoverinfo="skip",
                    legendgroup=name,
                    showlegend=False,
                    name=f"{name} 10-90%",
                ),
                row=r + 1,
                col=c + 1,
            )
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=sub[f"{col}_50"],
                    line={"color": color, "width": 1.6},
                    legendgroup=name,
                    showlegend=j == 0,
                    name=name,
                ),
                row=r + 1,
                col=c + 1,
            )
    for j in range(4):
        r, c = divmod(j, 2)
        fig.add_vline(x=ref_step, line={"dash": "dot", "color": "#888"}, row=r + 1, col=c + 1)
        fig.update_xaxes(title_text="month", row=r + 1, col=c + 1)
    fig.update_layout(height=720, margin={"t": 60, "l": 50, "r": 20, "b": 40})
    return fig


def forest_figure(effects: pd.DataFrame, metrics: list[str], order: list[str]) -> Any:
    fig = make_subplots(
        rows=1,
        cols=len(metrics),
        subplot_titles=metrics,
        shared_yaxes=True,
        horizontal_spacing=0.03,
    )
    for j, metric in enumerate(metrics):
        sub = (
            effects[effects["metric"] == metric]
            .set_index("scenario")
            .reindex(order)
            .dropna(subset=["estimate"])
        )
        est = sub["estimate"].to_numpy(dtype=float)
        low = np.nan_to_num(sub["ci_low"].to_numpy(dtype=float), nan=0.0)
        high = np.nan_to_num(sub["ci_high"].to_numpy(dtype=float), nan=0.0)
        fig.add_trace(
            go.Scatter(
                x=est,
                y=sub.index.tolist(),
                mode="markers",
                marker={"size": 8, "color": "#1f77b4"},
                error_x={
                    "type": "data",
                    "symmetric": False,
                    "array": np.maximum(high - est, 0),
                    "arrayminus": np.maximum(est - low, 0),
                },
                showlegend=False,
                name=metric,
                customdata=np.stack([low, high, sub["n"].to_numpy()], axis=1) if len(sub) else None,
                hovertemplate="%{y}: %{x:.4g} [%{customdata[0]:.4g}, %{customdata[1]:.4g}], "
                "n=%{customdata[2]}<extra></extra>",
            ),
            row=1,
            col=j + 1,
        )
        fig.add_vline(x=0, line={"color": "#888", "dash": "dot"}, row=1, col=j + 1)
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(height=max(320, 28 * len(order) + 120), margin={"t": 50, "l": 10, "r": 10})
    return fig


def heatmap_figure(grids: dict[str, dict[int, dict[str, np.ndarray]]]) -> Any:
    """Tension and violence maps: two rows per scenario, one column per step.

    ``grids`` maps scenario -> step -> layer (``tension``, ``violence``) -> 2-D map.
    """
    shown = list(grids)
    steps = sorted({s for snaps in grids.values() for s in snaps})
    titles = []
    for name in shown:
        for layer in ("tension", "violence"):
            titles += [f"{name}: {layer}, month {s}" for s in steps]
    nrows, ncols = 2 * len(shown), max(1, len(steps))
    fig = make_subplots(
        rows=nrows,
        cols=ncols,
        subplot_titles=titles,
        horizontal_spacing=0.02,
        vertical_spacing=0.06,
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
                    colorscale="YlOrRd",
                    showscale=(i == 0 and k == 0),
                    colorbar={"title": "tension", "len": 0.4, "y": 0.8},
                ),
                row=2 * i + 1,
                col=k + 1,
            )
            fig.add_trace(
                go.Heatmap(
                    z=layers["violence"],
                    zmin=0,
                    zmax=1,
                    colorscale=[[0, "#f7f7f7"], [1, "#b2182b"]],
                    showscale=False,
                ),
                row=2 * i + 2,
                col=k + 1,
            )
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(showticklabels=False, autorange="reversed", scaleanchor=None)
    fig.update_layout(height=260 * nrows + 60, margin={"t": 60, "l": 10, "r": 10, "b": 10})
    return fig

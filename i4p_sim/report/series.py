"""The report's time-series figures: replicate bands that stay readable with many variants.

Two views of the same bands (median and 10-90% of replicates per month): small multiples of
the violence series, one panel per scenario with the baseline drawn in grey behind it, and
the four per-step measures with a selection (the baseline and a few variants shown, the rest
one click away in the legend). Every axis has a title with its unit
(:mod:`i4p_sim.stats.labels`).
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from i4p_sim.stats.labels import metric_label

__all__ = [
    "BAND_QUANTILES",
    "MAX_SHOWN",
    "SERIES_COLUMNS",
    "bands",
    "small_multiples_figure",
    "time_series_figure",
]

SERIES_COLUMNS = ("violence_share", "mean_tension", "lpcs_active", "funding_disbursed")
#: Quantiles of the replicate bands (low, median, high).
BAND_QUANTILES = (0.1, 0.5, 0.9)
#: Scenarios drawn at first in the four-measure figure (the rest are in the legend).
MAX_SHOWN = 4
#: Small multiples per row.
PANELS_PER_ROW = 4
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


def bands(series: pd.DataFrame) -> pd.DataFrame:
    """Per scenario and month, the :data:`BAND_QUANTILES` of each series over replicates
    (columns ``<series>_10``, ``<series>_50``, ``<series>_90``), in display units."""
    grouped = series.groupby(["scenario", "step"])[list(SERIES_COLUMNS)]
    q = grouped.quantile(list(BAND_QUANTILES)).unstack(-1)
    q.columns = [f"{m}_{int(p * 100)}" for m, p in q.columns]
    out = q.reset_index()
    for col in SERIES_COLUMNS:
        scale = metric_label(col).scale
        for p in BAND_QUANTILES:
            out[f"{col}_{int(p * 100)}"] *= scale
    return out


def _fill(color: str, alpha: float = 0.15) -> str:
    r, g, b = (int(color[k : k + 2], 16) for k in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def _band_traces(sub: pd.DataFrame, col: str, name: str, color: str, **kw: Any) -> list[Any]:
    x = sub["step"].tolist()
    band = go.Scatter(
        x=x + x[::-1],
        y=sub[f"{col}_90"].tolist() + sub[f"{col}_10"].tolist()[::-1],
        fill="toself",
        fillcolor=_fill(color),
        line={"width": 0},
        hoverinfo="skip",
        legendgroup=name,
        showlegend=False,
        name=f"{name} 10-90%",
        visible=kw.get("visible", True),
    )
    line = go.Scatter(
        x=x,
        y=sub[f"{col}_50"],
        line={"color": color, "width": kw.get("width", 1.6)},
        legendgroup=name,
        showlegend=kw.get("showlegend", False),
        name=name,
        visible=kw.get("visible", True),
    )
    return [band, line]


def time_series_figure(
    bands: pd.DataFrame, order: list[str], ref_step: int, shown: list[str] | None = None
) -> Any:
    """The four per-step measures, 2 x 2; scenarios not in ``shown`` start hidden
    (``legendonly``: click the legend to add them)."""
    shown = list(shown if shown is not None else order[:MAX_SHOWN])
    labels = [metric_label(c) for c in SERIES_COLUMNS]
    fig = make_subplots(
        rows=2,
        cols=2,
        subplot_titles=[lab.label for lab in labels],
        vertical_spacing=0.14,
        horizontal_spacing=0.1,
    )
    for i, name in enumerate(order):
        sub = bands[bands["scenario"] == name]
        if sub.empty:
            continue
        visible = True if name in shown else "legendonly"
        for j, col in enumerate(SERIES_COLUMNS):
            r, c = divmod(j, 2)
            for trace in _band_traces(
                sub,
                col,
                name.replace("_", " "),
                PALETTE[i % len(PALETTE)],
                visible=visible,
                showlegend=j == 0,
            ):
                fig.add_trace(trace, row=r + 1, col=c + 1)
    for j, lab in enumerate(labels):
        r, c = divmod(j, 2)
        fig.add_vline(x=ref_step, line={"dash": "dot", "color": "#888"}, row=r + 1, col=c + 1)
        fig.update_xaxes(title_text="month", row=r + 1, col=c + 1)
        fig.update_yaxes(title_text=lab.unit, row=r + 1, col=c + 1)
    fig.update_layout(
        height=760,
        margin={"t": 60, "l": 60, "r": 20, "b": 50},
        legend={"title": {"text": "scenario (click to show or hide)"}},
    )
    return fig


def small_multiples_figure(
    bands: pd.DataFrame, order: list[str], baseline: str, ref_step: int
) -> Any:
    """Violence per month, one panel per scenario (its median and band) with the baseline's
    median in grey behind it; shared axes, so panels compare at a glance."""
    names = [n for n in order if not bands[bands["scenario"] == n].empty]
    ncols = min(PANELS_PER_ROW, max(1, len(names)))
    nrows = max(1, math.ceil(len(names) / ncols))
    lab = metric_label("violence_share")
    fig = make_subplots(
        rows=nrows,
        cols=ncols,
        subplot_titles=[n.replace("_", " ") for n in names],
        shared_xaxes=True,
        shared_yaxes=True,
        vertical_spacing=min(0.3 / nrows, 0.12),
        horizontal_spacing=0.03,
    )
    base = bands[bands["scenario"] == baseline]
    legend_shown = False
    for k, name in enumerate(names):
        r, c = divmod(k, ncols)
        if len(base) and name != baseline:
            fig.add_trace(
                go.Scatter(
                    x=base["step"],
                    y=base["violence_share_50"],
                    line={"color": "#999", "width": 1},
                    name=f"{baseline.replace('_', ' ')} (baseline)",
                    legendgroup="baseline",
                    showlegend=not legend_shown,
                ),
                row=r + 1,
                col=c + 1,
            )
            legend_shown = True
        sub = bands[bands["scenario"] == name]
        for trace in _band_traces(sub, "violence_share", name.replace("_", " "), PALETTE[0]):
            fig.add_trace(trace, row=r + 1, col=c + 1)
        fig.add_vline(x=ref_step, line={"dash": "dot", "color": "#888"}, row=r + 1, col=c + 1)
        fig.update_xaxes(title_text="month", title_font={"size": 10}, row=r + 1, col=c + 1)
        fig.update_yaxes(title_text="% violent", title_font={"size": 10}, row=r + 1, col=c + 1)
    fig.update_annotations(font_size=12)
    fig.update_layout(
        height=230 * nrows + 80,
        margin={"t": 50, "l": 60, "r": 20, "b": 40},
        title={"text": f"{lab.label} ({lab.unit}), median and 10-90% of replicates"},
    )
    return fig

"""The app's time-series chart: small multiples of the headline measures, with shocks
marked, the baseline twin dashed and, for an ensemble, the median and a 10-90% band.

Pure: takes arrays, returns a plotly figure dict (values as typed arrays).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .figures import typed_array

#: Headline measures on the time series: key -> panel title (with its unit).
HEADLINE = {
    "violence_share": "Violence (share of communities)",
    "mean_tension": "Mean tension (0-1)",
    "mean_cohesion": "Mean cohesion (0-1)",
    "lpcs_active": "LPCs active (count)",
    "council_mandate": "Council mandate (0-1)",
    "funding_disbursed": "Funding disbursed (units / month)",
}
#: The ensemble band: quantiles over replicates.
BAND = (0.10, 0.90)
_COLOURS = {"shocked": "#b2182b", "single": "#2166ac", "baseline": "#555555"}
_FILLS = {"shocked": "rgba(178, 24, 43, 0.18)", "baseline": "rgba(85, 85, 85, 0.15)"}


def summarise(values: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Centre line and band of one measure: (line, low, high).

    Parameters
    ----------
    values : ndarray
        One run's series (1-D) or replicates x steps (2-D).

    Returns
    -------
    tuple
        The series itself and ``None, None`` for one run; the median over replicates and
        the :data:`BAND` quantiles for two or more.
    """
    a = np.asarray(values, dtype=np.float64)
    if a.ndim == 1:
        return a, None, None
    if a.shape[0] == 1:
        return a[0], None, None
    if a.shape[1] == 0:
        return np.zeros(0), np.zeros(0), np.zeros(0)
    low, mid, high = np.quantile(a, [BAND[0], 0.5, BAND[1]], axis=0)
    return mid, low, high


def _traces(
    values: np.ndarray, role: str, label: str, first: bool, axes: dict[str, str], mode: str
) -> list[dict[str, Any]]:
    line, low, high = summarise(values)
    steps = typed_array(np.arange(len(line)))
    out: list[dict[str, Any]] = []
    if low is not None and high is not None:
        n = int(np.asarray(values).shape[0])
        common = {"type": "scatter", "mode": "lines", "x": steps, "hoverinfo": "skip", **axes}
        out.append(
            {
                **common,
                "y": typed_array(low),
                "line": {"width": 0},
                "name": f"{label}: {BAND[0]:.0%}-{BAND[1]:.0%} of {n} replicates",
                "legendgroup": f"{role}-band",
                "showlegend": False,
            }
        )
        out.append(
            {
                **common,
                "y": typed_array(high),
                "line": {"width": 0},
                "fill": "tonexty",
                "fillcolor": _FILLS.get(role, _FILLS["shocked"]),
                "name": f"{label}: {BAND[0]:.0%}-{BAND[1]:.0%} of {n} replicates",
                "legendgroup": f"{role}-band",
                "showlegend": first,
            }
        )
        label = f"{label} (median)"
    colour = _COLOURS[role]
    trace = {
        "type": "scatter",
        "mode": "lines" if role == "baseline" else mode,
        "marker": {"size": 3},
        "name": label,
        "legendgroup": role,
        "showlegend": first,
        "x": steps,
        "y": typed_array(line),
        "line": {"color": colour, "width": 1.2 if role == "baseline" else 1.6},
        **axes,
    }
    if role == "baseline":
        trace["line"]["dash"] = "dash"
    out.append(trace)
    return out


def _shock_lines(
    layout: dict[str, Any],
    suffix: str,
    first: bool,
    markers: Sequence[tuple[int, str]],
    scheduled: Sequence[tuple[int, str]],
) -> None:
    for step, label, style in [(s, lab, "injected") for s, lab in markers] + [
        (s, lab, "scheduled") for s, lab in scheduled
    ]:
        layout["shapes"].append(
            {
                "type": "line",
                "xref": f"x{suffix}",
                "yref": f"y{suffix} domain",
                "x0": step,
                "x1": step,
                "y0": 0,
                "y1": 1,
                "line": {
                    "color": "#d6604d" if style == "injected" else "#888888",
                    "width": 1.2,
                    "dash": "dash" if style == "injected" else "dot",
                },
            }
        )
        if first:
            layout["annotations"].append(
                {
                    "text": label,
                    "xref": "x",
                    "yref": "y domain",
                    "x": step,
                    "y": 0.98,
                    "textangle": -90,
                    "xanchor": "right",
                    "yanchor": "top",
                    "showarrow": False,
                    "font": {"size": 9, "color": "#b2182b"},
                }
            )


def series_figure(
    shocked: dict[str, np.ndarray],
    baseline: dict[str, np.ndarray] | None = None,
    markers: Sequence[tuple[int, str]] = (),
    scheduled: Sequence[tuple[int, str]] = (),
    *,
    height: int = 420,
    revision: Any = 0,
) -> dict[str, Any]:
    """Small multiples of the headline measures, with shocks marked.

    Parameters
    ----------
    shocked : dict of arrays
        The current run's measures by name: one series (index = step) or replicates x
        steps (an ensemble: median and band).
    baseline : dict of arrays, optional
        The baseline twin's, drawn dashed (twin view); same shapes as ``shocked``.
    markers : sequence of (step, label)
        Injected shocks: a red dashed line with the label in every panel.
    scheduled : sequence of (step, label)
        Shocks from the scenario's schedule that have fired: grey dotted lines.
    height : int
        Figure height in pixels.
    revision : Any
        Changes on every reset, so the axes' ranges start afresh.
    """
    names = list(HEADLINE)
    cols, rows = 3, 2
    gap_x, gap_y = 0.06, 0.2
    width = (1.0 - gap_x * (cols - 1)) / cols
    tall = (1.0 - gap_y * (rows - 1)) / rows
    layout: dict[str, Any] = {
        "height": height,
        "margin": {"l": 44, "r": 12, "t": 40, "b": 40},
        "showlegend": baseline is not None or _is_ensemble(shocked),
        "legend": {"orientation": "h", "x": 0.0, "y": 1.16},
        "hovermode": "x unified",
        "annotations": [],
        "shapes": [],
        "uirevision": f"series-{revision}",
    }
    first_values = next(iter(shocked.values())) if shocked else np.zeros(0)
    n = int(np.asarray(first_values).shape[-1])
    mode = "lines+markers" if n < 30 else "lines"  # a lone first point stays visible
    role = "shocked" if baseline is not None else "single"
    label = "with shocks" if baseline is not None else "run"
    data: list[dict[str, Any]] = []
    for i, name in enumerate(names):
        r, c = divmod(i, cols)
        suffix = "" if i == 0 else str(i + 1)
        x0 = c * (width + gap_x)
        y1 = 1.0 - r * (tall + gap_y)
        xaxis: dict[str, Any] = {
            "domain": [x0, x0 + width],
            "anchor": f"y{suffix}",
            "showgrid": True,
            "visible": n > 0,
        }
        if r == rows - 1:
            xaxis["title"] = {"text": "month (step, from 0)", "font": {"size": 11}, "standoff": 2}
        layout[f"xaxis{suffix}"] = xaxis
        layout[f"yaxis{suffix}"] = {
            "domain": [y1 - tall, y1],
            "anchor": f"x{suffix}",
            "visible": n > 0,
        }
        layout["annotations"].append(
            {
                "text": f"<b>{HEADLINE[name]}</b>",
                "xref": "paper",
                "yref": "paper",
                "x": x0,
                "y": y1 + 0.01,
                "xanchor": "left",
                "yanchor": "bottom",
                "showarrow": False,
                "font": {"size": 12},
            }
        )
        if n == 0:  # never empty axes: say what will appear
            layout["annotations"].append(
                {
                    "text": "no months simulated yet:<br>press Step or Play",
                    "xref": "paper",
                    "yref": "paper",
                    "x": x0 + width / 2,
                    "y": y1 - tall / 2,
                    "showarrow": False,
                    "font": {"size": 11, "color": "#777777"},
                }
            )
            continue
        axes = {"xaxis": f"x{suffix}", "yaxis": f"y{suffix}"}
        data += _traces(shocked[name], role, label, i == 0, axes, mode)
        if baseline is not None:
            data += _traces(baseline[name], "baseline", "baseline", i == 0, axes, mode)
        _shock_lines(layout, suffix, i == 0, markers, scheduled)
    return {"data": data, "layout": layout}


def _is_ensemble(series: dict[str, np.ndarray]) -> bool:
    first = next(iter(series.values()), None)
    return first is not None and np.asarray(first).ndim == 2 and np.asarray(first).shape[0] > 1

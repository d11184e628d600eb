"""Pure figure builders for the app: plain plotly figure dicts, lean on the wire.

Heat-map values travel as plotly typed arrays (base64 of float32, ``{"dtype", "bdata",
"shape"}``) rather than JSON lists of float64 text, which keeps a 128 x 128 frame at
about 90 kB and its encoding well under a millisecond. Builders take models (or arrays)
and return dicts; nothing here touches Dash, sessions or global state.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

import numpy as np
from plotly.colors import diverging, sequential

from i4p_sim.sim.model import I4PModel

from .info import LAYER_INFO


def _scale(colours: Sequence[str]) -> list[list[Any]]:
    """An explicit plotly colour scale (light to dark as listed), independent of names."""
    n = len(colours) - 1
    return [[i / n, c] for i, c in enumerate(colours)]


#: Layers the map can show: key -> (menu label, colour scale, fixed range or None).
LAYERS: dict[str, tuple[str, Any, tuple[float, float] | None]] = {
    "tension": ("Tension", _scale(sequential.YlOrRd), (0.0, 1.0)),
    "violence": ("Violence (this step)", [[0.0, "#f3f0e8"], [1.0, "#b2182b"]], (0.0, 1.0)),
    "cohesion": ("Cohesion", _scale(sequential.Viridis), (0.0, 1.0)),
    "grievance": ("Grievance", _scale(sequential.YlOrBr), (0.0, 1.0)),
    "memory": ("Memory of violence", _scale(sequential.Purples), (0.0, 1.0)),
    "group": ("Identity groups", None, None),
    "population": ("Population", _scale(sequential.Greys), None),
    "coverage": ("LPC coverage (mediation strength)", _scale(sequential.Greens), None),
    "sign": (
        "Mediation sign (calms / drives)",
        [
            [0.0, "#762a83"],
            [0.33, "#762a83"],
            [0.33, "#f7f7f7"],
            [0.67, "#f7f7f7"],
            [0.67, "#1b7837"],
            [1.0, "#1b7837"],
        ],
        (-1.5, 1.5),
    ),
}

_GROUP_COLOURS = (
    "#66c2a5",
    "#fc8d62",
    "#8da0cb",
    "#e78ac3",
    "#a6d854",
    "#ffd92f",
    "#e5c494",
    "#b3b3b3",
)
_DIVERGING = _scale(diverging.RdBu_r)  # blue = lower than baseline, red = higher
_ACTIVE, _DORMANT = "#1b7837", "#999999"


def typed_array(values: np.ndarray) -> dict[str, Any]:
    """A plotly typed-array spec (base64 float32) for a 1-D or 2-D array.

    Parameters
    ----------
    values : ndarray
        Numbers; NaN is kept (plotly draws it as a gap).

    Returns
    -------
    dict
        ``{"dtype": "f4", "bdata": ..., "shape": "H, W"}`` (``shape`` only for 2-D).
    """
    a = np.ascontiguousarray(values, dtype="<f4")
    spec: dict[str, Any] = {"dtype": "f4", "bdata": base64.b64encode(a.tobytes()).decode("ascii")}
    if a.ndim == 2:
        spec["shape"] = f"{a.shape[0]}, {a.shape[1]}"
    return spec


def decode_typed(spec: dict[str, Any] | Sequence[float]) -> np.ndarray:
    """Inverse of :func:`typed_array` (also accepts a plain list), for tests and tools."""
    if not isinstance(spec, dict):
        return np.asarray(spec, dtype=np.float64)
    a = np.frombuffer(base64.b64decode(spec["bdata"]), dtype="<f4")
    if "shape" in spec:
        a = a.reshape([int(s) for s in spec["shape"].split(",")])
    return a


def layer_values(model: I4PModel, layer: str) -> np.ndarray:
    """The (H, W) float32 values of a map layer, NaN on uninhabited cells.

    Parameters
    ----------
    model : I4PModel
    layer : str
        A key of :data:`LAYERS`.
    """
    if layer not in LAYERS:
        raise ValueError(f"unknown layer {layer!r}; allowed: {', '.join(LAYERS)}")
    if layer == "coverage":
        values = model.committees.mediation_damping_map()
    elif layer == "sign":
        values = model.committees.mediation_sign_map()
    else:
        values = model.layers[layer]
    out = values.astype(np.float32)
    out[~model.inhabited] = np.nan
    return out


def _layer_style(layer: str, model: I4PModel) -> dict[str, Any]:
    _, scale, fixed = LAYERS[layer]
    if layer == "group":
        k = max(1, model.config.landscape.groups)
        colours = [_GROUP_COLOURS[i % len(_GROUP_COLOURS)] for i in range(k)]
        if k == 1:
            scale = [[0.0, colours[0]], [1.0, colours[0]]]
        else:
            scale = []
            for i, colour in enumerate(colours):
                scale += [[i / k, colour], [(i + 1) / k, colour]]
        return {"colorscale": scale, "zmin": -0.5, "zmax": k - 0.5}
    if fixed is not None:
        return {"colorscale": scale, "zmin": fixed[0], "zmax": fixed[1]}
    if layer == "coverage":
        top = max(model.config.lpc.mediation, 1e-6)
        return {"colorscale": scale, "zmin": 0.0, "zmax": top}
    top = float(np.nanmax(model.layers[layer])) if model.n_inhabited else 1.0
    return {"colorscale": scale, "zmin": 0.0, "zmax": max(top, 1e-6)}


def lpc_trace(model: I4PModel) -> dict[str, Any]:
    """Scatter of the committees: size = capacity, colour = active / dormant, rich hover."""
    tier = model.committees
    n = tier.n
    funding = tier.funding / tier.cfg.cost if n else np.zeros(0)
    custom = np.column_stack(
        [np.arange(n), tier.capacity, tier.ownership, tier.legitimacy, funding]
    ).round(3)
    return {
        "type": "scatter",
        "mode": "markers",
        "name": "LPCs",
        "x": tier.positions[:, 1].tolist(),
        "y": tier.positions[:, 0].tolist(),
        "customdata": custom.tolist(),
        "text": ["active" if a else "dormant" for a in tier.active.tolist()],
        "marker": {
            "size": (5.0 + 13.0 * tier.capacity).round(1).tolist(),
            "color": [_ACTIVE if a else _DORMANT for a in tier.active.tolist()],
            "line": {"color": "white", "width": 1},
            "opacity": 0.9,
        },
        "hovertemplate": (
            "LPC %{customdata[0]} (%{text})<br>row %{y}, col %{x}<br>"
            "capacity %{customdata[1]:.2f}<br>ownership %{customdata[2]:.2f}<br>"
            "legitimacy %{customdata[3]:.2f}<br>funding %{customdata[4]:.2f} of cost"
            "<extra></extra>"
        ),
        "showlegend": False,
    }


def colorbar(layer: str, title: str | None = None) -> dict[str, Any]:
    """The colour bar of a map of ``layer``: titled with the layer's unit (Info panel)."""
    unit = LAYER_INFO.get(layer, ("", ""))[0]
    text = title if title is not None else f"{LAYERS[layer][0]} ({unit})"
    bar: dict[str, Any] = {
        "thickness": 10,
        "len": 0.9,
        "title": {"text": text, "side": "right", "font": {"size": 11}},
    }
    if layer == "sign" and title is None:
        bar.update(tickvals=[-1, 0, 1], ticktext=["drives", "none", "calms"])
    return bar


def _map_layout(
    title: str, shape: tuple[int, int], height: int, revision: Any = 0
) -> dict[str, Any]:
    h, w = shape
    return {
        "title": {"text": title, "x": 0.02, "font": {"size": 14}},
        "margin": {"l": 48, "r": 8, "t": 34, "b": 40},
        "height": height,
        "xaxis": {
            "title": {"text": "column (cell)", "font": {"size": 11}, "standoff": 4},
            "range": [-0.5, w - 0.5],
            "constrain": "domain",
            "showgrid": False,
            "zeroline": False,
        },
        "yaxis": {
            "title": {"text": "row (cell)", "font": {"size": 11}, "standoff": 4},
            "range": [h - 0.5, -0.5],
            "scaleanchor": "x",
            "constrain": "domain",
            "showgrid": False,
            "zeroline": False,
        },
        "plot_bgcolor": "#dcdcdc",
        "uirevision": f"{h}x{w}-{revision}",  # a reset redraws from the full extent
        "clickmode": "event",
    }


def map_figure(
    model: I4PModel,
    layer: str,
    *,
    title: str,
    lpcs: bool = True,
    height: int = 440,
    revision: Any = 0,
) -> dict[str, Any]:
    """Heat map of one layer with the committees drawn on top.

    Parameters
    ----------
    model : I4PModel
    layer : str
        A key of :data:`LAYERS`.
    title : str
    lpcs : bool
        Draw the committees.
    height : int
        Figure height in pixels.
    revision : Any
        Changes on every reset, so zoom and ranges start afresh.

    Returns
    -------
    dict
        A plotly figure (``data``, ``layout``).
    """
    label = LAYERS[layer][0]
    heat = {
        "type": "heatmap",
        "z": typed_array(layer_values(model, layer)),
        "hovertemplate": f"row %{{y}}, col %{{x}}<br>{label} %{{z:.3f}}<extra></extra>",
        "colorbar": colorbar(layer),
        **_layer_style(layer, model),
    }
    data = [heat]
    if lpcs and model.committees.n:
        data.append(lpc_trace(model))
    return {"data": data, "layout": _map_layout(title, model.shape, height, revision)}


def difference(baseline: I4PModel, shocked: I4PModel, layer: str) -> np.ndarray:
    """Shocked minus baseline for one layer (float32, NaN on uninhabited cells)."""
    return layer_values(shocked, layer) - layer_values(baseline, layer)


def difference_figure(
    baseline: I4PModel,
    shocked: I4PModel,
    layer: str,
    *,
    height: int = 440,
    revision: Any = 0,
) -> dict[str, Any]:
    """Diverging heat map of shocked minus baseline, symmetric around zero."""
    diff = difference(baseline, shocked, layer)
    peak = float(np.nanmax(np.abs(diff))) if np.isfinite(diff).any() else 0.0
    top = max(peak, 1e-3)
    label = LAYERS[layer][0]
    heat = {
        "type": "heatmap",
        "z": typed_array(diff),
        "colorscale": _DIVERGING,
        "zmin": -top,
        "zmax": top,
        "zmid": 0.0,
        "colorbar": colorbar(layer, f"{label}: shocked - baseline"),
        "hovertemplate": f"row %{{y}}, col %{{x}}<br>{label} shocked - baseline %{{z:.3f}}"
        "<extra></extra>",
    }
    title = f"Difference (shocked - baseline), max |d| = {peak:.3g}"
    return {"data": [heat], "layout": _map_layout(title, shocked.shape, height, revision)}

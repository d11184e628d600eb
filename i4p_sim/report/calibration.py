"""The calibration report page (``RESULTS/report.html`` of ``i4p calibrate``).

Reads only the calibration's output files (never the model): the implausibility of every
simulated point per target, by wave; the shrinking space (the estimated fraction of the
prior box not ruled out, per wave); a pairs plot of the ensemble; the sensitivity of the
not-ruled-out count to the declared thresholds; the held-out checks. Every axis has a
title. The ensemble is a not-ruled-out set, not a posterior, and the page says so.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

from i4p_sim.report.figures import fig_html
from i4p_sim.report.html import _CSS
from i4p_sim.report.tables import html_table
from i4p_sim.sweep.storage import atomic_write_text

__all__ = ["write_calibration_report"]

#: At most this many parameters in the pairs plot (the first ones of the file).
PAIRS_MAX = 8


def _esc(x: object) -> str:
    return html.escape(str(x))


def implausibility_figure(points: pd.DataFrame, targets: list[str], cutoff: float) -> go.Figure:
    """Implausibility per target of every simulated point, one panel per target, by wave."""
    fig = make_subplots(rows=1, cols=len(targets), subplot_titles=targets, shared_yaxes=True)
    for j, t in enumerate(targets, start=1):
        col = points[f"{t}:I"].clip(upper=20.0)
        fig.add_trace(
            go.Box(
                x=points["wave"].astype(str),
                y=col,
                boxpoints="all",
                jitter=0.4,
                name=t,
                showlegend=False,
            ),
            row=1,
            col=j,
        )
        fig.add_hline(y=cutoff, line_dash="dash", line_color="#b2182b", row=1, col=j)
        fig.update_xaxes(title_text="wave", row=1, col=j)
    fig.update_yaxes(title_text="implausibility (capped at 20)", row=1, col=1)
    fig.update_layout(height=420, margin={"t": 60})
    return fig


def space_figure(waves: pd.DataFrame) -> go.Figure:
    """Estimated fraction of the prior box not ruled out, before and after each wave."""
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=waves["wave"],
            y=100 * waves["space_fraction"],
            mode="lines+markers",
            name="before the wave (its design)",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=waves["wave"],
            y=100 * waves["space_fraction_after"],
            mode="lines+markers",
            name="after the wave (emulators on all points so far)",
        )
    )
    fig.update_xaxes(title_text="wave", dtick=1)
    fig.update_yaxes(title_text="prior box not ruled out (%)", rangemode="tozero")
    fig.update_layout(height=380)
    return fig


def pairs_figure(ensemble: pd.DataFrame, params: list[str], box: dict) -> go.Figure:
    """Pairs plot of the ensemble over its prior box (lower triangle), coloured by wave."""
    params = params[:PAIRS_MAX]
    k = len(params)
    fig = make_subplots(rows=k, cols=k, horizontal_spacing=0.01, vertical_spacing=0.01)
    for i, py in enumerate(params, start=1):
        for j, px in enumerate(params, start=1):
            if j > i:
                continue
            if i == j:
                fig.add_trace(
                    go.Histogram(x=ensemble[px], showlegend=False, marker_color="#1f77b4"),
                    row=i,
                    col=j,
                )
            else:
                fig.add_trace(
                    go.Scatter(
                        x=ensemble[px],
                        y=ensemble[py],
                        mode="markers",
                        marker={"size": 4, "color": ensemble["wave"], "colorscale": "Viridis"},
                        showlegend=False,
                    ),
                    row=i,
                    col=j,
                )
                fig.update_yaxes(range=box.get(py), row=i, col=j)
            fig.update_xaxes(range=box.get(px), row=i, col=j)
            if i == k:
                fig.update_xaxes(title_text=px, title_font={"size": 9}, row=i, col=j)
            if j == 1:
                fig.update_yaxes(
                    title_text=py if i > 1 else f"{py} (count)",
                    title_font={"size": 9},
                    row=i,
                    col=j,
                )
    fig.update_layout(height=max(400, 140 * k), width=max(400, 140 * k), margin={"t": 30})
    return fig


def write_calibration_report(results: str | Path, out: str | Path | None = None) -> Path:
    """Write ``report.html`` of a calibration's results directory."""
    root = Path(results)
    meta = json.loads((root / "calibration.json").read_text(encoding="utf-8"))
    points = pd.read_parquet(root / "points.parquet")
    ensemble = pd.read_parquet(root / "ensemble.parquet")
    waves = pd.read_parquet(root / "waves.parquet")
    sens = pd.read_parquet(root / "sensitivity.parquet")
    held = pd.read_parquet(root / "heldout.parquet")
    targets = [t["name"] for t in meta["targets"]]
    params = list(meta["box"])
    cutoff = float(meta["file"]["cutoff"])
    sizes = meta["sizes"]
    sec = [
        f"<h1>{_esc(meta['calibration'])}: history matching"
        f"{' (quick demonstration)' if meta.get('quick') else ''}</h1>",
        f"<p>{_esc(meta['file'].get('description', ''))}</p>",
        f"<p><b>The ensemble is the set of {len(ensemble)} parameter points not ruled out "
        f"(maximum implausibility &le; {cutoff:g} over the targets), out of {len(points)} "
        "simulated. It is not a posterior: members are not weighted, and how densely they "
        "cover a region reflects the wave designs, not a likelihood.</b></p>",
        f"<p>{sizes['waves']} waves of {sizes['points']} points, {sizes['replicates']} "
        f"replicates per point and scenario; {len(params)} parameters over their prior "
        f"ranges; wall time {meta['wall_s']:.0f} s; git revision "
        f"{_esc(meta.get('git_revision'))}.</p>",
        "<h2>Targets</h2><p class='note'>Implausibility = |target - simulated mean| / "
        "sqrt(var_target + var_discrepancy + var_model); var_target = ((high - low) / 4)^2 "
        "from the published range; var_model = p(1 - p) / units + the Monte Carlo error.</p>"
        + html_table(pd.DataFrame(meta["targets"])),
    ]
    if meta.get("blocked"):
        sec.append(
            "<p>Blocked targets (not matched): "
            + "; ".join(f"<b>{_esc(k)}</b>: {_esc(v)}" for k, v in meta["blocked"].items())
            + "</p>"
        )
    sec += [
        "<h2>Implausibility per target</h2><p class='note'>Every simulated point by wave; "
        "the dashed line is the cut-off. A point above it for any target is ruled out.</p>"
        + fig_html(implausibility_figure(points, targets, cutoff)),
        "<h2>The shrinking space</h2><p class='note'>The share of a fresh Latin hypercube "
        "over the prior box whose emulated maximum implausibility (Gaussian-process "
        "variance included) is below the cut-off.</p>"
        + fig_html(space_figure(waves))
        + html_table(waves),
    ]
    if len(ensemble) and params:
        sec.append(
            "<h2>The ensemble (pairs plot)</h2><p class='note'>Each not-ruled-out point, "
            "coloured by wave, over the prior box; diagonal: counts per parameter.</p>"
            + fig_html(pairs_figure(ensemble, params, meta["box"]))
        )
    else:
        sec.append("<h2>The ensemble</h2><p>Every simulated point is ruled out.</p>")
    sec += [
        "<h2>Sensitivity to the declared thresholds</h2><p class='note'>Points not ruled "
        "out when one threshold, declared in experiments/targets.toml before wave 1, takes "
        "another value (the others as declared).</p>" + html_table(sens),
        "<h2>Held-out targets (checked after the last wave)</h2>" + html_table(held),
    ]
    page = (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{_esc(meta['calibration'])} - calibration</title><style>{_CSS}</style>"
        f"<script type='text/javascript'>{get_plotlyjs()}</script></head><body>"
        + "\n".join(sec)
        + "</body></html>"
    )
    return atomic_write_text(Path(out) if out is not None else root / "report.html", page)

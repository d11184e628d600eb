"""The report's "Scenario discovery" section, drawn from ``discover.json``.

``i4p discover`` writes ``discover.json`` into the results directory
(:mod:`i4p_sim.stats.discovery`); when the file is there the report shows the
coverage-density trade-off of the PRIM trajectory (the chosen box marked), the chosen box
with a quasi-p-value per restriction, every box of the trajectory with its restrictions,
and the classification tree's leaves. Nothing is recomputed here.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from i4p_sim.report.figures import fig_html
from i4p_sim.report.tables import html_table
from i4p_sim.stats.discovery import DISCOVER_FILE
from i4p_sim.stats.labels import param_label

__all__ = ["discovery_section", "tradeoff_figure"]


def _g(v: float) -> str:
    return f"{v:.4g}"


def _limits(restricted: dict[str, list[float]]) -> str:
    return "; ".join(f"{p} in [{_g(lo)}, {_g(hi)}]" for p, (lo, hi) in restricted.items()) or "-"


def tradeoff_figure(rec: dict[str, Any]) -> Any:
    """Density against coverage along the peeling and pasting trajectory; the colour is
    the number of restricted parameters, the chosen box is ringed."""
    traj = pd.DataFrame(rec["trajectory"])
    nres = traj["restricted"].map(len)
    hover = [
        f"box {t['box']} ({t['phase']})<br>coverage {t['coverage']:.2f}, density "
        f"{t['density']:.2f}, {t['n']} points<br>{_limits(t['restricted'])}"
        for t in rec["trajectory"]
    ]
    fig = go.Figure(
        go.Scatter(
            x=traj["coverage"],
            y=traj["density"],
            mode="lines+markers",
            line={"color": "#bbbbbb"},
            marker={
                "size": 9,
                "color": nres,
                "colorscale": "Viridis",
                "colorbar": {"title": {"text": "restricted<br>parameters"}},
            },
            text=hover,
            hoverinfo="text",
            name="trajectory",
        )
    )
    chosen = rec["trajectory"][rec["chosen"]]
    fig.add_trace(
        go.Scatter(
            x=[chosen["coverage"]],
            y=[chosen["density"]],
            mode="markers",
            marker={"size": 18, "color": "rgba(0,0,0,0)", "line": {"width": 2, "color": "black"}},
            name=f"chosen box {rec['chosen']}",
            hoverinfo="skip",
        )
    )
    fig.update_layout(
        title={"text": "Coverage-density trade-off of the PRIM boxes"},
        xaxis={
            "title": {"text": "coverage (share of the cases of interest inside the box)"},
            "range": [-0.02, 1.05],
        },
        yaxis={
            "title": {"text": "density (share of the box's points that are cases)"},
            "range": [-0.02, 1.05],
        },
        height=440,
        margin={"t": 60, "l": 70, "r": 20, "b": 50},
        showlegend=False,
    )
    return fig


def _read(root: Path) -> dict[str, Any] | None:
    path = root / DISCOVER_FILE
    if not path.exists():
        return None
    try:
        rec = json.loads(path.read_text(encoding="utf-8"))
        rec["trajectory"], rec["box"], rec["chosen"]  # noqa: B018 - the keys drawn here
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    return rec


def discovery_section(root: str | Path, runs_ok: int) -> str:
    """The section's HTML, or ``""`` when the results directory has no ``discover.json``.

    ``runs_ok`` is the number of ok runs now; a discovery made on a different number is
    flagged as stale.
    """
    rec = _read(Path(root))
    if rec is None:
        return ""
    if not rec:
        return (
            f"<h2>Scenario discovery</h2><p class='note'>{DISCOVER_FILE} is unreadable; rerun "
            "<code>i4p discover</code>.</p>"
        )
    esc = html.escape
    op = ">" if rec["direction"] == "above" else "<"
    box = rec["box"]
    stale = ""
    if rec.get("runs_ok") not in (None, runs_ok):
        stale = (
            f" <b>It was computed on {rec['runs_ok']} ok runs; the results now hold "
            f"{runs_ok}: rerun <code>i4p discover</code>.</b>"
        )
    intro = (
        "<h2>Scenario discovery</h2><p class='note'>Where in the parameter space is "
        f"<i>{esc(rec['label'])} {op} {_g(rec['threshold'])}</i>? Each design point is one "
        f"case: the {esc(rec['aggregation'])}. {rec['cases']} of {rec['points']} design "
        "points are cases of interest. PRIM (Friedman &amp; Fisher 1999) peels the box "
        "holding every point, a few points at a time, towards the cases (coverage falls, "
        "density rises), then pastes back what raises the density; each restriction's "
        "quasi-p-value (Bryant &amp; Lempert 2010) is the one-sided binomial test of the "
        "density it adds: small means it does work, large means it is noise. From "
        f"<code>i4p discover --metric {esc(rec['metric'])} --{rec['direction']} "
        f"{_g(rec['threshold'])}</code>.{stale}</p>"
    )
    rows = [
        {
            "parameter": param_label(r["param"]),
            "path": r["param"],
            "box": f"[{_g(r['lo'])}, {_g(r['hi'])}]",
            "sampled range": f"[{_g(r['range'][0])}, {_g(r['range'][1])}]",
            "quasi-p": f"{r['quasi_p']:.2g}",
            "density without it": r["density_without"],
            "coverage without it": r["coverage_without"],
        }
        for r in box["restrictions"]
    ]
    chosen = (
        f"<p>The chosen box (box {rec['chosen']}, {esc(rec['rule'])}): coverage "
        f"{box['coverage']:.2f} ({box['k']} of {rec['cases']} cases), density "
        f"{box['density']:.2f} ({box['k']} of {box['n']} points).</p>"
        + (html_table(pd.DataFrame(rows)) if rows else "<p>No restriction.</p>")
    )
    traj = pd.DataFrame(
        [
            {
                "box": t["box"],
                "phase": t["phase"],
                "coverage": t["coverage"],
                "density": t["density"],
                "points": t["n"],
                "restrictions": _limits(t["restricted"]),
            }
            for t in rec["trajectory"]
        ]
    )
    boxes = "<p class='note'>Every box of the trajectory:</p>" + html_table(traj)
    leaves = (rec.get("tree") or {}).get("leaves")
    tree = ""
    if leaves:
        tree = (
            "<p class='note'>A second view: the leaves of a classification tree (depth at "
            f"most {rec['tree']['max_depth']}, scikit-learn) over the same points, densest "
            "first.</p>"
            + html_table(
                pd.DataFrame(
                    [
                        {
                            "rule": " and ".join(
                                f"{p} {o} {_g(v)}" for p, o, v in leaf["conditions"]
                            )
                            or "(all points)",
                            "points": leaf["n"],
                            "cases": leaf["k"],
                            "density": leaf["density"],
                            "predicted": "case of interest" if leaf["predicted"] else "-",
                        }
                        for leaf in leaves
                    ]
                )
            )
        )
    return intro + fig_html(tradeoff_figure(rec)) + chosen + boxes + _more_boxes(rec) + tree


def _more_boxes(rec: dict[str, Any]) -> str:
    """The later boxes of ``i4p discover --boxes K``, one row per restriction."""
    more = rec.get("more_boxes") or []
    if int(rec.get("boxes_asked") or 1) == 1:
        return ""
    rows = []
    for j, extra in enumerate(more, start=2):
        box = extra["box"]
        for r in box["restrictions"] or [{}]:
            rows.append(
                {
                    "box": j,
                    "on the points left": f"{extra['points']} ({extra['cases']} cases)",
                    "coverage (of all cases)": f"{box['coverage']:.2f} ({box['coverage_all']:.2f})",
                    "density": box["density"],
                    "parameter": param_label(r["param"]) if r else "-",
                    "box limits": f"[{_g(r['lo'])}, {_g(r['hi'])}]" if r else "-",
                    "quasi-p": f"{r['quasi_p']:.2g}" if r else "-",
                }
            )
    stop = rec.get("boxes_stop") or ""
    return (
        f"<p class='note'>More boxes (<code>--boxes {rec['boxes_asked']}</code>): after "
        "each box, the points in it are set aside and PRIM runs again on the rest, for the "
        "cases the boxes before miss; coverage and density are of the points each box ran "
        "on."
        + (f" No further box: {html.escape(stop)}." if stop else "")
        + "</p>"
        + (html_table(pd.DataFrame(rows)) if rows else "")
    )

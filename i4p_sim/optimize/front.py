"""The Pareto front of a search: Parquet, a report page (plotly, offline) and plain words.

The front is the set of trials no other trial beats on both told objectives (bad-case
excess violence and mean money) while being at least as good on both.
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import pandas as pd

from i4p_sim.optimize.config import Search
from i4p_sim.sweep.storage import atomic_write_bytes, atomic_write_parquet

__all__ = ["describe", "pareto_front", "write_outputs"]

OBJECTIVES = ("excess_q", "money_mean")


def pareto_front(table: pd.DataFrame) -> pd.DataFrame:
    """Non-dominated trials on :data:`OBJECTIVES` (minimised), sorted by money."""
    x = table[list(OBJECTIVES)].to_numpy(float)
    keep = []
    for i in range(len(x)):
        dominated = np.any(np.all(x <= x[i], axis=1) & np.any(x < x[i], axis=1))
        keep.append(not dominated)
    front = table[np.array(keep, dtype=bool)]
    return front.sort_values(["money_mean", "excess_q", "trial"]).reset_index(drop=True)


def describe(row: pd.Series, q: float) -> str:
    """One exit in plain words."""
    pct = round(100 * q)
    return (
        f"trial {int(row['trial'])}: phase out over {int(row['ramp'])} months starting at "
        f"month {int(row['exit_start'])} with {100 * row['lpc_share']:.0f}% to committees, "
        f"{row['density']:.1f} committees per 1,000 inhabited cells sited by "
        f"{row['placement']}, domestic co-funding {row['domestic_budget']:.2f} a month per "
        f"1,000 cells: excess violence {row['excess_mean']:.3g} [q{pct} "
        f"{row['excess_q']:.3g}], cost {row['money_mean']:.4g} [q{pct} {row['money_q']:.4g}]"
    )


def best_exits(front: pd.DataFrame, q: float) -> list[str]:
    """The front's cheapest, least violent and a middle exit, in plain words."""
    if front.empty:
        return []
    picks = {
        "cheapest": front.sort_values(["money_mean", "trial"]).iloc[0],
        "least bad-case excess violence": front.sort_values(["excess_q", "trial"]).iloc[0],
    }
    if len(front) > 2:
        picks["a middle way"] = front.iloc[len(front) // 2]
    return [f"{label}: {describe(row, q)}" for label, row in picks.items()]


def _figure(search: Search, table: pd.DataFrame, front: pd.DataFrame) -> str:
    import plotly.graph_objects as go

    pct = round(100 * search.config.quantile)
    over = "replicates" if len(search.members) == 1 else "ensemble members x replicates"
    fig = go.Figure()
    for data, name, size in ((table, "all trials", 7), (front, "Pareto front", 11)):
        fig.add_trace(
            go.Scatter(
                x=data["money_mean"],
                y=data["excess_q"],
                mode="markers" if name == "all trials" else "markers+lines",
                name=name,
                marker={"size": size},
                text=[describe(r, search.config.quantile) for _, r in data.iterrows()],
                hoverinfo="text",
            )
        )
    fig.update_layout(
        title=f"Exit-strategy search {search.config.name}: {len(table)} trials",
        xaxis_title=f"money: donor funding spent + domestic co-funding (mean over {over})",
        yaxis_title=f"excess violence vs steady funding (q{pct} over {over})",
    )
    return fig.to_html(include_plotlyjs=True, full_html=False)


def write_outputs(search: Search, root: Path, table: pd.DataFrame, front: pd.DataFrame) -> None:
    """``trials.parquet``, ``front.parquet`` and ``report.html`` in ``root``."""
    atomic_write_parquet(root / "trials.parquet", table)
    atomic_write_parquet(root / "front.parquet", front)
    q = search.config.quantile
    words = "".join(f"<li>{html.escape(line)}</li>" for line in best_exits(front, q))
    page = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(search.config.name)}</title></head><body>"
        f"<h1>Exit-strategy search: {html.escape(search.config.name)}</h1>"
        f"<p>{html.escape(search.config.description)}</p>"
        f"<p>{len(table)} trials of {search.config.replicates} replicates each; "
        f"{len(front)} on the Pareto front.</p><ul>{words}</ul>"
        f"{_figure(search, table, front)}"
        f"{front.to_html(index=False, float_format=lambda v: f'{v:.4g}')}"
        "</body></html>"
    )
    atomic_write_bytes(root / "report.html", page.encode("utf-8"))

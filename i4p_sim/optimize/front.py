"""The Pareto front of a search: Parquet, a report page (plotly, offline) and plain words.

The front is the set of trials no other trial beats on both told objectives (bad-case
excess violence and mean money) while being at least as good on both. The page is built
from what the search stores (``trials.parquet``, ``front.parquet`` and ``search.json``, the
few facts of the search file it names), so ``i4p report RESULTS`` rewrites it without the
search file (:func:`write_page`); it links each batch's sweep report where one exists (and
each batch's sweep report links back to it: :mod:`i4p_sim.report.html`).
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from i4p_sim.config.errors import ConfigError
from i4p_sim.optimize.config import Search
from i4p_sim.sweep.storage import atomic_write_bytes, atomic_write_parquet, atomic_write_text

__all__ = [
    "describe",
    "pareto_front",
    "write_outputs",
    "write_page",
]

OBJECTIVES = ("excess_q", "money_mean")
#: The facts of the search file the page names, stored beside the front.
META_FILE = "search.json"


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


def _figure(meta: dict[str, Any], table: pd.DataFrame, front: pd.DataFrame) -> str:
    import plotly.graph_objects as go

    q = float(meta["quantile"])
    pct = round(100 * q)
    over = "replicates" if int(meta.get("members", 1)) == 1 else "ensemble members x replicates"
    fig = go.Figure()
    for data, name, size in ((table, "all trials", 7), (front, "Pareto front", 11)):
        fig.add_trace(
            go.Scatter(
                x=data["money_mean"],
                y=data["excess_q"],
                mode="markers" if name == "all trials" else "markers+lines",
                name=name,
                marker={"size": size},
                text=[describe(r, q) for _, r in data.iterrows()],
                hoverinfo="text",
            )
        )
    fig.update_layout(
        title=f"Exit-strategy search {meta['name']}: {len(table)} trials",
        xaxis_title=f"money: donor funding spent + domestic co-funding (mean over {over})",
        yaxis_title=f"excess violence vs steady funding (q{pct} over {over})",
    )
    return fig.to_html(include_plotlyjs=True, full_html=False)


def _meta(search: Search) -> dict[str, Any]:
    cfg = search.config
    return {
        "name": cfg.name,
        "description": cfg.description,
        "source": search.source,
        "replicates": cfg.replicates,
        "members": len(search.members),
        "quantile": cfg.quantile,
    }


def _batch_links(root: Path) -> str:
    """Links to the batches' sweep reports that exist, and how to write the others."""
    batches = sorted(
        (p for p in root.glob("batch_*") if p.is_dir() and p.name[6:].isdigit()),
        key=lambda p: int(p.name[6:]),
    )
    if not batches:
        return ""
    links = [
        f"<a href='{b.name}/report.html'>{b.name}</a>"
        for b in batches
        if (b / "report.html").is_file()
    ]
    shown = f" Sweep reports: {', '.join(links)}." if links else ""
    return (
        f"<p>Each batch of trials is a sweep in <code>batch_K/</code> ({len(batches)} "
        f"here); <code>i4p report RESULTS/batch_K</code> writes its sweep report (every "
        f"run of the batch against its steady twin).{shown}</p>"
    )


def _page(meta: dict[str, Any], root: Path, table: pd.DataFrame, front: pd.DataFrame) -> str:
    q = float(meta["quantile"])
    words = "".join(f"<li>{html.escape(line)}</li>" for line in best_exits(front, q))
    name = html.escape(str(meta["name"]))
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{name}</title></head><body>"
        f"<h1>Exit-strategy search: {name}</h1>"
        f"<p>{html.escape(str(meta.get('description', '')))}</p>"
        f"<p>{len(table)} trials of {meta['replicates']} replicates each; "
        f"{len(front)} on the Pareto front.</p><ul>{words}</ul>"
        f"{_figure(meta, table, front)}"
        f"{front.to_html(index=False, float_format=lambda v: f'{v:.4g}')}"
        f"{_batch_links(root)}"
        "</body></html>"
    )


def write_outputs(search: Search, root: Path, table: pd.DataFrame, front: pd.DataFrame) -> None:
    """``trials.parquet``, ``front.parquet``, ``search.json`` and ``report.html`` in ``root``."""
    atomic_write_parquet(root / "trials.parquet", table)
    atomic_write_parquet(root / "front.parquet", front)
    meta = _meta(search)
    atomic_write_text(root / META_FILE, json.dumps(meta, indent=2) + "\n")
    atomic_write_bytes(root / "report.html", _page(meta, root, table, front).encode("utf-8"))


def write_page(root: Path, out: str | Path | None = None) -> Path:
    """Rewrite a search's Pareto front page from its stored files (``i4p report``).

    Raises
    ------
    ConfigError
        One line: ``search.json`` or a Parquet file missing or unreadable.
    """
    try:
        meta = json.loads((root / META_FILE).read_text(encoding="utf-8"))
        table = pd.read_parquet(root / "trials.parquet")
        front = pd.read_parquet(root / "front.parquet")
    except FileNotFoundError as exc:
        raise ConfigError(
            str(root),
            Path(str(exc.filename)).name,
            "not found; rerun the same 'i4p optimize SEARCH --out' command (it recomputes "
            "no stored run) to write it",
        ) from None
    except (OSError, ValueError) as exc:  # torn JSON or Parquet
        raise ConfigError(str(root), "", f"unreadable search results: {exc}") from None
    target = Path(out) if out is not None else root / "report.html"
    atomic_write_bytes(target, _page(meta, root, table, front).encode("utf-8"))
    return target

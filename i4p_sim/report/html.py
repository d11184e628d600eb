"""The self-contained HTML report of a sweep (plotly, works offline).

``write_report(results_dir)`` reads ``runs.parquet``, ``manifest.json``, the per-step
series and the stored spatial snapshots of a sweep (through :mod:`i4p_sim.sweep.store`)
and writes one HTML file with plotly.js embedded inline (no CDN):

- a headline that states the answers in sentences with numbers (:mod:`.headline`): each
  variant against steady funding and the contrasts between variants, with ratios,
  intervals and how often each way over the replicates;
- what was compared (scenarios, replicates, seeds, reference step) in plain language;
- time series with replicate bands (median and 10-90% band): small multiples of violence
  per scenario and the four per-step measures with a selection (:mod:`.series`);
- a forest plot of paired effects against the baseline (each parameter point separately);
- a dose-response plot per parameter axis;
- the metrics table (mean per scenario) and each shocked variant against its twin, with
  censored recovery marked as such;
- the grassroots x top-down interaction(s) when the experiment declares them, and
  violence prevented per block of funding units;
- heat maps of tension and violence of one replicate at the experiment's heat-map steps,
  read from the snapshots the sweep stored (the model is never run here);
- scenario discovery (:mod:`.discovery`), when ``i4p discover`` has written
  ``discover.json``: the coverage-density trade-off and the boxes;
- real maps, when the manifest records them: each scenario's CRS and cells and its
  regional councils by name;
- the manifest;
- in a batch of an exit-strategy search (``i4p optimize``'s ``RESULTS/batch_K``), a link
  to the search's Pareto front page.

Metric names and units are the plain ones of :mod:`i4p_sim.stats.labels`; every interval
uses the resampling of ``i4p compare`` (:mod:`i4p_sim.stats.contrasts`). This package never
imports :mod:`i4p_sim.sim`.
"""

from __future__ import annotations

import html
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from plotly.offline import get_plotlyjs

from i4p_sim.config.errors import ConfigError
from i4p_sim.report.discovery import discovery_section
from i4p_sim.report.figures import (
    dose_response_figure,
    fig_html,
    forest_figure,
    heatmap_figure,
)
from i4p_sim.report.headline import HEADLINE_METRIC, headline_section
from i4p_sim.report.series import (
    SERIES_COLUMNS,
    bands,
    small_multiples_figure,
    time_series_figure,
)
from i4p_sim.report.tables import (
    contrasts_frame,
    effects_frame,
    funding_frame,
    html_table,
    interactions_frame,
    metrics_frame,
    twin_frame,
)
from i4p_sim.stats.contrasts import (
    N_RESAMPLES,
    contrasts_table,
    dose_response_table,
    effects_by_point,
    param_columns,
)
from i4p_sim.stats.labels import metric_label, param_label
from i4p_sim.stats.metrics import SUMMARY_KEYS
from i4p_sim.stats.resilience import read_paired, with_paired
from i4p_sim.stats.tables import (
    experiment_runs,
    funding_table,
    interactions_table,
    paired_summary_table,
)
from i4p_sim.sweep.storage import atomic_write_text
from i4p_sim.sweep.store import read_manifest, read_runs, read_series, read_snapshots

__all__ = ["write_report"]

FOREST_METRICS = ("cumulative_violence", "resilience_loss", "peak_violence", "lpcs_surviving")
#: Scenarios whose heat maps are shown (the baseline and the one that differs most).
MAX_HEATMAP_SCENARIOS = 2
#: The summary window when a manifest does not name one.
DEFAULT_WINDOW = 12

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1200px;
margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.6em}h2{margin-top:2em;border-bottom:1px solid #ddd;padding-bottom:.2em}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}
td,th{border:1px solid #ddd;padding:.25em .5em;text-align:right}
th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}
.note{color:#555;font-size:.92em}td.t{text-align:left}summary{cursor:pointer;color:#1f5fa8}pre{background:#f7f7f7;padding:1em;overflow:auto;font-size:.8em}
"""


def _esc(x: Any) -> str:
    return html.escape(str(x))


def _read_series(root: Path, run_ids: list[str]) -> pd.DataFrame:
    series_dir = root / "series"
    parts = sorted(series_dir.glob("part-*.parquet")) if series_dir.exists() else []
    if not parts or not run_ids:
        return pd.DataFrame(columns=["run_id", "scenario", "step", *SERIES_COLUMNS])
    try:
        return read_series(root, ["run_id", "scenario", "step", *SERIES_COLUMNS], run_ids)
    except Exception as exc:  # noqa: BLE001 - a torn chunk (ArrowInvalid, OSError)
        raise ConfigError(
            str(series_dir),
            "",
            f"unreadable chunk ({' '.join(str(exc).split())[:120]}); rerun the same "
            "'i4p sweep': it moves torn chunks to quarantine/ and redoes their runs",
        ) from None


def _heatmaps(
    root: Path,
    config: dict[str, Any],
    runs: pd.DataFrame,
    scenarios: list[str],
    max_shown: int = MAX_HEATMAP_SCENARIOS,
) -> tuple[str, str]:
    """Heat maps of one replicate of up to ``max_shown`` scenarios from the stored
    snapshots; return (figure html, explanatory text).

    The replicate is the baseline replicate whose cumulative violence is closest to the
    median when its snapshots are stored, else the first replicate that has them.
    """
    baseline = config.get("baseline")
    ok = runs[(runs["status"] == "ok") & (runs["point"] == 0)]
    base_rows = ok[ok["scenario"] == baseline]
    if base_rows.empty:
        return "", "No successful baseline run; no heat maps."
    med = base_rows["cumulative_violence"].median()
    median_rep = int(
        base_rows.iloc[int(np.argmin(np.abs(base_rows["cumulative_violence"] - med)))]["replicate"]
    )
    shown = [s for s in scenarios[:max_shown] if s in set(ok["scenario"])]
    candidates = [median_rep] + sorted(set(ok["replicate"]) - {median_rep})
    for replicate in candidates:
        rows = ok[(ok["replicate"] == replicate) & ok["scenario"].isin(shown)]
        grids = {
            str(r.scenario): read_snapshots(root, str(r.run_id))
            for r in rows.itertuples(index=False)
        }
        grids = {name: grids[name] for name in shown if grids.get(name)}
        if grids:
            break
    else:
        return "", "The sweep stored no snapshots; no heat maps."
    seed = int(ok.loc[ok["replicate"] == replicate, "seed"].iloc[0])
    why = (
        "the baseline replicate whose total violence is closest to the median"
        if replicate == median_rep
        else f"the first replicate with stored snapshots (the median one, {median_rep}, "
        "has none: see snapshot_replicates)"
    )
    text = (
        f"Replicate {replicate} (seed {seed}) is {why}; its maps were stored by the sweep "
        f"after the months shown. Tension runs from 0 (calm) to 1; violence marks the "
        f"communities with a violent event in that month."
    )
    return fig_html(heatmap_figure(grids)), text


def _intro(name: str, config: dict[str, Any], runs: pd.DataFrame, order: list[str]) -> str:
    """What was compared, in plain language, with the table of variants."""
    ok = runs[runs["status"] == "ok"]
    baseline = config.get("baseline") or (order[0] if order else "")
    descriptions = config.get("descriptions") or {}
    n_rep = int(ok["replicate"].nunique()) if len(ok) else 0
    n_points = int(runs["point"].nunique()) if "point" in runs and len(runs) else 1
    n_failed = int((runs["status"] == "failed").sum())
    desc_rows = "".join(
        f"<tr><td>{_esc(s.replace('_', ' '))}{' (baseline)' if s == baseline else ''}</td>"
        f"<td style='text-align:left'>{_esc(descriptions.get(s, ''))}</td></tr>"
        for s in order
    )
    params = param_columns(runs)
    ref_step = int(config.get("reference_step", 0))
    return (
        "<h2>What was compared</h2>"
        f"<p>This report compares {len(order)} variants of the i4p-sim agent-based model of "
        f"Infrastructures for Peace (local peace committees, a national peace council and "
        f"external donors on a grid of communities; one step is one month). Each variant "
        f"ran {n_rep} replicates{f' at {n_points} parameter points' if n_points > 1 else ''}"
        f" of {config.get('steps', '?')} months. <b>Common random numbers</b>: replicate "
        f"<i>i</i> of every variant uses the same seed, so it shares the same landscape and "
        f"the same random draws until the variants' dynamics differ; each comparison is a "
        f"paired difference per replicate, and intervals are 95% bootstrap intervals over "
        f"the pairs ({N_RESAMPLES} resamples, the same as <code>i4p compare</code>). "
        f"Resilience is measured from the common reference month <b>{ref_step}</b> (dotted "
        f"line in the plots). Money is counted in funding units: one unit is a peace "
        f"committee's running cost for a month. {len(ok)} runs succeeded, {n_failed} failed."
        "</p>"
        + (
            "<p>Parameters varied: "
            + _esc(", ".join(f"{param_label(p)} ({p})" for p in params))
            + ".</p>"
            if params
            else ""
        )
        + f"<table><tr><th>variant</th><th>what it is</th></tr>{desc_rows}</table>"
    )


def _effects_section(
    runs: pd.DataFrame, baseline: str, order: list[str], n_points: int
) -> tuple[str, pd.DataFrame]:
    effects = effects_by_point(runs, baseline, list(FOREST_METRICS), order=order)
    if effects.empty:
        return "", effects
    base = baseline.replace("_", " ")
    note = (
        f"<p class='note'>Mean paired difference (variant minus {_esc(base)}) per "
        f"replicate with its 95% bootstrap interval. Right of the dotted zero line means "
        f"more than the baseline. Variants identical by construction show exactly 0 with a "
        f"zero-width interval.</p>"
    )
    if n_points > 1:
        params = param_columns(runs)
        frame = effects_frame(effects)
        for k, p in enumerate(params):
            frame.insert(1 + k, param_label(p), effects[p].to_numpy())
        return (
            f"<h2>Paired effects against {_esc(base)}, at each parameter point</h2>{note}"
            "<p class='note'>Each parameter point separately (never pooled); the "
            "dose-response plots below draw the same along each axis.</p>" + html_table(frame),
            effects,
        )
    return (
        f"<h2>Paired effects against {_esc(base)}</h2>{note}"
        + fig_html(forest_figure(effects, list(FOREST_METRICS), order[1:] or order))
        + html_table(effects_frame(effects)),
        effects,
    )


def _dose_section(runs: pd.DataFrame, baseline: str, order: list[str]) -> str:
    ok = runs[runs["status"] == "ok"]
    parts = []
    for param in param_columns(runs):
        if ok[param].nunique() < 2:
            continue
        table = dose_response_table(runs, param, HEADLINE_METRIC, baseline=baseline, order=order)
        if table.empty:
            continue
        parts.append(fig_html(dose_response_figure(table, param, HEADLINE_METRIC)))
    if not parts:
        return ""
    return (
        "<h2>Dose-response along each parameter axis</h2><p class='note'>For each value "
        "of a varied parameter: the mean over the runs at that value (all points with it) "
        "and its 95% bootstrap interval, one line per variant.</p>" + "".join(parts)
    )


def _twin_section(paired: pd.DataFrame, order: list[str]) -> str:
    ptab = paired_summary_table(paired, order=order)
    if ptab.empty:
        return ""
    return (
        "<h2>Against the twin: excess violence and recovery</h2><p class='note'>Each "
        "shocked variant against its twin (the same variant, same seeds, shocks removed: "
        "steady funding): the signed excess violence from the reference month with its 95% "
        "bootstrap interval, the same counting only the months above the twin, and "
        "recovery: the months until the moving average of violence stays within the noise "
        "band of the twin's to the end. A run that never came back is <b>censored</b>: its "
        "recovery time is unknown, so it is reported as the number of runs recovered and a "
        "restricted mean (censored runs counted as the months observed), never as a plain "
        "effect. The noise band is the width that 95% of null pairs (the twin and a copy "
        "with its random draws re-seeded at the reference month) stay within.</p>"
        + html_table(twin_frame(ptab))
    )


def _funding_section(runs: pd.DataFrame, baseline: str) -> str:
    ftab = funding_table(runs, baseline, by_point=True)  # never pooled over axis points
    if ftab.empty:
        return ""
    frame, block = funding_frame(ftab)
    return (
        "<h2>Violence prevented by funding</h2><p class='note'>For each variant that "
        f"spends less than the baseline <b>{_esc(baseline.replace('_', ' '))}</b>: how "
        "much less violence the baseline had, for each "
        f"{block:,} funding units of the baseline's extra funding (total violence in "
        "violent months per 1,000 communities; paired over replicates, with a 95% "
        "bootstrap interval). A positive value means the extra funding came with less "
        "violence; a value below zero means it came with more.</p>" + html_table(frame)
    )


def _maps_section(manifest: dict[str, Any]) -> str:
    """The real maps of a sweep (the manifest's ``maps``): CRS, cells and named regions."""
    maps = manifest.get("maps") or {}
    if not isinstance(maps, dict) or not maps:
        return ""
    items = []
    for name, geo in maps.items():
        if not isinstance(geo, dict):
            continue
        regions = geo.get("regions") or []
        councils = (
            f"; {len(regions)} regional councils, one per region of the region map: "
            + ", ".join(f"{r.get('name')} ({r.get('id')})" for r in regions)
            if regions
            else ""
        )
        items.append(
            f"<li><b>{_esc(name)}</b>: {_esc(geo.get('height'))} x {_esc(geo.get('width'))} "
            f"cells of {_esc(geo.get('cell_km'))} km in {_esc(geo.get('crs'))}"
            f"{_esc(councils)}</li>"
        )
    return (
        "<h2>Maps</h2><p class='note'>Scenarios on real maps: the grid's georeference "
        "(GeoTIFF layers of each point are under maps/ beside this file) and the regional "
        "councils, named as the region map names them (id in brackets).</p><ul>"
        + "".join(items)
        + "</ul>"
    )


def _search_link(root: Path, target: Path) -> str:
    """A batch of an exit-strategy search (``RESULTS/batch_K`` of ``i4p optimize``) links
    the search's Pareto front page (``RESULTS/report.html``) where it exists."""
    parent = root.resolve().parent
    if not (root.name.startswith("batch_") and root.name[6:].isdigit()):
        return ""
    page = parent / "report.html"
    if not (page.is_file() and (parent / "front.parquet").is_file()):
        return ""
    href = os.path.relpath(page, target.resolve().parent)
    return (
        f"<p class='note'>This sweep is batch {int(root.name[6:])} of the exit-strategy "
        f"search in {_esc(parent.name)}/: the search's Pareto front of excess violence and "
        f"money, and its best exits in plain words, are on "
        f"<a href='{_esc(href)}'>its own page</a>.</p>"
    )


def _manifest_section(manifest: dict[str, Any]) -> str:
    slim = dict(manifest)
    slim_config = dict(slim.get("config") or {})
    if "scenarios" in slim_config:
        slim_config["scenarios"] = {
            k: "(resolved scenario; see manifest.json)" for k in slim_config["scenarios"]
        }
    if len(slim_config.get("points", [])) > 20:
        slim_config["points"] = f"{len(slim_config['points'])} points (see manifest.json)"
    slim["config"] = slim_config
    return (
        "<h2>Manifest</h2><p class='note'>Package versions, git revision, the resolved "
        "configuration and its hash, and timings; the full resolved scenarios are in "
        "manifest.json beside this file.</p><details><summary>show</summary><pre>"
        + _esc(json.dumps(slim, indent=2, default=str))
        + "</pre></details>"
    )


def write_report(results: str | Path, out: str | Path | None = None) -> Path:
    """Write the HTML report of a sweep.

    Parameters
    ----------
    results : str or Path
        The sweep's results directory.
    out : str or Path, optional
        HTML file (default ``RESULTS/report.html``).

    Returns
    -------
    Path
        The file written (via temp file and ``os.replace``).
    """
    root = Path(results)
    paired = read_paired(root)
    # every stored run (a variant's twin may be an implicit one) and the experiment's own:
    # implicit and null-perturbed twins are the sweep's runs, not scenarios of the experiment
    all_runs = with_paired(read_runs(root), paired)
    runs = experiment_runs(all_runs)
    manifest = read_manifest(root)
    config = manifest.get("config") or {}
    ok = runs[runs["status"] == "ok"]
    order = list(config.get("scenarios") or pd.unique(runs["scenario"]))
    order = [s for s in order if s in set(runs["scenario"])]
    baseline = config.get("baseline") or (order[0] if order else "")
    ref_step = int(config.get("reference_step", 0))
    window = int(config.get("window") or (config.get("file") or {}).get("window", DEFAULT_WINDOW))
    name = manifest.get("experiment", root.name)
    n_points = int(runs["point"].nunique()) if "point" in runs and len(runs) else 1
    has_baseline = len(ok) > 0 and baseline in set(ok["scenario"])

    target = Path(out) if out is not None else root / "report.html"
    sections = [
        f"<h1>{_esc(name)}: sweep report</h1>"
        f"<p>{_esc((config.get('file') or {}).get('description', ''))}</p>"
        + _search_link(root, target)
    ]
    contrasts = pd.DataFrame()
    if has_baseline:
        head, contrasts = headline_section(runs, all_runs, paired, config, order, baseline)
        if n_points > 1:
            head += (
                f"<p class='note'>These answers average over the {n_points} parameter "
                "points (pairs stay within a point); see the dose-response plots for each "
                "axis.</p>"
            )
        sections.append(head)
    sections.append(_intro(name, config, runs, order))

    series = _read_series(root, ok["run_id"].tolist())
    if len(series):
        banded = bands(series)
        del series
        sections.append(
            "<h2>Time series</h2><p class='note'>Median over replicates (line) and the band "
            "from the 10th to the 90th percentile, one panel per variant with the baseline's "
            "median in grey behind it.</p>"
            + fig_html(small_multiples_figure(banded, order, baseline, ref_step))
            + "<p class='note'>All four measures: the baseline and the first variants are "
            "drawn; click a legend entry to show or hide a variant, double-click to show "
            "it alone.</p>" + fig_html(time_series_figure(banded, order, ref_step))
        )

    effects = pd.DataFrame()
    if has_baseline and len(order) > 1:
        text, effects = _effects_section(runs, baseline, order, n_points)
        sections.append(text)
        if not (config.get("file") or {}).get("ensemble"):  # members differ in every parameter
            sections.append(_dose_section(runs, baseline, order))

    if len(ok):
        metric_cols = [*SUMMARY_KEYS, "resilience_loss", "excess_positive"]
        sections.append(
            "<h2>Measures per variant (mean over runs)</h2><p class='note'>After the "
            "resilience triangle (Bruneau et al. 2003), from the reference month on: "
            f"violence before it is the mean over the {window} months before; the peak is "
            f"the highest {window}-month moving average after it; excess violence is the "
            "signed sum over the months of (violence - the twin's), against each variant's "
            "twin (the same variant without its shocks, same seeds; a variant without "
            "shocks is its own twin: 0). Recovery is censored for runs that never came back, "
            "so it is not averaged here: see the next section.</p>"
            + html_table(metrics_frame(ok, order, metric_cols))
        )
    sections.append(_twin_section(paired, order))
    if len(contrasts):
        lab = metric_label(HEADLINE_METRIC)
        if n_points > 1:
            pairs = contrasts[["scenario", "baseline", "group"]].itertuples(index=False)
            at_points = contrasts_table(all_runs, list(pairs), [HEADLINE_METRIC], by_point=True)
            frame = contrasts_frame(at_points)
            for k, p in enumerate(param_columns(runs)):
                frame.insert(1 + k, param_label(p), at_points[p].to_numpy())
            what = "at each parameter point separately"
        else:
            frame, what = contrasts_frame(contrasts), "as a table"
        sections.append(
            f"<h2>All contrasts</h2><p class='note'>The headline's comparisons {what} "
            f"({_esc(lab.label.lower())}); the same numbers as <code>i4p compare</code>.</p>"
            + html_table(frame)
        )

    inter = config.get("interactions") or []
    if inter and len(ok):
        itab = interactions_table(
            runs, inter, ["cumulative_violence", "resilience_loss"], by_point=True
        )
        sections.append(
            "<h2>Interaction of the two tiers</h2><p class='note'>In each declared 2x2 "
            "(a = the grassroots factor, b = the top-down factor), the additive interaction "
            "is the mean over pairs of (ab - b) - (a - none): 0 means the two add up, "
            "negative means together they reduce the measure more than the sum of their "
            "separate effects. On the ratio scale (ab x none) / (a x b), 1 means no "
            "interaction. A bounded outcome pushes additive interactions negative, so read "
            "both.</p>"
            + "".join(
                f"<p>{_esc(i['name'])}: "
                + ", ".join(
                    f"{c} = {_esc(i[c].replace('_', ' '))}" for c in ("none", "a", "b", "ab")
                )
                + "</p>"
                for i in inter
            )
            + html_table(interactions_frame(itab))
        )
    if has_baseline:
        sections.append(_funding_section(runs, baseline))

    if len(ok) and order:
        shown = [baseline]
        cv = effects[effects["metric"] == HEADLINE_METRIC] if len(effects) else effects
        if len(cv) and "point" not in cv.columns:
            cv = cv.dropna(subset=["estimate"])
            if len(cv):
                shown.append(str(cv.loc[cv["estimate"].abs().idxmax(), "scenario"]))
        try:
            heat_html, text = _heatmaps(root, config, runs, shown)
        except (OSError, ValueError, KeyError) as exc:  # an unreadable snapshot file
            heat_html, text = "", f"Heat maps could not be read: {_esc(exc)}"
        sections.append(
            f"<h2>Heat maps of one replicate</h2><p class='note'>{text} Shown: the baseline "
            f"and the variant whose total violence differs most from it.</p>" + heat_html
        )

    sections.append(discovery_section(root, len(ok)))
    sections.append(_maps_section(manifest))
    sections.append(_manifest_section(manifest))
    page = (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{_esc(name)} - i4p-sim report</title><style>{_CSS}</style>"
        f"<script type='text/javascript'>{get_plotlyjs()}</script></head><body>"
        + "\n".join(s for s in sections if s)
        + "</body></html>"
    )
    return atomic_write_text(target, page)

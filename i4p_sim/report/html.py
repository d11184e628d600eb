"""The self-contained HTML report of a sweep (plotly, works offline).

``write_report(results_dir)`` reads ``runs.parquet``, ``manifest.json``, the per-step
series and the stored spatial snapshots of a sweep (through :mod:`i4p_sim.sweep.store`)
and writes one HTML file with plotly.js embedded inline (no CDN):

- what was compared (scenarios, replicates, seeds, reference step) in plain language;
- per-scenario time series with replicate bands (median and 10-90% band) of
  ``violence_share``, ``mean_tension``, ``lpcs_active`` and ``funding_disbursed``;
- a forest plot of paired effects against the baseline, with bootstrap intervals;
- the resilience-metrics table (mean per scenario);
- the grassroots x top-down interaction(s) when the experiment declares them, and
  violence averted per unit of funding;
- heat maps of tension and violence of one replicate at the experiment's heat-map steps,
  read from the snapshots the sweep stored (the model is never run here);
- the manifest.

This package never imports :mod:`i4p_sim.sim`.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.dataset as ds
from plotly.offline import get_plotlyjs

from i4p_sim.config.errors import ConfigError
from i4p_sim.report.figures import (
    SERIES_COLUMNS,
    bands,
    fig_html,
    forest_figure,
    heatmap_figure,
    time_series_figure,
)
from i4p_sim.stats.format import format_number
from i4p_sim.stats.metrics import SUMMARY_KEYS
from i4p_sim.stats.resilience import PAIRED_KEYS, read_paired, with_paired
from i4p_sim.stats.tables import (
    effects_table,
    experiment_runs,
    funding_table,
    interactions_table,
    paired_summary_table,
)
from i4p_sim.sweep.storage import atomic_write_text
from i4p_sim.sweep.store import read_manifest, read_runs, read_snapshots

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
.note{color:#555;font-size:.92em}pre{background:#f7f7f7;padding:1em;overflow:auto;font-size:.8em}
"""


def _esc(x: Any) -> str:
    return html.escape(str(x))


def _num(x: Any, digits: int = 4) -> str:
    """A table cell: :func:`~i4p_sim.stats.format.format_number`, HTML-escaped."""
    return _esc(format_number(x, digits))


def _table(frame: pd.DataFrame, digits: int = 4) -> str:
    head = "".join(f"<th>{_esc(c)}</th>" for c in frame.columns)
    body = []
    for row in frame.itertuples(index=False):
        body.append("<tr>" + "".join(f"<td>{_num(v, digits)}</td>" for v in row) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _read_series(root: Path, run_ids: list[str]) -> pd.DataFrame:
    series_dir = root / "series"
    parts = sorted(series_dir.glob("part-*.parquet")) if series_dir.exists() else []
    if not parts or not run_ids:
        return pd.DataFrame(columns=["run_id", "scenario", "step", *SERIES_COLUMNS])
    try:
        dataset = ds.dataset([str(p) for p in parts], format="parquet")
        table = dataset.to_table(
            columns=["run_id", "scenario", "step", *SERIES_COLUMNS],
            filter=ds.field("run_id").isin(run_ids),
        )
    except Exception as exc:  # noqa: BLE001 - a torn chunk (ArrowInvalid, OSError)
        raise ConfigError(
            str(series_dir),
            "",
            f"unreadable chunk ({' '.join(str(exc).split())[:120]}); rerun the same "
            "'i4p sweep': it moves torn chunks to quarantine/ and redoes their runs",
        ) from None
    return table.to_pandas()


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
        "the baseline replicate whose cumulative violence is closest to the median"
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


def _findings(effects: pd.DataFrame, baseline: str, ok_runs: pd.DataFrame) -> str:
    cv = effects[effects["metric"] == "cumulative_violence"].dropna(subset=["estimate"])
    if cv.empty:
        return "<p>No paired comparison was possible.</p>"
    base_mean = ok_runs.loc[ok_runs["scenario"] == baseline, "cumulative_violence"].mean()
    items = []
    for row in cv.sort_values("estimate", ascending=False).itertuples(index=False):
        if row.estimate == 0 and row.ci_low == 0 and row.ci_high == 0:
            verdict = "no difference at all (identical runs: exactly zero)"
        elif row.ci_low > 0:
            verdict = "more violence than the baseline (the interval excludes zero)"
        elif row.ci_high < 0:
            verdict = "less violence than the baseline (the interval excludes zero)"
        else:
            verdict = "no clear difference (the interval includes zero)"
        items.append(
            f"<li><b>{_esc(row.scenario)}</b>: {_num(row.estimate, 3)} "
            f"(95% CI {_num(row.ci_low, 3)} to {_num(row.ci_high, 3)}, {row.n} pairs) "
            f"&mdash; {verdict}.</li>"
        )
    return (
        f"<p>Cumulative violence (the sum over all months of the share of communities with "
        f"a violent event) averages {_num(base_mean, 3)} in the baseline "
        f"<b>{_esc(baseline)}</b>. Paired difference of each scenario from it, largest "
        f"first:</p><ul>{''.join(items)}</ul>"
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
    # the experiment's runs, each with its paired metrics against its twin; implicit and
    # null-perturbed twins are the sweep's own runs, not scenarios of the experiment
    runs = experiment_runs(with_paired(read_runs(root), paired))
    manifest = read_manifest(root)
    config = manifest.get("config") or {}
    ok = runs[runs["status"] == "ok"]
    order = list(config.get("scenarios") or pd.unique(runs["scenario"]))
    order = [s for s in order if s in set(runs["scenario"])]
    baseline = config.get("baseline") or (order[0] if order else "")
    ref_step = int(config.get("reference_step", 0))
    window = int(config.get("window") or (config.get("file") or {}).get("window", DEFAULT_WINDOW))
    descriptions = config.get("descriptions") or {}
    name = manifest.get("experiment", root.name)
    sections: list[str] = []

    n_rep = int(ok["replicate"].nunique()) if len(ok) else 0
    n_points = int(runs["point"].nunique()) if "point" in runs and len(runs) else 1
    n_failed = int((runs["status"] == "failed").sum())
    desc_rows = "".join(
        f"<tr><td>{_esc(s)}{' (baseline)' if s == baseline else ''}</td>"
        f"<td style='text-align:left'>{_esc(descriptions.get(s, ''))}</td></tr>"
        for s in order
    )
    params = [c for c in runs.columns if "." in c]
    sections.append(
        f"<h1>{_esc(name)}: sweep report</h1>"
        f"<p>{_esc((config.get('file') or {}).get('description', ''))}</p>"
        f"<p>This report compares {len(order)} scenarios of the i4p-sim agent-based model of "
        f"Infrastructures for Peace (local peace committees, a national peace council and "
        f"external donors on a grid of communities; one step is one month). Each scenario "
        f"ran {n_rep} replicates{f' at {n_points} parameter points' if n_points > 1 else ''}"
        f" of {config.get('steps', '?')} months. <b>Common random numbers</b>: replicate "
        f"<i>i</i> of every scenario uses the same seed, so it shares the same landscape and "
        f"the same random draws until the scenarios' dynamics differ; each comparison is a "
        f"paired difference per replicate, and intervals are 95% bootstrap intervals over "
        f"the pairs. Resilience metrics are measured from the common reference month "
        f"<b>{ref_step}</b> (dotted line in the plots). "
        f"{len(ok)} runs succeeded, {n_failed} failed.</p>"
        + (f"<p>Parameters varied: {_esc(', '.join(params))}.</p>" if params else "")
        + f"<table><tr><th>scenario</th><th>what it is</th></tr>{desc_rows}</table>"
    )

    effects = pd.DataFrame()
    if len(ok) and baseline in set(ok["scenario"]) and len(order) > 1:
        effects = effects_table(runs, baseline, list(FOREST_METRICS), order=order)
        sections.append("<h2>What it showed</h2>" + _findings(effects, baseline, ok))

    series = _read_series(root, ok["run_id"].tolist())
    if len(series):
        banded = bands(series)
        del series
        sections.append(
            "<h2>Time series</h2><p class='note'>Median over replicates (line) and the band "
            "from the 10th to the 90th percentile. Click a legend entry to hide a "
            "scenario, double-click to show it alone.</p>"
            + fig_html(time_series_figure(banded, order, ref_step))
        )

    if not effects.empty:
        sections.append(
            f"<h2>Paired effects against {_esc(baseline)}</h2><p class='note'>Mean paired "
            f"difference (scenario minus baseline) per replicate with its 95% bootstrap "
            f"interval. Right of the dotted zero line means more than the baseline. "
            f"Scenarios identical by construction show exactly 0 with a zero-width "
            f"interval.</p>"
            + fig_html(forest_figure(effects, list(FOREST_METRICS), order[1:] or order))
            + _table(
                effects[
                    [
                        "scenario",
                        "metric",
                        "estimate",
                        "ci_low",
                        "ci_high",
                        "n",
                        "ratio",
                        "ratio_low",
                        "ratio_high",
                    ]
                ]
            )
        )

    if len(ok):
        metric_cols = [k for k in (*SUMMARY_KEYS, *PAIRED_KEYS) if k in ok.columns]
        means = ok.groupby("scenario", sort=False)[metric_cols].mean(numeric_only=False)
        means = means.reindex([s for s in order if s in means.index]).reset_index()
        sections.append(
            "<h2>Resilience metrics (mean per scenario)</h2><p class='note'>After the "
            "resilience triangle (Bruneau et al. 2003): <i>pre_violence</i> is the mean "
            f"violent share in the {window} months before the reference month; "
            f"<i>peak_violence</i> the highest {window}-month moving average after it; "
            "the paired metrics are measured against each scenario's <b>twin</b> (the same "
            "scenario without its shocks, same seeds): <i>resilience_loss</i> the signed "
            "sum over the months from the reference month of (violent share - the twin's), "
            "<i>excess_positive</i> the sum of its positive parts; <i>recovery_time</i> the "
            f"months until the {window}-month moving average stays within the noise floor "
            "of the twin's to the end (censored runs count their months observed, "
            "<i>months_observed</i>); <i>recovered</i> the share of runs that came back "
            "(scenarios without shocks are their own twin: 0 and recovered); "
            "<i>lpcs_surviving</i> committees active at the end; <i>funding_spent</i> the "
            "total disbursed.</p>" + _table(means)
        )

    ptab = paired_summary_table(paired, order=order)
    if not ptab.empty:
        sections.append(
            "<h2>Against the twin</h2><p class='note'>Each shocked scenario against its twin "
            "(same seeds, shocks removed): mean signed excess violence (resilience_loss) "
            "with its 95% bootstrap interval over replicates, mean sum of positive parts, "
            "how many runs recovered, and the restricted mean recovery time: a run that "
            "never recovered counts its months observed and is <b>censored</b> (the "
            "censored column), so this is not a plain effect. <i>tol</i> is the 95% noise "
            "floor: the band around the twin's moving average that 95% of null pairs (the "
            "twin and its copy with the violence draws re-seeded at the reference month) "
            "stay within to the end.</p>" + _table(ptab)
        )

    inter = config.get("interactions") or []
    if inter and len(ok):
        itab = interactions_table(runs, inter, ["cumulative_violence", "resilience_loss"])
        sections.append(
            "<h2>Interaction of the two tiers</h2><p class='note'>In each declared 2x2 "
            "(a = the grassroots factor, b = the top-down factor), the additive interaction "
            "is the mean over pairs of (ab - b) - (a - none): 0 means the two add up, "
            "negative means together they reduce the metric more than the sum of their "
            "separate effects. On the ratio scale (ab x none) / (a x b), 1 means no "
            "interaction. A bounded outcome pushes additive interactions negative, so read "
            "both.</p>"
            + "".join(
                f"<p>{_esc(i['name'])}: none = {_esc(i['none'])}, a = {_esc(i['a'])}, "
                f"b = {_esc(i['b'])}, ab = {_esc(i['ab'])}</p>"
                for i in inter
            )
            + _table(itab)
        )
    if len(ok) and baseline in set(ok["scenario"]):
        ftab = funding_table(runs, baseline)
        if not ftab.empty:
            sections.append(
                f"<h2>Violence averted per unit of funding</h2><p class='note'>For each "
                f"scenario that spends a different amount from the baseline "
                f"<b>{_esc(baseline)}</b>: (violence in the scenario - violence in the "
                f"baseline) / (funding of the baseline - funding of the scenario), paired "
                f"over replicates, with a 95% bootstrap interval. Positive: the baseline's "
                f"extra funding bought less violence.</p>" + _table(ftab)
            )

    if len(ok) and order:
        shown = [baseline]
        if not effects.empty:
            cv = effects[effects["metric"] == "cumulative_violence"].dropna(subset=["estimate"])
            if len(cv):
                shown.append(str(cv.loc[cv["estimate"].abs().idxmax(), "scenario"]))
        try:
            heat_html, text = _heatmaps(root, config, runs, shown)
        except (OSError, ValueError, KeyError) as exc:  # an unreadable snapshot file
            heat_html, text = "", f"Heat maps could not be read: {_esc(exc)}"
        sections.append(
            f"<h2>Heat maps of one replicate</h2><p class='note'>{text} Shown: the baseline "
            f"and the scenario whose cumulative violence differs most from it.</p>" + heat_html
        )

    slim = dict(manifest)
    slim_config = dict(slim.get("config") or {})
    if "scenarios" in slim_config:
        slim_config["scenarios"] = {
            k: "(resolved scenario; see manifest.json)" for k in slim_config["scenarios"]
        }
    if len(slim_config.get("points", [])) > 20:
        slim_config["points"] = f"{len(slim_config['points'])} points (see manifest.json)"
    slim["config"] = slim_config
    sections.append(
        "<h2>Manifest</h2><p class='note'>Package versions, git revision, the resolved "
        "configuration and its hash, and timings; the full resolved scenarios are in "
        "manifest.json beside this file.</p><details><summary>show</summary><pre>"
        + _esc(json.dumps(slim, indent=2, default=str))
        + "</pre></details>"
    )

    page = (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{_esc(name)} - i4p-sim report</title><style>{_CSS}</style>"
        f"<script type='text/javascript'>{get_plotlyjs()}</script></head><body>"
        + "\n".join(sections)
        + "</body></html>"
    )
    target = Path(out) if out is not None else root / "report.html"
    return atomic_write_text(target, page)

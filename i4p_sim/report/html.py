"""The self-contained HTML report of a sweep (plotly, works offline).

``write_report(results_dir)`` reads ``runs.parquet``, ``manifest.json`` and the per-step
series of a sweep and writes one HTML file with plotly.js embedded inline (no CDN):

- what was compared (scenarios, replicates, seeds, reference step) in plain language;
- per-scenario time series with replicate bands (median and 10-90% band) of
  ``violence_share``, ``mean_tension``, ``lpcs_active`` and ``funding_disbursed``;
- a forest plot of paired effects against the baseline, with bootstrap intervals;
- the resilience-metrics table (mean per scenario);
- the grassroots x top-down interaction(s) when the experiment declares them, and
  violence averted per unit of funding;
- heat maps of tension and violence for a representative replicate at chosen steps
  (rerun in the driver with the stored seed: runs are deterministic, and the rerun is
  checked against the stored metrics);
- the manifest.
"""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from i4p_sim.config.errors import ConfigError
from i4p_sim.stats.metrics import SUMMARY_KEYS

__all__ = ["report_command", "write_report"]

SERIES_COLUMNS = ("violence_share", "mean_tension", "lpcs_active", "funding_disbursed")
FOREST_METRICS = ("cumulative_violence", "resilience_loss", "peak_violence", "lpcs_surviving")
SERIES_TITLES = {
    "violence_share": "share of communities with a violent event",
    "mean_tension": "mean tension",
    "lpcs_active": "local peace committees active",
    "funding_disbursed": "funding disbursed per month",
}
METRIC_TEXT = {
    "cumulative_violence": "cumulative violence (sum of the monthly violent share)",
    "resilience_loss": "resilience loss (excess violence after the reference step)",
    "peak_violence": "peak violence (12-month moving average after the reference step)",
    "lpcs_surviving": "committees still active at the end",
    "recovery_time": "months to recover",
    "funding_spent": "total funding spent",
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
    if x is None:
        return ""
    if isinstance(x, bool | np.bool_):
        return str(bool(x))
    if isinstance(x, int | np.integer):
        return str(int(x))
    try:
        v = float(x)
    except (TypeError, ValueError):
        return _esc(x)
    if math.isnan(v):
        return "n/a"
    if v == 0:
        return "0"
    return f"{v:.{digits}g}"


def _table(frame: pd.DataFrame, digits: int = 4) -> str:
    head = "".join(f"<th>{_esc(c)}</th>" for c in frame.columns)
    body = []
    for row in frame.itertuples(index=False):
        body.append("<tr>" + "".join(f"<td>{_num(v, digits)}</td>" for v in row) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _fig_html(fig: Any) -> str:
    return fig.to_html(full_html=False, include_plotlyjs=False, config={"displaylogo": False})


def _read_series(root: Path, run_ids: list[str]) -> pd.DataFrame:
    import pyarrow.dataset as ds

    series_dir = root / "series"
    parts = sorted(series_dir.glob("part-*.parquet")) if series_dir.exists() else []
    if not parts or not run_ids:
        return pd.DataFrame(columns=["run_id", "scenario", "step", *SERIES_COLUMNS])
    dataset = ds.dataset([str(p) for p in parts], format="parquet")
    table = dataset.to_table(
        columns=["run_id", "scenario", "step", *SERIES_COLUMNS],
        filter=ds.field("run_id").isin(run_ids),
    )
    return table.to_pandas()


def _bands(series: pd.DataFrame) -> pd.DataFrame:
    grouped = series.groupby(["scenario", "step"])[list(SERIES_COLUMNS)]
    q = grouped.quantile([0.1, 0.5, 0.9]).unstack(-1)
    q.columns = [f"{m}_{int(p * 100)}" for m, p in q.columns]
    return q.reset_index()


def _time_series_figure(bands: pd.DataFrame, order: list[str], ref_step: int) -> Any:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

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


def _forest_figure(effects: pd.DataFrame, metrics: list[str], order: list[str]) -> Any:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

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


def _heatmaps(
    manifest: dict[str, Any], runs: pd.DataFrame, scenarios: list[str], max_shown: int = 2
) -> tuple[str, str]:
    """Rerun a representative replicate of up to ``max_shown`` scenarios; return
    (figure html, explanatory text)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from i4p_sim.config.loading import scenario_from_dict
    from i4p_sim.sim.model import I4PModel
    from i4p_sim.stats.metrics import summary_metrics
    from i4p_sim.sweep.driver import apply_point

    config = manifest.get("config") or {}
    scen_dicts = config.get("scenarios") or {}
    points = config.get("points") or [{}]
    steps_shown = config.get("heatmap_steps") or []
    baseline = config.get("baseline")
    ok = runs[(runs["status"] == "ok") & (runs["point"] == 0)]
    if not scen_dicts or not steps_shown or ok.empty or baseline not in scen_dicts:
        return "", "Heat maps need the manifest of the sweep; none shown."
    base_rows = ok[ok["scenario"] == baseline]
    if base_rows.empty:
        return "", "No successful baseline run; no heat maps."
    med = base_rows["cumulative_violence"].median()
    rep_row = base_rows.iloc[int(np.argmin(np.abs(base_rows["cumulative_violence"] - med)))]
    replicate, seed = int(rep_row["replicate"]), int(rep_row["seed"])
    shown = [s for s in scenarios[:max_shown] if s in scen_dicts]
    source = str(config.get("source", "<manifest>"))
    grids: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    checks = []
    for name in shown:
        data = dict(apply_point(scen_dicts[name], points[0], source))
        data["seed"] = seed
        scenario = scenario_from_dict(data, name)
        model = I4PModel(scenario, communities=False)
        snaps = []
        wanted = set(steps_shown)
        for t in range(scenario.steps):
            model.step()
            if t in wanted:
                snaps.append(
                    (model.layers["tension"].copy(), model.layers["violence"].astype(float))
                )
        grids[name] = snaps
        stored = ok[(ok["scenario"] == name) & (ok["replicate"] == replicate)]
        if len(stored):
            again = summary_metrics(
                model.series(),
                scenario.resolved_reference_step(),
                window=int((config.get("file") or {}).get("window", 12)),
            )["cumulative_violence"]
            same = math.isclose(again, float(stored["cumulative_violence"].iloc[0]), abs_tol=0)
            checks.append(f"{name}: {'reproduced exactly' if same else 'DIFFERS from stored'}")
    titles = []
    for name in shown:
        for layer in ("tension", "violence"):
            titles += [f"{name}: {layer}, month {s}" for s in steps_shown]
    nrows, ncols = 2 * len(shown), len(steps_shown)
    fig = make_subplots(
        rows=nrows,
        cols=ncols,
        subplot_titles=titles,
        horizontal_spacing=0.02,
        vertical_spacing=0.06,
    )
    for i, name in enumerate(shown):
        for k, (tension, violence) in enumerate(grids[name]):
            fig.add_trace(
                go.Heatmap(
                    z=tension,
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
                    z=violence,
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
    text = (
        f"Replicate {replicate} (seed {seed}) is the baseline replicate whose cumulative "
        f"violence is closest to the median. It was rerun here with the stored seed; "
        f"the rerun is checked against the stored metrics ({'; '.join(checks)}). "
        f"Tension runs from 0 (calm) to 1; violence marks the communities with a violent "
        f"event in that month."
    )
    return _fig_html(fig), text


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
    from plotly.offline import get_plotlyjs

    from i4p_sim.sweep.driver import (
        effects_table,
        funding_table,
        interactions_table,
        read_manifest,
        read_runs,
    )
    from i4p_sim.sweep.storage import atomic_write_text

    root = Path(results)
    runs = read_runs(root)
    manifest = read_manifest(root)
    config = manifest.get("config") or {}
    ok = runs[runs["status"] == "ok"]
    order = list(config.get("scenarios") or pd.unique(runs["scenario"]))
    order = [s for s in order if s in set(runs["scenario"])]
    baseline = config.get("baseline") or (order[0] if order else "")
    ref_step = int(config.get("reference_step", 0))
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
        effects = effects_table(runs, baseline, list(FOREST_METRICS), order=order, n_resamples=1000)
        sections.append("<h2>What it showed</h2>" + _findings(effects, baseline, ok))

    series = _read_series(root, ok["run_id"].tolist())
    if len(series):
        bands = _bands(series)
        del series
        sections.append(
            "<h2>Time series</h2><p class='note'>Median over replicates (line) and the band "
            "from the 10th to the 90th percentile. Click a legend entry to hide a "
            "scenario, double-click to show it alone.</p>"
            + _fig_html(_time_series_figure(bands, order, ref_step))
        )

    if not effects.empty:
        sections.append(
            f"<h2>Paired effects against {_esc(baseline)}</h2><p class='note'>Mean paired "
            f"difference (scenario minus baseline) per replicate with its 95% bootstrap "
            f"interval. Right of the dotted zero line means more than the baseline. "
            f"Scenarios identical by construction show exactly 0 with a zero-width "
            f"interval.</p>"
            + _fig_html(_forest_figure(effects, list(FOREST_METRICS), order[1:] or order))
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
        metric_cols = [k for k in SUMMARY_KEYS if k in ok.columns]
        means = ok.groupby("scenario", sort=False)[metric_cols].mean(numeric_only=False)
        means = means.reindex([s for s in order if s in means.index]).reset_index()
        sections.append(
            "<h2>Resilience metrics (mean per scenario)</h2><p class='note'>After the "
            "resilience triangle (Bruneau et al. 2003): <i>pre_violence</i> is the mean "
            "violent share in the 12 months before the reference month; <i>peak_violence</i>"
            " the highest 12-month moving average after it; <i>recovery_time</i> the months "
            "until violence is back near its pre-reference level (the run's remaining "
            "months if never); <i>recovered</i> the share of runs that came back; "
            "<i>resilience_loss</i> the excess violence after the reference month; "
            "<i>lpcs_surviving</i> committees active at the end; <i>funding_spent</i> the "
            "total disbursed.</p>" + _table(means)
        )

    inter = config.get("interactions") or []
    if inter and len(ok):
        itab = interactions_table(
            runs, inter, ["cumulative_violence", "resilience_loss"], n_resamples=1000
        )
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
        ftab = funding_table(runs, baseline, n_resamples=1000)
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
            fig_html, text = _heatmaps(manifest, runs, shown)
        except Exception as exc:  # noqa: BLE001 - the report survives a failed rerun
            fig_html, text = "", f"Heat maps could not be produced: {_esc(exc)}"
        sections.append(
            f"<h2>Heat maps of one replicate</h2><p class='note'>{text} Shown: the baseline "
            f"and the scenario whose cumulative violence differs most from it.</p>" + fig_html
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


def report_command(args: Any) -> int:
    """``i4p report RESULTS_DIR [--out FILE]``."""
    root = Path(args.results)
    if not root.is_dir():
        raise ConfigError(str(root), "", "not a directory; expected a sweep's results directory")
    path = write_report(root, args.out)
    print(f"wrote {path}")
    return 0

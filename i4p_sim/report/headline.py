"""The report's headline: the answers in sentences with numbers.

Each variant against its steady-funding (no-shock) counterpart — its twin, or the
experiment's baseline for a variant without shocks — and every contrast between variants
(declared by the experiment, else one factor apart by name:
:func:`i4p_sim.stats.contrasts.experiment_contrasts`), each as a ratio and a difference
with 95% bootstrap intervals and the share of paired replicates in which it went each way.
The numbers come from :func:`i4p_sim.stats.contrasts.contrasts_table`, the function
``i4p compare`` prints, so the two never disagree. Recovery is censored for runs that never
recovered and is only ever stated as a count of runs recovered. A sweep over an ensemble
leads with each contrast's share of members where it holds (:func:`ensemble_block`).
"""

from __future__ import annotations

import html
import json
import math
from typing import Any

import numpy as np
import pandas as pd

from i4p_sim.report.tables import plain_number
from i4p_sim.stats.contrasts import contrasts_table, experiment_contrasts
from i4p_sim.stats.ensemble import VERDICTS, ensemble_shares, member_contrasts, share_sentence
from i4p_sim.stats.labels import metric_label

__all__ = [
    "HEADLINE_METRIC",
    "contrast_data",
    "ensemble_block",
    "headline_section",
    "scenario_words",
]

#: The metric the headline states its answers in.
HEADLINE_METRIC = "cumulative_violence"


def _esc(x: Any) -> str:
    return html.escape(str(x))


def scenario_words(name: str) -> str:
    """A scenario's name as words (``abrupt_60`` -> ``abrupt 60``; a sweep's implicit twin
    ``x~twin`` -> ``x without its shocks``)."""
    text = str(name)
    if text.endswith("~twin"):
        return text[: -len("~twin")].replace("_", " ") + " without its shocks"
    return text.replace("_", " ")


def _n(x: float, digits: int = 3) -> str:
    return plain_number(x, digits)


def _ratio_words(r: float, lo: float, hi: float) -> str:
    """A ratio of means in words: ``4.4 times as much``, ``3.3% less``, with its CI."""
    if not math.isfinite(r):
        return "a ratio that cannot be computed (the reference is 0)"
    if r == 1 and lo == 1 and hi == 1:
        return "exactly the same (ratio 1)"
    ok = math.isfinite(lo) and math.isfinite(hi)
    if r >= 2:
        ci = f"95% CI {_n(lo, 2)} to {_n(hi, 2)} times" if ok else "no CI"
        return f"{_n(r, 2)} times as much ({ci})"
    ci = f"ratio {_n(r)}, 95% CI {_n(lo)} to {_n(hi)}" if ok else f"ratio {_n(r)}, no CI"
    if r >= 1:
        return f"{_n((r - 1) * 100, 2)}% more ({ci})"
    return f"{_n((1 - r) * 100, 2)}% less ({ci})"


def _diff_words(est: float, lo: float, hi: float) -> str:
    """A difference in words with its CI, without minus signs: ``13.7 less (95% CI 5.69
    to 21 less)``, or ``1.3 more (95% CI from 3.53 less to 6.71 more)``."""

    def side(x: float) -> str:
        return f"{_n(abs(x))} {'less' if x < 0 else 'more'}"

    if est == 0 and lo == 0 and hi == 0:
        return "no difference"
    head = side(est)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return f"{head} (no CI)"
    if lo >= 0:
        return f"{head} (95% CI {_n(lo)} to {_n(hi)} more)"
    if hi <= 0:
        return f"{head} (95% CI {_n(-hi)} to {_n(-lo)} less)"
    return f"{head} (95% CI from {side(lo)} to {side(hi)})"


def _verdict(row: Any) -> str:
    if row.estimate == 0 and row.ci_low == 0 and row.ci_high == 0:
        return "identical runs, exactly the same"
    if row.ci_low > 0:
        return "clearly more (the whole interval is above zero)"
    if row.ci_high < 0:
        return "clearly less (the whole interval is below zero)"
    return "no clear difference (the interval includes zero)"


def _sentence(row: Any, label: Any, ref_words: str) -> str:
    """One contrast as a sentence in the headline metric's display unit."""
    s = label.scale
    higher = round(row.p_higher * row.n)
    return (
        f"{label.label.lower()} {_n(row.mean_scenario * s)} {_esc(label.unit)} against "
        f"{_n(row.mean_baseline * s)}{' ' + ref_words if ref_words else ''}: "
        f"{_ratio_words(row.ratio, row.ratio_low, row.ratio_high)}, "
        f"{_diff_words(row.estimate * s, row.ci_low * s, row.ci_high * s)}; "
        f"higher in {higher} of {row.n} paired replicates &mdash; {_verdict(row)}."
    )


def _pair_words(row: Any) -> str:
    return f"{scenario_words(row.scenario)} vs {scenario_words(row.baseline)}"


def _summary(title: str, sub: pd.DataFrame) -> str:
    """One line: how many comparisons of a group went which way, naming them, and the
    range of their ratios."""
    less = sub[sub["ci_high"] < 0]
    more = sub[sub["ci_low"] > 0]
    unclear = sub[~sub.index.isin(less.index) & ~sub.index.isin(more.index)]
    bits = []
    for what, part in (("clearly more", more), ("clearly less", less)):
        if len(part):
            ratios = part["ratio"].to_numpy(dtype=float)
            ratios = ratios[np.isfinite(ratios)]
            span = (
                f" (ratio {_n(ratios.min())} to {_n(ratios.max())})"
                if ratios.size > 1 and _n(ratios.min()) != _n(ratios.max())
                else (f" (ratio {_n(ratios.min())})" if ratios.size else "")
            )
            names = ", ".join(_pair_words(r) for r in part.itertuples(index=False))
            bits.append(f"{what} in {len(part)} of {len(sub)}{span}: {_esc(names)}")
    if len(unclear):
        names = ", ".join(_pair_words(r) for r in unclear.itertuples(index=False))
        bits.append(f"no clear difference in {len(unclear)} of {len(sub)}: {_esc(names)}")
    return f"<li><b>{_esc(title)}</b>: " + "; ".join(bits) + ".</li>"


def _recovery(paired: pd.DataFrame, name: str) -> str:
    sub = paired[paired["scenario"] == name] if len(paired) else paired
    if sub.empty or (sub["scenario"] == sub["twin"]).all():
        return ""
    rec = int(sub["recovered"].sum())
    months = int(sub["months_observed"].max())
    if rec == len(sub):
        return f" Every run ({rec} of {len(sub)}) came back to its twin's level."
    return (
        f" Only {rec} of {len(sub)} runs came back to their twin's level; the other "
        f"{len(sub) - rec} had not within the {months} months observed (censored: their "
        f"recovery time is unknown, not {months})."
    )


def _twin_pairs(
    config: dict[str, Any], order: list[str], baseline: str, present: set[str]
) -> list[tuple[str, str, str]]:
    twins = config.get("twins") or {}
    out = []
    for name in order:
        twin = twins.get(name, name)
        if twin != name and twin in present:
            out.append((name, twin, "against steady funding"))
        elif twin == name and name != baseline and baseline in present:
            out.append((name, baseline, "against the baseline"))
    return out


def contrast_data(table: pd.DataFrame) -> str:
    """The contrasts as JSON (full precision) for a ``<script type="application/json">``:
    what a reader's script, or a test, compares with ``i4p compare``."""
    cols = ["group", "scenario", "baseline", "metric", "estimate", "ci_low", "ci_high", "n"]
    cols += ["ratio", "ratio_low", "ratio_high", "p_higher"]
    rows = [] if table.empty else table[cols].to_dict(orient="records")
    clean = [
        {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in r.items()}
        for r in rows
    ]
    return json.dumps(clean, default=float).replace("</", "<\\/")


def headline_section(
    runs: pd.DataFrame,
    all_runs: pd.DataFrame,
    paired: pd.DataFrame,
    config: dict[str, Any],
    order: list[str],
    baseline: str,
) -> tuple[str, pd.DataFrame]:
    """The headline section's HTML and the contrasts table behind it.

    Parameters
    ----------
    runs : pandas.DataFrame
        The experiment's runs with their paired metrics.
    all_runs : pandas.DataFrame
        Every stored run, implicit twins included (a variant's twin may be one).
    paired : pandas.DataFrame
        The paired table (``paired.parquet``).
    config : dict
        The manifest's resolved configuration.
    order : list of str
        The experiment's scenarios in order.
    baseline : str
        The experiment's baseline.
    """
    label = metric_label(HEADLINE_METRIC)
    descriptions = config.get("descriptions") or {}
    ok = all_runs[all_runs["status"] == "ok"]
    present = set(ok["scenario"])
    against = _twin_pairs(config, order, baseline, present)
    contrasts, declared = experiment_contrasts(config, order)
    table = contrasts_table(all_runs, [*against, *contrasts], [HEADLINE_METRIC])
    if table.empty:
        return "<h2>Headline</h2><p>No paired comparison was possible.</p>", table
    parts = [
        "<h2>Headline: what the experiment answers</h2>",
        f"<p class='note'>{_esc(label.label)} counts the months in which a community had a "
        f"violent event, per 1,000 communities, over the whole run. Every comparison is "
        f"paired (replicate <i>i</i> of both sides shares its seed) with a 95% bootstrap "
        f"interval over the pairs; a ratio is of the two means.</p>",
    ]
    ensemble = (config.get("file") or {}).get("ensemble")
    if ensemble:
        parts.append(ensemble_block(all_runs, [*against, *contrasts], ensemble, label))
    first = table[table["group"].isin(["against steady funding", "against the baseline"])]
    rest = table[~table.index.isin(first.index)]
    label_lower = label.label.lower()
    key = (
        [_summary(f"{label.label}, each variant against steady funding", first)]
        if len(first)
        else []
    )
    key += [_summary(f"{group}", sub) for group, sub in rest.groupby("group", sort=False)]
    parts.append(
        f"<h3>In short ({_esc(label_lower)}, paired 95% intervals)</h3><ul>{''.join(key)}</ul>"
    )
    if len(first):
        items = []
        for row in first.itertuples(index=False):
            ref = f"in {_esc(scenario_words(row.baseline))}" + (
                " (its twin: the same without its shocks)"
                if row.group == "against steady funding"
                else " (the baseline)"
            )
            desc = descriptions.get(row.scenario, "")
            items.append(
                f"<li><b>{_esc(scenario_words(row.scenario))}</b>"
                + (f" ({_esc(desc)})" if desc else "")
                + ": "
                + _sentence(row, label, ref)
                + _recovery(paired, row.scenario)
                + "</li>"
            )
        parts.append(
            "<h3>Each variant against steady funding</h3><p>Against its twin (the same "
            "variant without its shocks: steady funding), or against the baseline for a "
            f"variant without shocks:</p><ul>{''.join(items)}</ul>"
        )
    if len(rest):
        how = (
            "declared by the experiment ([report] contrasts)"
            if declared
            else "every pair of variants one factor apart (read off their names)"
        )
        parts.append(f"<h3>Variants against each other</h3><p class='note'>Contrasts: {how}.</p>")
        for group, sub in rest.groupby("group", sort=False):
            less = int((sub["ci_high"] < 0).sum())
            more = int((sub["ci_low"] > 0).sum())
            unclear = len(sub) - less - more
            items = [
                f"<li><b>{_esc(scenario_words(r.scenario))}</b> against "
                f"<b>{_esc(scenario_words(r.baseline))}</b>: " + _sentence(r, label, "") + "</li>"
                for r in sub.itertuples(index=False)
            ]
            parts.append(
                f"<h4>{_esc(group)}</h4><p>In {len(sub)} paired comparison(s): clearly less "
                f"{_esc(label.label.lower())} in {less}, clearly more in {more}, no clear "
                f"difference in {unclear}.</p><ul>{''.join(items)}</ul>"
            )
    parts.append(
        f"<script type='application/json' id='i4p-contrasts'>{contrast_data(table)}</script>"
    )
    return "\n".join(parts), table


def ensemble_block(runs: pd.DataFrame, contrasts: list, ensemble: str, label: Any) -> str:
    """The headline over an ensemble: each contrast as the share of members where it holds
    (its paired 95% interval wholly below zero), with a bootstrap interval over members and
    the distribution of its size (:mod:`i4p_sim.stats.ensemble`), then the per-member
    intervals in a collapsed table."""
    pairs: dict[tuple[str, str], Any] = {}
    for c in contrasts:  # one row per pair of scenarios, under its first group
        pairs.setdefault((c[0], c[1]), c)
    members = member_contrasts(runs, list(pairs.values()), [HEADLINE_METRIC])
    shares = ensemble_shares(members)
    if shares.empty:
        return "<h3>Over the ensemble</h3><p>No contrast could be paired at any member.</p>"
    n = int(shares["members"].max())
    words = label.label.lower()
    items = [
        "<li>" + _esc(share_sentence(r, label=words, scale=label.scale, unit=label.unit)) + "</li>"
        for r in shares.itertuples(index=False)
    ]
    pair_keys = list(zip(members["scenario"], members["baseline"], strict=True))
    rank = {k: i for i, k in enumerate(dict.fromkeys(pair_keys))}
    rows = "".join(
        f"<tr><td>{_esc(scenario_words(r.scenario))} vs {_esc(scenario_words(r.baseline))}</td>"
        f"<td>{int(r.point)}</td><td>{_n(r.estimate * label.scale)}</td>"
        f"<td>{_n(r.ci_low * label.scale)} to {_n(r.ci_high * label.scale)}</td>"
        f"<td>{_esc(r.verdict)}</td></tr>"
        for r in sorted(
            members.itertuples(index=False), key=lambda r: (rank[(r.scenario, r.baseline)], r.point)
        )
    )
    return (
        f"<h3>Over the ensemble ({_esc(ensemble)}, {n} members)</h3>"
        f"<p class='note'>Every variant ran on every member (a parameter set not ruled out by "
        f"calibration) with common random numbers within the member. Each member is "
        f"classified by its paired 95% bootstrap interval ({' / '.join(VERDICTS)}: the "
        f"first-named scenario clearly less / clearly more / the interval includes zero); "
        f"the share of members where a contrast holds has a 95% bootstrap interval over "
        f"members. Members are unweighted: a share is 'in this many of the plausible worlds "
        f"tried', not a probability. The paired comparisons further down pool every "
        f"member.</p><ul>{''.join(items)}</ul>"
        f"<details><summary>Each member's paired interval ({_esc(words)}, "
        f"{_esc(label.unit)})</summary><table><tr><th>contrast</th><th>member</th>"
        f"<th>mean effect</th><th>95% CI</th><th>verdict</th></tr>{rows}</table></details>"
    )

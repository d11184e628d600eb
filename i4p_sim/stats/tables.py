"""Tables of a sweep's runs: paired effects, 2x2 interactions, violence averted per funding.

``i4p compare`` prints them and the HTML report shows them; both call these functions with
the same bootstrap (:mod:`i4p_sim.stats.paired`), :data:`N_RESAMPLES` and :data:`SEED`
(defined in :mod:`i4p_sim.stats.contrasts`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from i4p_sim.stats.bootstrap import bootstrap_ci
from i4p_sim.stats.contrasts import N_RESAMPLES, PAIR_ON, SEED, param_columns
from i4p_sim.stats.paired import averted_per_funding, interaction, paired_effects

__all__ = [
    "DEFAULT_METRICS",
    "N_RESAMPLES",
    "PAIR_ON",
    "SEED",
    "effects_table",
    "experiment_runs",
    "funding_table",
    "interactions_table",
    "paired_summary_table",
]

#: Metrics ``i4p compare`` shows by default.
DEFAULT_METRICS = (
    "cumulative_violence",
    "peak_violence",
    "resilience_loss",
    "lpcs_surviving",
    "funding_spent",
)
#: A funding difference below this share of the baseline's funding is noise.
FUNDING_NOISE_SHARE = 0.01


#: Scenario names with this mark are a sweep's own auxiliary runs (implicit twins
#: ``<name>~twin`` and null-perturbed twins ``<twin>~null``), not the experiment's.
AUXILIARY_MARK = "~"


def experiment_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """``runs`` without the sweep's auxiliary runs (:data:`AUXILIARY_MARK`)."""
    return runs[~runs["scenario"].astype(str).str.contains(AUXILIARY_MARK, regex=False)]


def paired_summary_table(
    paired: pd.DataFrame,
    *,
    order: list[str] | None = None,
    n_resamples: int = N_RESAMPLES,
) -> pd.DataFrame:
    """Per scenario (and parameter point) against its twin: mean signed excess
    (``resilience_loss``) with its 95% bootstrap interval, mean ``excess_positive``, how
    many recovered (``recovered`` as k/n, ``share_recovered``), and the restricted mean
    recovery time ``recovery_rmean`` (censored runs count their months observed; the column
    ``censored`` says how many there are): never a plain mean of recovery times.

    Scenarios that are their own twin (no shock) are left out: their values are 0 by
    construction.
    """
    cols = [
        "scenario",
        "point",
        "twin",
        "resilience_loss",
        "ci_low",
        "ci_high",
        "excess_positive",
        "recovered",
        "share_recovered",
        "censored",
        "recovery_rmean",
        "months_observed",
        "tol",
        "n",
    ]
    sub = paired[paired["scenario"] != paired["twin"]]
    sub = experiment_runs(sub)
    if sub.empty:
        return pd.DataFrame(columns=cols)
    names = order if order is not None else list(pd.unique(sub["scenario"]))
    names = [s for s in names if s in set(sub["scenario"])]
    rows = []
    for name in names:
        for point, grp in sub[sub["scenario"] == name].groupby("point", sort=True):
            est, lo, hi = bootstrap_ci(
                grp["resilience_loss"].to_numpy(), n_resamples=n_resamples, seed=SEED
            )
            rec = int(grp["recovered"].sum())
            rows.append(
                {
                    "scenario": name,
                    "point": int(point),
                    "twin": str(grp["twin"].iloc[0]),
                    "resilience_loss": est,
                    "ci_low": lo,
                    "ci_high": hi,
                    "excess_positive": float(np.mean(grp["excess_positive"])),
                    "recovered": f"{rec}/{len(grp)}",
                    "share_recovered": rec / len(grp),
                    "censored": int(len(grp) - rec),
                    "recovery_rmean": float(np.mean(grp["recovery_time"])),
                    "months_observed": int(grp["months_observed"].max()),
                    "tol": float(grp["tol"].iloc[0]),
                    "n": int(len(grp)),
                }
            )
    out = pd.DataFrame(rows, columns=cols)
    if out["point"].nunique() == 1:
        out = out.drop(columns=["point"])
    return out


def _pair_on(runs: pd.DataFrame) -> list[str]:
    return [c for c in PAIR_ON if c in runs.columns]


def _per_point(
    runs: pd.DataFrame, table: Callable[[pd.DataFrame], pd.DataFrame], at: int
) -> pd.DataFrame:
    """``table`` of each parameter point's runs separately, stacked, with ``point`` and the
    point's parameter values as columns from position ``at``; one point: ``table(runs)``."""
    if "point" not in runs.columns or runs["point"].nunique() < 2:
        return table(runs)
    params = param_columns(runs)
    frames = []
    for point, sub in runs.groupby("point", sort=True):
        tab = table(sub)
        if len(tab):
            tab.insert(at, "point", int(point))
            for k, p in enumerate(params):
                tab.insert(at + 1 + k, p, sub[p].iloc[0])
            frames.append(tab)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def effects_table(
    runs: pd.DataFrame,
    baseline: str,
    metrics: list[str] | tuple[str, ...],
    *,
    order: list[str] | None = None,
    n_resamples: int = N_RESAMPLES,
) -> pd.DataFrame:
    """Paired effects of every scenario against ``baseline`` (ok runs, paired on
    replicate and parameter point), via :func:`i4p_sim.stats.paired.paired_effects`.

    ``order`` lists the scenarios in the experiment's order (default: as stored)."""
    present = set(runs.loc[runs["status"] == "ok", "scenario"])
    names = order if order is not None else list(pd.unique(runs["scenario"]))
    scenarios = [s for s in names if s != baseline and s in present]
    return paired_effects(
        runs,
        baseline,
        list(metrics),
        scenarios=scenarios,
        pair_on=_pair_on(runs),
        n_resamples=n_resamples,
        seed=SEED,
    )


def interactions_table(
    runs: pd.DataFrame,
    interactions: list[dict[str, str]],
    metrics: list[str] | tuple[str, ...],
    *,
    by_point: bool = False,
    n_resamples: int = N_RESAMPLES,
) -> pd.DataFrame:
    """Grassroots x top-down interaction per declared 2x2, additive and ratio scale.

    With ``by_point`` and several parameter points, each point separately (columns
    ``point`` and the parameters after ``interaction``); else pairs from every point
    together."""
    if by_point:
        return _per_point(
            runs,
            lambda sub: interactions_table(sub, interactions, metrics, n_resamples=n_resamples),
            1,
        )
    pair_on = _pair_on(runs)
    rows = []
    for inter in interactions:
        cells = {k: inter[k] for k in ("none", "a", "b", "ab")}
        for metric in metrics:
            for scale in ("additive", "ratio"):
                res = interaction(
                    runs,
                    cells,
                    metric,
                    scale=scale,
                    pair_on=pair_on,
                    n_resamples=n_resamples,
                    seed=SEED,
                )
                rows.append(
                    {
                        "interaction": inter["name"],
                        "metric": metric,
                        "scale": scale,
                        "estimate": res["estimate"],
                        "ci_low": res["ci_low"],
                        "ci_high": res["ci_high"],
                        "n": res["n"],
                        "note": res["reason"] or "",
                    }
                )
    return pd.DataFrame(rows)


def funding_table(
    runs: pd.DataFrame,
    baseline: str,
    *,
    by_point: bool = False,
    n_resamples: int = N_RESAMPLES,
) -> pd.DataFrame:
    """Violence averted per unit of funding: the baseline against every scenario that
    spends a different amount (paired runs; differences under
    :data:`FUNDING_NOISE_SHARE` of the baseline's funding are skipped as noise).

    With ``by_point`` and several parameter points, each point separately (columns
    ``point`` and the parameters after ``versus``, the noise threshold from that point's
    baseline); else pairs from every point together."""
    if by_point:
        return _per_point(
            runs, lambda sub: funding_table(sub, baseline, n_resamples=n_resamples), 2
        )
    pair_on = _pair_on(runs)
    ok = experiment_runs(runs[runs["status"] == "ok"])
    scale = abs(float(ok.loc[ok["scenario"] == baseline, "funding_spent"].mean()))
    rows = []
    for scenario in pd.unique(ok["scenario"]):
        if scenario == baseline:
            continue
        res = averted_per_funding(
            runs, baseline, scenario, pair_on=pair_on, n_resamples=n_resamples, seed=SEED
        )
        if res["n"] == 0 or not abs(res["extra_funding"]) > FUNDING_NOISE_SHARE * scale:
            continue
        rows.append(
            {
                "funded": baseline,
                "versus": scenario,
                "violence_averted": res["violence_averted"],
                "extra_funding": res["extra_funding"],
                "averted_per_funding": res["estimate"],
                "ci_low": res["ci_low"],
                "ci_high": res["ci_high"],
                "n": res["n"],
            }
        )
    return pd.DataFrame(rows)

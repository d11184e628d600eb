"""Paired contrasts between any two scenarios, effects per parameter point and
dose-response tables: what ``i4p compare`` prints and the report shows, with the one
bootstrap (:func:`i4p_sim.stats.paired.paired_effects`, :data:`N_RESAMPLES` resamples,
seed :data:`SEED`), so the two always give the same interval for the same contrast.

Which pairs to contrast: an experiment may declare them (``[report] contrasts``);
otherwise :func:`suggest_contrasts` reads them off the variants' names, which encode their
factors (``abrupt_60`` / ``phased_60`` / ``abrupt_60_no_ownership``): two names that differ
in one ``_``-separated word (``abrupt`` vs ``phased`` at ``60``) or where one is the other
with words added at the end (``..._no_ownership``) are one factor apart.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence

import numpy as np
import pandas as pd

from i4p_sim.stats.bootstrap import bootstrap_ci
from i4p_sim.stats.labels import CENSORED_METRICS
from i4p_sim.stats.paired import paired_differences, paired_effects

__all__ = [
    "MAX_LEVELS",
    "N_RESAMPLES",
    "PAIR_ON",
    "SAMPLE_BINS",
    "SEED",
    "Contrast",
    "contrasts_table",
    "dose_response_table",
    "effects_by_point",
    "experiment_contrasts",
    "param_columns",
    "suggest_contrasts",
]

#: Bootstrap resamples of every interval that compare and the report show.
N_RESAMPLES = 2000
#: Seed of the resampling generator of every such interval.
SEED = 0
#: A parameter with more distinct values than this is binned in a dose-response.
MAX_LEVELS = 12
#: Bins of a sampled parameter's dose-response (equal counts of runs).
SAMPLE_BINS = 8
#: Runs are paired on these columns (common random numbers).
PAIR_ON = ("replicate", "point")

#: A suggested or declared contrast: ``(scenario, reference, group)``; ``group`` names the
#: factor that differs (``"phased vs abrupt"``), so contrasts of one factor read together.
Contrast = tuple[str, str, str]


def _pair_on(runs: pd.DataFrame) -> list[str]:
    return [c for c in PAIR_ON if c in runs.columns]


def param_columns(runs: pd.DataFrame) -> list[str]:
    """The varied parameters of a runs table (dotted column names), in stored order."""
    return [c for c in runs.columns if "." in str(c)]


def _words(name: str) -> str:
    return name.replace("_", " ")


def _clause_diff(a: str, b: str) -> tuple[str, str] | None:
    """Where two descriptions differ, each side's differing words extended to the end of
    their clause (``"without local ownership"``, ``"with local ownership"``), or None."""
    wa, wb = a.split(), b.split()
    ops = [op for op in difflib.SequenceMatcher(a=wa, b=wb).get_opcodes() if op[0] != "equal"]
    if len(ops) != 1:
        return None
    _, i1, _, j1, _ = ops[0]

    def clause(words: list[str], start: int) -> str:
        out = []
        for w in words[start:]:
            out.append(w.rstrip(",;."))
            if w[-1:] in ",;.":
                break
        return " ".join(out)

    left, right = clause(wa, i1), clause(wb, j1)
    return (left, right) if left and right and left != right else None


def suggest_contrasts(
    names: Sequence[str], descriptions: dict[str, str] | None = None
) -> list[Contrast]:
    """Pairs of scenarios one factor apart, read off their names (module docstring).

    The scenario listed later is compared against the one listed earlier (its reference):
    ``phased_60`` against ``abrupt_60``, ``abrupt_60_no_ownership`` against ``abrupt_60``.

    Returns
    -------
    list of Contrast
        In the order of the names; ``group`` is ``"phased vs abrupt"`` for a changed word
        and ``"'no ownership' vs the same without it"`` for added words, or, when the two
        descriptions differ in one clause, that clause of each (``"without local ownership
        vs with local ownership"``).
    """
    tokens = [n.split("_") for n in names]
    descs = descriptions or {}
    out: list[Contrast] = []
    for j, tb in enumerate(tokens):
        for i in range(j):
            ta = tokens[i]
            if len(ta) == len(tb):
                diff = [k for k in range(len(ta)) if ta[k] != tb[k]]
                if len(diff) == 1:
                    k = diff[0]
                    out.append((names[j], names[i], f"{_words(tb[k])} vs {_words(ta[k])}"))
            elif len(tb) != len(ta):
                short, long_ = (i, j) if len(ta) < len(tb) else (j, i)
                if tokens[long_][: len(tokens[short])] != tokens[short]:
                    continue
                extra = " ".join(tokens[long_][len(tokens[short]) :])
                group = f"'{extra}' vs the same without it"
                clauses = _clause_diff(descs.get(names[long_], ""), descs.get(names[short], ""))
                if clauses is not None:
                    group = f"{clauses[0]} vs {clauses[1]}"
                out.append((names[long_], names[short], group))
    # group the contrasts of one factor together, keeping their first appearance's order
    groups = list(dict.fromkeys(c[2] for c in out))
    return sorted(out, key=lambda c: groups.index(c[2]))


def experiment_contrasts(config: dict, names: Sequence[str]) -> tuple[list[Contrast], bool]:
    """The contrasts of a sweep: those its experiment file declares (``[report]
    contrasts`` in the manifest's ``config.file``), else :func:`suggest_contrasts` of
    ``names``. Returns ``(contrasts, declared)``."""
    declared = ((config.get("file") or {}).get("report") or {}).get("contrasts") or []
    if declared:
        return [(a, b, f"{_words(a)} vs {_words(b)}") for a, b in declared], True
    return suggest_contrasts(list(names), config.get("descriptions") or {}), False


def contrasts_table(
    runs: pd.DataFrame,
    contrasts: Sequence[tuple[str, str] | Contrast],
    metrics: Sequence[str],
    *,
    by_point: bool = False,
    n_resamples: int = N_RESAMPLES,
) -> pd.DataFrame:
    """Paired effect of each ``(scenario, reference[, group])`` on each metric.

    With ``by_point`` and several parameter points, each point separately (columns
    ``point`` and the parameters after ``group``); else pairs from every point together.

    Censored metrics (:data:`~i4p_sim.stats.labels.CENSORED_METRICS`) are left out: they
    are never a plain effect.

    Returns
    -------
    pandas.DataFrame
        The columns of :func:`~i4p_sim.stats.paired.paired_effects` (``baseline`` is the
        reference), plus ``group`` and ``p_higher``: the share of paired replicates where
        the scenario's value is above the reference's (a probability over the ensemble).
    """
    if by_point and "point" in runs.columns and runs["point"].nunique() > 1:
        frames = []
        for point, sub in runs.groupby("point", sort=True):
            tab = contrasts_table(sub, contrasts, metrics, n_resamples=n_resamples)
            if len(tab):
                tab.insert(1, "point", int(point))
                for k, p in enumerate(param_columns(runs)):
                    tab.insert(2 + k, p, sub[p].iloc[0])
                frames.append(tab)
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    present = set(runs.loc[runs["status"] == "ok", "scenario"]) if len(runs) else set()
    used = [m for m in metrics if m not in CENSORED_METRICS and m in runs.columns]
    pair_on = _pair_on(runs)
    frames = []
    for contrast in contrasts:
        scenario, reference = contrast[0], contrast[1]
        group = contrast[2] if len(contrast) > 2 else f"{scenario} vs {reference}"
        if scenario not in present or reference not in present or not used:
            continue
        eff = paired_effects(
            runs,
            reference,
            used,
            scenarios=[scenario],
            pair_on=pair_on,
            n_resamples=n_resamples,
            seed=SEED,
        )
        p_higher = []
        for metric in used:
            d = paired_differences(runs, scenario, reference, metric, pair_on=pair_on)
            p_higher.append(float(np.mean(d.to_numpy() > 0)) if len(d) else float("nan"))
        eff.insert(0, "group", group)
        eff["p_higher"] = p_higher
        frames.append(eff)
    if not frames:
        return pd.DataFrame()
    return pd.concat(frames, ignore_index=True)


def effects_by_point(
    runs: pd.DataFrame,
    baseline: str,
    metrics: Sequence[str],
    *,
    order: Sequence[str] | None = None,
    n_resamples: int = N_RESAMPLES,
) -> pd.DataFrame:
    """Paired effects against ``baseline`` at each parameter point separately (never pooled
    over points), with the point's parameter values as columns; one point: no columns added.
    """
    present = set(runs.loc[runs["status"] == "ok", "scenario"])
    names = list(order) if order is not None else list(pd.unique(runs["scenario"]))
    scenarios = [s for s in names if s != baseline and s in present]
    used = [m for m in metrics if m not in CENSORED_METRICS and m in runs.columns]
    if not used:
        return pd.DataFrame()
    params = param_columns(runs)
    points = sorted(runs["point"].unique()) if "point" in runs.columns else [0]
    frames = []
    for point in points:
        sub = runs[runs["point"] == point] if "point" in runs.columns else runs
        if baseline not in set(sub.loc[sub["status"] == "ok", "scenario"]):
            continue
        eff = paired_effects(
            sub,
            baseline,
            used,
            scenarios=[s for s in scenarios if s in set(sub["scenario"])],
            pair_on=_pair_on(sub),
            n_resamples=n_resamples,
            seed=SEED,
        )
        if len(points) > 1:
            eff.insert(1, "point", int(point))
            for k, p in enumerate(params):
                eff.insert(2 + k, p, sub[p].iloc[0])
        frames.append(eff)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def dose_response_table(
    runs: pd.DataFrame,
    param: str,
    metric: str,
    *,
    baseline: str | None = None,
    order: Sequence[str] | None = None,
    n_resamples: int = N_RESAMPLES,
) -> pd.DataFrame:
    """The metric at each value of one parameter axis, per scenario.

    Runs at every point with that value of ``param`` are used (the other axes' points
    are averaged over; pairs stay within a point). A sampled parameter (more than
    :data:`MAX_LEVELS` distinct values, e.g. a Latin hypercube) is cut into
    :data:`SAMPLE_BINS` bins of equal counts, each shown at the mean value of its runs.

    Returns
    -------
    pandas.DataFrame
        One row per (value, scenario): ``mean`` with its bootstrap interval over the runs
        (``low``, ``high``), ``n`` runs; and when ``baseline`` is given, the paired effect
        against it at that value (``effect``, ``effect_low``, ``effect_high``).
    """
    if metric in CENSORED_METRICS:
        raise ValueError(f"{metric!r} is censored: no dose-response of plain means")
    ok = runs[runs["status"] == "ok"]
    names = list(order) if order is not None else list(pd.unique(ok["scenario"]))
    rows = []
    key = runs[param]
    if ok[param].nunique() > MAX_LEVELS:
        _, edges = pd.qcut(ok[param], SAMPLE_BINS, retbins=True, duplicates="drop")
        cut = pd.cut(runs[param], edges, include_lowest=True)
        key = runs[param].groupby(cut, observed=True).transform("mean")
    for value in sorted(key.dropna().unique()):
        at = runs[key == value]
        at_ok = at[at["status"] == "ok"]
        effects = pd.DataFrame()
        others = [s for s in names if s != baseline and s in set(at_ok["scenario"])]
        if baseline is not None and baseline in set(at_ok["scenario"]) and others:
            effects = paired_effects(
                at,
                baseline,
                [metric],
                scenarios=others,
                pair_on=_pair_on(at),
                n_resamples=n_resamples,
                seed=SEED,
            ).set_index("scenario")
        for name in names:
            vals = at_ok.loc[at_ok["scenario"] == name, metric].to_numpy(dtype=float)
            if vals.size == 0:
                continue
            mean, low, high = bootstrap_ci(vals, n_resamples=n_resamples, seed=SEED)
            row = {
                param: value,
                "scenario": name,
                "mean": mean,
                "low": low,
                "high": high,
                "n": int(vals.size),
            }
            if baseline is not None:
                if name == baseline:
                    eff = (0.0, 0.0, 0.0)
                elif name in effects.index:
                    e = effects.loc[name]
                    eff = (e["estimate"], e["ci_low"], e["ci_high"])
                else:
                    eff = (np.nan, np.nan, np.nan)
                row.update(zip(("effect", "effect_low", "effect_high"), eff, strict=True))
            rows.append(row)
    return pd.DataFrame(rows)

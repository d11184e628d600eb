"""The text report of ``i4p compare``: the tables the HTML report shows, as text.

Paired effects against the baseline at each parameter point separately (never pooled), the
contrasts between variants (declared in ``[report] contrasts`` or one factor apart by
name), a dose-response table per parameter axis, each shocked scenario against its twin
(censored recovery as the share recovered and a restricted mean, never a plain effect), the
2x2 interactions and violence prevented per block of funding units (both at each
parameter point, in the report's units). For a sweep over an ensemble, each contrast's
share of members where it holds, with its interval over members and the distribution of
its size, above the per-member intervals (:mod:`i4p_sim.stats.ensemble`). Every interval comes from
:mod:`i4p_sim.stats.contrasts`' resampling, as in the HTML report. Reads only the results
store.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from i4p_sim.config.errors import ConfigError
from i4p_sim.stats.contrasts import (
    N_RESAMPLES,
    contrasts_table,
    dose_response_table,
    effects_by_point,
    experiment_contrasts,
    param_columns,
)
from i4p_sim.stats.ensemble import VERDICTS, ensemble_shares, member_contrasts, share_sentence
from i4p_sim.stats.format import format_table
from i4p_sim.stats.labels import CENSORED_METRICS, FUNDING_METRIC, funding_block, metric_label
from i4p_sim.stats.metrics import SUMMARY_KEYS
from i4p_sim.stats.resilience import PAIRED_KEYS, read_paired, with_paired
from i4p_sim.stats.tables import (
    DEFAULT_METRICS,
    experiment_runs,
    funding_table,
    interactions_table,
    paired_summary_table,
)
from i4p_sim.sweep.storage import atomic_write_text
from i4p_sim.sweep.store import read_manifest, read_runs

__all__ = ["compare_text"]


def compare_text(
    results: str | Path,
    *,
    baseline: str | None = None,
    metric: list[str] | None = None,
    csv: str | Path | None = None,
) -> str:
    """The text of ``i4p compare RESULTS [--baseline B] [--metric M ...] [--csv PATH]``.

    Parameters
    ----------
    results : str or Path
        A sweep's results directory.
    baseline : str, optional
        Baseline scenario (default: the experiment's).
    metric : list of str, optional
        Metrics (default :data:`~i4p_sim.stats.tables.DEFAULT_METRICS`); censored ones are
        named and shown only as recovery.
    csv : str or Path, optional
        Also write the effects table there.

    Raises
    ------
    ConfigError
        No successful runs, an unknown baseline or metric (one line each).
    """
    out: list[str] = []
    paired = read_paired(results)
    runs = experiment_runs(with_paired(read_runs(results), paired))
    config = read_manifest(results).get("config", {})
    ok = runs[runs["status"] == "ok"]
    if ok.empty:
        raise ConfigError(str(results), "runs.parquet", "no successful runs to compare")
    names = list(pd.unique(runs["scenario"]))
    baseline = baseline or config.get("baseline") or names[0]
    if baseline not in names:
        raise ConfigError(
            "command line", "--baseline", f"'{baseline}' not found; allowed: {', '.join(names)}"
        )
    metrics = list(metric or DEFAULT_METRICS)
    known = [*SUMMARY_KEYS, *(k for k in PAIRED_KEYS if k != "recovered")]
    for m in metrics:
        if m not in known:
            raise ConfigError(
                "command line", "--metric", f"'{m}' unknown; allowed: {', '.join(known)}"
            )
    censored = [m for m in metrics if m in CENSORED_METRICS]
    metrics = [m for m in metrics if m in runs.columns and m not in CENSORED_METRICS]
    order = [s for s in (config.get("scenarios") or names) if s in set(names)]
    params = param_columns(runs)
    table = effects_by_point(runs, baseline, metrics, order=order)
    n_points = int(runs["point"].nunique()) if "point" in runs.columns else 1
    shown_cols = ["scenario", *(["point", *params] if n_points > 1 else [])]
    shown_cols += ["metric", "estimate", "ci_low", "ci_high", "n", "ratio"]
    if metrics:
        out.append(
            f"paired differences (scenario - {baseline}), mean over replicates with 95% "
            f"bootstrap CI ({N_RESAMPLES} resamples, as the report); "
            f"{int(ok['replicate'].nunique())} replicates"
            + (f"; each of the {n_points} parameter points separately" if n_points > 1 else "")
        )
        out.append(format_table(table[shown_cols]) if len(table) else "(no rows)")
    if censored:
        out.append(
            f"{chr(10) if out else ''}{', '.join(censored)}: censored for runs that never recovered, so never a "
            "plain effect; see the share recovered and the restricted mean below"
        )
    contrasts, declared = experiment_contrasts(config, order)
    ensemble = (config.get("file") or {}).get("ensemble")
    used = metrics[:1] if not metric else metrics
    if ensemble:  # each member classified by its paired interval, then shares over members
        contrasts = contrasts or [
            (s, baseline, f"{s} vs {baseline}") for s in order if s != baseline
        ]
        ctab = member_contrasts(runs, contrasts, used)
        out.append(_ensemble_text(ctab, ensemble, int(ok["replicate"].nunique())))
    else:
        ctab = contrasts_table(runs, contrasts, used, by_point=True)
    if len(ctab):
        out.append(
            f"\ncontrasts between variants ({'declared by the experiment' if declared else 'one factor apart, from the names'}): "
            "scenario - reference, paired per replicate (at each parameter point), 95% bootstrap "
            "CI; ratio of means; "
            "p_higher = share of replicates where the scenario is higher"
        )
        out.append(
            format_table(
                ctab[
                    [
                        "group",
                        *(["point", *params] if n_points > 1 else []),
                        "scenario",
                        "baseline",
                        "metric",
                        "estimate",
                        "ci_low",
                        "ci_high",
                        "ratio",
                        "ratio_low",
                        "ratio_high",
                        "p_higher",
                        "n",
                        *(["verdict"] if ensemble else []),
                    ]
                ].rename(columns={"baseline": "reference"})
            )
        )
    if ensemble and params:  # members differ in every parameter at once: confounded
        out.append("\n(no dose-response along one parameter: ensemble members differ in all)")
    for param in params if not ensemble else []:
        if ok[param].nunique() < 2 or not metrics:
            continue
        dose = dose_response_table(runs, param, metrics[0], baseline=baseline, order=order)
        out.append(
            f"\ndose-response along {param}: {metrics[0]} per scenario (mean over runs, 95% "
            f"bootstrap CI) and its paired effect against {baseline} at each value"
        )
        out.append(format_table(dose))
    ptab = paired_summary_table(paired, order=order)
    if not ptab.empty:
        out.append(
            "\nagainst each shocked scenario's twin (same seeds, shocks removed): signed excess "
            "violence (resilience_loss) with 95% bootstrap CI, sum of positive parts, runs "
            "recovered; recovery is censored for runs that never recovered: recovery_rmean "
            "is a restricted mean (censored runs count their months observed), not an effect"
        )
        out.append(format_table(ptab))
    point_cols = ["point", *params] if n_points > 1 else []
    each_point = "; at each parameter point separately" if n_points > 1 else ""
    inter = config.get("interactions") or []
    if inter:
        itab = interactions_table(
            runs, inter, [m for m in metrics if m in DEFAULT_METRICS[:3]], by_point=True
        )
        out.append(
            "\n2 x 2 interactions ((ab - b) - (a - none); ratio scale: 1 = no interaction)"
            + each_point
        )
        out.append(format_table(itab))
    ftab = funding_table(runs, baseline, by_point=True)
    if not ftab.empty:
        out.append(_funding_text(ftab, baseline, point_cols, each_point))
    if csv:
        atomic_write_text(csv, table.to_csv(index=False))
        out.append(f"wrote {csv}")
    return "\n".join(out)


def _funding_text(ftab: pd.DataFrame, baseline: str, point_cols: list[str], note: str) -> str:
    """The funding table in the report's units: violence prevented in violent months per
    1,000 communities, per block of funding units (a power of ten; never 7.5e-05)."""
    lab = metric_label(FUNDING_METRIC)
    block = funding_block(ftab["averted_per_funding"])
    units = "funding unit" if block == 1 else f"{block:,} funding units"
    per = "prevented_per_unit" if block == 1 else f"prevented_per_{block}_units"
    shown = ftab.assign(
        prevented=ftab["violence_averted"] * lab.scale,
        **{per: ftab["averted_per_funding"] * lab.scale * block},
        ci_low=ftab["ci_low"] * lab.scale * block,
        ci_high=ftab["ci_high"] * lab.scale * block,
    )
    head = (
        f"\nviolence prevented per {units}: how much less violence {baseline} had than "
        f"each variant spending a different amount ({lab.unit}), per {units} it spent "
        "more (extra_funding below 0: it spent less); paired over replicates, 95% bootstrap "
        f"CI ({N_RESAMPLES} resamples){note}; above 0: the extra funding came with less "
        "violence, below 0: with more"
    )
    cols = ["funded", "versus", *point_cols, "extra_funding", "prevented", per]
    return head + "\n" + format_table(shown[[*cols, "ci_low", "ci_high", "n"]])


def _ensemble_text(members: pd.DataFrame, ensemble: str, replicates: int) -> str:
    """The shares over an ensemble's members, one sentence and one table row per contrast
    (:mod:`i4p_sim.stats.ensemble`)."""
    shares = ensemble_shares(members)
    if shares.empty:
        return "\nensemble: no contrast could be paired at any member"
    n = int(shares["members"].max())
    head = (
        f"\nover the ensemble ({ensemble}: {n} members x {replicates} replicates, common "
        "random numbers within a member): each member is classified by its paired 95% "
        f"bootstrap interval ({' / '.join(VERDICTS)}: the scenario clearly less / clearly "
        "more / the interval includes 0); share = members where the contrast holds, with a "
        f"95% bootstrap interval over members ({N_RESAMPLES} resamples); effect = median "
        "and quartiles of the per-member mean effect; members are unweighted (a "
        "not-ruled-out set, not a posterior)"
    )
    lines = [head]
    for r in shares.itertuples(index=False):
        lab = metric_label(r.metric)
        words = share_sentence(r, label=lab.label.lower(), scale=lab.scale, unit=lab.unit)
        lines.append(f"  {words}")
    cols = ["scenario", "baseline", "metric", "members", *VERDICTS, "share", "share_low"]
    cols += ["share_high", "effect_median", "effect_q25", "effect_q75", "ratio_median"]
    lines.append(format_table(shares[cols].rename(columns={"baseline": "reference"})))
    return "\n".join(lines)

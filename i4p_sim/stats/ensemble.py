"""Policy contrasts over an ensemble: the share of plausible worlds where a contrast holds.

DESIGN section 3.1 (last paragraph). In an ensemble sweep every variant runs on every
member (a parameter point of the runs table) with common random numbers within the member.
For each contrast ``(scenario, reference)`` and metric:

1. per member, the paired effect (scenario - reference, mean over the member's paired
   replicates) with its 95% bootstrap interval: exactly
   :func:`i4p_sim.stats.contrasts.contrasts_table` at that point (the same resampling,
   :data:`~i4p_sim.stats.contrasts.N_RESAMPLES` resamples, seed
   :data:`~i4p_sim.stats.contrasts.SEED`);
2. each member is classified by that interval (:func:`classify`): the contrast **holds**
   when the scenario clearly has less of the metric (the whole interval below zero: every
   metric compared here is a harm, violence or its duration), is **reversed** when the whole
   interval is above zero, and is **undetermined** otherwise (``direction="more"`` swaps
   holds and reversed);
3. over members, the share where it holds with a bootstrap interval over members (the
   members resampled, :func:`~i4p_sim.stats.bootstrap.bootstrap_ci` of the 0/1 indicator,
   same resamples and seed), and the distribution of the effect's size: the median and
   quartiles of the per-member mean effect, and the median per-member ratio of means
   (``1 - ratio`` is the reduction).

Two headline contrasts are not one pair of variants, and have their own per-member
functions feeding the same :func:`ensemble_shares`: the tier interaction
``(both - council) - (lpc - none)`` (:func:`member_interaction`, the paired additive
interaction of :func:`i4p_sim.stats.paired.interaction` per member), and early vs late exit
(:func:`member_window_contrast`: each exit's excess over its own twin over equal windows
from each exit's first effect, :func:`window_excess`; a total to a fixed horizon would
credit the later exit with fewer months after it, docs/ODD.md 8.10).

Members are unweighted: an ensemble is a not-ruled-out set, not a posterior, so a share is
"in this many of the plausible worlds tried", never a probability of the parameters. A
share of 0 or 1 has a zero-width bootstrap interval (every resample is the same); with
``M`` members read it as "at least about ``1 - 3/M``" (the rule of three).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from i4p_sim.stats.bootstrap import bootstrap_ci
from i4p_sim.stats.contrasts import N_RESAMPLES, SEED, Contrast, contrasts_table
from i4p_sim.stats.paired import interaction

__all__ = [
    "VERDICTS",
    "classify",
    "ensemble_shares",
    "member_contrasts",
    "member_interaction",
    "member_window_contrast",
    "share_sentence",
    "window_excess",
]

#: The classes of a member, in the order the tables show them.
VERDICTS = ("holds", "reversed", "undetermined")


def classify(ci_low: float, ci_high: float, direction: str = "less") -> str:
    """``"holds"``, ``"reversed"`` or ``"undetermined"`` from a paired interval of
    scenario - reference; ``direction`` is what the contrast claims of the scenario
    (``"less"``: below the reference)."""
    if direction not in ("less", "more"):
        raise ValueError(f"direction must be 'less' or 'more', got {direction!r}")
    if not (math.isfinite(ci_low) and math.isfinite(ci_high)):
        return "undetermined"
    below, above = ci_high < 0, ci_low > 0
    if direction == "more":
        below, above = above, below
    return "holds" if below else ("reversed" if above else "undetermined")


def member_contrasts(
    runs: pd.DataFrame,
    contrasts: Sequence[tuple[str, str] | Contrast],
    metrics: Sequence[str],
    *,
    direction: str = "less",
    n_resamples: int = N_RESAMPLES,
) -> pd.DataFrame:
    """Each contrast at each member (parameter point) with its paired interval and class.

    Returns
    -------
    pandas.DataFrame
        The columns of :func:`~i4p_sim.stats.contrasts.contrasts_table` with
        ``by_point=True`` (``point`` is the member; one member gives ``point`` 0), plus
        ``verdict`` (:data:`VERDICTS`).
    """
    table = contrasts_table(runs, contrasts, metrics, by_point=True, n_resamples=n_resamples)
    if table.empty:
        return table
    if "point" not in table.columns:
        point = int(runs["point"].iloc[0]) if "point" in runs.columns and len(runs) else 0
        table.insert(1, "point", point)
    table["verdict"] = [
        classify(lo, hi, direction)
        for lo, hi in zip(table["ci_low"], table["ci_high"], strict=True)
    ]
    return table


def ensemble_shares(
    members: pd.DataFrame, *, n_resamples: int = N_RESAMPLES, seed: int = SEED
) -> pd.DataFrame:
    """Over members, per contrast and metric: how many hold, are reversed, undetermined;
    the share holding with its 95% bootstrap interval over members; the median and
    quartiles of the per-member mean effect; the median per-member ratio of means.

    Parameters
    ----------
    members : pandas.DataFrame
        :func:`member_contrasts` (columns ``group``, ``scenario``, ``baseline``,
        ``metric``, ``estimate``, ``ratio``, ``verdict``).
    """
    keys = ["group", "scenario", "baseline", "metric"]
    rows = []
    if members.empty:
        return pd.DataFrame(rows)
    for key, sub in members.groupby(keys, sort=False):
        holds = (sub["verdict"] == "holds").to_numpy(dtype=float)
        share, low, high = bootstrap_ci(holds, n_resamples=n_resamples, seed=seed)
        effects = sub["estimate"].to_numpy(dtype=float)
        effects = effects[np.isfinite(effects)]
        ratios = sub["ratio"].to_numpy(dtype=float)
        ratios = ratios[np.isfinite(ratios)]
        q25, median, q75 = (
            np.quantile(effects, [0.25, 0.5, 0.75]) if effects.size else (np.nan,) * 3
        )
        rows.append(
            {
                **dict(zip(keys, key, strict=True)),
                "members": len(sub),
                "holds": int((sub["verdict"] == "holds").sum()),
                "reversed": int((sub["verdict"] == "reversed").sum()),
                "undetermined": int((sub["verdict"] == "undetermined").sum()),
                "share": share,
                "share_low": low,
                "share_high": high,
                "effect_median": float(median),
                "effect_q25": float(q25),
                "effect_q75": float(q75),
                "ratio_median": float(np.median(ratios)) if ratios.size else float("nan"),
            }
        )
    return pd.DataFrame(rows)


def _pct(x: float) -> str:
    return f"{100 * x:.0f}" if math.isfinite(x) else "n/a"


def _num(x: float) -> str:
    return f"{x:.3g}" if math.isfinite(x) else "n/a"


def share_sentence(row, *, label: str | None = None, scale: float = 1.0, unit: str = "") -> str:
    """One row of :func:`ensemble_shares` in words: ``phased has less cumulative violence
    than abrupt in 83% [74, 90] of 30 plausible worlds (reversed in 1, undetermined in 4);
    median reduction 40%; per-member mean effect median -12.3 (quartiles -15.1 to -8.2)``.
    """
    what = label or str(row.metric).replace("_", " ")
    scen, ref = (str(n).replace("_", " ") for n in (row.scenario, row.baseline))
    r = row.ratio_median
    if not math.isfinite(r):
        size = "median ratio of means n/a"
    elif r <= 1:
        size = f"median reduction {_pct(1 - r)}%"
    else:
        size = f"median increase {_pct(r - 1)}%"
    u = f" {unit}" if unit else ""
    m = int(row.members)
    edge = ""
    if row.holds in (0, m) and m > 0:  # every resample the same: the rule of three instead
        bound = (
            f"below {_pct(min(1.0, 3 / m))}%"
            if row.holds == 0
            else f"above {_pct(max(0.0, 1 - 3 / m))}%"
        )
        who = "none holds" if row.holds == 0 else "all hold"
        edge = f" ({who}: a zero-width interval; by the rule of three {bound})"
    return (
        f"{scen} has less {what} than {ref} in {_pct(row.share)}% "
        f"[{_pct(row.share_low)}, {_pct(row.share_high)}]{edge} of {m} plausible worlds "
        f"(reversed in {row.reversed}, undetermined in {row.undetermined}); {size}; "
        f"per-member mean effect median {_num(row.effect_median * scale)}{u} "
        f"(quartiles {_num(row.effect_q25 * scale)} to {_num(row.effect_q75 * scale)})"
    )


def _member_row(group: str, point: Any, scenario: str, baseline: str, metric: str) -> dict:
    return {"group": group, "point": point, "scenario": scenario, "baseline": baseline,
            "metric": metric}  # fmt: skip


def member_interaction(
    runs: pd.DataFrame,
    cells: Mapping[str, str],
    metric: str,
    *,
    direction: str = "less",
    n_resamples: int = N_RESAMPLES,
) -> pd.DataFrame:
    """The tier interaction ``(ab - b) - (a - none)`` at each member, classified.

    Per member (parameter point ``point``) the paired additive interaction of
    :func:`i4p_sim.stats.paired.interaction` over the member's replicates, with its 95%
    bootstrap interval (:data:`~i4p_sim.stats.contrasts.SEED`); the member **holds** when
    the interval is wholly below zero (``direction="less"``: the two tiers together remove
    more than the sum of what each removes alone, the I4P hypothesis).

    Parameters
    ----------
    runs : pandas.DataFrame
        Runs table of an ensemble sweep (``scenario``, ``replicate``, ``point``, ``metric``).
    cells : Mapping
        ``{"none": ..., "a": ..., "b": ..., "ab": ...}`` scenario names (``a`` the
        grassroots tier alone, ``b`` the top-down tier alone, ``ab`` both).
    metric : str
        Summary metric column.
    direction : {"less", "more"}
        What the interaction is claimed to be, against zero.
    n_resamples : int
        Bootstrap resamples.

    Returns
    -------
    pandas.DataFrame
        One row per member: ``group`` (``"tier interaction"``), ``point``, ``scenario``
        (``"(ab - b) - (a - none)"`` with the names), ``baseline`` (``"additive"``),
        ``metric``, ``estimate``, ``ci_low``, ``ci_high``, ``n``, ``ratio`` (the ratio-scale
        interaction of the member's means, ``mean_ab mean_none / (mean_a mean_b)``) and
        ``verdict``. Feed it to :func:`ensemble_shares`.
    """
    ok = runs[runs["status"] == "ok"] if "status" in runs.columns else runs
    ok = ok[ok["scenario"].isin(list(cells.values()))]
    label = f"({cells['ab']} - {cells['b']}) - ({cells['a']} - {cells['none']})"
    rows = []
    points = ok["point"] if "point" in ok.columns else pd.Series(0, index=ok.index)
    for point, sub in ok.groupby(points, sort=True):
        res = interaction(sub, cells, metric, pair_on=("replicate",), n_resamples=n_resamples)
        m = res["means"]
        denom = m["a"] * m["b"]
        ratio = m["ab"] * m["none"] / denom if denom else float("nan")
        rows.append(
            {
                **_member_row("tier interaction", point, label, "additive", metric),
                "estimate": res["estimate"],
                "ci_low": res["ci_low"],
                "ci_high": res["ci_high"],
                "n": res["n"],
                "ratio": ratio,
                "verdict": classify(res["ci_low"], res["ci_high"], direction),
            }
        )
    return pd.DataFrame(rows)


def window_excess(
    series: pd.DataFrame,
    scenario: str,
    twin: str,
    start: int,
    window: int,
    metric: str = "violence_share",
) -> pd.DataFrame:
    """Excess of ``scenario`` over its ``twin`` in months ``start .. start + window - 1``.

    Returns
    -------
    pandas.DataFrame
        One row per member and replicate paired in both: ``point``, ``replicate``,
        ``excess`` (mean over the window of scenario - twin), ``scenario_mean``,
        ``twin_mean``.
    """
    sub = series[(series["step"] >= start) & (series["step"] < start + window)]
    keys = ["point", "replicate"]
    means = {}
    for name in (scenario, twin):
        s = sub[sub["scenario"] == name]
        means[name] = s.groupby(keys)[metric].mean().rename(name)
    both = pd.concat([means[scenario], means[twin]], axis=1, join="inner").dropna()
    out = pd.DataFrame(
        {
            "excess": both[scenario] - both[twin],
            "scenario_mean": both[scenario],
            "twin_mean": both[twin],
        }
    )
    return out.reset_index()


def member_window_contrast(
    series: pd.DataFrame,
    scenario: tuple[str, str, int],
    reference: tuple[str, str, int],
    window: int,
    *,
    metric: str = "violence_share",
    direction: str = "less",
    group: str = "early vs late exit",
    n_resamples: int = N_RESAMPLES,
) -> pd.DataFrame:
    """Two shocks compared by their excess over their own twins in equal windows.

    For early vs late exit: each exit's excess (:func:`window_excess`) over the same number
    of months from its own first effect, so neither exit is credited with fewer months
    after it; per member the paired difference ``excess(scenario) - excess(reference)``
    over replicates with its 95% bootstrap interval, classified (:func:`classify`).

    Parameters
    ----------
    series : pandas.DataFrame
        Per-step series (``scenario``, ``replicate``, ``point``, ``step``, ``metric``).
    scenario, reference : tuple
        ``(name, twin, first month of its effect)`` of each.
    window : int
        Months in each window.
    metric, direction, group, n_resamples
        The per-step measure; what is claimed of ``scenario`` against ``reference``
        (``"less"``: less excess); the row's group; bootstrap resamples.

    Returns
    -------
    pandas.DataFrame
        One row per member, columns as :func:`member_interaction` (``ratio``: mean excess
        of the scenario over that of the reference).
    """
    if window < 1:
        raise ValueError(f"window must be at least one month, got {window}")
    e_s = window_excess(series, *scenario, window, metric).set_index(["point", "replicate"])
    e_r = window_excess(series, *reference, window, metric).set_index(["point", "replicate"])
    paired = pd.concat([e_s["excess"].rename("s"), e_r["excess"].rename("r")], axis=1)
    paired = paired.dropna()
    rows = []
    for point, sub in paired.groupby(level="point", sort=True):
        diff = (sub["s"] - sub["r"]).to_numpy(dtype=float)
        est, lo, hi = bootstrap_ci(diff, n_resamples=n_resamples, seed=SEED)
        mean_r = float(sub["r"].mean())
        rows.append(
            {
                **_member_row(group, point, scenario[0], reference[0], metric),
                "estimate": est,
                "ci_low": lo,
                "ci_high": hi,
                "n": int(diff.size),
                "ratio": float(sub["s"].mean()) / mean_r if mean_r else float("nan"),
                "verdict": classify(lo, hi, direction),
            }
        )
    return pd.DataFrame(rows)

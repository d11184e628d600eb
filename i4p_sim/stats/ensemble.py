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

Members are unweighted: an ensemble is a not-ruled-out set, not a posterior, so a share is
"in this many of the plausible worlds tried", never a probability of the parameters. A
share of 0 or 1 has a zero-width bootstrap interval (every resample is the same); with
``M`` members read it as "at least about ``1 - 3/M``" (the rule of three).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from i4p_sim.stats.bootstrap import bootstrap_ci
from i4p_sim.stats.contrasts import N_RESAMPLES, SEED, Contrast, contrasts_table

__all__ = [
    "VERDICTS",
    "classify",
    "ensemble_shares",
    "member_contrasts",
    "share_sentence",
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

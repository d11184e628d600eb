"""The report's tables in plain words: column titles with units, values in display units,
intervals as "low to high", censored recovery stated as such (never a plain number).

Each function takes a table of :mod:`i4p_sim.stats.tables` or
:mod:`i4p_sim.stats.contrasts` (the ones ``i4p compare`` prints) and returns a
:class:`pandas.DataFrame` of strings and numbers ready for :func:`html_table`.
"""

from __future__ import annotations

import html
import math
from numbers import Real
from typing import Any

import numpy as np
import pandas as pd

from i4p_sim.stats.format import format_number
from i4p_sim.stats.labels import FUNDING_METRIC, funding_block, metric_label

__all__ = [
    "FOLD_ROWS",
    "contrasts_frame",
    "effects_frame",
    "funding_frame",
    "html_table",
    "interactions_frame",
    "metrics_frame",
    "plain_number",
    "twin_frame",
]


#: Tables longer than this are folded (a click shows them): the headline states the answers.
FOLD_ROWS = 24


def plain_number(x: Any, digits: int = 3) -> str:
    """A number for a reader: ``digits`` significant digits, never in scientific notation
    (``5,770`` rather than ``5.77e+03``; ``≈0`` for a value within rounding of zero)."""
    if isinstance(x, Real) and not isinstance(x, bool | np.bool_) and math.isfinite(float(x)):
        v = float(x)
        if abs(v) >= 10**digits:
            return f"{round(v):,}"
        if 0 < abs(v) < 5e-5:
            return "≈0"
        text = format_number(v, digits)
        if "e" in text:  # e.g. 99.5 at 2 digits rounds up to 1e+02
            return f"{round(v):,}" if abs(v) >= 1 else f"{v:.{digits + 4}f}".rstrip("0")
        return text
    return format_number(x, digits)


def _n(x: Any, digits: int = 3) -> str:
    return plain_number(x, digits)


def _ci(lo: Any, hi: Any, scale: float = 1.0) -> str:
    if lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi)):
        return "n/a"
    return f"{_n(lo * scale)} to {_n(hi * scale)}"


def _words(name: Any) -> str:
    return str(name).replace("_", " ")


def html_table(frame: pd.DataFrame, digits: int = 3) -> str:
    """A frame as an HTML table (numbers to ``digits`` significant digits, escaped)."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = "".join(
        "<tr>"
        + "".join(
            f"<td{' class=t' if isinstance(v, str) else ''}>"
            f"{html.escape(plain_number(v, digits))}</td>"
            for v in row
        )
        + "</tr>"
        for row in frame.itertuples(index=False)
    )
    table = f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    if len(frame) > FOLD_ROWS:
        return f"<details><summary>show the table ({len(frame)} rows)</summary>{table}</details>"
    return table


def effects_frame(effects: pd.DataFrame) -> pd.DataFrame:
    """Paired effects against the baseline, one row per (variant, measure)."""
    rows = []
    for r in effects.itertuples(index=False):
        lab = metric_label(r.metric)
        rows.append(
            {
                "variant": _words(r.scenario),
                "measure (unit)": lab.title,
                "variant's mean": r.mean_scenario * lab.scale,
                "baseline's mean": r.mean_baseline * lab.scale,
                "difference": r.estimate * lab.scale,
                "95% CI of the difference": _ci(r.ci_low, r.ci_high, lab.scale),
                "ratio of means": r.ratio,
                "95% CI of the ratio": _ci(r.ratio_low, r.ratio_high),
                "pairs": r.n,
            }
        )
    return pd.DataFrame(rows)


def contrasts_frame(table: pd.DataFrame) -> pd.DataFrame:
    """Contrasts between variants (the headline's table, every metric it holds)."""
    rows = []
    for r in table.itertuples(index=False):
        lab = metric_label(r.metric)
        rows.append(
            {
                "contrast": r.group,
                "variant": _words(r.scenario),
                "against": _words(r.baseline),
                f"{lab.label} ({lab.unit})": f"{_n(r.mean_scenario * lab.scale)} vs "
                f"{_n(r.mean_baseline * lab.scale)}",
                "difference": r.estimate * lab.scale,
                "95% CI": _ci(r.ci_low, r.ci_high, lab.scale),
                "ratio": r.ratio,
                "95% CI of the ratio": _ci(r.ratio_low, r.ratio_high),
                "replicates higher": f"{round(r.p_higher * r.n)} of {r.n}",
            }
        )
    return pd.DataFrame(rows)


def metrics_frame(ok: pd.DataFrame, order: list[str], metrics: list[str]) -> pd.DataFrame:
    """Mean per scenario of uncensored per-run metrics, in display units."""
    used = [m for m in metrics if m in ok.columns]
    means = ok.groupby("scenario", sort=False)[used].mean(numeric_only=False)
    means = means.reindex([s for s in order if s in means.index])
    out = pd.DataFrame({"variant": [_words(s) for s in means.index]})
    for m in used:
        lab = metric_label(m)
        out[lab.title] = means[m].to_numpy(dtype=float) * lab.scale
    return out


def _recovery_text(r: Any) -> str:
    months = int(r.months_observed)
    if r.censored == r.n:
        return f"none within the {months} months observed (all censored)"
    if r.censored == 0:
        return f"mean {_n(r.recovery_rmean)} months (all recovered)"
    return (
        f"restricted mean {_n(r.recovery_rmean)} months: {r.censored} of {r.n} censored "
        f"(counted as {months})"
    )


def twin_frame(ptab: pd.DataFrame) -> pd.DataFrame:
    """Each shocked variant against its twin; recovery as runs recovered and a restricted
    mean that says how many runs are censored."""
    loss = metric_label("resilience_loss")
    rows = []
    for r in ptab.itertuples(index=False):
        row = {"variant": _words(r.scenario)}
        if "point" in ptab.columns:
            row["parameter point"] = r.point
        row |= {
            "twin (steady funding)": _words(r.twin),
            f"excess violence ({loss.unit})": r.resilience_loss * loss.scale,
            "95% CI": _ci(r.ci_low, r.ci_high, loss.scale),
            "months above the twin only": r.excess_positive * loss.scale,
            "runs recovered": f"{r.recovered.replace('/', ' of ')}",
            "months to recover": _recovery_text(r),
            "noise band (% of communities)": r.tol * 100,
        }
        rows.append(row)
    return pd.DataFrame(rows)


def _with_points(table: pd.DataFrame, rows: list[dict[str, Any]]) -> pd.DataFrame:
    """``rows`` as a frame, led by the parameter columns (dotted paths) of a by-point table."""
    frame = pd.DataFrame(rows)
    params = [c for c in table.columns if "." in str(c)]
    if params and len(frame):
        frame = pd.concat([table[params].reset_index(drop=True), frame], axis=1)
    return frame


def funding_frame(ftab: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Violence prevented per block of funding units, with the block (a power of ten)
    chosen so that the typical value is at least 1 (no 4.58e-05)."""
    lab = metric_label(FUNDING_METRIC)
    block = funding_block(ftab["averted_per_funding"])
    rows = []
    for r in ftab.itertuples(index=False):
        rows.append(
            {
                "more funding": _words(r.funded),
                "less funding": _words(r.versus),
                "extra funding (funding units)": r.extra_funding,
                f"violence prevented ({lab.unit})": r.violence_averted * lab.scale,
                f"prevented per {block:,} funding units": r.averted_per_funding * lab.scale * block,
                "95% CI": _ci(r.ci_low, r.ci_high, lab.scale * block),
                "pairs": r.n,
            }
        )
    return _with_points(ftab, rows), block


def interactions_frame(itab: pd.DataFrame) -> pd.DataFrame:
    """The 2x2 interactions with plain measure names (additive values in display units)."""
    rows = []
    for r in itab.itertuples(index=False):
        lab = metric_label(r.metric)
        scale = lab.scale if r.scale == "additive" else 1.0
        rows.append(
            {
                "interaction": r.interaction,
                "measure (unit)": lab.title if r.scale == "additive" else f"{lab.label} (ratio)",
                "scale": r.scale,
                "estimate": r.estimate * scale,
                "95% CI": _ci(r.ci_low, r.ci_high, scale),
                "pairs": r.n,
                "note": r.note,
            }
        )
    return _with_points(itab, rows)

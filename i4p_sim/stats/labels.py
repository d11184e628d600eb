"""Plain-language names and units of metrics and parameters: the one mapping the report
(and any text meant for a reader, not a script) uses instead of column names.

Units follow docs/ODD.md: one step is one month; ``violence_share`` is the share of
communities (cells) with a violent event in a month, so ``cumulative_violence`` (its sum
over months) is the mean number of violent months per community; money is counted in
*funding units*, one unit being a peace committee's running cost for a month
(``lpc.cost = 1``, ODD section 7.10). Violence is shown per 1,000 communities and shares as
percentages, so that no reader meets a 4.58e-05.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "CENSORED_METRICS",
    "FUNDING_METRIC",
    "METRICS",
    "MetricLabel",
    "funding_block",
    "metric_label",
    "param_label",
    "scaled",
]


@dataclass(frozen=True)
class MetricLabel:
    """How a metric is shown: ``label`` (a noun phrase), ``unit`` and the factor from the
    stored value to the shown one (``shown = stored * scale``)."""

    label: str
    unit: str
    scale: float = 1.0
    #: "higher" or "lower": the direction that is better for peace ("" when neutral).
    better: str = ""

    @property
    def title(self) -> str:
        """``label (unit)``: an axis or column title."""
        return f"{self.label} ({self.unit})" if self.unit else self.label


_PER_1000 = "violent months per 1,000 communities"

#: metric column -> its plain label, unit and display scale.
METRICS: dict[str, MetricLabel] = {
    "cumulative_violence": MetricLabel("Total violence", _PER_1000, 1000.0, "lower"),
    "pre_violence": MetricLabel(
        "Violence before the reference month", "% of communities violent per month", 100.0
    ),
    "peak_violence": MetricLabel(
        "Peak violence after the reference month",
        "% of communities violent, moving average",
        100.0,
        "lower",
    ),
    "time_to_peak": MetricLabel("Months to the peak", "months"),
    "lpcs_surviving": MetricLabel("Peace committees active at the end", "committees", 1, "higher"),
    "funding_spent": MetricLabel("Donor funding spent", "funding units"),
    "mean_tension": MetricLabel("Mean tension", "0 = calm, 1 = at the violence threshold"),
    "resilience_loss": MetricLabel("Excess violence over the twin", _PER_1000, 1000.0, "lower"),
    "excess_positive": MetricLabel(
        "Excess violence over the twin, months above it only", _PER_1000, 1000.0, "lower"
    ),
    "recovery_time": MetricLabel("Months to recover", "months (restricted mean)", 1, "lower"),
    "recovered": MetricLabel("Runs recovered", "share of runs", 1, "higher"),
    "months_observed": MetricLabel("Months observed after the reference month", "months"),
    "tol": MetricLabel("Noise band", "% of communities violent", 100.0),
    # per-step series
    "violence_share": MetricLabel("Violence", "% of communities with a violent event", 100.0),
    "lpcs_active": MetricLabel("Peace committees active", "committees"),
    "funding_disbursed": MetricLabel("Donor funding disbursed", "funding units per month"),
}

#: Metrics whose value is censored for runs that never recovered (value plus flag): never
#: shown as a plain effect, only as the share recovered and a restricted mean.
CENSORED_METRICS: frozenset[str] = frozenset({"recovery_time", "recovered", "months_observed"})

_PARAMS = {
    "lpc.density": "Peace committees per 1,000 communities",
    "lpc.ownership": "Local ownership at the start",
    "lpc.ownership_growth": "Growth of local ownership",
    "lpc.contribution_rate": "Community contribution rate",
    "lpc.cost": "Committee running cost (funding units per month)",
    "landscape.patch_scale": "Patch scale of the landscape (cells)",
    "grid.width": "Grid width (cells)",
    "grid.height": "Grid height (cells)",
}


def metric_label(name: str) -> MetricLabel:
    """The label of a metric; an unknown name is made readable (underscores to spaces)."""
    if name in METRICS:
        return METRICS[name]
    return MetricLabel(name.replace("_", " ").replace(".", ": ").capitalize(), "")


def param_label(path: str) -> str:
    """A parameter's dotted path in words (``lpc.density`` -> its plain name)."""
    if path in _PARAMS:
        return _PARAMS[path]
    words = path.replace("_", " ").split(".")
    head = {"lpc": "committees", "council": "council", "donors": "donors"}.get(words[0], words[0])
    return f"{' '.join(words[1:]).capitalize()} ({head})" if len(words) > 1 else head.capitalize()


#: The violence metric of "violence prevented per block of funding units".
FUNDING_METRIC = "cumulative_violence"


def funding_block(per_unit: Iterable[float]) -> int:
    """The block of funding units (a power of ten) in which violence prevented per unit of
    funding is shown: the smallest that makes the typical (median absolute) value, in the
    display unit of :data:`FUNDING_METRIC`, at least 1 (7.3 per 100 units, not 7.3e-05
    per unit). ``per_unit`` holds stored values (violence per funding unit)."""
    scale = metric_label(FUNDING_METRIC).scale
    vals = sorted(abs(float(v)) * scale for v in per_unit if math.isfinite(float(v)))
    typical = (vals[(len(vals) - 1) // 2] + vals[len(vals) // 2]) / 2 if vals else 1.0
    block = 1
    while 0 < typical * block < 1 and block < 10**9:
        block *= 10
    return block


def scaled(name: str, value: float) -> float:
    """``value`` of metric ``name`` in its display unit."""
    return float(value) * metric_label(name).scale

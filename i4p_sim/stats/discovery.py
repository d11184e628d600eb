"""Scenario discovery over a sweep's design points: the outcome per point, PRIM and a tree.

What ``i4p discover`` computes (docs/ODD.md, "Scenario discovery"), on the runs table
(``runs.parquet`` joined with ``paired.parquet``), never on a model:

1. **The outcome per design point.** A metric spec (:func:`parse_metric`) names what is
   measured:

   - ``METRIC`` or ``VARIANT:METRIC``: the mean of the metric over the variant's ok
     replicates at each point;
   - ``diff:B/A:METRIC``: the paired difference, ``B - A`` per replicate (the same seed
     in both: common random numbers), averaged over the replicates both have at the point;
   - ``ratio:B/A:METRIC``: ``mean(B) / mean(A)`` over the same paired replicates (a ratio
     of means: a mean of per-replicate ratios would be ruled by replicates whose
     denominator is near zero). A point where ``mean(A) <= 0`` has no meaningful ratio
     ("more than doubles" a reduction is not defined) and is left out, and said so.

   Replicates are aggregated **first** (one value per point), then thresholded
   (``--above X``: value > X; ``--below X``: value < X): a point is a case of interest
   when its mean is past the threshold, so PRIM sees one row per design point and the
   replicates do not count as extra independent points.
2. **PRIM** (:mod:`i4p_sim.stats.prim`) over the varied parameters.
3. **A classification tree** (scikit-learn's ``DecisionTreeClassifier``, shallow) over
   the same points, as a second view: its leaves as rules.

scikit-learn is imported only by :func:`tree_rules` (the ``calibrate`` extra).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from i4p_sim.stats.prim import PrimResult

__all__ = [
    "CONTRASTS",
    "DISCOVER_FILE",
    "MetricSpec",
    "discovery_record",
    "discovery_text",
    "parse_metric",
    "point_outcomes",
    "tree_rules",
]

#: The discovery result in a results directory (written by ``i4p discover``).
DISCOVER_FILE = "discover.json"
#: The paired contrasts a metric spec may name.
CONTRASTS = ("diff", "ratio")


@dataclass(frozen=True)
class MetricSpec:
    """A parsed ``--metric``: ``kind`` is ``"mean"``, ``"diff"`` or ``"ratio"``."""

    kind: str
    metric: str
    variant: str | None = None  # "mean": the variant (None: the only one)
    a: str | None = None  # contrasts: the reference
    b: str | None = None

    def label(self) -> str:
        """The spec in words."""
        if self.kind == "mean":
            return f"mean {self.metric}" + (f" of {self.variant}" if self.variant else "")
        if self.kind == "diff":
            return f"{self.metric}: {self.b} - {self.a} (paired per replicate)"
        return f"{self.metric}: {self.b} / {self.a} (ratio of paired means)"


def parse_metric(text: str) -> MetricSpec:
    """``METRIC``, ``VARIANT:METRIC``, ``diff:B/A:METRIC`` or ``ratio:B/A:METRIC``.

    Raises
    ------
    ValueError
        Any other shape (the message says which shapes are allowed).
    """
    allowed = "allowed: METRIC, VARIANT:METRIC, diff:B/A:METRIC, ratio:B/A:METRIC"
    parts = text.split(":")
    if any(not p.strip() for p in parts) or len(parts) > 3:
        raise ValueError(f"'{text}' is not a metric spec; {allowed}")
    if len(parts) == 1:
        return MetricSpec("mean", parts[0])
    if len(parts) == 2:
        return MetricSpec("mean", parts[1], variant=parts[0])
    kind, pair, metric = parts
    b, slash, a = pair.partition("/")
    if kind not in CONTRASTS or not slash or not a or not b or "/" in a:
        raise ValueError(f"'{text}' is not a metric spec; {allowed}")
    return MetricSpec(kind, metric, a=a, b=b)


def point_outcomes(
    runs: pd.DataFrame, spec: MetricSpec, params: list[str]
) -> tuple[pd.DataFrame, int]:
    """One row per design point: its parameters, ``value`` and ``replicates`` used.

    ``runs`` are the ok runs of the experiment (with the paired metrics joined). Returns the
    table and the number of points left out (a ratio whose denominator mean is <= 0, or a
    point without a paired replicate).

    Raises
    ------
    ValueError
        A contrast whose two variants do not share the seed at some point and replicate
        (not common random numbers: not paired).
    """
    keys = ["point", *params]
    if spec.kind == "mean":
        rows = runs[runs["scenario"] == spec.variant]
        values = rows.assign(_v=rows[spec.metric].astype(float)).dropna(subset=["_v"])
        out = values.groupby(keys, sort=True)["_v"].agg(value="mean", replicates="count")
        return out.reset_index(), runs["point"].nunique() - len(out)
    by = ["point", "replicate"]
    seed = ["seed"] if "seed" in runs.columns else []
    sides = []
    for v in (spec.b, spec.a):
        rows = runs[runs["scenario"] == v]
        sides.append(rows[[*keys, "replicate", *seed, spec.metric]].set_index(by))
    both = (
        sides[0]
        .merge(
            sides[1][[*seed, spec.metric]], left_index=True, right_index=True, suffixes=("", "_a")
        )
        .dropna(subset=[spec.metric, spec.metric + "_a"])
        .reset_index()
    )
    if seed and (both["seed"] != both["seed_a"]).any():
        raise ValueError(
            f"{spec.b} and {spec.a} do not share seeds at the same point and replicate: "
            "a paired contrast needs common random numbers (variants of one sweep)"
        )
    b, a = both[spec.metric].astype(float), both[spec.metric + "_a"].astype(float)
    both = both.assign(_b=b, _a=a, _d=b - a)
    agg = both.groupby(keys, sort=True).agg(
        b=("_b", "mean"), a=("_a", "mean"), d=("_d", "mean"), replicates=("_d", "count")
    )
    agg = agg.reset_index()
    if spec.kind == "diff":
        out = agg.assign(value=agg["d"])
    else:
        out = agg[agg["a"] > 0].assign(value=lambda t: t["b"] / t["a"])
    dropped = runs["point"].nunique() - len(out)
    return out[[*keys, "value", "replicates"]].reset_index(drop=True), dropped


def tree_rules(
    x: pd.DataFrame, y: np.ndarray, *, max_depth: int = 3, seed: int = 0
) -> list[dict[str, Any]]:
    """The leaves of a shallow classification tree as rules, densest first.

    ``DecisionTreeClassifier(max_depth, min_samples_leaf = max(3, 5% of the points),
    random_state=seed)``; each leaf: its conditions (``[param, ">" or "<=", threshold]``,
    merged per parameter and side), points ``n``, cases ``k``, ``density`` and whether the
    tree predicts a case of interest there.
    """
    from sklearn.tree import DecisionTreeClassifier

    y = np.asarray(y, dtype=bool)
    leaf_min = max(3, math.ceil(0.05 * y.size))
    clf = DecisionTreeClassifier(max_depth=max_depth, min_samples_leaf=leaf_min, random_state=seed)
    clf.fit(x.to_numpy(dtype=float), y)
    t, cols = clf.tree_, list(x.columns)
    leaf_of = clf.apply(x.to_numpy(dtype=float))
    rules: list[dict[str, Any]] = []

    def walk(node: int, bounds: dict[tuple[str, str], float]) -> None:
        left, right = t.children_left[node], t.children_right[node]
        if left == right:  # a leaf
            inside = leaf_of == node
            n, k = int(inside.sum()), int(y[inside].sum())
            conds = [[p, op, float(v)] for (p, op), v in sorted(bounds.items())]
            rules.append(
                {"conditions": conds, "n": n, "k": k, "density": k / n, "predicted": k / n > 0.5}
            )
            return
        p, thr = cols[t.feature[node]], float(t.threshold[node])
        walk(left, {**bounds, (p, "<="): min(thr, bounds.get((p, "<="), math.inf))})
        walk(right, {**bounds, (p, ">"): max(thr, bounds.get((p, ">"), -math.inf))})

    walk(0, {})
    return sorted(rules, key=lambda r: (-r["density"], -r["n"]))


def _g(v: float) -> str:
    return f"{v:.4g}"


def _box_record(res: PrimResult, all_cases: int) -> dict[str, Any]:
    """The chosen box of ``res``: coverage (of the cases it ran on, and of ``all_cases``),
    density, mass and each restriction with its quasi-p-value."""
    box = res.box
    qp = res.quasi_p()
    restrictions = []
    for p in box.restricted:
        n_w, k_w = res.without(res.chosen, p)
        restrictions.append(
            {
                "param": p,
                "lo": box.lims[p][0],
                "hi": box.lims[p][1],
                "range": list(res.init[p]),
                "quasi_p": qp[p],
                "density_without": k_w / n_w,
                "coverage_without": k_w / max(int(res.y.sum()), 1),
            }
        )
    return {
        "coverage": box.coverage,
        "coverage_all": box.k / max(all_cases, 1),
        "density": box.density,
        "mass": box.mass,
        "n": box.n,
        "k": box.k,
        "restrictions": restrictions,
    }


def _trajectory(res: PrimResult) -> list[dict[str, Any]]:
    return [
        {
            "box": i,
            "phase": b.phase,
            "coverage": b.coverage,
            "density": b.density,
            "mass": b.mass,
            "n": b.n,
            "k": b.k,
            "restricted": {p: list(b.lims[p]) for p in b.restricted},
        }
        for i, b in enumerate(res.trajectory)
    ]


def discovery_record(
    spec: MetricSpec,
    text: str,
    direction: str,
    threshold: float,
    table: pd.DataFrame,
    dropped: int,
    params: list[str],
    res: PrimResult,
    rules: list[dict[str, Any]] | None,
    tree_depth: int,
    more: list[PrimResult] | None = None,
    boxes: int = 1,
    stop: str = "",
) -> dict[str, Any]:
    """Everything ``discover.json`` holds (the report draws it; JSON-safe types only).

    ``res`` is the first box's PRIM; ``more`` the later boxes' (:func:`~i4p_sim.stats.prim.
    prim_boxes`), of ``boxes`` asked, and ``stop`` why fewer were found.
    """
    cases = int(res.y.sum())
    return {
        "metric": text,
        "label": spec.label(),
        "kind": spec.kind,
        "direction": direction,
        "threshold": threshold,
        "aggregation": "mean over the replicates at each design point, then thresholded"
        + (" (contrasts paired per replicate)" if spec.kind != "mean" else ""),
        "points": len(table),
        "replicates": [int(table["replicates"].min()), int(table["replicates"].max())],
        "points_dropped": dropped,
        "cases": cases,
        "params": params,
        "peel_alpha": res.peel_alpha,
        "paste_alpha": res.paste_alpha,
        "mass_min": res.mass_min,
        "rule": res.rule,
        "chosen": res.chosen,
        "trajectory": _trajectory(res),
        "box": _box_record(res, cases),
        "boxes_asked": boxes,
        "more_boxes": [
            {
                "points": len(r.y),
                "cases": int(r.y.sum()),
                "chosen": r.chosen,
                "rule": r.rule,
                "box": _box_record(r, cases),
                "trajectory": _trajectory(r),
            }
            for r in more or []
        ],
        "boxes_stop": stop,
        "tree": {"max_depth": tree_depth, "leaves": rules},
    }


def _rule_text(conds: list) -> str:
    return " and ".join(f"{p} {op} {_g(v)}" for p, op, v in conds) or "(all points)"


def _restriction_lines(box: dict[str, Any]) -> list[str]:
    if not box["restrictions"]:
        return ["  (no restriction: the box is the whole sample)"]
    width = max(len(r["param"]) for r in box["restrictions"])
    return [
        f"  {r['param']:<{width}} in [{_g(r['lo'])}, {_g(r['hi'])}]   quasi-p "
        f"{r['quasi_p']:.2g}   without it: coverage {r['coverage_without']:.2f}, "
        f"density {r['density_without']:.2f}"
        for r in box["restrictions"]
    ]


def _more_boxes_text(rec: dict[str, Any]) -> list[str]:
    """The later boxes of ``--boxes K``, each on the points outside the boxes before it."""
    more = rec.get("more_boxes") or []
    asked = int(rec.get("boxes_asked") or 1)
    if asked == 1:
        return []
    lines = []
    for j, extra in enumerate(more, start=2):
        box = extra["box"]
        lines.append(
            f"box {j} of {asked}: PRIM again on the {extra['points']} design points outside "
            f"the boxes before ({extra['cases']} of them cases): box {extra['chosen']} of "
            f"{len(extra['trajectory'])} on its trajectory ({extra['rule']})"
        )
        lines.append(
            f"  coverage {box['coverage']:.2f} ({box['k']} of the {extra['cases']} cases left; "
            f"{box['coverage_all']:.2f} of all {rec['cases']}), density {box['density']:.2f} "
            f"({box['k']} of {box['n']} points in the box)"
        )
        lines += _restriction_lines(box)
    found = 1 + len(more)
    k_all = rec["box"]["k"] + sum(e["box"]["k"] for e in more)
    n_all = rec["box"]["n"] + sum(e["box"]["n"] for e in more)
    lines.append(
        f"{found} box(es) together: coverage {k_all / max(rec['cases'], 1):.2f} ({k_all} of "
        f"{rec['cases']} cases), density {k_all / max(n_all, 1):.2f} ({k_all} of {n_all} points)"
        + (f"; no box {found + 1}: {rec['boxes_stop']}" if rec.get("boxes_stop") else "")
    )
    return lines


def discovery_text(rec: dict[str, Any]) -> str:
    """The text ``i4p discover`` prints, from :func:`discovery_record`'s dict."""
    op = ">" if rec["direction"] == "above" else "<"
    n, cases = rec["points"], rec["cases"]
    lo, hi = rec["replicates"]
    reps = f"{lo}" if lo == hi else f"{lo} to {hi}"
    lines = [
        f"cases of interest: {rec['label']} {op} {_g(rec['threshold'])}, the "
        f"{rec['aggregation']} ({reps} replicates per point): {cases} of {n} design points "
        f"({cases / n:.0%})"
    ]
    if rec["points_dropped"]:
        lines.append(
            f"  ({rec['points_dropped']} design points left out: no paired replicate, or a "
            "ratio whose reference mean is <= 0)"
        )
    traj, box = rec["trajectory"], rec["box"]
    lines.append(
        f"PRIM (peel {rec['peel_alpha']:g}, paste {rec['paste_alpha']:g}, smallest box "
        f"{rec['mass_min']:.0%} of the points) over {', '.join(rec['params'])}: box "
        f"{rec['chosen']} of {len(traj)} on the trajectory ({rec['rule']})"
    )
    lines.append(
        f"  coverage {box['coverage']:.2f} ({box['k']} of {cases} cases), density "
        f"{box['density']:.2f} ({box['k']} of {box['n']} points in the box), mass "
        f"{box['mass']:.2f}"
    )
    lines += _restriction_lines(box)
    lines.append("coverage-density trade-off (the peeling and pasting trajectory):")
    lines.append("  box  phase  coverage  density  mass  restricted")
    for t in traj:
        mark = "  <- chosen" if t["box"] == rec["chosen"] else ""
        lines.append(
            f"  {t['box']:>3}  {t['phase']:<5}  {t['coverage']:>8.2f}  {t['density']:>7.2f}  "
            f"{t['mass']:>4.2f}  {len(t['restricted']):>10}{mark}"
        )
    lines += _more_boxes_text(rec)
    tree = rec["tree"]
    if tree["leaves"] is None:
        lines.append("classification tree: not computed (scikit-learn is not installed)")
        return "\n".join(lines)
    lines.append(
        f"classification tree (depth <= {tree['max_depth']}), leaves densest first "
        "(* = predicted cases of interest):"
    )
    for leaf in tree["leaves"]:
        star = "*" if leaf["predicted"] else " "
        lines.append(
            f"  {star} {_rule_text(leaf['conditions'])}: {leaf['k']} of {leaf['n']} points "
            f"(density {leaf['density']:.2f})"
        )
    return "\n".join(lines)

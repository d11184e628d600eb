"""Fact 7 (a map, not a check): Sobol first-order and total indices of two outcomes.

The design is ``scipy.stats.sobol_indices``' own (Saltelli 2010); each parameter point is a
validated scenario (``experiments/sensitivity.toml``'s base with the point applied), run
once per seed with its twin (:func:`~i4p_sim.sweep.pairing.run_with_twin`) in the process pool.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from i4p_sim.config.errors import ConfigError
from i4p_sim.config.experiment import apply_point
from i4p_sim.config.scenario import Scenario
from i4p_sim.sweep.pairing import run_with_twin
from i4p_sim.validation.common import (
    CONFIDENCE,
    EXPERIMENTS,
    Context,
    load_experiment,
    make_executor,
    rel,
)
from i4p_sim.validation.results import (
    Claim,
    Fixed,
    Interval,
    Paragraph,
    SectionResult,
    Table,
    Verdict,
)

NAME = "sensitivity"
OUTCOMES = ("cumulative_violence", "resilience_loss")
BATCH = 8  # scenarios per pool task


@dataclass(frozen=True)
class SobolIndices:
    """Indices per outcome (rows) and parameter (columns), with interval bounds."""

    outcomes: tuple[str, ...]
    names: tuple[str, ...]
    ranges: dict[str, tuple[float, float]]
    first: np.ndarray
    total: np.ndarray
    first_low: np.ndarray
    first_high: np.ndarray
    total_low: np.ndarray
    total_high: np.ndarray

    def top(self, j: int) -> int:
        """Index of the parameter with the largest total index for outcome ``j``."""
        return int(np.argmax(self.total[j]))


def outcomes_of(scenarios: Sequence[Scenario], window: int) -> list[tuple[float, ...]]:
    """Run scenarios; the Sobol outcomes of each (a pool task).

    ``resilience_loss`` is paired: each scenario runs with its twin (shocks removed, same
    seed); it needs no tolerance, so no null-perturbed twins are run.
    """
    out = []
    for sc in scenarios:
        run = run_with_twin(sc, window=window, noise_pairs=0)
        m = {**run.result.summary, **(run.paired or {"resilience_loss": 0.0})}
        out.append(tuple(float(m[k]) for k in OUTCOMES))
    return out


def _flat(table: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in table.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def analyse(idx: SobolIndices, meta: dict[str, Any]) -> SectionResult:
    """Table and claims from Sobol indices; ``meta`` holds the design's description.

    ``meta``: ``src``, ``base``, ``shock_at``, ``n``, ``seeds``, ``evaluations``, ``boot``.
    """
    src = meta["src"]
    rows = []
    for j, outcome in enumerate(idx.outcomes):
        for i in np.argsort(-idx.total[j]):
            name = idx.names[i]
            lo, hi = idx.ranges[name]
            rows.append(
                (
                    f"`{outcome}`",
                    (f"`{name}` [", lo, ", ", hi, "]"),
                    Interval(idx.first[j, i], idx.first_low[j, i], idx.first_high[j, i], 2),
                    Interval(idx.total[j, i], idx.total_low[j, i], idx.total_high[j, i], 2),
                )
            )
    d, n = len(idx.names), meta["n"]
    sums = [(f"`{o}` ", Fixed(float(np.sum(idx.first[j])))) for j, o in enumerate(idx.outcomes)]
    sum_parts: list[Any] = []
    for k, part in enumerate(sums):
        sum_parts += ([", "] if k else []) + list(part)
    blocks = (
        Paragraph.of(
            f"Experiment `{src}`: base scenario `{meta['base']}` (shipped defaults with an "
            f"abrupt withdrawal of all donors at month {meta['shock_at']}, so that "
            f"`resilience_loss` measures the response to a shock), {d} parameters drawn "
            "uniformly over the ranges below. The design is `scipy.stats.sobol_indices`' own "
            f"Saltelli A/B/AB matrices (Saltelli 2010 estimators) with base sample n = {n}: "
            f"n (d + 2) = {n * (d + 2)} parameter points, each the mean of {meta['seeds']} "
            "seed(s) shared by all points (common random numbers), "
            f"{meta['evaluations']} runs. Integer parameters are rounded. Both outcomes are "
            "finite for every run (recovery times, which are censored, are not used). "
            f"Intervals: `SobolResult.bootstrap` ({meta['boot']} resamples). Rows are ordered "
            "by total index."
        ),
        Table.of(
            ["outcome", "parameter [range]", "first order S1 [95% CI]", "total ST [95% CI]"], rows
        ),
        Paragraph.of(
            "Sum of first-order indices: ",
            *sum_parts,
            " (1 - sum is the share of variance from interactions; small negative S1 values "
            "are estimation noise).",
        ),
    )
    claims = tuple(
        Claim(
            f"most influential parameter for `{o}`",
            src,
            (f"`{idx.names[idx.top(j)]}` (ST ", Fixed(float(idx.total[j, idx.top(j)])), ")"),
            f"{meta['evaluations']} runs",
            "(no literature value: a map of where the model's behaviour comes from)",
            Verdict("unchecked", "-"),
        )
        for j, o in enumerate(idx.outcomes)
    )
    return SectionResult(
        NAME, "7. Sensitivity: Sobol indices", blocks, claims, runs=meta["evaluations"]
    )


def compute(ctx: Context) -> SectionResult:
    """Run the Saltelli design of ``experiments/sensitivity.toml`` and analyse it."""
    path = EXPERIMENTS / "sensitivity.toml"
    exp = load_experiment(path, replicates=ctx.plan.sobol_replicates)
    src = rel(path)
    sample = exp.config.sample
    if sample is None:
        raise ConfigError(src, "sample", "the sensitivity experiment needs [sample.ranges]")
    n = ctx.plan.sobol_n or sample.n
    ranges = {k: (float(v[0]), float(v[1])) for k, v in _flat(sample.ranges).items()}
    names = list(ranges)
    integers = set(sample.integers)
    base = next(iter(exp.scenarios.values()))
    dists = [stats.uniform(loc=lo, scale=hi - lo) for lo, hi in ranges.values()]
    evaluations = 0
    with make_executor(ctx.workers) as (pool, _, _):

        def func(x: np.ndarray) -> np.ndarray:
            nonlocal evaluations
            batch: list[Scenario] = []
            for col in x.T:
                point = {
                    p: (int(round(v)) if p in integers else float(v))
                    for p, v in zip(names, col, strict=True)
                }
                sc = apply_point(base, point, src)
                batch += [sc.model_copy(update={"seed": int(s)}) for s in exp.seeds]
            futures = [
                pool.submit(outcomes_of, batch[i : i + BATCH], exp.config.window)
                for i in range(0, len(batch), BATCH)
            ]
            values = np.array([v for f in futures for v in f.result()], dtype=float)
            evaluations += len(batch)
            values = values.reshape(x.shape[1], len(exp.seeds), len(OUTCOMES))
            return values.mean(axis=1).T

        res = stats.sobol_indices(func=func, n=n, dists=dists, rng=sample.seed)
    boot_n = min(ctx.plan.n_resamples, 999)
    boot = res.bootstrap(confidence_level=CONFIDENCE, n_resamples=boot_n)
    ctx.runs[NAME] = evaluations
    idx = SobolIndices(
        OUTCOMES,
        tuple(names),
        ranges,
        res.first_order,
        res.total_order,
        boot.first_order.confidence_interval.low,
        boot.first_order.confidence_interval.high,
        boot.total_order.confidence_interval.low,
        boot.total_order.confidence_interval.high,
    )
    meta = {
        "src": src,
        "base": base.name,
        "shock_at": exp.reference_step,
        "n": n,
        "seeds": len(exp.seeds),
        "evaluations": evaluations,
        "boot": boot_n,
    }
    return analyse(idx, meta)

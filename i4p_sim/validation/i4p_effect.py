"""Fact 1: the I4P effect - each tier, both, and their interaction.

The cells come from the experiment's ``[[interactions]]`` (none / a = LPCs / b = council
/ ab = both), one interaction per shock condition; the shock label comes from the cells'
funding-withdrawal shock.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from i4p_sim.config.scenario import FundingWithdrawal, Scenario
from i4p_sim.stats.paired import interaction, paired_effects
from i4p_sim.validation.common import Context, load, rel, sweep
from i4p_sim.validation.results import (
    Claim,
    Interval,
    Paragraph,
    SectionResult,
    Table,
    Verdict,
    direction,
    joined,
)

NAME = "i4p_effect"
TIER_LABELS = {"a": "LPCs only", "b": "council only", "ab": "both"}
PAIR = ["replicate", "point"]


def shock_label(scenario: Scenario) -> str:
    """``no shock`` or e.g. ``abrupt withdrawal at 120`` (from the scenario's shocks)."""
    ws = [s for s in scenario.shocks if isinstance(s, FundingWithdrawal)]
    return f"{ws[0].mode} withdrawal at {ws[0].at}" if ws else "no shock"


def analyse(exp: Any, runs: pd.DataFrame, n_resamples: int = 2000) -> SectionResult:
    """Effects, interactions, claims and tables from a finished ``i4p_effect`` runs table."""
    src = rel(exp.source)
    scenarios = exp.scenarios
    designs = []
    for ix in exp.config.interactions:
        cells = {"none": ix.none, "a": ix.a, "b": ix.b, "ab": ix.ab}
        shocked = shock_label(scenarios[ix.none]) != "no shock"
        metrics = ["cumulative_violence"] + (["resilience_loss"] if shocked else [])
        designs.append((shock_label(scenarios[ix.none]), cells, metrics))
    claims, rows, irows = [], [], []
    for label, cells, metrics in designs:
        tiers = {cells[r]: TIER_LABELS[r] for r in ("a", "b", "ab")}
        eff = paired_effects(
            runs,
            cells["none"],
            metrics,
            scenarios=list(tiers),
            pair_on=PAIR,
            n_resamples=n_resamples,
        )
        for r in eff.itertuples():
            rows.append(
                (
                    label,
                    tiers[r.scenario],
                    f"`{r.metric}`",
                    float(r.mean_baseline),
                    Interval(r.estimate, r.ci_low, r.ci_high),
                    Interval(r.ratio, r.ratio_low, r.ratio_high),
                    int(r.n),
                )
            )
        b = eff[(eff["scenario"] == cells["ab"]) & (eff["metric"] == "cumulative_violence")].iloc[0]
        claims.append(
            Claim(
                f"I4P (both tiers) vs none, {label}",
                src,
                (
                    Interval(b.estimate, b.ci_low, b.ci_high),
                    " cum. violence (ratio ",
                    Interval(b.ratio, b.ratio_low, b.ratio_high),
                    ")",
                ),
                str(int(b.n)),
                "I4Ps reduce violence (design premise)",
                Verdict("agrees", "agrees") if b.ci_high < 0 else Verdict("disagrees", "disagrees"),
            )
        )
        for metric in metrics:
            add, rat = (
                interaction(runs, cells, metric, scale=s, pair_on=PAIR, n_resamples=n_resamples)
                for s in ("additive", "ratio")
            )
            m = add["means"]
            add_i = Interval(add["estimate"], add["ci_low"], add["ci_high"])
            rat_i = Interval(rat["estimate"], rat["ci_low"], rat["ci_high"])
            irows.append((label, f"`{metric}`", joined(_means(m)), add_i, rat_i, int(add["n"])))
            if metric == "cumulative_violence":
                claims.append(interaction_claim(label, src, add_i, rat_i, int(add["n"])))
    shocks = ", ".join(dict.fromkeys(label for label, _, _ in designs))
    intro = Paragraph.of(
        f"Experiment `{src}`: {{no I4P, LPCs only, council only, both}} x {{{shocks}}}, "
        f"{exp.replicates} replicates per cell (common random numbers), {exp.total_runs()} "
        f"runs, shipped defaults (64 x 64, {exp.steps} months). Effects are paired "
        "differences (tier(s) - no I4P) of `cumulative_violence` (sum over months of the "
        "violent share of inhabited cells) and, after the withdrawal, `resilience_loss` "
        f"(excess violence from month {exp.reference_step} on); the ratio column is "
        "mean(scenario) / mean(no I4P)."
    )
    explain = Paragraph.of(
        "**Interaction** (grassroots a = LPCs, top-down b = council): additive "
        "`(both - council) - (LPCs - none)`, negative = the two tiers together remove more "
        "violence than the sum of what each removes alone; ratio "
        "`mean(both) mean(none) / (mean(LPCs) mean(council))`, below 1 = more than the "
        "product of the separate reductions. Violence is bounded below by 0, so once one "
        "tier removes most of it the additive scale cannot show synergy: read the ratio "
        "scale for the I4P hypothesis."
    )
    effects = Table.of(
        (
            "shock",
            "tiers vs no I4P",
            "metric",
            "mean, no I4P",
            "difference [95% CI]",
            "ratio [95% CI]",
            "n",
        ),
        rows,
    )
    inter = Table.of(
        (
            "shock",
            "metric",
            "means none / LPCs / council / both",
            "additive [95% CI]",
            "ratio [95% CI]",
            "n",
        ),
        irows,
    )
    return SectionResult(
        NAME,
        "1. The I4P effect: each tier, both, and their interaction",
        (intro, effects, explain, inter),
        tuple(claims),
        remedies={
            "interaction": (
                "The tiers' coupling (warnings as the council's eyes, training, the "
                "mandate shield) would have to matter more than the overlap of two sinks "
                "acting on the same hotspots - a model change to argue for in docs/ODD.md, "
                "not a parameter to tune here.",
            )
        },
        runs=len(runs),
    )


def _means(m: dict[str, float]) -> tuple[float, ...]:
    return tuple(float(m[c]) for c in ("none", "a", "b", "ab"))


def interaction_claim(label: str, src: str, add: Interval, rat: Interval, n: int) -> Claim:
    """The LPCs x council claim: agrees when the ratio interval is below 1."""
    r_dir = direction(rat.low - 1.0, rat.high - 1.0)
    a_dir = direction(add.low, add.high)
    word = {
        -1: "more than multiplicative (synergy)",
        0: "not distinguishable from multiplicative",
        1: "less than multiplicative (overlap)",
    }[r_dir]
    aword = {-1: "super-additive", 0: "additive", 1: "sub-additive"}[a_dir]
    verdict = (
        Verdict("agrees", f"agrees on the ratio scale: {word}; {aword} on the additive scale")
        if r_dir < 0
        else Verdict("disagrees", f"does not support it: {word}; {aword} on the additive scale")
    )
    return Claim(
        f"LPCs x council interaction, {label}",
        src,
        ("ratio ", rat, "; additive ", add),
        str(n),
        "core I4P hypothesis: tiers together absorb more than the sum",
        verdict,
        topic="interaction",
    )


def compute(ctx: Context) -> SectionResult:
    """Run ``i4p_effect.toml`` through the sweep runner and analyse it."""
    exp = load(ctx, NAME)
    return analyse(exp, sweep(ctx, exp), ctx.plan.n_resamples)

"""Fact 4: sizes of space-time violent events, discrete power-law fit (Clauset et al.).

The scenarios run here (every month's violence map is needed, which a sweep does not
store); the I4P scenario is the experiment's first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from i4p_sim.stats import events as es
from i4p_sim.stats.bootstrap import bootstrap_ci
from i4p_sim.validation.common import Context, load, rel, run_spatial
from i4p_sim.validation.results import (
    Claim,
    Fixed,
    Number,
    Paragraph,
    PlusMinus,
    SectionResult,
    Table,
    Verdict,
)

NAME = "event_sizes"
#: xmin values of the local-exponent table
XMINS = (1, 2, 5, 10, 20, 50, 100)
ALPHA_RANGE = (2.0, 2.5)  # Clauset, Young & Gleditsch 2007
GOF_REJECT = 0.1  # gof p <= 0.1 rejects the power law (Clauset, Shalizi & Newman 2009)
MIN_TAIL = 50


@dataclass(frozen=True)
class FitRow:
    """A power-law fit of one sample of event sizes and its checks."""

    fit: Any
    p: float
    R: float
    pR: float
    alpha_lo: float
    alpha_hi: float
    tail_max: int

    @property
    def alpha_95(self) -> PlusMinus:
        """alpha +- 1.96 SE."""
        return PlusMinus(self.fit.alpha, 1.96 * self.fit.alpha_se)


def fit_row(sizes: np.ndarray, n_boot: int, seed: int) -> FitRow:
    """Fit, goodness of fit (``n_boot`` samples), Vuong test and alpha's bootstrap range."""
    fit = es.fit_power_law(sizes)
    p, _ = es.power_law_gof(sizes, fit, n_boot=n_boot, seed=seed)
    r, pr = es.compare_exponential(sizes, fit)
    _, lo, hi = bootstrap_ci(
        sizes,
        statistic=lambda x: es.fit_power_law(x).alpha,
        n_resamples=max(n_boot // 4, 5),
        seed=seed + 1,
        method="percentile",
    )
    tail = sizes[sizes >= fit.xmin]
    return FitRow(fit, float(p), float(r), float(pr), lo, hi, int(tail.max()))


def event_verdict(row: FitRow) -> Verdict:
    """Agrees when alpha is in 2-2.5 and the power law is not rejected."""
    alpha = row.fit.alpha
    in_range = ALPHA_RANGE[0] <= alpha <= ALPHA_RANGE[1]
    ok = row.p > GOF_REJECT
    detail = (
        ("alpha in 2-2.5" if in_range else "alpha outside 2-2.5")
        + ("; power law not rejected" if ok else "; power law rejected")
        + f" (gof p = {row.p:.2g})"
    )
    return Verdict(
        "agrees" if in_range and ok else "disagrees",
        f"{'agrees' if in_range and ok else 'disagrees'}: {detail}",
    )


def analyse(
    exp: Any, results: dict[str, list[dict[str, Any]]], event_boot: int = 200
) -> SectionResult:
    """Fits, claims and tables from per-run event sizes (``sizes``, ``spatial_sizes``)."""
    src = rel(exp.source)
    first = next(iter(exp.scenarios.values()))
    rows, claims, local_rows = [], [], []
    alpha_ge10 = None
    for i, (name, outs) in enumerate(results.items()):
        for kind, key in (("space-time", "sizes"), ("per month (spatial only)", "spatial_sizes")):
            sizes = np.concatenate([o[key] for o in outs])
            total = int(sizes.sum())
            boot = event_boot if key == "sizes" else max(event_boot // 4, 5)
            fr = fit_row(sizes, boot, seed=100 + 10 * i + (key == "spatial_sizes"))
            f = fr.fit
            largest = Fixed(100 * sizes.max() / total, 1, "%")
            rows.append(
                (
                    name + ("" if key == "sizes" else f" ({boot} gof samples)"),
                    kind,
                    sizes.size,
                    (int(sizes.max()), " (", largest, ")"),
                    fr.alpha_95,
                    ("[", Fixed(fr.alpha_lo), ", ", Fixed(fr.alpha_hi), "]"),
                    int(f.xmin),
                    f"{f.n_tail} ({f.xmin}-{fr.tail_max})",
                    Fixed(f.ks, 4),
                    Number(fr.p, 2),
                    (Fixed(fr.R, 1), " (p ", Number(fr.pR, 2), ")"),
                )
            )
            if key == "sizes":
                claims.append(
                    Claim(
                        f"event sizes heavy-tailed, {name}",
                        src,
                        (
                            "alpha ",
                            fr.alpha_95,
                            f" at xmin {f.xmin} (bootstrap, xmin re-chosen: ",
                            Fixed(fr.alpha_lo),
                            "-",
                            Fixed(fr.alpha_hi),
                            f"), n tail {f.n_tail}; largest event ",
                            largest,
                            " of violent cell-months",
                        ),
                        f"{sizes.size} events, {len(outs)} runs",
                        "alpha 2-2.5 (Clauset, Young & Gleditsch 2007)",
                        event_verdict(fr),
                        topic="event sizes",
                    )
                )
        sizes = np.concatenate([o["sizes"] for o in outs])
        for f in es.local_exponents(sizes, XMINS, min_tail=MIN_TAIL):
            local_rows.append(
                (name, f.xmin, f.n_tail, PlusMinus(f.alpha, 1.96 * f.alpha_se), Fixed(f.ks, 4))
            )
            if i == 0 and f.xmin == 10:
                alpha_ge10 = f.alpha
    h, w = first.grid.height, first.grid.width
    donors = " and ".join(format(d.budget, "g") for d in first.donors)
    blocks = (
        Paragraph.of(
            f"Experiment `{src}`: {h} x {w} grids, {exp.steps} months, {exp.replicates} "
            f"replicates per scenario, {exp.total_runs()} runs. The I4P scenario keeps the "
            "shipped default densities (per 1,000 inhabited cells): "
            f"{first.lpc.density:g} committees, donor budgets {donors} per month, the "
            f"council's domestic budget {first.council.domestic_budget:g}, running cost "
            f"{first.council.cost:g} and {first.council.response_density:g} rapid responses "
            "per month; all per-cell and per-committee parameters are the defaults. The other "
            "scenario is the default landscape without committees or council."
        ),
        Paragraph.of(
            "An event is a cluster of violent cell-months connected in space and time: "
            "`scipy.ndimage.label` on the (T, H, W) violence stack with a full 3 x 3 x 3 "
            "structure, i.e. 8-neighbours within a month and the same or any of the 8 "
            "neighbouring cells in the previous or next month. Size = cell-months. The "
            "per-month row labels each month alone (8-connected) for comparison. Fit: "
            "discrete power law by maximum likelihood (Hurwitz zeta), xmin minimising the KS "
            f"distance (over every integer >= xmin) among candidates leaving >= {MIN_TAIL} "
            "events in the tail; the SE is the asymptotic (alpha - 1) / sqrt(n tail) at that "
            "xmin, the bootstrap interval resamples events and re-chooses xmin each time (so "
            "it also carries the uncertainty of xmin); the goodness-of-fit p is the "
            "semi-parametric bootstrap of Clauset, Shalizi & Newman (2009) with "
            f"{event_boot} synthetic samples for space-time events (fewer for the per-month "
            "comparison rows; alpha's bootstrap uses a quarter as many) (p <= 0.1 rejects "
            "the power law); R is Vuong's normalised log-likelihood ratio against a discrete "
            "exponential on the same tail (R > 0 favours the power law)."
        ),
        Table.of(
            [
                "scenario",
                "clustering",
                "events",
                "largest (share of cell-months)",
                "alpha +- 1.96 SE",
                "alpha, bootstrap 95% CI",
                "xmin",
                "n tail (range)",
                "KS",
                "gof p",
                "R vs exponential",
            ],
            rows,
        ),
        Paragraph.of(
            "**Local exponent**: space-time events fitted with xmin fixed at several sizes "
            f"(tails of at least {MIN_TAIL} events). A power law has the same alpha at every "
            "xmin; a drifting alpha shows where the distribution bends (which is also why the "
            "bootstrap interval above, which re-chooses xmin, can be wide and lopsided)."
        ),
        Table.of(["scenario", "xmin", "n tail", "alpha +- 1.96 SE", "KS"], local_rows),
    )
    return SectionResult(
        NAME,
        "4. Event sizes",
        blocks,
        tuple(claims),
        remedies={"event sizes": remedy(alpha_ge10)},
        runs=sum(len(v) for v in results.values()),
    )


def remedy(alpha_ge10: float | None) -> tuple[Any, ...]:
    """What it would take (with the I4P tail exponent from 10 cell-months, if fitted)."""
    a10 = (
        (
            " With I4P the exponent of events of at least 10 cell-months is ",
            Fixed(alpha_ge10),
            ", so the tail of large events is closer to the empirical range than the body is.",
        )
        if alpha_ge10 is not None
        else ()
    )
    return (
        "The sizes are heavy-tailed (the power law beats the exponential by far) but with "
        "~10^5 events any curvature is detected: the distribution is not a pure power law. "
        "With I4P the body is steeper than 2-2.5 because committees and rapid responses damp "
        "clusters while they are small; without I4P violence percolates into one event that "
        "spans much of the grid for years (the 'largest' column), which a power law does not "
        "describe either.",
        *a10,
        " Matching 2-2.5 over the whole range would take cascades that are cut off neither "
        "by local damping nor by the grid (e.g. contagion with a heavy-tailed range); the "
        "empirical figure is for war sizes in deaths, not cell-months, so the comparison is "
        "loose in any case.",
    )


def compute(ctx: Context) -> SectionResult:
    """Run ``event_sizes.toml`` keeping every month's violence map, and analyse it."""
    exp = load(ctx, NAME)
    results = run_spatial(ctx, exp, blocks=(), events=True)
    return analyse(exp, results, ctx.plan.event_boot)

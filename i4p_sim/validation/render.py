"""The one renderer: section results (data) to the Markdown of ``docs/VALIDATION.md``."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from i4p_sim.stats.format import format_number
from i4p_sim.validation.results import (
    KINDS,
    Claim,
    Fixed,
    Interval,
    Number,
    PlusMinus,
    SectionResult,
    Share,
    Table,
    Text,
    Value,
)

__all__ = [
    "REFERENCES",
    "DocumentInfo",
    "count_line",
    "fmt",
    "markdown_table",
    "render_document",
    "render_section",
    "text",
]

#: Every work the document cites, with what it measured (or, for a method, what it is).
REFERENCES = (
    "- Blattman, C., Hartman, A. C. & Blair, R. A. (2014). How to promote order and "
    "property rights under weak rule of law? An experiment in changing dispute resolution "
    "behavior through community education. *American Political Science Review* 108(1), "
    "100-120. Measured: the effects of a dispute-resolution education campaign for "
    "residents of Liberian towns and villages - fewer unresolved and violent disputes, "
    "with spillovers to untrained residents and some unintended effects (more non-violent "
    "disputes, some extrajudicial punishment).",
    "- Campolongo, F., Cariboni, J. & Saltelli, A. (2007). An effective screening design "
    "for sensitivity analysis of large models. *Environmental Modelling & Software* 22(10), "
    "1509-1518. A method: `mu_star`, the mean absolute elementary effect (the screen).",
    "- Clauset, A., Shalizi, C. R. & Newman, M. E. J. (2009). Power-law distributions "
    "in empirical data. *SIAM Review* 51(4), 661-703. A method: fitting and testing "
    "power-law tails (used for event sizes).",
    "- Clauset, A., Young, M. & Gleditsch, K. S. (2007). On the frequency of severe "
    "terrorist events. *Journal of Conflict Resolution* 51(1), 58-87. Measured: deaths "
    "per terrorist event worldwide (a heavy tail, alpha about 2.4); the model's event "
    "sizes are clusters of violent cells, not deaths, so the comparison is qualitative.",
    "- Collier, P., Hoeffler, A. & Soderbom, M. (2008). Post-conflict risks. "
    "*Journal of Peace Research* 45(4), 461-478. Measured: the risk that a post-conflict "
    "country relapses into civil war within a decade (about 40%), from country-level data "
    "on civil-war endings; the model's figure is per region, not per country.",
    "- Lim, M., Metzler, R. & Bar-Yam, Y. (2007). Global pattern formation and "
    "ethnic/cultural violence. *Science* 317(5844), 1540-1544. Measured: census patch "
    "sizes of ethnic groups against where violence occurred in India and the former "
    "Yugoslavia (violence where patches are of an intermediate size).",
    "- Morris, M. D. (1991). Factorial sampling plans for preliminary computational "
    "experiments. *Technometrics* 33(2), 161-174. A method: screening by elementary effects "
    "along one-at-a-time trajectories.",
    "- Nielsen, R. A., Findley, M. G., Davis, Z. S., Candland, T. & Nielson, D. L. "
    "(2011). Foreign aid shocks as a cause of violent armed conflict. *American "
    "Journal of Political Science* 55(2), 219-232. Measured: country-years with aid "
    "shocks (sudden, large decreases in aid) and the onset of armed conflict.",
    "- Rogers, B. L. & Coates, J. (2015). Sustaining development: a synthesis of results "
    "from a four-country study of sustainability and exit strategies among development food "
    "assistance projects. FANTA III / USAID. Measured: which benefits of food-aid projects "
    "in four countries lasted after the projects' exits (sustained resources, capacity, "
    "motivation and linkages predicted it).",
    "- Rogers, B. L. & Macias, K. E. (2004). Program graduation and exit strategies: a "
    "focus on Title II food aid development programs. FANTA technical note 9. Practice "
    "advice (no measurement): plan a gradual phase-over of programmes to local "
    "institutions.",
    "- Saltelli, A. et al. (2010). Variance based sensitivity analysis of model "
    "output. *Computer Physics Communications* 181(2), 259-270. A method: Sobol indices "
    "from a Saltelli design.",
    "- Straus, S. & Taylor, C. (2012). Democratization and electoral violence in "
    "sub-Saharan Africa, 1990-2008. In D. Bekoe (ed.), *Voting in Fear*. USIP. Measured: "
    "violence around every election in sub-Saharan Africa 1990-2008, coded on four levels "
    "(about a fifth at the two most violent levels).",
    "- Vernon, I., Goldstein, M. & Bower, R. G. (2010). Galaxy formation: a Bayesian "
    "uncertainty analysis. *Bayesian Analysis* 5(4), 619-669. A method: history matching "
    "with an implausibility measure (the calibration).",
    "- Walter, B. F. (2004). Does conflict beget conflict? Explaining recurring civil war. "
    "*Journal of Peace Research* 41(3), 371-388. Measured: recurrence of civil war after "
    "an earlier one, from country-level data (lower recurrence in some samples than "
    "Collier et al.; the range of the relapse target).",
)


DEFAULTS_HEADING = (
    "## Stylized facts at the default parameters\n\nThe numbered sections below run their "
    "own experiments at the shipped defaults (not over the ensemble); each fact's label is "
    "in the summary table.\n"
)


@dataclass(frozen=True)
class DocumentInfo:
    """Provenance printed at the top of the document."""

    generated: str
    revision: str | None
    version: str
    command: str
    workers: int
    total_wall: float
    quick: bool = False
    runs: dict[str, int] = field(default_factory=dict)
    walls: dict[str, float] = field(default_factory=dict)
    calibration: str | None = None
    ensemble_results: str | None = None
    screening: str | None = None
    sobol: str | None = None


def _num(x: float, digits: int = 3) -> str:
    return format_number(x, digits, missing="n/a")


def fmt(value: Value) -> str:
    """One value as text (see :mod:`i4p_sim.validation.results`)."""
    if isinstance(value, str):
        return value
    if isinstance(value, tuple):
        return text(value)
    if isinstance(value, Interval):
        d = value.digits
        return f"{_num(value.est, d)} [{_num(value.low, d)}, {_num(value.high, d)}]"
    if isinstance(value, Share):
        est, lo, hi = value.est, value.low, value.high
        if math.isnan(est):
            return "n/a"
        if math.isnan(lo) or math.isnan(hi):
            return f"{100 * est:.1f}%"
        return f"{100 * est:.1f}% [{100 * lo:.1f}, {100 * hi:.1f}]"
    if isinstance(value, Fixed):
        if math.isnan(value.value):
            return "n/a"
        return f"{value.value:.{value.decimals}f}{value.suffix}"
    if isinstance(value, Number):
        return _num(value.value, value.digits)
    if isinstance(value, PlusMinus):
        d = value.decimals
        return f"{value.value:.{d}f} +- {value.half:.{d}f}"
    return _num(value)


def text(parts: Text) -> str:
    """Running text: the parts formatted and joined."""
    return "".join(fmt(p) for p in parts)


def markdown_table(table: Table) -> str:
    """A GitHub-flavoured Markdown table."""
    head = table.header
    out = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for row in table.rows:
        out.append("| " + " | ".join(fmt(c) for c in row) + " |")
    return "\n".join(out)


def render_section(section: SectionResult) -> str:
    """``## title`` and the section's paragraphs and tables, blank-line separated."""
    lines = [f"## {section.title}", ""]
    for block in section.blocks:
        lines.append(markdown_table(block) if isinstance(block, Table) else text(block.parts))
        lines.append("")
    return "\n".join(lines)


def _summary_table(claims: Sequence[Claim]) -> str:
    rows = [
        (
            c.fact,
            f"**{c.kind}**: {c.why}" if c.kind else "unlabelled (not counted)",
            f"`{c.experiment}`",
            text(c.estimate),
            c.n,
            c.literature,
            c.verdict.text,
        )
        for c in claims
    ]
    header = ("fact", "label", "experiment", "estimate [95% CI]", "n", "literature", "verdict")
    return markdown_table(Table.of(header, rows))


def count_line(claims: Sequence[Claim]) -> str:
    """The "k of n agree" line: emergent, checked facts only; the others are named."""
    counted = [c for c in claims if c.counted]
    agree = sum(c.verdict.status == "agrees" for c in counted)
    by_kind = {k: sum(c.kind == k for c in claims) for k in KINDS}
    unlabelled = sum(c.kind is None for c in claims)
    unchecked = sum(c.kind == "emergent" and not c.verdict.checked for c in claims)
    others = [
        f"{by_kind['input']} input and {by_kind['mechanism']} mechanism facts are shown with "
        "their label but not counted (they hold by construction)"
    ]
    if unchecked:
        others.append(f"{unchecked} emergent facts could not be checked")
    if unlabelled:
        others.append(f"{unlabelled} unlabelled facts are not counted")
    return (
        f"**{agree} of {len(counted)} emergent facts agree**; " + "; ".join(others) + ". "
        'The disagreements are listed at the end ("Where the model disagrees").'
    )


def _header(info: DocumentInfo, claims: Sequence[Claim]) -> str:
    runs = sum(info.runs.values())
    walls = ", ".join(f"{k} {v:.0f} s" for k, v in info.walls.items())
    counts = ", ".join(f"{k} {v}" for k, v in info.runs.items())
    quick = (
        "\n> **Quick smoke run**: few replicates - the numbers of the default-parameter "
        "sections are not results.\n"
        if info.quick
        else ""
    )
    return "\n".join(
        [
            "# Validation of i4p-sim against stylized facts",
            "",
            "*Generated by `python -m i4p_sim.validation` (`i4p validate`); do not edit by "
            "hand - rerun it.*",
            quick,
            f"- generated: {info.generated}",
            f"- git revision: `{info.revision}`; i4p-sim {info.version}",
            f"- command: `{info.command}`",
            f"- runs at the default parameters: {runs} ({counts})",
            f"- wall time: {info.total_wall / 60:.1f} min ({walls}); {info.workers} worker "
            "processes",
            f"- calibration results (read, not rerun): `{info.calibration or 'none given'}`",
            f"- ensemble sweep results (read, not rerun): "
            f"`{info.ensemble_results or 'none given'}`",
            f"- Morris screen and Sobol sweep (read, not rerun): "
            f"`{info.screening or 'none given'}`, `{info.sobol or 'none given'}`",
            "",
            "Each fact is labelled (DESIGN 1.1; docs/ODD.md section 1): **input** - set by a "
            "parameter or written into a rule; **mechanism** - follows from a rule by "
            "construction; **emergent** - an output of the dynamics that no rule writes in. "
            "Only emergent facts are counted as agreement. Calibration targets are matched by "
            "construction and are reported in their own table, apart from the held-out checks "
            "(never used to rule a parameter set out). Policy contrasts are given as shares "
            "of the calibrated ensemble's members where they hold.",
            "",
            "The numbered sections measure each fact at the shipped default parameters "
            "(`scenarios/baseline.toml`, 64 x 64 grid, 240 monthly steps) unless they say "
            "otherwise. Intervals are 95% bootstrap intervals (BCa for means of paired "
            "differences via `i4p_sim.stats.paired`, percentile otherwise); n is the number "
            "of paired replicates, runs or events behind the estimate. Replicate i of every "
            "scenario in an experiment shares its seed (common random numbers), so effects "
            "are paired differences. Measurement definitions (windows, thresholds, areas) "
            "were fixed before looking at the results and are stated in each section.",
            "",
            "## Summary",
            "",
            count_line(claims),
            "",
            _summary_table(claims),
            "",
        ]
    )


def _disagreements(sections: Sequence[SectionResult]) -> str:
    remedies: dict[str, Text] = {}
    for s in sections:
        remedies.update(s.remedies)
    bad = [c for s in sections for c in s.claims if c.verdict.flagged]
    findings = [f for s in sections for f in s.findings]
    if not bad and not findings:
        return "Every checked fact agrees within its interval."
    out = [f"- {text(f)}" for f in findings]
    seen: set[str] = set()
    for c in bad:
        remedy = ""
        if c.topic in remedies:
            remedy = "(as above)" if c.topic in seen else text(remedies[c.topic])
            seen.add(c.topic)
        label = f"{c.kind}, " if c.kind else ""
        out.append(
            f"- **{c.fact}** ({label}{c.verdict.text}; {text(c.estimate)}). {remedy}".rstrip()
        )
    out.append(
        "\nNone of these is tuned away by a special case: the numbers above are what the "
        "shipped model does."
    )
    return "\n".join(out)


def render_document(
    sections: Sequence[SectionResult],
    info: DocumentInfo,
    evidence: Sequence[SectionResult] = (),
) -> str:
    """The whole document: header with the labelled summary, the ``evidence`` sections
    (calibration, held-out checks, policy contrasts over the ensemble, null checks, failure
    modes), the default-parameter ``sections``, disagreements, references."""
    claims = [c for s in (*evidence, *sections) for c in s.claims]
    footer = [
        "## Where the model disagrees, and what it would take",
        "",
        _disagreements([*evidence, *sections]),
        "",
        "## References",
        "",
        *REFERENCES,
        "",
    ]
    parts = [
        _header(info, claims),
        *(render_section(s) for s in evidence),
        *([DEFAULTS_HEADING] if evidence and sections else []),
        *(render_section(s) for s in sections),
        "\n".join(footer),
    ]
    return "\n".join(parts).rstrip() + "\n"

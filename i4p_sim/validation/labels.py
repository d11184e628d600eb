"""Which facts of the default-parameter sections are input, mechanism or emergent.

One table for every claim the sections make, so the labels can be read and argued in one
place (they follow docs/ODD.md section 1's table and DESIGN 1.1): **input**, set by a
parameter or written into a rule; **mechanism**, follows from a rule by construction;
**emergent**, an output of the dynamics not written into any rule. Only emergent facts are
counted in the "k of n agree" line (:attr:`~i4p_sim.validation.results.Claim.counted`).

A claim is matched by its section and the start of its ``fact`` text; a claim that matches
no entry stays unlabelled (shown as such, never counted), and a test keeps the table in
step with the sections.
"""

from __future__ import annotations

from dataclasses import replace

from i4p_sim.validation.results import Claim, Kind, SectionResult

__all__ = ["LABELS", "label_claim", "label_section"]

_EXIT_WHY = (
    "a rule stops the money; what that does to violence is the sign of the I4P's effect "
    "(itself emergent), and it flips with committee composition (8.10)"
)

#: section name -> ((fact prefix, kind, why), ...), first match wins.
LABELS: dict[str, tuple[tuple[str, Kind, str], ...]] = {
    "i4p_effect": (
        (
            "I4P (both tiers) vs none",
            "emergent",
            "the sign comes from several channels that can each fail: it flips with "
            "partisan committees or a captured council (ODD 8.10)",
        ),
        (
            "LPCs x council interaction",
            "emergent",
            "no rule relates the two tiers' effects",
        ),
    ),
    "funding_withdrawal": (
        ("abrupt exit at month", "emergent", _EXIT_WHY),
        (
            "phased vs abrupt exit",
            "emergent",
            "no rule refers to the shape of an exit beyond the money each month (model "
            "version 2 has no handover term)",
        ),
        (
            "local ownership",
            "emergent",
            "ownership keeps committees funded by rule; whether that lowers violence "
            "flips with their composition (8.10)",
        ),
        ("early (month", "emergent", "no rule refers to the timing of an exit"),
    ),
    "patch_scale": (
        (
            "violence peaks at intermediate patch scale",
            "mechanism",
            "the Mexican-hat friction filter (ODD 7.5) acts at a set scale, as in Lim et "
            "al.'s own model",
        ),
    ),
    "event_sizes": (
        (
            "event sizes heavy-tailed",
            "emergent",
            "cluster sizes come from contagion and exhaustion; no rule sets a size distribution",
        ),
    ),
    "relapse": (
        (
            "relapse",
            "emergent",
            "episodes end and restart through the communities' decisions; no rule sets "
            "a recurrence rate (a calibration target, below)",
        ),
    ),
    "elections": (
        (
            "elections with significant violence",
            "emergent",
            "a pulse of grievance is the only election-specific input (ODD 7.13)",
        ),
    ),
    # read from the stored screening sweeps (i4p_sim.validation.screening), not computed
    "sensitivity": (
        (
            "most influential parameter",
            "mechanism",
            "a map of the rules and priors, not a fact about the world",
        ),
    ),
}


def label_claim(section: str, claim: Claim) -> Claim:
    """``claim`` with its kind and reason from :data:`LABELS` (unchanged if none match)."""
    if claim.kind is not None:
        return claim
    for prefix, kind, why in LABELS.get(section, ()):
        if claim.fact.startswith(prefix):
            return replace(claim, kind=kind, why=why)
    return claim


def label_section(result: SectionResult) -> SectionResult:
    """``result`` with every claim labelled (:func:`label_claim`)."""
    return replace(result, claims=tuple(label_claim(result.name, c) for c in result.claims))

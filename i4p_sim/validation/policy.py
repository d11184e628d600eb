"""The headline policy contrasts as shares over the ensemble, read from an ensemble sweep.

The results directory of ``i4p sweep experiments/ensemble_policy.toml`` (every variant on
every member x replicates, common random numbers within a member). Per contrast, each
member is classified holds / reversed / undetermined by its paired 95% interval and the
share holding is given with a bootstrap interval over members and the distribution of the
effect's size (:mod:`i4p_sim.stats.ensemble`). Pairs of variants use
:func:`~i4p_sim.stats.ensemble.member_contrasts`; the tier interaction
:func:`~i4p_sim.stats.ensemble.member_interaction`; early vs late exit
:func:`~i4p_sim.stats.ensemble.member_window_contrast` over equal windows after each
exit's first effect, each against its own twin.

When the calibration ruled out every point, the shares are still shown, under a paragraph
saying which ensemble the sweep ran on and which targets that ensemble matched (from the
calibration record beside it, :func:`ensemble_matching`): shares over worlds plausible for
those targets only, a weaker statement than over a calibrated ensemble.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from i4p_sim.config.errors import ConfigError
from i4p_sim.stats.ensemble import (
    ensemble_shares,
    member_contrasts,
    member_interaction,
    member_window_contrast,
)
from i4p_sim.sweep.store import read_runs
from i4p_sim.validation.results import Number, Paragraph, SectionResult, Share, Table

__all__ = [
    "HEADLINE",
    "METRIC",
    "Headline",
    "ensemble_matching",
    "member_match",
    "policy_section",
    "policy_shares",
    "shock_start",
]

METRIC = "cumulative_violence"
TITLE = "Headline policy contrasts over the ensemble"
NO_ENSEMBLE = "no ensemble"
REPO = Path(__file__).resolve().parents[2]
#: Plain words for calibration targets ("worlds plausible for election violence only").
TARGET_WORDS = {
    "serious_election_violence": "election violence",
    "relapse_within_a_decade": "relapse",
}
HEADER = (
    "contrast",
    "holds in a member when",
    "measure",
    "members",
    "holds / reversed / undetermined",
    "share holding [95% CI over members]",
    "per-member mean effect: median (quartiles)",
    "median ratio",
)


@dataclass(frozen=True)
class Headline:
    """One headline contrast: ``kind`` ``pair`` (scenario vs reference), ``interaction``
    (``names`` none, a, b, ab) or ``window`` (``names`` scenario, reference: excess over
    each one's twin in equal windows from each one's first effect)."""

    label: str
    kind: str
    names: tuple[str, ...]
    holds: str


HEADLINE: tuple[Headline, ...] = (
    Headline("I4P (both tiers) vs none", "pair", ("both", "none"), "less violence with both tiers"),
    Headline("committees alone vs none", "pair", ("lpc_only", "none"), "less violence"),
    Headline("council alone vs none", "pair", ("council_only", "none"), "less violence"),
    Headline(
        "tier interaction (both - council) - (committees - none)",
        "interaction",
        ("none", "lpc_only", "council_only", "both"),
        "super-additive: the tiers together remove more than the sum (interval below 0)",
    ),
    Headline(
        "phased vs abrupt exit at month 60",
        "pair",
        ("phased_60", "abrupt_60"),
        "less violence with the phased exit",
    ),
    Headline(
        "late (120) vs early (60) abrupt exit, equal windows",
        "window",
        ("abrupt_120", "abrupt_60"),
        "less excess violence over the steady-funding twin after the late exit",
    ),
    Headline(
        "local ownership under an abrupt exit at 60",
        "pair",
        ("abrupt_60", "abrupt_60_no_ownership"),
        "less violence with ownership",
    ),
)


def shock_start(scenario: dict[str, Any]) -> int | None:
    """First month a scenario's funding withdrawal acts (a phased exit ramps from
    ``at - ramp // 2``); ``None`` without one."""
    for shock in scenario.get("shocks") or []:
        if shock.get("kind") == "funding_withdrawal":
            at = int(shock["at"])
            ramp = int(shock.get("ramp") or 0)
            return at - ramp // 2 if shock.get("mode") == "phased" else at
    return None


def _read_manifest(root: Path) -> dict[str, Any]:
    path = root / "manifest.json"
    if not path.is_file():
        raise ConfigError(
            str(root), "manifest.json", "not found; expected a sweep's results directory"
        )
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(str(root), "manifest.json", f"not valid JSON: {exc}") from None


def _window_members(root: Path, config: dict[str, Any], h: Headline) -> tuple[pd.DataFrame, str]:
    scen, ref = h.names
    scenarios = config.get("scenarios") or {}
    twins = config.get("twins") or {}
    starts = {n: shock_start(scenarios.get(n) or {}) for n in (scen, ref)}
    if None in starts.values():
        return pd.DataFrame(), "no funding withdrawal in the scenario"
    if not (root / "series").exists():
        return pd.DataFrame(), "no per-step series stored"
    window = int(config.get("steps", 0)) - max(starts.values())
    if window < 1:
        return pd.DataFrame(), "the run ends before the later exit"
    cols = ["scenario", "replicate", "point", "step", "violence_share"]
    try:
        series = pd.read_parquet(root / "series", columns=cols)
    except Exception as exc:  # noqa: BLE001 - ArrowInvalid, OSError: a torn file
        raise ConfigError(str(root), "series", f"unreadable Parquet: {exc}") from None
    rows = member_window_contrast(
        series,
        (scen, twins.get(scen, scen), starts[scen]),
        (ref, twins.get(ref, ref), starts[ref]),
        window,
        group=h.label,
    )
    note = (
        f"excess mean violence share over the twin in {window} months from month "
        f"{starts[scen]} ({scen}) and from month {starts[ref]} ({ref})"
    )
    return rows, note


def policy_shares(
    root: str | Path, headline: tuple[Headline, ...] = HEADLINE
) -> tuple[list[tuple[Headline, pd.Series | None, str]], dict[str, Any]]:
    """Each headline contrast's row of :func:`~i4p_sim.stats.ensemble.ensemble_shares`
    (``None`` with the reason when it cannot be computed from this sweep), and the
    manifest."""
    root = Path(root)
    runs = read_runs(root)  # ConfigError if not a results directory
    manifest = _read_manifest(root)
    config = manifest.get("config") or {}
    runs = runs[runs["status"] == "ok"]
    names = set(runs["scenario"])
    out: list[tuple[Headline, pd.Series | None, str]] = []
    compute: dict[str, Callable[[Headline], tuple[pd.DataFrame, str]]] = {
        "pair": lambda h: (
            member_contrasts(runs, [(h.names[0], h.names[1], h.label)], [METRIC]),
            f"paired `{METRIC}`",
        ),
        "interaction": lambda h: (
            member_interaction(
                runs, dict(zip(("none", "a", "b", "ab"), h.names, strict=True)), METRIC
            ),
            f"paired additive interaction of `{METRIC}`",
        ),
        "window": lambda h: _window_members(root, config, h),
    }
    for h in headline:
        missing = [n for n in h.names if n not in names]
        if missing:
            out.append((h, None, f"not in this sweep: {', '.join(missing)}"))
            continue
        members, note = compute[h.kind](h)
        shares = ensemble_shares(members) if not members.empty else pd.DataFrame()
        if shares.empty:
            out.append((h, None, note if members.empty else "no member could be paired"))
        else:
            out.append((h, shares.iloc[0], note))
    return out, manifest


def _size(row: pd.Series) -> tuple:
    return (
        Number(row["effect_median"]),
        " (",
        Number(row["effect_q25"]),
        " to ",
        Number(row["effect_q75"]),
        ")",
    )


def ensemble_matching(manifest: dict[str, Any]) -> tuple[str, list[str] | None]:
    """The ensemble an ensemble sweep names and the targets it was matched on.

    The targets come from the calibration record beside the ensemble: ``NAME.json`` (a
    shipped ensemble, ``experiments/ensembles/``) or ``calibration.json`` (an ``i4p
    calibrate`` results directory); its ``match`` list, or every target it lists when it
    matched all. ``None`` when no record is found. The ensemble path is relative to the
    sweep's experiment file (``source`` in the manifest, relative to where the sweep ran or
    to the repository).
    """
    config = manifest.get("config") or {}
    name = (config.get("file") or {}).get("ensemble")
    if not name:
        return "(none named)", None
    source = Path(str(config.get("source") or manifest.get("source") or "."))
    for base in (source.parent, REPO / source.parent):
        path = base / str(name)
        for record in (path.with_suffix(".json"), path.parent / "calibration.json"):
            try:
                meta = json.loads(record.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError):
                continue
            match = (meta.get("file") or {}).get("match")
            if match is None:
                match = [t.get("name") for t in meta.get("targets") or []]
            return str(name), [str(t) for t in match]
    return str(name), None


def _unmatched(
    root: str | Path, manifest: dict[str, Any], calibration_targets: Sequence[str]
) -> tuple[str, tuple[Paragraph]]:
    """For an empty calibration ensemble: the scope of the shares, and the paragraph that
    says what they are over."""
    ensemble, matched = ensemble_matching(manifest)
    both = "both" if len(calibration_targets) == 2 else "all the"
    names = ", ".join(f"`{t}`" for t in calibration_targets)
    if matched is None:
        how = (
            "which targets it was matched on is not recorded beside it (no `NAME.json` or "
            "`calibration.json`)"
        )
        scope = "over worlds not shown to be plausible for every calibration target"
    else:
        left = [t for t in calibration_targets if t not in matched]
        how = "matched on " + " and ".join(f"`{t}`" for t in matched) + " only"
        if left:
            how += "; " + " and ".join(f"`{t}`" for t in left) + " **not** matched"
        words = " and ".join(TARGET_WORDS.get(t, t) for t in matched) or "no target"
        scope = f"over worlds plausible for {words} only"
    text = Paragraph.of(
        f"**No point matched {both} calibration targets**"
        + (f" ({names})" if names else "")
        + ": the calibration ruled out every point, so there is no calibrated ensemble. The "
        f"shares below are from the ensemble sweep `{root}`, whose members come from the "
        f"ensemble it names, `{ensemble}` ({how}). They are therefore shares **{scope}**, a "
        "weaker statement than shares over a calibrated ensemble."
    )
    return scope, (text,)


def member_match(runs: pd.DataFrame, ensemble: pd.DataFrame) -> str:
    """Whether the sweep's members are the calibration's ensemble, in words.

    Members are compared by their parameter values (the ensemble's dotted columns without a
    colon, rounded to 9 digits).
    """
    params = [c for c in ensemble.columns if "." in str(c) and ":" not in str(c)]
    points = runs.drop_duplicates("point") if "point" in runs.columns else runs.iloc[:1]
    n = len(points)
    if ensemble.empty:
        return (
            f"**The calibration's ensemble is empty, so these {n} members are not from it**: "
            "the shares below are over another ensemble (named above) and answer nothing "
            "about a calibrated model."
        )
    missing = [c for c in params if c not in runs.columns]
    if missing or not params:
        return (
            f"These {n} members are **not** the calibration's ensemble (the sweep lacks its "
            f"parameter columns {', '.join(missing) or '(none)'})."
        )

    def key(frame: pd.DataFrame) -> set[tuple[float, ...]]:
        return {tuple(round(float(v), 9) for v in row) for row in frame[params].to_numpy()}

    cal, swept = key(ensemble), key(points)
    inside = len(swept & cal)
    if swept == cal:
        return f"These {n} members are the calibration's ensemble ({len(cal)} members)."
    return (
        f"These {n} members are **not** the calibration's ensemble: {inside} of them are in "
        f"it, which has {len(cal)} members."
    )


def policy_section(
    root: str | Path | None,
    calibration_ensemble: pd.DataFrame | None = None,
    calibration_targets: Sequence[str] = (),
) -> SectionResult:
    """The section: one row per headline contrast (or why there is none).

    Parameters
    ----------
    root : str or Path or None
        The ensemble sweep's results directory (``None``: not given).
    calibration_ensemble : pandas.DataFrame, optional
        The calibration's ensemble: the section says whether the sweep ran on it
        (:func:`member_match`). When it is empty (every point ruled out) the shares are
        still shown, under a paragraph saying which targets the sweep's own ensemble
        matched (:func:`ensemble_matching`) and that they are therefore shares over worlds
        plausible for those targets only.
    calibration_targets : sequence of str
        The calibration's targets, to name those the sweep's ensemble did not match.
    """
    if root is None:
        text = Paragraph.of(
            "No ensemble sweep was given (`i4p validate --ensemble-results DIR`, the results "
            "of `i4p sweep experiments/ensemble_policy.toml`): no ensemble."
        )
        return SectionResult("policy", TITLE, (text,), ())
    results, manifest = policy_shares(root)
    match = ()
    if calibration_ensemble is not None:
        match = (Paragraph.of(member_match(read_runs(root), calibration_ensemble)),)
    file = (manifest.get("config") or {}).get("file") or {}
    ensemble = file.get("ensemble") or "(none named)"
    rows = []
    for h, row, note in results:
        if row is None:
            rows.append((h.label, h.holds, NO_ENSEMBLE if "member" in note else note,
                         "-", "-", "-", "-", "-"))  # fmt: skip
            continue
        m = int(row["members"])
        counts = f"{int(row['holds'])} / {int(row['reversed'])} / {int(row['undetermined'])}"
        edge = ""
        if int(row["holds"]) == 0:  # a zero-width interval: the rule of three instead
            edge = f" (none holds: by the rule of three below {min(100.0, 300 / m):.0f}%)"
        elif int(row["holds"]) == m:
            edge = f" (all hold: by the rule of three above {max(0.0, 100 - 300 / m):.0f}%)"
        rows.append(
            (
                h.label,
                h.holds,
                note,
                m,
                counts,
                (Share(row["share"], row["share_low"], row["share_high"]), edge),
                _size(row),
                Number(row["ratio_median"]),
            )
        )
    header = HEADER
    reps = file.get("replicates")
    intro = Paragraph.of(
        f"From the ensemble sweep `{root}` (command `{manifest.get('command')}`, git revision "
        f"`{manifest.get('git_revision')}`; ensemble `{ensemble}`, {reps} replicates per "
        "member, common random numbers within a member). Each member is classified by its "
        "paired 95% bootstrap interval: **holds** (the interval wholly on the claimed side "
        "of zero), **reversed** (wholly on the other side) or **undetermined**. The share "
        "holding has a 95% bootstrap interval over members (members resampled); members are "
        'unweighted, so a share is "in this many of the plausible worlds tried", not a '
        "probability. Early vs late compares each exit with its own steady-funding twin over "
        "equal windows after each exit's first effect (a total to a fixed horizon would credit "
        "the later exit with fewer months after it). Ratios: of means (the interaction: on the "
        "ratio scale, below 1 = super-multiplicative)."
    )
    scope, lead = "over the ensemble", ()
    if calibration_ensemble is not None and calibration_ensemble.empty:
        scope, lead = _unmatched(root, manifest, calibration_targets)
    findings = tuple(
        _finding(h, row, scope) for h, row, _ in results if row is not None and h.label in FINDINGS
    )
    findings = tuple(f for f in findings if f)
    blocks = (*lead, intro, *match, Table.of(header, rows))
    return SectionResult("policy", TITLE, blocks, (), findings=findings)


#: Headline contrasts with an expectation from the literature or practice, what it is, and
#: what was tried when the ensemble does not bear it out (a share holding below one half).
FINDINGS = {
    "tier interaction (both - council) - (committees - none)": (
        "the core I4P hypothesis that the two tiers together absorb more than the sum of "
        "each alone",
        "tried: the ratio scale at the defaults (section 1), partisan committees (super-"
        "additive relief only below a crossing in committee inclusiveness, failure modes)",
    ),
    "phased vs abrupt exit at month 60": (
        "the practitioner advice to phase an exit (Rogers & Macias 2004)",
        "tried: phasing at months 60 and 120, with and without local ownership (section 2), "
        "along committee inclusiveness and lpc.min_resources (failure modes): no sign "
        "change; with convex returns to scale (convex_returns) the sign flips along "
        "committee ownership over the ramp only, and the aftermath gives it back (failure "
        "modes); closer to Rogers & Coates 2015 (sustained resources and capacity, not the "
        "exit's shape, predicted sustained benefits)",
    ),
}


def _finding(h: Headline, row: pd.Series, scope: str = "over the ensemble") -> tuple | None:
    """A disagreement line when fewer than half the members bear the expectation out."""
    if not row["share"] < 0.5:
        return None
    expectation, tried = FINDINGS[h.label]
    return (
        f"**{h.label}** {scope}: holds in ",
        Share(row["share"], row["share_low"], row["share_high"]),
        f" of {int(row['members'])} members (reversed in {int(row['reversed'])}); the model "
        f"does not bear out {expectation}. {tried[0].upper()}{tried[1:]}.",
    )

"""The sensitivity section, read from the stored screening sweeps (a map, not a check).

Two results directories, analysed here with the code of ``i4p sensitivity``
(:func:`~i4p_sim.sweep.sensitivity.analyse_store`, SALib; nothing is rerun or written): a
Morris screen of every behavioural prior (``i4p sweep experiments/screening.toml``) gives the
ranking by ``mu_star``, the noise index and the active set that
``experiments/calibration.toml`` calibrates; a Saltelli sweep of the first ten
(``i4p sweep experiments/sobol_top.toml``) gives first-order and total Sobol indices with
their intervals, the noise index of that design and the replicates per point it needs.
Both are of ``cumulative_violence``, the metric the active set was selected on
(docs/ODD.md 8.13).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pandas as pd

from i4p_sim.config.errors import ConfigError
from i4p_sim.stats import sensitivity as sa
from i4p_sim.validation.common import analyse_store
from i4p_sim.validation.results import (
    Claim,
    Fixed,
    Number,
    Paragraph,
    SectionResult,
    Table,
    Verdict,
)

__all__ = [
    "CALIBRATION_FILE",
    "METRIC",
    "MORRIS_ROWS",
    "NAME",
    "SOBOL_ROWS",
    "selection",
    "sensitivity_section",
]

NAME = "sensitivity"
TITLE = "Sensitivity: Morris screening and Sobol indices (stored sweeps)"
METRIC = "cumulative_violence"
#: Rows of the Morris ranking shown, and of the Sobol table.
MORRIS_ROWS = 15
SOBOL_ROWS = 10
CALIBRATION_FILE = Path(__file__).resolve().parents[2] / "experiments" / "calibration.toml"
NO_LITERATURE = "(no literature value: a map of where the model's behaviour comes from)"


def _pm(value: float, half: float, fixed: bool = False) -> tuple:
    """``value ± half``: 3 and 2 significant digits, or 2 decimals each (``fixed``)."""
    if fixed:
        return (Fixed(value), " ± ", Fixed(half))
    return (Number(value), " ± ", Number(half, 2))


def _prior(bounds: dict[str, tuple[float, float]], name: str) -> tuple:
    lo, hi = bounds[name]
    return ("[", Number(lo), ", ", Number(hi), "]")


def _provenance(root: Path, out: dict[str, Any]) -> str:
    manifest = out["manifest"]
    wall = (manifest.get("timings") or {}).get("wall_s")
    wall_text = f", {wall:,.0f} s wall" if isinstance(wall, int | float) else ""
    return (
        f"`{root}` (experiment `{manifest.get('source')}`, command "
        f"`{manifest.get('command')}`, git revision `{manifest.get('git_revision')}`, "
        f"finished {manifest.get('finished')}{wall_text}; scenario `{out['scenario']}`, "
        f"{out['points']} points x {out['replicates']} replicates with common random numbers "
        f"= {manifest.get('runs_ok')} runs)"
    )


def selection(table: pd.DataFrame, active: list[str]) -> list[str]:
    """Each Morris row's selection: ``active``; ``cap`` (passes the rule beyond the
    largest 12); ``noise`` (``mu_star`` large enough but not above twice its noise level);
    ``-`` (below :data:`~i4p_sim.stats.sensitivity.ACTIVE_SHARE` of the largest)."""
    passing = set(sa.passes_rule(table))
    top = float(table["mu_star"].max())
    out = []
    for p, mu in zip(table["parameter"], table["mu_star"], strict=True):
        if p in active:
            out.append("active")
        elif p in passing:
            out.append("cap")
        elif top > 0 and mu >= sa.ACTIVE_SHARE * top:
            out.append("noise")
        else:
            out.append("-")
    return out


def _calibrated(path: Path) -> list[str]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(str(path), "", f"unreadable: {exc}") from None
    return [str(p) for p in data.get("parameters") or []]


def _noise(value: float | None) -> tuple:
    return ("n/a (one replicate per point)",) if value is None else (Fixed(value, 3),)


def _morris(root: Path, calibration: Path) -> tuple[list, Claim, dict[str, Any]]:
    out, table = analyse_store(root, METRIC)
    if out["method"] != "morris":
        raise ConfigError(str(root), "manifest.json", "not a Morris design; --screening "
                          "expects a sweep of experiments/screening.toml")  # fmt: skip
    design = out["manifest"]["config"]["design"]
    bounds = dict(zip(design["names"], map(tuple, design["bounds"]), strict=True))
    active = list(out["active"])
    chosen = selection(table, active)
    rows = [
        (i + 1, f"`{r.parameter}`", _prior(bounds, r.parameter), _pm(r.mu_star, r.mu_star_conf),
         Number(r.sigma), Number(r.noise_level, 2), chosen[i])
        for i, r in enumerate(table.head(MORRIS_ROWS).itertuples())
    ]  # fmt: skip
    intro = Paragraph.of(
        f"**Morris screen** {_provenance(root, out)}: {len(design['names'])} behavioural "
        f"priors, each uniform over its prior, {design['n']} trajectories of d + 1 points on "
        f"a {design['num_levels']}-level grid (Morris 1991; `mu_star` of Campolongo, "
        f"Cariboni & Saltelli 2007). Ranked by `mu_star` of `{METRIC}` on the "
        "replicate means of each point (the first "
        f"{min(MORRIS_ROWS, len(table))} of {len(table)}); ± is SALib's 95% bootstrap "
        "half-width over trajectories; noise level: the `mu_star` replicate noise alone "
        "would give; selected: **active** (in the active set), **cap** (passes the rule "
        "beyond the largest 12), **noise** (large enough, but not above twice its noise "
        "level: not shown active, not shown inactive), - (below the share).",
    )
    header = ("rank", "parameter", "prior", "mu_star ± 95%", "sigma", "noise level", "selected")
    calibrated = _calibrated(calibration)
    left_out = [p for p in active if p not in calibrated]
    added = [p for p in calibrated if p not in active]
    diff = []
    if left_out:
        diff.append("without " + ", ".join(f"`{p}`" for p in left_out))
    if added:
        diff.append("plus " + ", ".join(f"`{p}`" for p in added) + " (not screened: shock "
                    "priors are inert in the screen's runs, which have no shocks)")  # fmt: skip
    match = "; ".join(diff) if diff else "nothing more or less"
    summary = Paragraph.of(
        f"Noise index of `{METRIC}` (within-point variance over total variance): ",
        *_noise(out["noise_index"]),
        f". **Active set** ({out['rule']}; {out['passing_rule']} pass the rule): ",
        ", ".join(f"`{p}`" for p in active) or "(none)",
        f". `{calibration.parent.name}/{calibration.name}` calibrates {len(calibrated)} "
        f"parameters: this active set, {match}. The ranking after the first parameter is not resolved (the half-widths "
        "overlap): see docs/ODD.md 8.13.",
    )
    top = table.iloc[0]
    claim = Claim(
        f"most influential parameter for `{METRIC}` (Morris screen)",
        str(out["manifest"].get("source")),
        (f"`{top['parameter']}` (mu_star ", *_pm(top["mu_star"], top["mu_star_conf"]), ")"),
        f"{out['manifest'].get('runs_ok')} runs",
        NO_LITERATURE,
        Verdict("unchecked", "-"),
    )
    return [intro, Table.of(header, rows), summary], claim, out


def _sobol(root: Path, active: list[str] | None, screen_noise: float | None) -> tuple[list, Claim]:
    out, table = analyse_store(root, METRIC)
    if out["method"] != "saltelli":
        raise ConfigError(str(root), "manifest.json", "not a Saltelli design; --sobol "
                          "expects a sweep of experiments/sobol_top.toml")  # fmt: skip
    design = out["manifest"]["config"]["design"]
    bounds = dict(zip(design["names"], map(tuple, design["bounds"]), strict=True))
    rows = [
        (i + 1, f"`{r.parameter}`", _prior(bounds, r.parameter), _pm(r.S1, r.S1_conf, True),
         _pm(r.ST, r.ST_conf, True))
        for i, r in enumerate(table.head(SOBOL_ROWS).itertuples())
    ]  # fmt: skip
    d = len(design["names"])
    if active is None:
        which = ""
    elif set(design["names"]) == set(active[:d]):
        which = f" They are the first {d} of the screen's active set."
    else:
        which = f" They are **not** the first {d} of the screen's active set above."
    intro = Paragraph.of(
        f"**Sobol indices** {_provenance(root, out)}: {d} parameters, each uniform over its "
        f"prior, the other priors at their defaults; SALib's Saltelli design without second "
        f"order (Saltelli et al. 2010), base n = {design['n']}: n (d + 2) = {out['points']} "
        f"points.{which} "
        f"First-order S1 and total ST of `{METRIC}` on the replicate means, ± SALib's 95% "
        f"bootstrap half-width, ranked by ST (the first {min(SOBOL_ROWS, len(table))}); "
        "small negative S1 are estimation noise.",
    )
    need = out["sobol_replicates_for_5pct_noise"]
    reps = out["replicates"]
    screen_noise = "" if screen_noise is None else f"; the screen's was {screen_noise:.3f}"
    noise = Paragraph.of(
        "Sums: S1 ",
        Fixed(float(table["S1"].sum())),
        ", ST ",
        Fixed(float(table["ST"].sum())),
        " (1 - sum of S1 is the share of interactions, and of noise). Noise index of this design: ",
        *_noise(out["noise_index"]),
        f". Replicate noise adds v / R to the variance of the point means; R >= 19 v / (1 - v) "
        f"keeps it under 5% of that variance, so indices above about 0.05 are not noise: "
        f"**{need if need is not None else 'n/a'} replicates per point needed**, this sweep "
        f"has {reps}. The noise index to use is that of the design that gives the indices"
        + screen_noise
        + ".",
    )
    top = table.iloc[0]
    claim = Claim(
        f"most influential parameter for `{METRIC}` (Sobol, total index)",
        str(out["manifest"].get("source")),
        (f"`{top['parameter']}` (ST ", *_pm(top["ST"], top["ST_conf"], True), ")"),
        f"{out['manifest'].get('runs_ok')} runs",
        NO_LITERATURE,
        Verdict("unchecked", "-"),
    )
    return [intro, Table.of(("rank", "parameter", "prior", "S1 ± 95%", "ST ± 95%"), rows),
            noise], claim  # fmt: skip


def sensitivity_section(
    screening: str | Path | None,
    sobol: str | Path | None,
    calibration_file: str | Path = CALIBRATION_FILE,
) -> SectionResult:
    """The section from the two stored sweeps (either may be ``None``: not given).

    Parameters
    ----------
    screening : str or Path or None
        Results of ``i4p sweep experiments/screening.toml`` (a Morris design).
    sobol : str or Path or None
        Results of ``i4p sweep experiments/sobol_top.toml`` (a Saltelli design).
    calibration_file : str or Path
        The calibration experiment whose ``parameters`` are compared with the active set.

    Returns
    -------
    SectionResult
        The Morris ranking and active set, the Sobol indices, and one claim per sweep
        (the most influential parameter; labelled mechanism, never counted).

    Raises
    ------
    ConfigError
        A directory that is not a sweep's results, lacks a design, or has the other method.
    """
    blocks: list = [
        Paragraph.of(
            "Where the model's behaviour comes from under its priors: a **mechanism** map "
            "of the rules and priors, not a fact about the world, so nothing here counts as "
            "agreement. Read from the stored sweeps and analysed with `i4p sensitivity`'s "
            "code (nothing rerun); discussion in docs/ODD.md 8.13."
        )
    ]
    claims = []
    screen: dict[str, Any] = {}
    if screening is None:
        blocks.append(Paragraph.of(
            "No Morris screen was given (`i4p validate --screening DIR`, the results of "
            "`i4p sweep experiments/screening.toml`)."))  # fmt: skip
    else:
        part, claim, screen = _morris(Path(screening), Path(calibration_file))
        blocks += part
        claims.append(claim)
    if sobol is None:
        blocks.append(Paragraph.of(
            "No Sobol sweep was given (`i4p validate --sobol DIR`, the results of "
            "`i4p sweep experiments/sobol_top.toml`)."))  # fmt: skip
    else:
        part, claim = _sobol(Path(sobol), screen.get("active"), screen.get("noise_index"))
        blocks += part
        claims.append(claim)
    return SectionResult(NAME, TITLE, tuple(blocks), tuple(claims))

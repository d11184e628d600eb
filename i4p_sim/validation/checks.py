"""The null checks and failure modes of model version 2, as rows of the document.

Read from ``experiments/validation/model_v2_checks.toml`` (:data:`CHECKS_FILE`), a small
committed table whose every row names the commands that produced it (the failure-mode
sweeps and ``i4p crossing``; the null-check sweep and ``i4p compare``; a test). The
generator computes nothing here and adds no figure of its own: a row changes only when its
commands are rerun and the file updated (docs/ODD.md 8.10 and 8.11 explain the rows).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from i4p_sim.config.errors import ConfigError
from i4p_sim.validation.results import (
    KINDS,
    Claim,
    Paragraph,
    SectionResult,
    Table,
    Verdict,
)

__all__ = ["CHECKS_FILE", "NULL_FIELDS", "FAILURE_FIELDS", "load_checks", "checks_sections"]

CHECKS_FILE = (
    Path(__file__).resolve().parents[2] / "experiments" / "validation" / ("model_v2_checks.toml")
)
NULL_FIELDS = ("check", "kind", "what", "result", "verdict", "commands", "source")
FAILURE_FIELDS = ("contrast", "at_defaults", "axis", "crossing", "ablation", "commands", "source")
NULL_VERDICTS = ("passes", "fails", "finding", "disagrees")


def _rows(data: dict, table: str, fields: tuple[str, ...], src: str) -> list[dict[str, Any]]:
    rows = data.get(table)
    if not isinstance(rows, list) or not rows:
        raise ConfigError(src, table, f"needs at least one [[{table}]] row")
    for i, row in enumerate(rows):
        missing = [f for f in fields if f not in row]
        if missing:
            raise ConfigError(src, f"{table}.{i}", f"missing {', '.join(missing)}")
        if not isinstance(row["commands"], list) or not row["commands"]:
            raise ConfigError(src, f"{table}.{i}.commands", "needs at least one command")
    return rows


def load_checks(path: str | Path = CHECKS_FILE) -> tuple[list[dict], list[dict]]:
    """The ``[[null]]`` and ``[[failure]]`` rows of the checks file, validated.

    Raises
    ------
    ConfigError
        Missing or unreadable file, a row without a required field, an unknown kind or
        verdict (one line, exit 2 on the command line).
    """
    path = Path(path)
    src = str(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(src, "", "not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(src, "", f"not valid TOML: {exc}") from None
    nulls = _rows(data, "null", NULL_FIELDS, src)
    failures = _rows(data, "failure", FAILURE_FIELDS, src)
    for i, row in enumerate(nulls):
        if row["kind"] not in KINDS:
            raise ConfigError(src, f"null.{i}.kind", f"allowed: {', '.join(KINDS)}")
        if row["verdict"] not in NULL_VERDICTS:
            raise ConfigError(src, f"null.{i}.verdict", f"allowed: {', '.join(NULL_VERDICTS)}")
    return nulls, failures


def _commands(row: dict) -> str:
    return "<br>".join(f"`{c}`" for c in row["commands"])


def checks_sections(path: str | Path = CHECKS_FILE) -> list[SectionResult]:
    """Two sections: the null checks and the failure modes, one row each.

    A null check with verdict ``disagrees`` is also a claim (so it is counted if emergent
    and listed under "Where the model disagrees").
    """
    nulls, failures = load_checks(path)
    rel = "experiments/validation/" + Path(path).name
    null_rows = [
        (r["check"], r["kind"], r["what"], r["result"], r["verdict"], _commands(r), r["source"])
        for r in nulls
    ]
    claims = tuple(
        Claim(
            f"null check: {r['check']}",
            rel,
            (r["result"].split(". ")[0],),
            "see section",
            "an emergent property the design requires (DESIGN 1.1)",
            Verdict("disagrees", "disagrees"),
            topic="null:" + r["check"],
            kind=r["kind"],
            why="held out: not used to choose any default",
        )
        for r in nulls
        if r["verdict"] == "disagrees"
    )
    null_section = SectionResult(
        "null_checks",
        "Null checks (model version 2)",
        (
            Paragraph.of(
                f"Each row is read from `{rel}` and was produced by its commands (docs/ODD.md "
                "8.11). A null check switches off what a result is supposed to depend on "
                "(the channels of effect, where committees are sited, where responses go) "
                "or compares a statistic with what chance alone would give."
            ),
            Table.of(
                ("check", "label", "what", "result", "verdict", "commands", "source"),
                null_rows,
            ),
        ),
        claims,
        remedies={
            c.topic: (
                "Left as a disagreement for calibration to test, not to tune; over the "
                "ensemble see the held-out check `peace_spells_overdispersed`.",
            )
            for c in claims
            if c.topic
        },
    )
    failure_rows = [
        (
            r["contrast"],
            r["at_defaults"],
            r["axis"],
            r["crossing"],
            r["ablation"],
            _commands(r),
            r["source"],
        )
        for r in failures
    ]
    failure_section = SectionResult(
        "failure_modes",
        "Failure modes: where each headline contrast flips (model version 2)",
        (
            Paragraph.of(
                f"Each headline contrast swept along one parameter inside its prior, read with "
                f"`i4p crossing`: the axis value where the paired contrast's mean changes sign "
                f"with a 95% percentile interval over 2,000 resamples of whole replicates, and "
                f"the same sweep with the named mechanism switched off (the ablation). Rows "
                f"from `{rel}` (docs/ODD.md 8.10): 48 x 48 grids and 12 paired replicates per "
                f"axis point unless the row says otherwise; metric `cumulative_violence` from "
                f"month 24. These crossings are at the provisional defaults of the other "
                f"parameters, not over the ensemble."
            ),
            Table.of(
                (
                    "contrast",
                    "at the defaults",
                    "axis (experiment)",
                    "crossing [95% interval]",
                    "ablation (named mechanism off)",
                    "commands",
                    "source",
                ),
                failure_rows,
            ),
        ),
        (),
    )
    return [null_section, failure_section]

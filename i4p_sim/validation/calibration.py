"""Calibration targets and held-out checks, read from an ``i4p calibrate`` results directory.

The document reads the store; it never reruns a calibration. From the directory
(:data:`CALIBRATION_FILES`; ``sensitivity.parquet`` is optional):

- **calibration targets**: per target of the calibration's target file, the published value
  and range with what the cited work measured, the ensemble's simulated range (min / median
  / max of the member means), the implausibility cut-off, the points it ruled out in each
  wave, and the ensemble size; the calibration's command, revision and wall time from
  ``calibration.json``. An empty ensemble (every point ruled out) is said plainly and is
  listed as a finding; the ensemble columns then read "no ensemble".
- **held-out checks**: each held-out target's result over the ensemble (computed by the
  calibration after its last wave, ``heldout.parquet``) and whether it agrees, as claims.
"""

from __future__ import annotations

import json
import math
import re
import tomllib
from pathlib import Path
from typing import Any

import pandas as pd

from i4p_sim.config.errors import ConfigError
from i4p_sim.validation.results import (
    Claim,
    Fixed,
    Number,
    Paragraph,
    SectionResult,
    Table,
    Text,
    Verdict,
)

__all__ = [
    "CALIBRATION_FILES",
    "NO_ENSEMBLE",
    "CalibrationStore",
    "calibration_sections",
    "heldout_verdict",
    "read_calibration",
]

CALIBRATION_FILES = (
    "calibration.json",
    "ensemble.parquet",
    "waves.parquet",
    "points.parquet",
    "heldout.parquet",
)
NO_ENSEMBLE = "no ensemble"
REPO = Path(__file__).resolve().parents[2]
_COUNT = re.compile(r"in (\d+) of (\d+) members")


class CalibrationStore:
    """The files of one calibration results directory, read once."""

    def __init__(self, root: Path, meta: dict[str, Any], frames: dict[str, pd.DataFrame]):
        self.root = root
        self.meta = meta
        self.ensemble = frames["ensemble"]
        self.waves = frames["waves"]
        self.points = frames["points"]
        self.heldout = frames["heldout"]
        self.sensitivity = frames.get("sensitivity")
        self.target_info = _target_info(meta)

    @property
    def command(self) -> str:
        """The calibration's command line, rebuilt from ``calibration.json``."""
        return f"i4p calibrate {self.meta.get('source', '?')}" + (
            " --quick" if self.meta.get("quick") else ""
        )

    @property
    def cutoff(self) -> float:
        """The implausibility cut-off."""
        return float((self.meta.get("file") or {}).get("cutoff", 3.0))

    @property
    def matched(self) -> list[str] | None:
        """Targets matched (``None``: every calibration target)."""
        return (self.meta.get("file") or {}).get("match")


def _target_info(meta: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each target's entry of the calibration's target file (statistic, source), if found."""
    source, targets = meta.get("source"), (meta.get("file") or {}).get("targets")
    if not source or not targets:
        return {}
    for base in (Path(source), REPO / source):
        path = base.parent / targets
        if path.is_file():
            try:
                data = tomllib.loads(path.read_text(encoding="utf-8"))
            except (OSError, tomllib.TOMLDecodeError):
                return {}
            return {t.get("name"): t for t in data.get("target", [])}
    return {}


def read_calibration(root: str | Path) -> CalibrationStore:
    """Read a calibration results directory; ConfigError (one line) if it is not one."""
    root = Path(root)
    if not root.is_dir():
        raise ConfigError(
            str(root), "", "not a directory; expected an 'i4p calibrate' results directory"
        )
    for name in CALIBRATION_FILES:
        if not (root / name).is_file():
            raise ConfigError(str(root), name, "not found; expected the output of 'i4p calibrate'")
    try:
        meta = json.loads((root / "calibration.json").read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(str(root), "calibration.json", f"not valid JSON: {exc}") from None
    frames = {}
    for name in [*CALIBRATION_FILES[1:], "sensitivity.parquet"]:
        path = root / name
        if not path.is_file():
            continue
        try:
            frames[name.removesuffix(".parquet")] = pd.read_parquet(path)
        except Exception as exc:  # noqa: BLE001 - ArrowInvalid, OSError: a torn file
            raise ConfigError(str(root), name, f"unreadable Parquet: {exc}") from None
    if not isinstance(meta.get("targets"), list):
        raise ConfigError(str(root), "calibration.json", "has no 'targets' list")
    return CalibrationStore(root, meta, frames)


def _published(t: dict[str, Any]) -> Text:
    value, low, high = t.get("value"), t.get("low"), t.get("high")
    if value is None:
        return ("-",)
    if low is None or high is None:
        return (Number(value),)
    return (Number(value), " [", Number(low), ", ", Number(high), "]")


def _simulated(store: CalibrationStore, name: str) -> Text:
    if store.ensemble.empty:
        return (NO_ENSEMBLE,)
    if name not in store.ensemble.columns:
        return ("not stored",)
    v = store.ensemble[name].to_numpy(dtype=float)
    v = v[~pd.isna(v)]
    if not v.size:
        return ("undefined in every member",)
    return (Number(v.min()), " / ", Number(float(pd.Series(v).median())), " / ", Number(v.max()))


def _inside(store: CalibrationStore, t: dict[str, Any]) -> str:
    """How many members' means are inside the published range (matching allows the
    discrepancy and model variances, so a member may be outside it)."""
    name, low, high = t["name"], t.get("low"), t.get("high")
    if store.ensemble.empty:
        return NO_ENSEMBLE
    if low is None or high is None or name not in store.ensemble.columns:
        return "-"
    v = store.ensemble[name].to_numpy(dtype=float)
    inside = int(((v >= low) & (v <= high)).sum())
    return f"{inside} of {v.size}"


def _ruled_out(store: CalibrationStore, name: str) -> str:
    col = f"{name}:I"
    pts = store.points
    if col not in pts.columns or "wave" not in pts.columns:
        return "-"
    parts = []
    for wave, sub in pts.groupby("wave", sort=True):
        out = int((sub[col].fillna(math.inf) > store.cutoff).sum())
        parts.append(f"w{int(wave)}: {out}/{len(sub)}")
    return ", ".join(parts)


def _provenance(store: CalibrationStore) -> Paragraph:
    m = store.meta
    sizes = m.get("sizes") or {}
    walls = m.get("wave_wall_s") or {}
    wave_walls = ", ".join(f"wave {k} {float(v):.0f} s" for k, v in walls.items())
    size_text = ", ".join(f"{k} {v}" for k, v in sizes.items())
    wall = float(m.get("wall_s", float("nan")))
    return Paragraph.of(
        f"Calibration `{store.root}`: command `{store.command}` (rebuilt from "
        f"calibration.json: its source file and --quick); git revision "
        f"`{m.get('git_revision')}`; started {m.get('started')}, finished {m.get('finished')}; "
        "wall time ",
        Fixed(wall / 60, 1, " min"),
        f" ({wave_walls}) in the last session; sizes: {size_text}; implausibility cut-off ",
        Number(store.cutoff),
        "." + (" **A --quick demonstration: not a result.**" if m.get("quick") else ""),
    )


def _targets_table(store: CalibrationStore) -> Table:
    n = len(store.ensemble)
    rows = []
    for t in store.meta["targets"]:
        name = t["name"]
        info = store.target_info.get(name, {})
        matched = store.matched is None or name in store.matched
        rows.append(
            (
                f"`{name}`" + ("" if matched else " (computed, not matched)"),
                _published(t),
                info.get("source", "-"),
                _simulated(store, name),
                _inside(store, t),
                Number(store.cutoff),
                _ruled_out(store, name),
                n if n else NO_ENSEMBLE,
            )
        )
    header = (
        "target",
        "published value [range]",
        "what the cited work measured",
        "ensemble min / median / max of member means",
        "members inside the published range",
        "cut-off",
        "ruled out by this target per wave",
        "ensemble size",
    )
    return Table.of(header, rows)


def _waves_table(store: CalibrationStore) -> Table:
    rows = [
        (
            int(w.wave),
            int(w.points),
            int(w.points) - int(w.not_ruled_out),
            int(w.not_ruled_out),
            Fixed(float(w.space_fraction), 3),
            Fixed(float(w.space_fraction_after), 3),
            str(getattr(w, "note", "") or ""),
        )
        for w in store.waves.itertuples(index=False)
    ]
    header = (
        "wave",
        "points",
        "ruled out",
        "not ruled out",
        "box not ruled out, before",
        "after (estimated)",
        "note",
    )
    return Table.of(header, rows)


def heldout_verdict(members: int, result: str) -> Verdict:
    """A held-out check's verdict from the calibration's result text.

    ``not evaluated ...`` (no operational implementation, or nothing to measure) and an empty
    ensemble are ``unchecked``; ``... in K of N members``
    agrees when K > N / 2 (the property holds in most plausible worlds) and disagrees
    otherwise, with the count in the text; anything else is ``unchecked`` ("see result").
    """
    text = str(result)
    if text.startswith("not evaluated"):
        return Verdict("unchecked", "not checked (see result)")
    if members == 0 or text.startswith("no member"):
        return Verdict("unchecked", NO_ENSEMBLE)
    m = _COUNT.search(text)
    if not m:
        return Verdict("unchecked", "see result")
    k, n = int(m.group(1)), int(m.group(2))
    if n and k * 2 > n:
        return Verdict("agrees", f"agrees in {k} of {n} members")
    return Verdict("disagrees", f"disagrees: holds in only {k} of {n} members")


def _heldout(store: CalibrationStore) -> tuple[Table, tuple[Claim, ...]]:
    rows, claims = [], []
    src = str(store.root / "heldout.parquet")
    for r in store.heldout.itertuples(index=False):
        info = store.target_info.get(r.target, {})
        verdict = heldout_verdict(int(r.members), str(r.result))
        stated = info.get("source", "-")
        rows.append(
            (f"`{r.target}`", info.get("statistic", "-"), stated, int(r.members), r.result,
             verdict.text)
        )  # fmt: skip
        claims.append(
            Claim(
                f"held out over the ensemble: {r.target}",
                src,
                (str(r.result),),
                f"{int(r.members)} members",
                stated,
                verdict,
                topic="heldout",
                kind="emergent",
                why="held out: checked only after the last wave, never used to rule out",
            )
        )
    header = (
        "target",
        "statistic",
        "literature (what it measured)",
        "members",
        "result",
        "verdict",
    )
    return Table.of(header, rows), tuple(claims)


def _sensitivity_words(store: CalibrationStore) -> str:
    """What the threshold sensitivity table says about an empty ensemble, in words."""
    sens = store.sensitivity
    if sens is None or sens.empty or "not_ruled_out" not in sens.columns:
        return "no threshold sensitivity table was stored"
    other = sens[sens["definition"] != "declared"]
    if other.empty or int(other["not_ruled_out"].max()) == 0:
        return "no other declared threshold (sensitivity table) leaves a point either"
    best = other.loc[other["not_ruled_out"].idxmax()]
    return (
        f"with another declared threshold up to {int(best['not_ruled_out'])} points would not "
        f"be ruled out ({best['definition']} = {best['value']}; the sensitivity table under "
        "Calibration targets), but thresholds were fixed before wave 1 and are not re-chosen"
    )


def calibration_sections(root: str | Path | None) -> list[SectionResult]:
    """The sections "Calibration targets" and "Held-out checks" (or why they are empty)."""
    if root is None:
        missing = Paragraph.of(
            "No calibration results were given (`i4p validate --calibration DIR`): "
            "no calibration table and no held-out checks in this version of the document."
        )
        return [
            SectionResult("calibration", "Calibration targets", (missing,), ()),
            SectionResult("heldout", "Held-out checks over the ensemble", (missing,), ()),
        ]
    store = read_calibration(root)
    n = len(store.ensemble)
    findings: tuple[Text, ...] = ()
    blocks: list[Any] = [_provenance(store)]
    if n == 0:
        blocks.append(
            Paragraph.of(
                "**The calibration ruled out every point**: no parameter set it tried matches "
                "every calibration target at once within the cut-off. That is a finding, not a "
                "failure of the method: the model as it stands cannot produce the published "
                'figures together. Every table built on the ensemble says "no ensemble".'
            )
        )
        findings = (
            (
                "**The calibration ruled out every point** (",
                f"`{store.command}`, {len(store.points)} points in {len(store.waves)} waves): "
                "no parameter set in the prior box matches all calibration targets at once. "
                f"Tried: the prior box of the calibration file over its waves; "
                f"{_sensitivity_words(store)}.",
            ),
        )
    else:
        blocks.append(
            Paragraph.of(
                f"The ensemble is the {n} parameter sets not ruled out (maximum implausibility "
                "at most the cut-off): a not-ruled-out set, **not a posterior**. Calibration "
                "targets are matched by construction, so they are not counted as agreement."
            )
        )
    blocks += [_targets_table(store), Paragraph.of("**Per wave**"), _waves_table(store)]
    blocked = store.meta.get("blocked") or {}
    if blocked:
        blocks.append(
            Paragraph.of(
                "Blocked targets (not matched): "
                + "; ".join(f"`{k}`: {v}" for k, v in blocked.items())
                + "."
            )
        )
    sens = store.sensitivity
    if sens is not None and not sens.empty:
        blocks += [
            Paragraph.of("**Declared thresholds changed one at a time** (points not ruled out)"),
            Table.of(tuple(str(c) for c in sens.columns), sens.astype(object).values.tolist()),
        ]
    cal = SectionResult("calibration", "Calibration targets", tuple(blocks), (), findings=findings)
    if n == 0:
        held_blocks: tuple[Any, ...] = (
            Paragraph.of(
                "No ensemble: the calibration ruled out every point, so nothing is held out."
            ),
        )
        return [cal, SectionResult("heldout", "Held-out checks over the ensemble", held_blocks, ())]
    table, claims = _heldout(store)
    intro = Paragraph.of(
        f"Checked on the {n} members after the last wave only (`heldout.parquet`); never used "
        "to rule a point out. A check agrees when the property holds in more than half of "
        "the members; the counts are stated."
    )
    remedy = (
        "Held-out checks are not tuned: a disagreement here stays until a mechanism (not a "
        "parameter) is changed, and then the calibration is rerun. Tried so far: the check "
        "on every member of this ensemble; at the defaults, the episode gap at 6, 12 and 24 "
        "months (docs/ODD.md 8.11; the null checks below). The event-size tail and the "
        "training spillover need every month's violence map, which the sweep store does not "
        "keep: each member is rerun with seeded replicates keeping the maps, each run paired "
        "with a twin without committees (i4p_sim/calibrate/heldout.py; sizes in "
        "experiments/targets.toml [heldout] and in each result).",
    )
    held = SectionResult(
        "heldout",
        "Held-out checks over the ensemble",
        (intro, table),
        claims,
        remedies={"heldout": remedy},
    )
    return [cal, held]

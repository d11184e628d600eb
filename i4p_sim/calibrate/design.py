"""The calibration file (``experiments/calibration.toml``), its priors and its targets.

A calibration names its base scenario (``scenario``), the scenario whose election shocks the election
target uses, the parameters to vary (each must have a prior in ``priors.toml``: its range
is the box), the waves, points per wave, replicates per point, the emulator's candidates
and the cut-off, the number of units behind each published figure (``[units]``), and a
``[quick]`` table of smaller sizes for a demonstration (``--quick``). Targets and their
operational definitions come from ``targets.toml``; calibration targets that are
``blocked``, or left out of the file's optional ``match`` list, are listed as such and not
matched; held-out targets are checked after the
last wave only. Every problem is one :class:`~i4p_sim.config.errors.ConfigError` line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from i4p_sim.calibrate.implausibility import range_variance
from i4p_sim.calibrate.matching import Box, Target
from i4p_sim.config.errors import ConfigError, from_validation_error
from i4p_sim.config.loading import read_toml

__all__ = ["Calibration", "TargetSpec", "load_calibration", "STATISTICS"]

#: Calibration targets with an operational implementation (calibrate.statistics).
STATISTICS = ("relapse_within_a_decade", "serious_election_violence")
NAME_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.+-]*$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class Sizes(_Strict):
    """Sizes that ``[quick]`` may override."""

    waves: Annotated[int, Field(ge=1, le=50)] | None = None
    points: Annotated[int, Field(ge=2, le=10_000)] | None = None
    replicates: Annotated[int, Field(ge=2, le=10_000)] | None = None
    candidates: Annotated[int, Field(ge=10, le=1_000_000)] | None = None
    members: Annotated[int, Field(ge=0, le=100_000)] | None = None
    fill_waves: Annotated[int, Field(ge=0, le=50)] | None = None


class CalibrationConfig(_Strict):
    """The calibration file's schema (module docstring)."""

    name: Annotated[str, Field(min_length=1, max_length=80, pattern=NAME_PATTERN)]
    description: str = ""
    seed: Annotated[int, Field(ge=0, le=2**63 - 1)] = 0
    scenario: Annotated[str, Field(min_length=1)]
    elections: Annotated[str, Field(min_length=1)]
    targets: str = "targets.toml"
    priors: str = "priors.toml"
    parameters: Annotated[list[str], Field(min_length=1, max_length=12)]
    set: list[str] = Field(default_factory=list)
    steps: Annotated[int, Field(ge=1, le=100_000)] = 240
    waves: Annotated[int, Field(ge=1, le=50)]
    points: Annotated[int, Field(ge=2, le=10_000)]
    replicates: Annotated[int, Field(ge=2, le=10_000)]
    candidates: Annotated[int, Field(ge=10, le=1_000_000)] = 2000
    cutoff: Annotated[float, Field(gt=0.0)] = 3.0
    #: after the last wave, fill waves (at most ``fill_waves``) sample around the points not
    #: ruled out until ``members`` are (matching module docstring); 0 = no fill
    members: Annotated[int, Field(ge=0, le=100_000)] = 0
    fill_waves: Annotated[int, Field(ge=0, le=50)] = 0
    #: standard deviation of a fill wave's perturbations, in units of each prior's range
    fill_scale: Annotated[float, Field(gt=0.0, le=1.0)] = 0.1
    units: dict[str, Annotated[float, Field(gt=0.0)]] = Field(default_factory=dict)
    #: the calibration targets matched (default: every unblocked one); the others are
    #: listed as not matched, with this file as the reason
    match: list[str] | None = None
    quick: Sizes = Field(default_factory=Sizes)


@dataclass(frozen=True)
class TargetSpec:
    """A target of ``targets.toml`` with its variances and units (calibration targets)."""

    name: str
    role: str
    statistic: str
    value: float | None = None
    low: float | None = None
    high: float | None = None
    var_target: float = 0.0
    var_discrepancy: float = 0.0
    units: float = 1.0
    blocked: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def matching_target(self) -> Target:
        """The :class:`~i4p_sim.calibrate.matching.Target` of the wave loop."""
        return Target(self.name, float(self.value), self.var_target, self.var_discrepancy)


@dataclass
class Calibration:
    """A loaded calibration: file, sizes (``--quick`` applied), box, targets, definitions."""

    config: CalibrationConfig
    source: str
    here: Path
    quick: bool
    box: Box
    targets: list[TargetSpec]
    blocked: list[TargetSpec]
    held_out: list[TargetSpec]
    definitions: dict[str, int]
    sensitivity: dict[str, list[int]]

    def size(self, key: str) -> int:
        """waves / points / replicates / candidates / members / fill_waves, from ``[quick]``
        under ``--quick``."""
        quick = getattr(self.config.quick, key) if self.quick else None
        return int(quick if quick is not None else getattr(self.config, key))

    @property
    def matched(self) -> list[Target]:
        """The targets the waves match."""
        return [t.matching_target() for t in self.targets]

    def path(self, rel: str) -> Path:
        """A path of the file, relative to its directory."""
        return (self.here / rel).resolve()


def _read(path: Path, source: str) -> CalibrationConfig:
    raw = read_toml(path)
    raw.setdefault("name", path.stem)
    try:
        return CalibrationConfig.model_validate(raw)
    except ValidationError as exc:
        keys = {"": list(CalibrationConfig.model_fields), "quick": list(Sizes.model_fields)}
        raise from_validation_error(source, exc, allowed_keys=keys.get) from None


def _box(cfg: CalibrationConfig, priors_path: Path, source: str) -> Box:
    raw = read_toml(priors_path)
    priors = {p.get("path"): p for p in raw.get("prior", []) if isinstance(p, dict)}
    names, low, high, ints = [], [], [], set()
    for i, path in enumerate(cfg.parameters):
        if path in names:
            raise ConfigError(source, f"parameters.{i}", f"'{path}' given twice")
        prior = priors.get(path)
        if prior is None:
            raise ConfigError(
                source, f"parameters.{i}", f"'{path}' has no [[prior]] in {priors_path.name}"
            )
        lo, hi = prior.get("low"), prior.get("high")
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (lo, hi)):
            raise ConfigError(str(priors_path), path, "low and high must be numbers")
        if not lo < hi:
            raise ConfigError(str(priors_path), path, f"need low < high, got [{lo}, {hi}]")
        if all(isinstance(prior.get(k), int) for k in ("default", "low", "high")):
            ints.add(path)
        names.append(path)
        low.append(float(lo))
        high.append(float(hi))
    return Box(tuple(names), tuple(low), tuple(high), frozenset(ints))


def _targets(cfg: CalibrationConfig, raw: dict[str, Any], tsource: str, source: str):
    matched, blocked, held = [], [], []
    reserved = {"name", "role", "statistic", "value", "low", "high", "var_discrepancy"}
    for i, t in enumerate(raw.get("target", [])):
        name, role = t.get("name"), t.get("role")
        if role not in ("calibration", "held_out") or not isinstance(name, str):
            raise ConfigError(
                tsource, f"target.{i}", "needs a name and role = calibration|held_out"
            )
        extra = {k: v for k, v in t.items() if k not in reserved}
        base = {"name": name, "role": role, "statistic": str(t.get("statistic", ""))}
        if role == "held_out":
            held.append(TargetSpec(**base, extra=extra))
            continue
        if t.get("blocked"):
            blocked.append(TargetSpec(**base, blocked=str(t["blocked"]), extra=extra))
            continue
        if name not in STATISTICS:
            raise ConfigError(
                tsource,
                f"target.{i}",
                f"'{name}' has no operational implementation; block it or use one of "
                + ", ".join(STATISTICS),
            )
        try:
            value, lo, hi = (float(t[k]) for k in ("value", "low", "high"))
            var_d = float(t.get("var_discrepancy", 0.0))
        except (KeyError, TypeError, ValueError):
            raise ConfigError(
                tsource, f"target.{i}", "needs numbers value, low, high (and var_discrepancy)"
            ) from None
        if not lo <= value <= hi or var_d < 0:
            raise ConfigError(tsource, f"target.{i}", "need low <= value <= high, var >= 0")
        var_t = float(t["var_target"]) if "var_target" in t else range_variance(lo, hi)
        if name not in cfg.units:
            raise ConfigError(source, f"units.{name}", "units of the published figure missing")
        matched.append(
            TargetSpec(
                **base, value=value, low=lo, high=hi, var_target=var_t,
                var_discrepancy=var_d, units=cfg.units[name], extra=extra,
            )
        )  # fmt: skip
    if cfg.match is not None:
        names = [t.name for t in matched]
        for i, name in enumerate(cfg.match):
            if name not in names:
                raise ConfigError(
                    source, f"match.{i}", f"'{name}' unknown; allowed: {', '.join(names)}"
                )
        blocked += [
            TargetSpec(t.name, t.role, t.statistic, blocked="not in this file's match list")
            for t in matched
            if t.name not in cfg.match
        ]
        matched = [t for t in matched if t.name in cfg.match]
    if not matched:
        raise ConfigError(tsource, "target", "no unblocked calibration target")
    return matched, blocked, held


def load_calibration(path: str | Path, *, quick: bool = False) -> Calibration:
    """Load and check a calibration file, its priors and its targets (one-line errors)."""
    p = Path(path)
    source = str(path)
    cfg = _read(p, source)
    here = p.resolve().parent
    for key in ("scenario", "elections", "targets", "priors"):
        if not (here / getattr(cfg, key)).is_file():
            raise ConfigError(source, key, f"file not found: {getattr(cfg, key)}")
    box = _box(cfg, here / cfg.priors, source)
    traw = read_toml(here / cfg.targets)
    matched, blocked, held = _targets(cfg, traw, str(here / cfg.targets), source)
    definitions = {
        k: int(traw.get("definitions", {}).get(k, v))
        for k, v in {
            "region_cells": 64,
            "active_cells": 3,
            "episode_gap": 12,
            "burn_in": 24,
        }.items()
    }
    sensitivity = {k: list(v) for k, v in traw.get("sensitivity", {}).items()}
    return Calibration(
        cfg, source, here, quick, box, matched, blocked, held, definitions, sensitivity
    )

"""The exit-strategy search file (``experiments/exit_strategy.toml``).

A search names its base scenario, the ``set`` applied to it, steps, replicates, the seed
(of the replicates and of optuna's NSGA-II sampler), the batch size, the default number of
trials, the bad-case quantile and the ``[space]`` searched:

- ``exit_start`` [lo, hi]: the month the donors' phase-out starts (integer);
- ``ramp`` [lo, hi]: its length in months (even integers: the scenario's phased
  ``funding_withdrawal`` is centred on ``at = exit_start + ramp / 2``);
- ``lpc_share`` [lo, hi]: every donor's share to committees (the rest to the council);
- ``density`` [lo, hi]: ``lpc.density``, committees per 1,000 inhabited cells;
- ``placement``: a list of ``lpc.placement`` values (need, random);
- ``domestic_budget`` [lo, hi]: ``council.domestic_budget``, the government's co-funding
  of the council per month per 1,000 inhabited cells.

With ``ensemble`` (an ``i4p calibrate`` ``ensemble.parquet``, e.g.
``ensembles/reference_elections.parquet``) every trial runs on each of its first ``members``
members (all by default; rows with ``not_ruled_out`` false are dropped), the member's
parameters (its columns named like ``section.field``) applied before the trial's: the
objectives are then taken over members x replicates.

A range is checked by applying both of its ends to the base scenario (the scenario's
bounds); every problem is one :class:`~i4p_sim.config.errors.ConfigError` line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from i4p_sim.config.errors import ConfigError, from_validation_error
from i4p_sim.config.loading import load_scenario, read_toml, validate_scenario
from i4p_sim.config.scenario import Scenario
from i4p_sim.optimize.space import scenario_at

__all__ = ["Search", "SearchConfig", "Space", "load_search"]

NAME_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.+-]*$"
Pair = Annotated[list[float], Field(min_length=2, max_length=2)]
IntPair = Annotated[list[int], Field(min_length=2, max_length=2)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class Space(_Strict):
    """The ``[space]`` table (module docstring)."""

    exit_start: IntPair
    ramp: IntPair
    lpc_share: Pair
    density: Pair
    placement: Annotated[list[Literal["need", "random"]], Field(min_length=1, max_length=2)]
    domestic_budget: Pair


class SearchConfig(_Strict):
    """The search file's schema (module docstring)."""

    name: Annotated[str, Field(min_length=1, max_length=80, pattern=NAME_PATTERN)]
    description: str = ""
    seed: Annotated[int, Field(ge=0, le=2**31 - 1)] = 0
    scenario: Annotated[str, Field(min_length=1)]
    set: list[str] = Field(default_factory=list)
    steps: Annotated[int, Field(ge=2, le=100_000)] = 240
    replicates: Annotated[int, Field(ge=1, le=10_000)] = 4
    batch: Annotated[int, Field(ge=1, le=1000)] = 4
    trials: Annotated[int, Field(ge=1, le=100_000)] = 32
    #: NSGA-II's population (at least 2); its first generation is sampled at random
    population: Annotated[int, Field(ge=2, le=10_000)] = 8
    quantile: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.8
    ensemble: Annotated[str, Field(min_length=1)] | None = None
    members: Annotated[int, Field(ge=1, le=10_000)] | None = None
    space: Space


@dataclass
class Search:
    """A loaded search: its file, the base scenario (``set`` applied) and its space."""

    config: SearchConfig
    source: str
    here: Path
    base: Scenario
    #: the ensemble members' parameters (``[{}]``: the base scenario's own parameters)
    members: list[dict[str, float]] = field(default_factory=lambda: [{}])

    def path(self, rel: str) -> Path:
        """A path of the file, relative to its directory."""
        return (self.here / rel).resolve()


def _ranges(cfg: SearchConfig, base: Scenario, source: str) -> None:
    sp = cfg.space
    for key in ("exit_start", "ramp", "lpc_share", "density", "domestic_budget"):
        lo, hi = getattr(sp, key)
        if not lo <= hi:
            raise ConfigError(source, f"space.{key}", f"need low <= high, got [{lo}, {hi}]")
    lo, hi = sp.ramp
    if lo < 2 or lo % 2 or hi % 2:
        raise ConfigError(source, "space.ramp", f"need even months >= 2, got [{lo}, {hi}]")
    if sp.exit_start[0] < 1:
        raise ConfigError(source, "space.exit_start", "the phase-out starts at month 1 or later")
    if sp.exit_start[1] + sp.ramp[1] > cfg.steps:
        raise ConfigError(
            source,
            "space.exit_start",
            f"the latest exit ({sp.exit_start[1]} + ramp {sp.ramp[1]}) ends after the "
            f"last step ({cfg.steps})",
        )
    if not base.donors:
        raise ConfigError(source, "scenario", "the base scenario has no donors to exit")
    for end in (0, 1):
        params = {
            "exit_start": sp.exit_start[end],
            "ramp": sp.ramp[end],
            "lpc_share": sp.lpc_share[end],
            "density": sp.density[end],
            "placement": sp.placement[-1 if end else 0],
            "domestic_budget": sp.domestic_budget[end],
        }
        try:
            scenario_at(base, params, exit=True, source=source)
        except ConfigError as err:
            raise ConfigError(source, "space", err.one_line()) from None


def load_search(path: str | Path) -> Search:
    """Load and check a search file and its base scenario (one-line errors)."""
    p = Path(path)
    source = str(path)
    if not p.is_file():
        raise ConfigError(source, "", "file not found")
    raw = read_toml(p)
    raw.setdefault("name", p.stem)
    try:
        cfg = SearchConfig.model_validate(raw)
    except ValidationError as exc:
        keys = {"": list(SearchConfig.model_fields), "space": list(Space.model_fields)}
        raise from_validation_error(source, exc, allowed_keys=keys.get) from None
    here = p.resolve().parent
    if not (here / cfg.scenario).is_file():
        raise ConfigError(source, "scenario", f"file not found: {cfg.scenario}")
    base = load_scenario(here / cfg.scenario, overrides=list(cfg.set))
    base = validate_scenario({**base.to_dict(), "steps": cfg.steps, "shocks": []}, source)
    search = Search(cfg, source, here, base, _members(cfg, here, base, source))
    _ranges(cfg, base, source)
    return search


def _members(cfg: SearchConfig, here: Path, base: Scenario, source: str) -> list[dict]:
    """The first ``members`` members of the ensemble (each checked on the base scenario)."""
    if cfg.ensemble is None:
        if cfg.members is not None:
            raise ConfigError(source, "members", "needs an ensemble")
        return [{}]
    import pandas as pd

    from i4p_sim.calibrate.waves import apply_params

    path = here / cfg.ensemble
    if not path.is_file():
        raise ConfigError(source, "ensemble", f"file not found: {cfg.ensemble}")
    try:
        table = pd.read_parquet(path)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is one line
        raise ConfigError(source, "ensemble", f"not a Parquet table: {exc}") from None
    if "not_ruled_out" in table.columns:
        table = table[table["not_ruled_out"].astype(bool)]
    params = [c for c in table.columns if "." in c and ":" not in c]
    if table.empty or not params:
        raise ConfigError(source, "ensemble", f"{cfg.ensemble} has no members with parameters")
    n = len(table) if cfg.members is None else cfg.members
    if n > len(table):
        raise ConfigError(source, "members", f"{n} asked, {cfg.ensemble} has {len(table)}")
    members = [{c: float(row[c]) for c in params} for _, row in table.head(n).iterrows()]
    try:
        apply_params(base, members[0], str(path))
    except ConfigError as err:
        raise ConfigError(source, "ensemble", err.one_line()) from None
    return members

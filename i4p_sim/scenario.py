"""Scenario schema, loading (with ``extends``), ``--set`` overrides and one-line errors.

Every field has a default, so an empty file is the default scenario. Validation is
pydantic's; every failure is turned into a :class:`~i4p_sim.errors.ConfigError` naming the
file, the dotted field path and what is allowed.
"""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

import tomli_w
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .errors import ConfigError

Unit = Annotated[float, Field(ge=0.0, le=1.0)]
NonNeg = Annotated[float, Field(ge=0.0)]
Step = Annotated[int, Field(ge=0)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class GridConfig(_Section):
    """Space: an H x W grid of village tracts (one cell ~ 5 x 5 km)."""

    width: Annotated[int, Field(ge=1, le=8192)] = 64
    height: Annotated[int, Field(ge=1, le=8192)] = 64
    torus: bool = False


class LandscapeConfig(_Section):
    """Generated landscape: population, identity groups, structural grievance."""

    groups: Annotated[int, Field(ge=1, le=16)] = 2
    patch_scale: Annotated[float, Field(ge=0.0, le=256.0)] = 6.0
    inhabited_share: Unit = 0.9
    population_mean: Annotated[float, Field(gt=0.0)] = 1000.0
    grievance_mean: Unit = 0.4
    grievance_sd: Annotated[float, Field(ge=0.0, le=0.5)] = 0.12
    grievance_scale: Annotated[float, Field(ge=0.0, le=256.0)] = 6.0
    cohesion_mean: Unit = 0.5


class DynamicsConfig(_Section):
    """Parameters of the tension field, violence, cohesion and memory (docs/ODD.md)."""

    diffusion: Unit = 0.3
    contagion: Unit = 0.12
    decay: Unit = 0.1
    grievance_forcing: Annotated[float, Field(ge=0.0, le=1.0)] = 0.06
    cohesion_buffer: Unit = 0.5
    friction_strength: Annotated[float, Field(ge=0.0, le=1.0)] = 0.08
    friction_scale: Annotated[float, Field(gt=0.0, le=64.0)] = 2.0
    memory_weight: Annotated[float, Field(ge=0.0, le=1.0)] = 0.02
    memory_gain: Unit = 0.3
    memory_decay: Unit = 0.02
    violence_threshold: Unit = 0.55
    violence_width: Annotated[float, Field(gt=0.0, le=1.0)] = 0.05
    cohesion_shield: Unit = 0.6
    violence_release: Unit = 0.5
    cohesion_erosion: Unit = 0.08
    cohesion_recovery: Unit = 0.01
    grievance_recovery: Unit = 0.02
    cluster_every: Annotated[int, Field(ge=1)] = 1


class LPCConfig(_Section):
    """Local peace committees: the grassroots tier."""

    enabled: bool = True
    count: Annotated[int, Field(ge=0, le=1_000_000)] = 40
    radius: Annotated[int, Field(ge=0, le=64)] = 3
    watch_radius: Annotated[int, Field(ge=0, le=128)] = 6
    placement: Literal["need", "random"] = "need"
    capacity: Unit = 0.7
    ownership: Unit = 0.2
    legitimacy: Unit = 0.8
    cost: Annotated[float, Field(gt=0.0)] = 1.0
    capacity_rate: Unit = 0.1
    floor: Unit = 0.15
    reactivation: Unit = 0.3
    mediation: Unit = 0.35
    dialogue: Unit = 0.03
    warning_threshold: Unit = 0.3
    ownership_growth: Unit = 0.005
    handover: Unit = 0.05
    absorption: Annotated[float, Field(gt=0.0, le=1.0)] = 0.05
    ownership_loss: Unit = 0.2
    legitimacy_recovery: Unit = 0.02
    cooptation: Unit = 0.02


class CouncilConfig(_Section):
    """National (and optional regional) peace councils: the top-down tier."""

    enabled: bool = True
    regions: tuple[Annotated[int, Field(ge=1, le=64)], Annotated[int, Field(ge=1, le=64)]] = (1, 1)
    mandate: Unit = 0.8
    domestic_budget: NonNeg = 4.0
    cost: Annotated[float, Field(gt=0.0)] = 12.0
    rapid_responses: Annotated[int, Field(ge=0, le=10_000)] = 3
    regional_responses: Annotated[int, Field(ge=0, le=10_000)] = 1
    response_delay: Annotated[int, Field(ge=0, le=120)] = 1
    response_duration: Annotated[int, Field(ge=1, le=120)] = 4
    response_strength: Unit = 0.6
    response_radius: Annotated[int, Field(ge=0, le=64)] = 2
    observation_delay: Annotated[int, Field(ge=0, le=120)] = 2
    observation_error: Annotated[int, Field(ge=0, le=64)] = 4
    training: Unit = 0.01
    mandate_shield: Unit = 0.7
    agreement_threshold: Unit = 0.08
    agreement_strength: Unit = 0.3
    agreement_duration: Annotated[int, Field(ge=1, le=240)] = 3
    agreement_cooldown: Annotated[int, Field(ge=0, le=1000)] = 36
    agreement_mandate: Unit = 0.4


class DonorConfig(_Section):
    """An external donor (UNDP, bilateral) with a per-step budget and an allocation policy."""

    name: Annotated[str, Field(min_length=1, max_length=64)]
    budget: NonNeg = 20.0
    policy: Literal["uniform", "need", "performance"] = "uniform"
    lpc_share: Unit = 0.7


def _default_donors() -> list[DonorConfig]:
    return [
        DonorConfig(name="undp", budget=30.0, policy="need", lpc_share=0.7),
        DonorConfig(name="bilateral", budget=20.0, policy="performance", lpc_share=0.7),
    ]


class _Shock(_Section):
    at: Step


class FundingWithdrawal(_Shock):
    kind: Literal["funding_withdrawal"]
    donor: str = "all"
    mode: Literal["abrupt", "phased", "partial"] = "abrupt"
    fraction: Unit = 1.0
    ramp: Annotated[int, Field(ge=1, le=1000)] = 24
    condition: Literal["none", "autocratic_turn"] = "none"


class PoliticalUpheaval(_Shock):
    kind: Literal["political_upheaval"]
    duration: Annotated[int, Field(ge=1, le=1000)] = 12
    legitimacy_drop: Unit = 0.3
    tension_spike: Unit = 0.15


class Election(_Shock):
    kind: Literal["election"]
    pre_steps: Annotated[int, Field(ge=0, le=60)] = 6
    pulse: Unit = 0.02
    severe_probability: Unit = 0.2
    severe_spike: Unit = 0.25


class AutocraticTurn(_Shock):
    kind: Literal["autocratic_turn"]
    mandate_drop: Unit = 0.6
    legitimacy_drop: Unit = 0.3
    civic_space: Unit = 0.5
    grievance_rise: Unit = 0.08


class BorderSpillover(_Shock):
    kind: Literal["border_spillover"]
    edge: Literal["north", "south", "east", "west"] = "west"
    duration: Annotated[int, Field(ge=1, le=10_000)] = 36
    inflow: Unit = 0.08
    depth: Annotated[float, Field(gt=0.0, le=1024.0)] = 6.0


class EconomicShock(_Shock):
    kind: Literal["economic_shock"]
    magnitude: Unit = 0.2
    scale: Annotated[float, Field(ge=0.0, le=256.0)] = 8.0


class TriggerIncident(_Shock):
    kind: Literal["trigger_incident"]
    row: Annotated[int, Field(ge=0)] | None = None
    col: Annotated[int, Field(ge=0)] | None = None
    radius: Annotated[int, Field(ge=0, le=64)] = 1
    spike: Unit = 0.5


Shock = Annotated[
    FundingWithdrawal
    | PoliticalUpheaval
    | Election
    | AutocraticTurn
    | BorderSpillover
    | EconomicShock
    | TriggerIncident,
    Field(discriminator="kind"),
]

SHOCK_KINDS = (
    "funding_withdrawal",
    "political_upheaval",
    "election",
    "autocratic_turn",
    "border_spillover",
    "economic_shock",
    "trigger_incident",
)


class Scenario(_Section):
    """A complete parameter set plus a shock schedule."""

    name: str = "scenario"
    description: str = ""
    seed: Annotated[int, Field(ge=0, le=2**63 - 1)] = 0
    steps: Annotated[int, Field(ge=1, le=100_000)] = 240
    reference_step: Step | None = None
    kernel: Literal["numpy", "numba"] = "numpy"
    grid: GridConfig = Field(default_factory=GridConfig)
    landscape: LandscapeConfig = Field(default_factory=LandscapeConfig)
    dynamics: DynamicsConfig = Field(default_factory=DynamicsConfig)
    lpc: LPCConfig = Field(default_factory=LPCConfig)
    council: CouncilConfig = Field(default_factory=CouncilConfig)
    donors: list[DonorConfig] = Field(default_factory=_default_donors)
    shocks: list[Shock] = Field(default_factory=list)

    @model_validator(mode="after")
    def _cross_checks(self) -> Scenario:
        names = [d.name for d in self.donors]
        if len(set(names)) != len(names):
            raise ValueError("donors: names must be unique")
        for i, s in enumerate(self.shocks):
            if isinstance(s, FundingWithdrawal) and s.donor != "all" and s.donor not in names:
                raise ValueError(
                    f"shocks.{i}.donor: '{s.donor}' is not a donor; allowed: 'all' or one of {names}"
                )
            if isinstance(s, TriggerIncident):
                if s.row is not None and s.row >= self.grid.height:
                    raise ValueError(f"shocks.{i}.row: must be < grid.height ({self.grid.height})")
                if s.col is not None and s.col >= self.grid.width:
                    raise ValueError(f"shocks.{i}.col: must be < grid.width ({self.grid.width})")
        return self

    def resolved_reference_step(self) -> int:
        """The reference step ``s``: explicit, else the first shock's step, else half the run.

        A withdrawal conditional on an autocratic turn has no step of its own (its ``at`` is
        only the earliest it may fire), so it does not set ``s``.
        """
        if self.reference_step is not None:
            return min(self.reference_step, self.steps - 1)
        steps = [
            s.at
            for s in self.shocks
            if not (isinstance(s, FundingWithdrawal) and s.condition != "none")
        ]
        if steps:
            return min(min(steps), self.steps - 1)
        return self.steps // 2

    def to_dict(self) -> dict[str, Any]:
        """Plain, TOML-serialisable dict (``None`` fields dropped)."""
        return _drop_none(self.model_dump(mode="json"))

    def to_toml(self) -> str:
        """The fully resolved scenario as TOML that :func:`load_scenario` accepts."""
        return tomli_w.dumps(self.to_dict())


def _drop_none(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _drop_none(v) for k, v in obj.items() if v is not None}
    if isinstance(obj, list):
        return [_drop_none(v) for v in obj]
    return obj


# ---------------------------------------------------------------- loading and errors


def read_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML file, turning every failure into a one-line :class:`ConfigError`."""
    p = Path(path)
    if not p.exists():
        raise ConfigError(str(p), "", "file not found")
    if p.is_dir():
        raise ConfigError(str(p), "", "is a directory; expected a .toml file")
    try:
        text = p.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            str(p), "", f"not valid UTF-8 (byte {exc.start}); TOML files must be UTF-8"
        ) from None
    except OSError as exc:
        raise ConfigError(str(p), "", f"cannot read: {exc.strerror}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(p), "", f"malformed TOML: {exc}") from None


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge tables; arrays (donors, shocks) and scalars in ``over`` replace."""
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def resolve_extends(path: str | Path, _chain: tuple[Path, ...] = ()) -> dict[str, Any]:
    """Read a scenario file and the chain of files it ``extends``, merged, as a dict."""
    p = Path(path).resolve()
    if p in _chain:
        cycle = " -> ".join(str(c.name) for c in (*_chain, p))
        raise ConfigError(str(path), "extends", f"circular extends ({cycle})")
    raw = read_toml(path)
    parent = raw.pop("extends", None)
    if parent is None:
        return raw
    if not isinstance(parent, str) or not parent:
        raise ConfigError(
            str(path), "extends", "must be a file name (string), relative to this file"
        )
    parent_path = Path(path).parent / parent
    if not parent_path.exists():
        raise ConfigError(str(path), "extends", f"'{parent}' not found (looked for {parent_path})")
    return _merge(resolve_extends(parent_path, (*_chain, p)), raw)


def parse_set(assignment: str) -> tuple[list[str], Any]:
    """Parse ``dotted.path=VALUE`` (VALUE as a TOML value; bare words are strings)."""
    if "=" not in assignment:
        raise ConfigError("--set", assignment, "expected dotted.path=VALUE, e.g. grid.width=40")
    key, _, raw = assignment.partition("=")
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ConfigError("--set", assignment, "expected dotted.path=VALUE, e.g. grid.width=40")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
        if not value:
            raise ConfigError("--set", key, "missing VALUE after '='") from None
    return key.split("."), value


def apply_set(data: dict[str, Any], assignment: str) -> dict[str, Any]:
    """Apply one ``--set`` override to a raw scenario dict (returns a new dict)."""
    path, value = parse_set(assignment)
    out = copy.deepcopy(data)
    node: Any = out
    for depth, part in enumerate(path[:-1]):
        here = ".".join(path[: depth + 1])
        if isinstance(node, list):
            node = _list_item(node, part, here)
        else:
            if part not in node:
                if part in ("donors", "shocks"):
                    raise ConfigError(
                        "--set", here, f"this scenario has no {part}; add them in the file first"
                    )
                node[part] = {}
            node = node[part]
            if not isinstance(node, dict | list):
                raise ConfigError("--set", here, "is a value, not a table")
    last = path[-1]
    if isinstance(node, list):
        idx = _index(last, ".".join(path), len(node))
        node[idx] = value
    else:
        node[last] = value
    return out


def _index(part: str, where: str, n: int) -> int:
    if not n:
        raise ConfigError("--set", where, "this list is empty; add entries in the file first")
    if not part.isdigit() or int(part) >= n:
        raise ConfigError("--set", where, f"index must be 0..{n - 1}")
    return int(part)


def _list_item(node: list, part: str, where: str) -> Any:
    return node[_index(part, where, len(node))]


def with_default_lists(data: dict[str, Any]) -> dict[str, Any]:
    """Make ``--set donors.0.budget=...`` work on a file that leaves donors at default."""
    out = dict(data)
    if "donors" not in out:
        out["donors"] = [d.model_dump() for d in _default_donors()]
    return out


def error_path(loc: tuple[Any, ...]) -> str:
    parts = []
    for item in loc:
        # pydantic puts the discriminator tag (e.g. 'funding_withdrawal') into the location
        if isinstance(item, str) and item in SHOCK_KINDS:
            continue
        if isinstance(item, str) and item.startswith("function-"):
            continue
        parts.append(str(item))
    return ".".join(parts)


def describe_error(err: dict[str, Any]) -> str:
    etype = err.get("type", "")
    ctx = err.get("ctx") or {}
    given = err.get("input")
    shown = repr(given) if not isinstance(given, dict | list) else type(given).__name__
    if etype == "extra_forbidden":
        return "unknown key"
    if etype == "missing":
        return "required field is missing"
    if etype == "union_tag_invalid":
        return f"unknown shock kind {ctx.get('tag')!r}; allowed: {', '.join(SHOCK_KINDS)}"
    if etype == "union_tag_not_found":
        return f"missing 'kind'; allowed: {', '.join(SHOCK_KINDS)}"
    if etype == "literal_error":
        return f"got {shown}; allowed: {ctx.get('expected')}"
    if etype in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        bounds = {
            "greater_than_equal": ">=",
            "less_than_equal": "<=",
            "greater_than": ">",
            "less_than": "<",
        }
        key = {
            "greater_than_equal": "ge",
            "less_than_equal": "le",
            "greater_than": "gt",
            "less_than": "lt",
        }[etype]
        return f"got {shown}; must be {bounds[etype]} {ctx.get(key)}"
    return f"got {shown}; {err.get('msg', 'invalid')}"


def _known_section_keys() -> dict[str, list[str]]:
    return {
        "": list(Scenario.model_fields),
        "grid": list(GridConfig.model_fields),
        "landscape": list(LandscapeConfig.model_fields),
        "dynamics": list(DynamicsConfig.model_fields),
        "lpc": list(LPCConfig.model_fields),
        "council": list(CouncilConfig.model_fields),
    }


def _item_keys(data: dict[str, Any], section: str) -> list[str] | None:
    """Allowed keys of ``donors.N`` or ``shocks.N`` (the latter by the entry's kind)."""
    head, _, idx = section.partition(".")
    if head == "donors":
        return list(DonorConfig.model_fields)
    if head == "shocks" and idx.isdigit():
        try:
            kind = data["shocks"][int(idx)]["kind"]
        except (KeyError, IndexError, TypeError):
            return None
        cls = {c.model_fields["kind"].annotation.__args__[0]: c for c in _Shock.__subclasses__()}
        return list(cls[kind].model_fields) if kind in cls else None
    return None


def validate_scenario(data: dict[str, Any], source: str = "<scenario>") -> Scenario:
    """Validate a raw dict into a :class:`Scenario`, raising a one-line ConfigError."""
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = error_path(err["loc"])
        msg = describe_error(err)
        if err.get("type") == "extra_forbidden":
            section = field.rsplit(".", 1)[0] if "." in field else ""
            known = _known_section_keys().get(section) or _item_keys(data, section)
            if known is not None:
                msg = f"unknown key; allowed: {', '.join(known)}"
        if err.get("type") == "value_error" and not field:
            text = str(err.get("msg", "")).removeprefix("Value error, ")
            field, _, msg = text.partition(": ")
        raise ConfigError(source, field, msg) from None


def load_scenario(
    path: str | Path | None = None,
    *,
    overrides: list[str] | tuple[str, ...] = (),
    **fields: Any,
) -> Scenario:
    """Load a scenario TOML file (following ``extends``) and apply overrides.

    Parameters
    ----------
    path : str or Path, optional
        The TOML file; ``None`` gives the default scenario.
    overrides : list of str
        ``dotted.path=VALUE`` assignments, as the CLI's ``--set``.
    **fields
        Top-level fields to replace (``steps=60``, ``seed=3``).

    Returns
    -------
    Scenario

    Raises
    ------
    ConfigError
        One line naming the file, the field and what is allowed.
    """
    source = str(path) if path is not None else "<default>"
    data: dict[str, Any] = resolve_extends(path) if path is not None else {}
    if path is not None and "name" not in data:
        data["name"] = Path(path).stem
    if overrides:
        data = with_default_lists(data)
        for assignment in overrides:
            data = apply_set(data, assignment)
    for key, value in fields.items():
        if value is not None:
            data[key] = value
    try:
        return validate_scenario(data, source)
    except ConfigError as err:
        if overrides and any(a.split("=", 1)[0].strip() == err.field for a in overrides):
            raise ConfigError("--set", err.field, err.message) from None
        raise


def scenario_from_dict(data: dict[str, Any], source: str = "<dict>") -> Scenario:
    """Validate a plain dict (e.g. from an experiment or the app) into a Scenario."""
    return validate_scenario(copy.deepcopy(data), source)

"""The scenario schema: every parameter with its default and allowed range.

Every field has a default, so an empty file is the default scenario. Loading, ``extends``,
``--set`` and the one-line errors are in :mod:`i4p_sim.config.loading`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

import tomli_w
from pydantic import BaseModel, ConfigDict, Field, Strict, model_validator

Unit = Annotated[float, Field(ge=0.0, le=1.0)]
NonNeg = Annotated[float, Field(ge=0.0)]
Step = Annotated[int, Field(ge=0)]
#: A map or CSV file: relative paths are relative to the scenario file that names them.
MapPath = Annotated[str, Field(min_length=1, max_length=4096)]
#: The scenario fields that name a file (``[landscape]`` maps and ``[lpc] sites``).
MAP_FIELDS = ("population_map", "group_map", "region_map")
FILE_FIELDS = (
    *(("landscape", f) for f in MAP_FIELDS),
    ("landscape", "region_names"),
    ("lpc", "sites"),
)


#: Names of scenarios, donors and experiments: they become file and directory names under
#: ``results/``, so no path separators, no leading dot (``..``) and no spaces.
NAME_PATTERN = r"^[A-Za-z0-9_+\-][A-Za-z0-9_.+~\-]*$"


class _Section(BaseModel):
    """Base of every scenario section: unknown keys refused, types strict (no bool for an
    int, no string for a bool; a TOML integer is still accepted for a float), and only
    finite numbers (``inf``/``nan`` mean nothing for any parameter)."""

    model_config = ConfigDict(
        extra="forbid", validate_assignment=True, strict=True, allow_inf_nan=False
    )


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
    # Real maps (docs/ODD.md 6; the ``geo`` extra): a GeoTIFF (band 1) or GeoJSON polygons
    # (the ``*_field`` attribute of each feature), relative to the scenario file, read onto
    # the grid in ``crs`` at ``cell_km``. Population: persons per polygon (spread evenly
    # over its cells) or per GeoTIFF pixel; group: 0..groups-1; region: ids >= 1 whose
    # cells become the regional councils' jurisdictions.
    population_map: MapPath | None = None
    population_field: Annotated[str, Field(min_length=1, max_length=128)] = "population"
    group_map: MapPath | None = None
    group_field: Annotated[str, Field(min_length=1, max_length=128)] = "group"
    region_map: MapPath | None = None
    region_field: Annotated[str, Field(min_length=1, max_length=128)] = "region"
    #: the regions' (and so their councils') names in outputs: this property of each
    #: feature of a GeoJSON region map, or this column of ``region_names``
    region_name_field: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    #: a CSV naming the regions (any region map; needed for a GeoTIFF): a header with
    #: ``region_field`` (the id) and ``region_name_field`` (the name), one region a line
    region_names: MapPath | None = None
    #: the grid's projected CRS (EPSG code, WKT or PROJ string); maps in degrees are
    #: reprojected to it
    crs: Annotated[str, Field(min_length=1, max_length=10_000)] | None = None
    cell_km: Annotated[float, Field(gt=0.0, le=1000.0)] = 5.0

    def maps(self) -> dict[str, str]:
        """The map fields that are set: field name -> path."""
        return {name: path for name in MAP_FIELDS if (path := getattr(self, name)) is not None}


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
    violence_release: Unit = 0.5
    cohesion_erosion: Unit = 0.08
    cohesion_recovery: Unit = 0.01
    grievance_recovery: Unit = 0.02
    cluster_every: Annotated[int, Field(ge=1)] = 1


class CommunityConfig(_Section):
    """Communities decide to mobilise (docs/ODD.md 7.4; Epstein 2002)."""

    threshold: Unit = 0.2
    decision_noise: Annotated[float, Field(ge=0.0, le=1.0)] = 0.02
    arrest_constant: Annotated[float, Field(ge=0.0, le=20.0)] = 2.3
    social_sanction: Unit = 0.3
    exhaustion_cost: Unit = 0.3
    exhaustion_recovery: Unit = 0.02


class StateConfig(_Section):
    """The state's security actor (docs/ODD.md 7.5): present with or without the I4P.

    ``crackdowns`` is per month per 1,000 inhabited cells (carried remainder).
    """

    presence: Annotated[float, Field(ge=0.0, le=10.0)] = 0.2
    legitimacy: Unit = 0.6
    exclusion: Unit = 0.3
    crackdowns: Annotated[float, Field(ge=0.0, le=1000.0)] = 0.2
    crackdown_presence: Annotated[float, Field(ge=0.0, le=10.0)] = 0.5
    crackdown_duration: Annotated[int, Field(ge=1, le=120)] = 3
    crackdown_radius: Annotated[int, Field(ge=0, le=64)] = 2
    repression_cost: Unit = 0.002
    backlash: Unit = 0.03
    legitimacy_recovery: Unit = 0.01


class LPCConfig(_Section):
    """Local peace committees: the grassroots tier."""

    enabled: bool = True
    #: committees per 1,000 inhabited cells (count at build: round half to even)
    density: Annotated[float, Field(ge=0.0, le=1000.0)] = 10.85
    radius: Annotated[int, Field(ge=0, le=64)] = 3
    watch_radius: Annotated[int, Field(ge=0, le=128)] = 6
    placement: Literal["need", "random"] = "need"
    capacity: Unit = 0.7
    ownership: Unit = 0.1
    legitimacy: Unit = 0.6
    cost: Annotated[float, Field(gt=0.0)] = 1.0
    capacity_rate: Unit = 0.1
    floor: Unit = 0.15
    reactivation: Unit = 0.3
    mediation: Unit = 0.35
    dialogue: Unit = 0.03
    warning_threshold: Unit = 0.2
    ownership_growth: Unit = 0.005
    contribution_rate: Unit = 0.01
    min_resources: Unit = 0.3
    inclusiveness: Unit = 0.7
    partisan_threshold: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.3
    surveillance_cost: Unit = 0.05
    ownership_loss: Unit = 0.2
    legitimacy_recovery: Unit = 0.02
    cooptation: Unit = 0.02
    #: returns to scale of a committee's resources: its capability is
    #: ``capacity ** returns * active`` (docs/ODD.md 7.9); 1 = linear
    returns: Annotated[float, Field(gt=0.0, le=4.0)] = 1.0
    #: committee sites from a CSV (columns ``row,col`` or ``lon,lat``), one committee per
    #: line; replaces ``density`` and ``placement``
    sites: MapPath | None = None


class CouncilConfig(_Section):
    """National (and optional regional) peace councils: the top-down tier."""

    enabled: bool = True
    # a TOML array is a list: the tuple itself is lax, its items strict integers
    regions: Annotated[
        tuple[
            Annotated[int, Strict(), Field(ge=1, le=64)],
            Annotated[int, Strict(), Field(ge=1, le=64)],
        ],
        Field(strict=False),
    ] = (1, 1)
    mandate: Unit = 0.8
    #: per month per 1,000 inhabited cells (as are ``cost`` and the response densities)
    domestic_budget: NonNeg = 1.085
    cost: Annotated[float, Field(gt=0.0)] = 3.256
    response_density: Annotated[float, Field(ge=0.0, le=1000.0)] = 0.814
    regional_density: Annotated[float, Field(ge=0.0, le=1000.0)] = 0.271
    response_delay: Annotated[int, Field(ge=0, le=120)] = 1
    response_duration: Annotated[int, Field(ge=1, le=120)] = 4
    response_strength: Unit = 0.6
    response_radius: Annotated[int, Field(ge=0, le=64)] = 2
    observation_delay: Annotated[int, Field(ge=0, le=120)] = 2
    observation_error: Annotated[int, Field(ge=0, le=64)] = 4
    #: "hotspots": warnings, then observed violence (7.11); "random": every response goes
    #: to a uniformly drawn inhabited cell instead (a null check of targeting, ODD 7.11)
    targeting: Literal["hotspots", "random"] = "hotspots"
    training: Unit = 0.01
    mandate_shield: Unit = 0.7
    agreement_threshold: Unit = 0.0015
    agreement_strength: Unit = 0.3
    agreement_duration: Annotated[int, Field(ge=1, le=240)] = 3
    agreement_cooldown: Annotated[int, Field(ge=0, le=1000)] = 36
    agreement_mandate: Unit = 0.4
    agreement_legitimacy: Unit = 0.05
    agreement_breakdown: Unit = 0.05


class DonorConfig(_Section):
    """An external donor (UNDP, bilateral) with a budget and an allocation policy.

    ``budget`` is per month per 1,000 inhabited cells (a density: docs/ODD.md 5.4).
    """

    name: Annotated[str, Field(min_length=1, max_length=64)]
    budget: NonNeg = 5.426
    policy: Literal["uniform", "need", "performance"] = "uniform"
    lpc_share: Unit = 0.7


def default_donors() -> list[DonorConfig]:
    return [
        DonorConfig(name="undp", budget=8.139, policy="need", lpc_share=0.7),
        DonorConfig(name="bilateral", budget=5.426, policy="performance", lpc_share=0.7),
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


class AutocraticTurn(_Shock):
    kind: Literal["autocratic_turn"]
    mandate_drop: Unit = 0.6
    legitimacy_drop: Unit = 0.3
    civic_space: Unit = 0.5
    grievance_rise: Unit = 0.08
    #: share of the council's responses that become crackdowns and of the committees'
    #: warnings that become surveillance after the turn (docs/ODD.md 7.13)
    capture: Unit = 0.0


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

#: The shock classes, in the order of the ``Shock`` union.
SHOCK_TYPES: tuple[type[_Shock], ...] = get_args(get_args(Shock)[0])
#: Shock kind (the TOML ``kind``) -> its class: the one list of kinds.
SHOCK_CLASSES: dict[str, type[_Shock]] = {
    get_args(cls.model_fields["kind"].annotation)[0]: cls for cls in SHOCK_TYPES
}
SHOCK_KINDS = tuple(SHOCK_CLASSES)


class Scenario(_Section):
    """A complete parameter set plus a shock schedule."""

    name: Annotated[str, Field(min_length=1, max_length=80, pattern=NAME_PATTERN)] = "scenario"
    description: Annotated[str, Field(max_length=10_000)] = ""
    seed: Annotated[int, Field(ge=0, le=2**63 - 1)] = 0
    steps: Annotated[int, Field(ge=1, le=100_000)] = 240
    reference_step: Step | None = None
    kernel: Literal["numpy", "numba"] = "numpy"
    grid: GridConfig = Field(default_factory=GridConfig)
    landscape: LandscapeConfig = Field(default_factory=LandscapeConfig)
    dynamics: DynamicsConfig = Field(default_factory=DynamicsConfig)
    community: CommunityConfig = Field(default_factory=CommunityConfig)
    state: StateConfig = Field(default_factory=StateConfig)
    lpc: LPCConfig = Field(default_factory=LPCConfig)
    council: CouncilConfig = Field(default_factory=CouncilConfig)
    donors: list[DonorConfig] = Field(default_factory=default_donors)
    shocks: list[Shock] = Field(default_factory=list)

    @model_validator(mode="after")
    def _cross_checks(self) -> Scenario:
        ls = self.landscape
        if ls.maps() and ls.crs is None:
            raise ValueError(
                "landscape.crs: required with a map; allowed: a projected CRS such as "
                "'EPSG:32737' (UTM zone 37S)"
            )
        if (ls.region_name_field or ls.region_names) and ls.region_map is None:
            field = "region_names" if ls.region_names else "region_name_field"
            raise ValueError(
                f"landscape.{field}: names the regions of a region map; set landscape.region_map"
            )
        if ls.region_names and not ls.region_name_field:
            raise ValueError(
                "landscape.region_name_field: required with landscape.region_names (the "
                "column that holds the names)"
            )
        if ls.region_map is not None and self.council.regions != (1, 1):
            raise ValueError(
                "council.regions: must be [1, 1] when landscape.region_map gives the regions"
            )
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

"""The experiment file's schema: its tables and keys, and its one-line errors.

Loading, scenario resolution and parameter points are in :mod:`i4p_sim.config.experiment`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from i4p_sim.config.errors import ConfigError, from_validation_error
from i4p_sim.config.sampling import SampleConfig
from i4p_sim.config.scenario import NAME_PATTERN

_NAME = NAME_PATTERN
_MAX_SEED = 2**63 - 1


# --------------------------------------------------------------------------- schema


class _Strict(BaseModel):
    """Base of the experiment schema: strict types and finite numbers, as the scenario's."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class VariantConfig(_Strict):
    """One variant of the base scenario (or of ``file``): a name, dotted overrides and
    optionally a replacement shock schedule."""

    name: Annotated[str, Field(min_length=1, max_length=80, pattern=_NAME)]
    description: str = ""
    file: str | None = None
    set: list[str] = Field(default_factory=list)
    shocks: list[dict[str, Any]] | None = None
    twin: Annotated[str | None, Field(min_length=1)] = None


class ScenarioRef(_Strict):
    """A scenario file, optionally renamed and with dotted overrides."""

    file: Annotated[str, Field(min_length=1)]
    name: Annotated[str | None, Field(min_length=1, max_length=80, pattern=_NAME)] = None
    set: list[str] = Field(default_factory=list)
    twin: Annotated[str | None, Field(min_length=1)] = None


class InteractionConfig(_Strict):
    """A 2x2 cell of a factorial: grassroots (a) x top-down (b)."""

    name: Annotated[str, Field(min_length=1, max_length=80)]
    none: str
    a: str
    b: str
    ab: str


class ReportConfig(_Strict):
    """The ``[report]`` table: what the report and ``i4p compare`` contrast.

    ``contrasts`` lists pairs ``[scenario, reference]`` compared pair by pair; without it,
    pairs one factor apart are read off the scenarios' names
    (:func:`i4p_sim.stats.contrasts.suggest_contrasts`).
    """

    contrasts: list[
        Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=2, max_length=2)]
    ] = Field(default_factory=list)


class ExperimentConfig(_Strict):
    """The experiment file's schema (see the module docstring).

    ``snapshot_replicates`` is how many replicates (``0..n-1``) store spatial snapshots of
    tension and violence at the ``heatmap_steps`` (what the report's heat maps draw).
    """

    name: Annotated[str, Field(min_length=1, max_length=80, pattern=NAME_PATTERN)]
    description: str = ""
    seed: Annotated[int, Field(ge=0, le=_MAX_SEED)] = 0
    replicates: Annotated[int, Field(ge=1, le=100_000)] = 8
    steps: Annotated[int, Field(ge=1, le=100_000)] | None = None
    reference_step: Annotated[int, Field(ge=0)] | None = None
    window: Annotated[int, Field(ge=1, le=1000)] = 12
    noise_pairs: Annotated[int, Field(ge=0, le=100_000)] = 4
    kernel: Literal["numpy", "numba"] | None = None
    set: list[str] = Field(default_factory=list)
    scenarios: list[Annotated[str, Field(min_length=1)] | ScenarioRef] = Field(default_factory=list)
    base: Annotated[str, Field(min_length=1)] | None = None
    variants: list[VariantConfig] = Field(default_factory=list)
    baseline: str | None = None
    axes: dict[str, Any] = Field(default_factory=dict)
    sample: SampleConfig | None = None
    #: an ensemble (Parquet, relative to this file) whose members are the points
    ensemble: Annotated[str, Field(min_length=1)] | None = None
    #: run only the ensemble's first ``members`` members
    members: Annotated[int, Field(ge=1, le=100_000)] | None = None
    interactions: list[InteractionConfig] = Field(default_factory=list)
    heatmap_steps: list[Annotated[int, Field(ge=0)]] = Field(default_factory=list)
    snapshot_replicates: Annotated[int, Field(ge=0, le=100_000)] = 1
    report: ReportConfig | None = None


_EXPERIMENT_KEYS = list(ExperimentConfig.model_fields)
_EXPERIMENT_SECTIONS = {
    "sample": SampleConfig,
    "variants": VariantConfig,
    "interactions": InteractionConfig,
    "scenarios": ScenarioRef,
    "report": ReportConfig,
}


def _experiment_keys(section: str) -> list[str] | None:
    """Allowed keys at a section path of an experiment file (for 'unknown key')."""
    if not section:
        return _EXPERIMENT_KEYS
    model = _EXPERIMENT_SECTIONS.get(section.split(".")[0])
    return list(model.model_fields) if model is not None else None


def experiment_error(source: str, exc: ValidationError) -> ConfigError:
    """The one-line ConfigError of an experiment file's pydantic ValidationError."""
    # a union 'str | ScenarioRef' reports the alternative's name in the location
    return from_validation_error(
        source, exc, allowed_keys=_experiment_keys, skip=("str", "ScenarioRef")
    )


# --------------------------------------------------------------------------- experiment

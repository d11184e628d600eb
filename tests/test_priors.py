"""experiments/priors.toml and experiments/targets.toml: complete, inside the schema, declared."""

from __future__ import annotations

import math
import tomllib

import pytest
from pydantic import ValidationError

from i4p_sim.config.scenario import SHOCK_CLASSES, Scenario

from conftest import ROOT

PRIORS = tomllib.loads((ROOT / "experiments" / "priors.toml").read_text())["prior"]
TARGETS = tomllib.loads((ROOT / "experiments" / "targets.toml").read_text())
#: Fields that are scenario choices or switches, not behavioural parameters.
STRUCTURAL = {
    "landscape.groups",
    "landscape.inhabited_share",
    "landscape.population_mean",
    "dynamics.cluster_every",
    "lpc.enabled",
    "lpc.placement",
    "council.targeting",
    "lpc.cost",
    "council.enabled",
    "council.regions",
    "council.domestic_budget",
    "council.cost",
    # real maps (docs/ODD.md 6): input data and its georeference, not behaviour
    *(f"landscape.{k}_{s}" for k in ("population", "group", "region") for s in ("map", "field")),
    "landscape.region_name_field",
    "landscape.region_names",
    "landscape.crs",
    "landscape.cell_km",
    "lpc.sites",
}
SECTIONS = ("landscape", "dynamics", "community", "state", "lpc", "council")


def _schema_default(path: str):
    """The schema's default of ``path``; AttributeError/KeyError if it is not (yet) there."""
    parts = path.split(".")
    if parts[0] == "shocks":
        return SHOCK_CLASSES[parts[1]].model_fields[parts[2]].default
    value = Scenario()
    for part in parts:
        value = getattr(value, part)
    return value


def test_every_behavioural_parameter_has_one_prior() -> None:
    paths = [p["path"] for p in PRIORS]
    assert len(paths) == len(set(paths)), "a parameter has two priors"
    behavioural = {
        f"{section}.{name}"
        for section in SECTIONS
        for name in type(getattr(Scenario(), section)).model_fields
    } - STRUCTURAL
    assert behavioural - set(paths) == set(), "parameters without a prior"


@pytest.mark.parametrize("prior", PRIORS, ids=[p["path"] for p in PRIORS])
def test_prior_contains_the_default_and_the_schema_accepts_its_ends(prior: dict) -> None:
    low, high, default = prior["low"], prior["high"], prior["default"]
    assert math.isfinite(low) and math.isfinite(high) and low < high
    assert low <= default <= high
    try:
        schema_default = _schema_default(prior["path"])
    except (AttributeError, KeyError):
        # declared for model version 2 before the schema gives it a default
        assert prior.get("v2"), f"{prior['path']} is not in the schema"
        return
    assert default == schema_default
    assert prior["evidence"] in ("measured", "indirect", "judgement")
    assert prior["source"].strip()
    section, _, field = prior["path"].rpartition(".")
    if section.startswith("shocks."):
        cls = SHOCK_CLASSES[section.split(".")[1]]
        for end in (low, high):
            cls.model_validate({"kind": section.split(".")[1], "at": 0, field: end})
    else:
        for end in (low, high):
            try:
                Scenario.model_validate({section: {field: end}})
            except ValidationError as exc:  # pragma: no cover - the message is the point
                raise AssertionError(f"{prior['path']} = {end}: {exc}") from None


def test_targets_are_declared_before_calibration() -> None:
    defs = TARGETS["definitions"]
    assert defs["region_cells"] == 64 and defs["episode_gap"] == 12
    for key, values in TARGETS["sensitivity"].items():
        assert defs[key] in values
    roles = {t["name"]: t["role"] for t in TARGETS["target"]}
    assert set(roles.values()) == {"calibration", "held_out"}
    for target in TARGETS["target"]:
        assert target["statistic"].strip() and target["source"].strip()
        if target["role"] == "calibration" and "blocked" not in target:
            assert target["low"] <= target["value"] <= target["high"]
            assert target["var_discrepancy"] > 0

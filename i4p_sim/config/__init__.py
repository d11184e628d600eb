"""Scenario and experiment schemas, loading, ``extends``, ``--set`` and one-line errors."""

from i4p_sim.config.errors import ConfigError
from i4p_sim.config.loading import load_scenario, set_path, validate_scenario
from i4p_sim.config.scenario import SHOCK_KINDS, Scenario

__all__ = [
    "SHOCK_KINDS",
    "ConfigError",
    "Scenario",
    "load_scenario",
    "set_path",
    "validate_scenario",
]

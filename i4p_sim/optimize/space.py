"""A trial's parameters applied to the base scenario (the one place a point is applied)."""

from __future__ import annotations

from typing import Any

from i4p_sim.config.loading import validate_scenario
from i4p_sim.config.scenario import Scenario

__all__ = ["PARAMS", "scenario_at"]

PARAMS = ("exit_start", "ramp", "lpc_share", "density", "placement", "domestic_budget")


def scenario_at(
    base: Scenario, params: dict[str, Any], *, exit: bool, source: str = "search"
) -> Scenario:
    """``base`` at a trial's parameters; with ``exit`` the phased withdrawal of all donors."""
    data = base.to_dict()
    for donor in data.get("donors", []):
        donor["lpc_share"] = float(params["lpc_share"])
    data.setdefault("lpc", {}).update(
        density=float(params["density"]), placement=str(params["placement"])
    )
    data.setdefault("council", {})["domestic_budget"] = float(params["domestic_budget"])
    ramp = int(params["ramp"])
    data["shocks"] = (
        [
            {
                "kind": "funding_withdrawal",
                "at": int(params["exit_start"]) + ramp // 2,
                "donor": "all",
                "mode": "phased",
                "ramp": ramp,
            }
        ]
        if exit
        else []
    )
    return validate_scenario(data, source)

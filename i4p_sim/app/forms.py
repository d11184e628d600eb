"""The app's controls as data: the :class:`Form` of a request, its type checks, and the
scenario the parameter controls describe (validated like a scenario file).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from i4p_sim.config.errors import ConfigError
from i4p_sim.config.loading import set_path, validate_scenario
from i4p_sim.config.scenario import Scenario

from .twins import check_app_limits

#: Trigger id -> (shock kind, needs a clicked cell).
SHOCK_BUTTONS = {
    "shock-withdraw": "funding_withdrawal",
    "shock-upheaval": "political_upheaval",
    "shock-election": "election",
    "shock-autocratic": "autocratic_turn",
    "shock-border": "border_spillover",
    "shock-economic": "economic_shock",
    "shock-trigger": "trigger_incident",
}


@dataclass
class Form:
    """The controls' values that a dispatch may use."""

    layer: str = "tension"
    twin: bool = True
    steps_per_frame: int = 1
    withdraw_mode: str = "abrupt"
    withdraw_donor: str = "all"
    edge: str = "west"
    cell: tuple[int, int] | None = None
    seed: Any = None
    step_clicks: int | None = None
    tiers: list[str] = field(default_factory=lambda: ["lpc", "council"])
    params: dict[str, Any] = field(default_factory=dict)
    replicates: Any = 1


@dataclass
class Outcome:
    """What a dispatch did: a message for the page and whether it is an error."""

    message: str = ""
    error: bool = False


def scenario_from_form(base: Scenario, form: Form) -> Scenario:
    """Apply the parameter controls to ``base`` and validate like a scenario file.

    Parameters
    ----------
    base : Scenario
        The current scenario (its shocks schedule and unlisted fields are kept).
    form : Form
        Seed, enabled tiers and the ``params`` by dotted path (``donor.NAME.budget``
        for donor budgets).

    Raises
    ------
    ConfigError
        One line naming the field and what is allowed.
    """
    data = base.to_dict()
    data = set_path(data, "seed", form.seed, source="controls")
    data = set_path(data, "lpc.enabled", "lpc" in (form.tiers or []), source="controls")
    data = set_path(data, "council.enabled", "council" in (form.tiers or []), source="controls")
    donor_index = {d["name"]: i for i, d in enumerate(data.get("donors", []))}
    for path, value in form.params.items():
        parts = path.split(".")
        if parts[0] == "donor":  # donor.NAME.field -> donors.<index>.field
            index = donor_index.get(".".join(parts[1:-1]))
            if index is None:
                continue
            path = f"donors.{index}.{parts[-1]}"
        data = set_path(data, path, value, source="controls")
    missing = [p for p, v in {"seed": form.seed, **form.params}.items() if v is None]
    if missing:
        field_ = missing[0].replace("donor.", "donors.")
        raise ConfigError("controls", field_, "empty or not a number")
    scenario = validate_scenario(data, "controls")
    check_app_limits(scenario)
    return scenario


_ORDER = (
    "reset-same",
    "reset-new",
    "apply",
    *SHOCK_BUTTONS,
    "continue",
    "step",
    "clock",
    "layer",
    "twin",
)


def ordered_triggers(ids: Any) -> list[str]:
    """Triggered control ids in the order to act on them (resets, shocks, then steps).

    Dash may merge several triggers into one request; acting in a fixed order makes a
    shock injected together with a step land before that step.
    """
    seen = {i for i in ids if isinstance(i, str)}
    return [i for i in _ORDER if i in seen]


def parse_cell(click: dict | None) -> tuple[int, int] | None:
    """(row, col) of a heat-map click (``clickData``), or None."""
    try:
        point = click["points"][0]
        return int(round(float(point["y"]))), int(round(float(point["x"])))
    except (KeyError, IndexError, TypeError, ValueError, OverflowError, AttributeError):
        return None


def play_state(trigger: str | None, playing: bool) -> bool:
    """Whether the clock runs after ``trigger`` (``play`` / ``pause``)."""
    if trigger == "play":
        return True
    if trigger == "pause":
        return False
    return playing


def make_form(
    step_clicks: Any,
    layer: Any,
    twin: Any,
    steps_per_frame: Any,
    mode: Any,
    donor: Any,
    edge: Any,
    cell: Any,
    seed: Any,
    tiers: Any,
    values: Any,
    ids: Any,
    replicates: Any = 1,
) -> Form:
    """The :class:`Form` of a dispatch request, type-checked: a malformed payload (wrong
    shapes or types, which only a hand-made request sends) raises TypeError or ValueError.
    """
    if layer is not None and not isinstance(layer, str):
        raise TypeError("layer")
    if step_clicks is not None and (
        not isinstance(step_clicks, int) or isinstance(step_clicks, bool) or step_clicks < 0
    ):
        raise TypeError("n_clicks")
    if cell is not None and cell != []:
        if not (
            isinstance(cell, list | tuple)
            and len(cell) == 2
            and all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in cell)
        ):
            raise TypeError("cell")
    if tiers is not None and not (
        isinstance(tiers, list) and all(isinstance(t, str) for t in tiers)
    ):
        raise TypeError("tiers")
    if not isinstance(values, list) or not isinstance(ids, list) or len(values) != len(ids):
        raise TypeError("params")
    params: dict[str, Any] = {}
    for i, v in zip(ids, values, strict=True):
        if not isinstance(i, dict) or not isinstance(i.get("path"), str):
            raise TypeError("param id")
        params[i["path"]] = v
    for name, value in (("mode", mode), ("donor", donor), ("edge", edge)):
        if value is not None and not isinstance(value, str):
            raise TypeError(name)
    return Form(
        layer=layer or "tension",
        twin=bool(twin),
        steps_per_frame=steps_per_frame or 1,
        withdraw_mode=mode or "abrupt",
        withdraw_donor=donor or "all",
        edge=edge or "west",
        cell=tuple(cell) if cell else None,
        seed=seed,
        step_clicks=step_clicks,
        tiers=tiers or [],
        params=params,
        replicates=replicates,
    )

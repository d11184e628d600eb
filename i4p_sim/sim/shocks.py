"""Shocks: what each of the seven kinds does to the model, and when.

A :class:`ShockSchedule` is built from a scenario's ``[[shocks]]`` list (and grows when the
browser injects one). Each step the model asks it for the donors' budget multipliers, fires
the one-off effects due now, and adds this step's shock drive to the tension field. Random
parts (an economic shock's map, an election's severe tail, a trigger's location) draw from
the run's shocks substream only, so they leave the violence draws of paired runs untouched.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from i4p_sim.config.scenario import (
    AutocraticTurn,
    BorderSpillover,
    EconomicShock,
    Election,
    FundingWithdrawal,
    PoliticalUpheaval,
    TriggerIncident,
)
from i4p_sim.core.landscape import edge_distance, smooth_field

if TYPE_CHECKING:
    from i4p_sim.sim.model import I4PModel


def withdrawal_multiplier(shock: FundingWithdrawal, at: int | None, step: int) -> float:
    """Budget multiplier a withdrawal imposes at ``step`` (1 = untouched).

    ``abrupt``: 1 before ``at``, ``1 - fraction`` from then on. ``partial``: the same with
    its (usually < 1) fraction. ``phased``: a linear ramp over ``ramp`` steps centred on
    ``at``, so that it pays exactly the same total as the abrupt exit at ``at``.
    """
    if at is None:
        return 1.0
    if shock.mode == "phased":
        r = shock.ramp
        kept = np.clip((at + r / 2 - step - 0.5) / r, 0.0, 1.0)
        return float(1.0 - shock.fraction * (1.0 - kept))
    return 1.0 - shock.fraction if step >= at else 1.0


class ShockSchedule:
    """The scheduled shocks of one run.

    Parameters
    ----------
    shocks : list
        Validated shock configs (``Scenario.shocks``).
    """

    def __init__(self, shocks: list) -> None:
        self.shocks = list(shocks)
        self.fired: list[tuple[int, str]] = []
        self._resolve()

    def _resolve(self) -> None:
        turns = sorted(s.at for s in self.shocks if isinstance(s, AutocraticTurn))
        self.effective_at: list[int | None] = []
        for s in self.shocks:
            if isinstance(s, FundingWithdrawal) and s.condition == "autocratic_turn":
                later = [t for t in turns if t >= s.at]
                self.effective_at.append(later[0] if later else None)
            else:
                self.effective_at.append(s.at)

    def add(self, shock) -> None:
        """Schedule one more shock (the browser's 'inject now')."""
        self.shocks.append(shock)
        self._resolve()

    def donor_multiplier(self, donor: str, step: int) -> float:
        """Product of every withdrawal's multiplier on this donor at ``step``."""
        m = 1.0
        for s, at in zip(self.shocks, self.effective_at, strict=True):
            if isinstance(s, FundingWithdrawal) and s.donor in ("all", donor):
                m *= withdrawal_multiplier(s, at, step)
        return m

    def fire(self, model: I4PModel, step: int) -> np.ndarray:
        """Apply the one-off effects due at ``step``; return this step's shock drive (H, W)."""
        drive = model.shock_drive
        drive[...] = 0.0
        for s, at in zip(self.shocks, self.effective_at, strict=True):
            if isinstance(s, Election):
                if s.at - s.pre_steps <= step < s.at:
                    drive += s.pulse
                if step == s.at:
                    self.fired.append((step, s.kind))
                    if model.rng_shocks.random() < s.severe_probability:
                        drive += s.severe_spike * (0.5 + 0.5 * model.friction_norm)
            elif isinstance(s, BorderSpillover):
                if s.at <= step < s.at + s.duration:
                    drive += s.inflow * np.exp(-edge_distance(model.shape, s.edge) / s.depth)
                if step == s.at:
                    self.fired.append((step, s.kind))
            elif step == at:
                self.fired.append((step, s.kind))
                _ONE_OFF[type(s)](model, s, drive)
        drive *= model.inhabited
        return drive


def _upheaval(model: I4PModel, s: PoliticalUpheaval, drive: np.ndarray) -> None:
    step = model.t
    shield = 0.0
    for council in model.councils:
        shield = max(shield, council.effective_mandate(step) * council.cfg.mandate_shield)
        council.suspended_until = max(council.suspended_until, step + s.duration)
    tier = model.committees
    tier.legitimacy = np.clip(tier.legitimacy - s.legitimacy_drop * (1.0 - shield), 0.0, 1.0)
    drive += s.tension_spike


def _autocratic_turn(model: I4PModel, s: AutocraticTurn, drive: np.ndarray) -> None:
    for council in model.councils:
        council.mandate *= 1.0 - s.mandate_drop
        council.mandate_target *= 1.0 - s.mandate_drop
    tier = model.committees
    tier.legitimacy = np.clip(tier.legitimacy - s.legitimacy_drop, 0.0, 1.0)
    model.civic_space *= 1.0 - s.civic_space
    model.base_grievance[...] = np.clip(model.base_grievance + s.grievance_rise, 0.0, 1.0)
    model.layers["grievance"][...] = np.clip(model.layers["grievance"] + s.grievance_rise, 0.0, 1.0)


def _economic_shock(model: I4PModel, s: EconomicShock, drive: np.ndarray) -> None:
    pattern = smooth_field(model.rng_shocks, model.shape, s.scale, model.torus)
    span = pattern.max() - pattern.min()
    pattern = (pattern - pattern.min()) / span if span > 0 else np.ones(model.shape)
    g = model.layers["grievance"]
    g[...] = np.clip(g + s.magnitude * (0.5 + pattern), 0.0, 1.0)


def _trigger_incident(model: I4PModel, s: TriggerIncident, drive: np.ndarray) -> None:
    h, w = model.shape
    if s.row is None or s.col is None:
        cells = np.flatnonzero(model.inhabited.ravel())
        pick = int(cells[model.rng_shocks.integers(cells.size)]) if cells.size else 0
        row = s.row if s.row is not None else pick // w
        col = s.col if s.col is not None else pick % w
    else:
        row, col = s.row, s.col
    rows = slice(max(0, row - s.radius), min(h, row + s.radius + 1))
    cols = slice(max(0, col - s.radius), min(w, col + s.radius + 1))
    drive[rows, cols] += s.spike


def _withdrawal(model: I4PModel, s: FundingWithdrawal, drive: np.ndarray) -> None:
    """Budgets follow :meth:`ShockSchedule.donor_multiplier`; nothing else happens at once."""


_ONE_OFF = {
    PoliticalUpheaval: _upheaval,
    AutocraticTurn: _autocratic_turn,
    EconomicShock: _economic_shock,
    TriggerIncident: _trigger_incident,
    FundingWithdrawal: _withdrawal,
}

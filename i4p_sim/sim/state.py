"""The state's security actor (docs/ODD.md 7.5): present with or without the I4P.

One :class:`SecurityForce` per run (per-agent form only: it is one actor). It holds the
legitimacy each identity group grants the state (group 0 is the governing group; out-groups
grant ``legitimacy * (1 - exclusion)``), the routine deterrence per cell (``presence``) and
the crackdowns in force. Each step it observes last step's violence and cracks down on the
densest violent windows: deterrence rises there for ``crackdown_duration`` months (short
run), the targeted groups withdraw legitimacy and grievance rises in the window (long run:
Epstein 2002's legitimacy feedback; Lichbach 1987; Davenport 2007). A captured council's
responses become crackdowns through :meth:`SecurityForce.crack_down` (7.13).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from mesa import Agent, Model

from i4p_sim.core.hotspots import DensestWindows
from i4p_sim.core.landscape import square_window

if TYPE_CHECKING:
    from i4p_sim.config.scenario import StateConfig


class SecurityForce(Agent):
    """The state's security actor: routine presence, crackdowns, legitimacy per group.

    Parameters
    ----------
    model : mesa.Model
        The model (for Mesa's agent registry only).
    cfg : StateConfig
        The scenario's ``[state]`` table.
    group : (H, W) int array
        Identity group per cell (group 0 governs).
    groups : int
        Number of groups.
    inhabited : (H, W) bool array
        Inhabited cells (crackdown counts are per 1,000 of them; windows' group shares).
    presence : (H, W) float array, optional
        Where to keep the deterrence per cell (the model's ``presence`` layer).
    """

    def __init__(
        self,
        model: Model,
        cfg: StateConfig,
        group: np.ndarray,
        groups: int,
        inhabited: np.ndarray,
        presence: np.ndarray | None = None,
    ) -> None:
        super().__init__(model)
        self.cfg = cfg
        self.shape = group.shape
        self.group = group
        self.groups = groups
        self.inhabited = inhabited
        initial = np.full(groups, cfg.legitimacy * (1.0 - cfg.exclusion))
        initial[0] = cfg.legitimacy
        self.initial_legitimacy = initial
        self.legitimacy = initial.copy()  # what each group grants the state
        # deterrence per cell: the model's ``presence`` layer when given
        self.presence = np.empty(self.shape) if presence is None else presence
        self.presence[...] = cfg.presence
        self.until = np.zeros(self.shape, dtype=np.int64)  # crackdown in force while t < until
        self.rate = cfg.crackdowns * int(inhabited.sum()) / 1000.0
        # inhabited cells of each group / 1,000: a crackdown costs a group legitimacy in
        # proportion to the share of the group it hits, so the national cost of a density
        # of crackdowns does not grow with the country's size (docs/ODD.md 7.4b)
        members = np.bincount(group[inhabited], minlength=groups) / 1000.0
        self._per_member = np.where(members > 0, 1.0 / np.maximum(members, 1e-300), 0.0)
        self.carried = 0.0
        self.crackdowns = 0  # this step's
        self._targets = DensestWindows(self.shape, 2 * cfg.crackdown_radius + 1)
        self._backlash = cfg.backlash * inhabited  # the grievance a crackdown adds per cell
        self._in_force = np.empty(self.shape, dtype=bool)

    def crack_down(self, row: int, col: int, t: int, grievance: np.ndarray) -> None:
        """One crackdown on the window around (row, col) (docs/ODD.md 7.5).

        Deterrence rises there until ``t + crackdown_duration``; each group loses
        ``repression_cost`` times its share of the window's inhabited cells, per 1,000 of
        the group's inhabited cells, of the legitimacy it grants the state; grievance rises by ``backlash`` in the window
        (the ``grievance`` layer, in place, clipped to [0, 1]).
        """
        cfg = self.cfg
        window = square_window(row, col, cfg.crackdown_radius, self.shape)
        self.until[window] = t + cfg.crackdown_duration
        people = self.inhabited[window]
        n = np.count_nonzero(people)
        if n:
            share = np.bincount(self.group[window][people], minlength=self.groups) / n
            hit = share * self._per_member  # share of the window per 1,000 group members
            self.legitimacy = (self.legitimacy - cfg.repression_cost * hit).clip(0.0, 1.0)
        g = grievance[window]
        g += self._backlash[window]  # backlash * people, computed once
        g.clip(0.0, 1.0, out=g)
        self.crackdowns += 1

    def shift_legitimacy(self, delta: float) -> None:
        """Shift every group's legitimacy and its recovery level by ``delta`` (clipped to [0, 1]).

        A national agreement (``+council.agreement_legitimacy``) or its breakdown
        (``-council.agreement_breakdown``): a lasting change, docs/ODD.md 7.11.
        """
        self.legitimacy = np.clip(self.legitimacy + delta, 0.0, 1.0)
        self.initial_legitimacy = np.clip(self.initial_legitimacy + delta, 0.0, 1.0)

    def act(self, violence: np.ndarray, t: int, grievance: np.ndarray) -> int:
        """Recover legitimacy, crack down on last step's densest violence; return the count.

        The number of crackdowns follows the carried-remainder rule on ``crackdowns`` per
        1,000 inhabited cells; targets are the cells of highest violence density over a
        crackdown window (``uniform_filter``, zero outside the grid), ties by cell index
        (:class:`~i4p_sim.core.hotspots.DensestWindows`).
        """
        cfg = self.cfg
        self.crackdowns = 0
        self.legitimacy += cfg.legitimacy_recovery * (self.initial_legitimacy - self.legitimacy)
        self.carried += self.rate
        k = int(np.floor(self.carried))
        self.carried -= k
        if k and violence.any():
            w = self.shape[1]
            for cell in self._targets(violence, k).tolist():
                self.crack_down(cell // w, cell % w, t, grievance)
        return self.crackdowns

    def update_presence(self, t: int) -> np.ndarray:
        """``presence = state.presence + crackdown_presence * (crackdown in force)``."""
        np.less(t, self.until, out=self._in_force)
        np.multiply(self._in_force, self.cfg.crackdown_presence, out=self.presence)
        self.presence += self.cfg.presence
        return self.presence

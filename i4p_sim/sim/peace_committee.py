"""The local peace committee as a Mesa agent: the grassroots tier, one agent per committee.

Its state is a row of the :class:`~i4p_sim.core.committees.CommitteeTier` arrays, whose
rules the model applies to all committees at once; the methods here are the readable
per-agent form of each of those rules (docs/ODD.md 7.9), and tests/test_decisions.py runs
them through a Mesa ``AgentSet`` and checks they give the tier's values. Like
:mod:`i4p_sim.sim.agents` (which re-exports the class), this module does not import the
model.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from mesa import Model
from mesa.discrete_space import FixedAgent

from i4p_sim.core.committees import MAX_MEDIATION


class LocalPeaceCommittee(FixedAgent):
    """A local peace committee: the grassroots tier. Its state is a row of the tier arrays."""

    def __init__(self, model: Model, cell, index: int) -> None:
        super().__init__(model)
        self.cell = cell
        self.index = index

    def _get(self, name: str):
        return getattr(self.model.committees, name)[self.index].item()

    capacity = property(lambda self: self._get("capacity"))
    ownership = property(lambda self: self._get("ownership"))
    legitimacy = property(lambda self: self._get("legitimacy"))
    active = property(lambda self: bool(self._get("active")))
    funding = property(lambda self: self._get("funding"))

    # the readable per-agent form of the tier's rules (docs/ODD.md 7.9); a test checks that
    # combining them over an AgentSet gives the vectorised tier's fields

    @property
    def capability(self) -> float:
        """What it can do: ``capacity ** lpc.returns`` while active, 0 while dormant (7.9).

        Returns to scale of its resources: 1 = linear, below 1 diminishing returns, above 1
        a minimum scale of operations.
        """
        return self.capacity**self.model.committees.cfg.returns * self.active

    def legitimacy_with(self, group: int) -> float:
        """The legitimacy ``group`` grants this committee (home group or the others)."""
        tier = self.model.committees
        home = int(tier.home[self.index])
        trust = tier.trust_home if group == home else tier.trust_other
        return self.legitimacy * trust[self.index].item()

    def covers(self, row: int, col: int) -> bool:
        """Whether (row, col) lies in the catchment disk (wrapped on a torus)."""
        return self._in_disk(row, col, self.model.committees.cfg.radius)

    def watches(self, row: int, col: int) -> bool:
        """Whether (row, col) lies in its watch area: the disk of ``lpc.watch_radius``."""
        return self._in_disk(row, col, self.model.committees.cfg.watch_radius)

    def _in_disk(self, row: int, col: int, radius: int) -> bool:
        tier = self.model.committees
        h, w = tier.shape
        r0, c0 = self.cell.coordinate
        shifts = (-1, 0, 1) if tier.torus else (0,)
        return any(
            (row - r0 + a * h) ** 2 + (col - c0 + b * w) ** 2 <= radius**2 + 1e-9
            for a in shifts
            for b in shifts
        )

    def mediation_at(self, row: int, col: int) -> tuple[float, float]:
        """(damping, drive rate) this committee exerts at a cell (0, 0 outside its catchment).

        Damping if the cell's group grants it at least the partisan threshold, scaled by
        how far above; a drive (insider-partial mediation) below it.
        """
        if not self.covers(row, col):
            return 0.0, 0.0
        cfg = self.model.committees.cfg
        trust = self.legitimacy_with(int(self.model.layers["group"][row, col]))
        pt = cfg.partisan_threshold
        s = (trust - pt) / (1.0 - pt) if trust >= pt else (trust - pt) / pt
        damping = min(max(cfg.mediation * self.capability * max(s, 0.0), 0.0), MAX_MEDIATION)
        return damping, cfg.mediation * self.capability * max(-s, 0.0)

    def updated(self, council_mandate: float, civic_space: float) -> dict[str, float]:
        """Its capacity, ownership, legitimacy and activity after this month's update (7.9).

        Reads last month's layers over its catchment; returns the new values (the tier
        writes them for all committees at once: synchronous update). ``council_mandate`` is
        its council's effective mandate (NaN without a council tier).
        """
        m, tier = self.model, self.model.committees
        cfg = tier.cfg
        h, w = tier.shape
        cells = [(r, c) for r in range(h) for c in range(w) if self.covers(r, c)]
        layers = m.layers

        def mean(values) -> float:
            return sum(values) / len(values)

        calm = 1.0 - mean([layers["tension"][rc].item() for rc in cells])
        violent = mean([float(layers["violence"][rc]) for rc in cells])
        cohesive = mean([layers["cohesion"][rc].item() for rc in cells])
        trust = mean([self.legitimacy_with(int(layers["group"][rc])) for rc in cells])
        funded = min(1.0, self.funding / cfg.cost)
        resources = min(1.0, funded + self.ownership)
        target = resources if resources >= cfg.min_resources else 0.0  # dilution
        training = tier.training[self.index].item()
        cap = self.capacity + cfg.capacity_rate * (target - self.capacity) + training
        own = self.ownership
        record = cfg.ownership_growth * cap * cohesive * calm * trust
        contributions = cfg.contribution_rate * (1.0 - funded) * trust
        grow = (record + contributions) * (1.0 - own) * civic_space
        shrink = (
            cfg.ownership_loss * violent * own
            + cfg.ownership_loss * 0.1 * (1.0 - self.legitimacy) * own
        )
        coopted = 0.0 if np.isnan(council_mandate) else 1.0 - council_mandate
        legit_target = tier.legitimacy_target[self.index].item() * civic_space
        legitimacy = (
            self.legitimacy
            + cfg.legitimacy_recovery * (legit_target - self.legitimacy)
            - cfg.cooptation * coopted * self.legitimacy
        )
        capacity = min(max(cap, 0.0), 1.0)
        threshold = cfg.floor if self.active else cfg.reactivation
        return {
            "capacity": capacity,
            "ownership": min(max(own + grow - shrink, 0.0), 1.0),
            "legitimacy": min(max(legitimacy, 0.0), 1.0),
            "active": capacity >= threshold,
        }

    def sanction_at(self, row: int, col: int) -> float:
        """The social sanction it carries at a cell: capability x the group's legitimacy."""
        if not self.covers(row, col):
            return 0.0
        group = int(self.model.layers["group"][row, col])
        return self.capability * self.legitimacy_with(group)

    def dialogue_at(self, row: int, col: int, civic_space: float) -> float:
        """The cohesion gain rate its dialogue brings a cell (0 outside its catchment):
        capability x the legitimacy the cell's group grants it x civic space (7.9). The
        rates of all committees at a cell add up, capped at 1."""
        if not self.covers(row, col):
            return 0.0
        cfg = self.model.committees.cfg
        group = int(self.model.layers["group"][row, col])
        return cfg.dialogue * self.capability * self.legitimacy_with(group) * civic_space

    def warn(self, risk: np.ndarray) -> tuple[int, int, float, int] | None:
        """Its early warning this month, ``(row, col, severity, index)``, or None (7.9).

        People tell committees they trust: at each cell of its watch area it sees the risk
        map's value (``risk``, the response-footprint mean of last month's tension) times
        the legitimacy the cell's group grants it. Its hotspot is the cell where it sees
        the most (on a tie the first in row-major order); an active committee reports it
        when that severity passes ``lpc.warning_threshold``.
        """
        tier = self.model.committees
        h, w = tier.shape
        group = self.model.layers["group"]
        hotspot = None
        for row in range(h):
            for col in range(w):
                if self.watches(row, col):
                    seen = risk[row, col].item() * self.legitimacy_with(int(group[row, col]))
                    if hotspot is None or seen > hotspot[2]:
                        hotspot = (row, col, seen)
        if hotspot is None or not self.active or not hotspot[2] > tier.cfg.warning_threshold:
            return None
        return (*hotspot, self.index)

    def surveilled(self, row: int, col: int, capture: float) -> tuple[float, float]:
        """Its trust (home group, other groups) after its warning about (row, col) became
        surveillance (7.13): the reported cell's group trusts it a share
        ``surveillance_cost * capture`` less."""
        tier = self.model.committees
        home, other = tier.trust_home[self.index].item(), tier.trust_other[self.index].item()
        loss = 1.0 - tier.cfg.surveillance_cost * capture
        if int(self.model.layers["group"][row, col]) == int(tier.home[self.index]):
            return home * loss, other
        return home, other * loss


def collect_warnings(
    sent: Iterable[tuple[int, int, float, int] | None],
) -> list[tuple[int, int, float, int]]:
    """All committees' warnings of a month as the council reads them, from their
    :meth:`LocalPeaceCommittee.warn` results in committee order: a hotspot several
    committees watch is reported once (by the first of them), listed by cell (row-major).
    """
    first: dict[tuple[int, int], tuple[int, int, float, int]] = {}
    for warning in sent:
        if warning is not None:
            first.setdefault(warning[:2], warning)
    return [first[cell] for cell in sorted(first)]

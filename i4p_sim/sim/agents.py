"""The four I4P agent types: communities, local peace committees, councils, donors.

Numeric bulk state lives in numpy arrays. A :class:`Community` reads its cell's values from
the model's property layers; a :class:`LocalPeaceCommittee` (defined in
:mod:`i4p_sim.sim.peace_committee`, importable from here) reads its row of the
:class:`~i4p_sim.core.committees.CommitteeTier` arrays, whose rules are vectorised over all
committees at once. Councils and donors are few and act one by one; donor funding
(docs/ODD.md 7.10) is :func:`disburse`. A council's rapid responses are in
:mod:`i4p_sim.sim.responses`.

Agents know their model only as a :class:`mesa.Model` with the attributes they read
(``layers``, ``committees``): this module does not import the model.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from mesa import Agent, Model
from mesa.discrete_space import FixedAgent

from i4p_sim.core.committees import CommitteeTier
from i4p_sim.sim.peace_committee import LocalPeaceCommittee as LocalPeaceCommittee

if TYPE_CHECKING:
    from i4p_sim.config.scenario import CouncilConfig, DonorConfig

#: Share of the gap to its target a council's mandate recovers per step (ODD 7.11).
MANDATE_RECOVERY = 0.02
#: Steps of violence share the national council averages to decide on an agreement (7.11).
AGREEMENT_WINDOW = 3
#: Added to every committee's need so that a calm catchment still gets some money (7.10).
NEED_FLOOR = 1e-3


# ------------------------------------------------------------------------- communities


class Community(FixedAgent):
    """A local community: one per inhabited cell; its attributes view the layers.

    :meth:`decide` is the readable specification of the mobilisation rule (docs/ODD.md
    7.4); the model applies its vectorised form, :func:`i4p_sim.core.decisions.decide`,
    to every community at once, and a test runs both through a Mesa ``AgentSet``.
    """

    def __init__(self, model: Model, cell) -> None:
        super().__init__(model)
        self.cell = cell
        self.next_violence = False
        self.next_exhaustion = 0.0

    def _at(self, layer: str) -> float:
        return self.model.layers[layer][self.cell.coordinate].item()

    def decide(self) -> None:
        """Decide whether to mobilise this month; store it (synchronous update: see commit).

        Epstein 2002: grievance = hardship (the propagated tension) x (1 - the legitimacy
        my group grants the state); expected sanction = arrest probability from the
        state's presence and my committee's social sanction, times my risk aversion;
        mobilising costs exhaustion, which recovers slowly.
        """
        model, rc = self.model, self.cell.coordinate
        p = model.decision_params
        legitimacy = model.state.legitimacy[self.group]
        grievance = self.tension * (1.0 - legitimacy)
        # the state's presence is shared among those mobilised nearby last month (C/A)
        near = self.mobilised_near()
        shared_presence = self.presence / (1.0 + 8 * near)
        deterrence = shared_presence + p.social_sanction * self.attachment * model.sanction[rc]
        net_risk = self.risk_aversion * -np.expm1(-p.arrest_constant * deterrence)
        margin = grievance - net_risk - self.exhaustion
        self.next_violence = bool(margin > p.threshold + model.noise[rc])
        exhaustion = self.exhaustion * (1.0 - p.exhaustion_recovery)
        self.next_exhaustion = exhaustion + p.exhaustion_cost if self.next_violence else exhaustion

    def mobilised_near(self) -> float:
        """Mean of the Moore neighbours' mobilisation last month (on the grid; as ODD 7.1's M)."""
        violence = self.model.layers["violence"]
        h, w = violence.shape
        r, c = self.cell.coordinate
        values = []
        for dr in (-1, 0, 1):
            for dc in (-1, 0, 1):
                if dr == dc == 0:
                    continue
                rr, cc = r + dr, c + dc
                if self.model.torus:
                    rr, cc = rr % h, cc % w
                elif not (0 <= rr < h and 0 <= cc < w):
                    continue
                values.append(float(violence[rr, cc]))
        return sum(values) / len(values) if values else float(violence[r, c])

    def commit(self) -> None:
        """Write the decision taken by :meth:`decide` into the layers."""
        rc = self.cell.coordinate
        self.model.layers["violence"][rc] = self.next_violence
        self.model.layers["exhaustion"][rc] = self.next_exhaustion

    population = property(lambda self: self._at("population"))
    group = property(lambda self: int(self._at("group")))
    grievance = property(lambda self: self._at("grievance"))
    tension = property(lambda self: self._at("tension"))
    cohesion = property(lambda self: self._at("cohesion"))
    violence = property(lambda self: bool(self._at("violence")))
    memory = property(lambda self: self._at("memory"))
    exhaustion = property(lambda self: self._at("exhaustion"))
    presence = property(lambda self: self._at("presence"))
    risk_aversion = property(lambda self: self._at("risk_aversion"))
    attachment = property(lambda self: self._at("attachment"))


# ----------------------------------------------------------------------------- councils


class NationalCouncil(Agent):
    """A peace council over a jurisdiction (national or regional): a rectangle of the grid
    (``bounds``) or, for a region read from a map, the cells of ``mask`` (``bounds`` is
    then its bounding box).

    Reads early warnings from the committees in its jurisdiction; what exceeds its
    rapid-response capacity passes up to its parent. Without warnings it sees only
    violence that has already happened, ``observation_delay`` steps late and
    ``observation_error`` cells off.
    """

    def __init__(
        self,
        model: Model,
        cfg: CouncilConfig,
        *,
        name: str,
        bounds: tuple[int, int, int, int],
        parent: NationalCouncil | None = None,
        cells: int = 1000,
        mask: np.ndarray | None = None,
    ) -> None:
        super().__init__(model)
        self.cfg = cfg
        self.name = name
        self.bounds = bounds  # row0, row1, col0, col1 (half-open)
        self.mask = mask  # (H, W) bool: its cells, when not the whole rectangle
        self.parent = parent
        #: inhabited cells in its jurisdiction / 1,000: what its densities are per (ODD 5.3)
        self.scale = cells / 1000.0
        self.carried = 0.0  # the carried remainder of its rapid-response capacity (7.11)
        self.returned = 0.0  # donor money above its uncovered running cost, this step
        self.mandate = cfg.mandate
        self.mandate_target = cfg.mandate
        self.suspended_until = -1
        self.donor_funds = 0.0
        self.responses_sent = 0
        self.agreement_until = -1
        self.cooldown_until = -1
        self.agreements = 0  # brokered so far
        self.broken_agreements = 0  # ended with violence still above the threshold
        self.region_id: int | None = None  # its region's id on a region map
        self._during: list[float] | None = None  # violence shares while an agreement is in force
        self._recent_violence: deque[float] = deque(maxlen=AGREEMENT_WINDOW)

    @property
    def level(self) -> str:
        return "national" if self.parent is None else "regional"

    def covers(self, row: int, col: int) -> bool:
        if self.mask is not None:
            return bool(self.mask[row, col])
        r0, r1, c0, c1 = self.bounds
        return r0 <= row < r1 and c0 <= col < c1

    def suspended(self, step: int) -> bool:
        return step < self.suspended_until

    def funded_share(self) -> float:
        """Share of the council's running cost its funds cover this step.

        Regional councils run on the national budget and share its funded share.
        """
        if self.parent is not None:
            return self.parent.funded_share()
        cost = self.cfg.cost * self.scale
        if cost <= 0.0:  # no inhabited cell: nothing to run and nothing to fund
            return 0.0
        return min(1.0, (self.cfg.domestic_budget * self.scale + self.donor_funds) / cost)

    def uncovered_cost(self) -> float:
        """Running cost the domestic budget leaves to donors, per step (docs/ODD.md 7.10)."""
        return max(0.0, self.cfg.cost - self.cfg.domestic_budget) * self.scale

    def response_rate(self) -> float:
        """Rapid responses per step: density x inhabited/1,000 x funded share x mandate.

        Capacity scales with the mandate: a council whose independence is lost can mobilise
        fewer missions (docs/ODD.md 7.11).
        """
        density = self.cfg.response_density if self.parent is None else self.cfg.regional_density
        return density * self.scale * self.funded_share() * self.mandate

    def effective_mandate(self, step: int) -> float:
        return 0.0 if self.suspended(step) else self.mandate

    def suspend(self, until: int) -> None:
        """Suspend the council until step ``until`` (a political upheaval, ODD 7.13)."""
        self.suspended_until = max(self.suspended_until, until)

    def lose_mandate(self, drop: float) -> None:
        """Lose a share ``drop`` of mandate and of its target (an autocratic turn, 7.13)."""
        self.mandate *= 1.0 - drop
        self.mandate_target *= 1.0 - drop

    def recover_mandate(self) -> None:
        """Mandate relaxes towards its target (docs/ODD.md 7.11)."""
        self.mandate += MANDATE_RECOVERY * (self.mandate_target - self.mandate)

    def train(self, committees: CommitteeTier, step: int) -> None:
        """Training raises the capacity of the committees in its jurisdiction."""
        if committees.n == 0 or self.suspended(step):
            return
        r0, r1, c0, c1 = self.bounds
        rows, cols = committees.positions[:, 0], committees.positions[:, 1]
        if self.mask is not None:
            inside = self.mask[rows, cols]
        else:
            inside = (rows >= r0) & (rows < r1) & (cols >= c0) & (cols < c1)
        gain = self.cfg.training * self.mandate * self.funded_share()
        committees.training += inside * gain * (1.0 - committees.capacity)

    def consider_agreement(self, recent_violence: float, step: int) -> bool:
        """Broker a national political agreement when violence is high (cooldown applies)."""
        if self.parent is not None or self.suspended(step) or step < self.cooldown_until:
            return False
        if recent_violence <= self.cfg.agreement_threshold:
            return False
        if self.mandate < self.cfg.agreement_mandate:
            return False
        self.agreement_until = step + self.cfg.agreement_duration
        self.cooldown_until = step + self.cfg.agreement_cooldown
        self.agreements += 1
        self._during = []
        return True

    def broker_agreement(self, violence_share: float, step: int) -> str | None:
        """Record last step's violence share; judge an ending agreement, maybe broker one.

        ``recent`` is the mean of the last (up to) :data:`AGREEMENT_WINDOW` shares. An
        agreement whose last month has passed is *broken* when the mean share recorded
        while it was in force exceeds ``agreement_threshold`` (docs/ODD.md 7.11, "National
        political agreement").

        Returns
        -------
        str or None
            ``"broken"``, ``"brokered"`` or None (nothing happened this step).
        """
        self._recent_violence.append(violence_share)
        event = None
        if self._during is not None:  # an agreement brokered on an earlier step is running
            self._during.append(violence_share)  # violence of the agreement's months
            if step >= self.agreement_until:
                if float(np.mean(self._during)) > self.cfg.agreement_threshold:
                    self.broken_agreements += 1
                    event = "broken"
                self._during = None
        if self.consider_agreement(float(np.mean(self._recent_violence)), step):
            event = "brokered"
        return event


def build_councils(
    model: Model,
    cfg: CouncilConfig,
    shape: tuple[int, int],
    positions: np.ndarray,
    inhabited: np.ndarray | None = None,
    regions: np.ndarray | None = None,
    names: dict[int, str] | None = None,
) -> tuple[list[NationalCouncil], np.ndarray]:
    """The councils of a run (docs/ODD.md 5.3) and the council each committee answers to.

    ``regions`` (an (H, W) id per cell, 0 for none; from ``landscape.region_map``) gives
    one regional council per id on the grid, in increasing id order, instead of the
    ``council.regions`` blocks; each is named ``names[id]`` (the map's name of the region,
    ``landscape.region_name_field``), else ``region-<id>``.

    Returns the councils — the national one first, then the regional ones in row-major
    order of their regions (or id order); none without a council tier — and, for each
    committee at ``positions``, the index of its most local council (for co-optation and shielding;
    -1 without councils).
    """
    n = len(positions)
    if not cfg.enabled:
        return [], np.full(n, -1)
    h, w = shape
    if inhabited is None:
        inhabited = np.ones(shape, dtype=bool)
    national = NationalCouncil(
        model, cfg, name="national", bounds=(0, h, 0, w), cells=int(inhabited.sum())
    )
    councils = [national]
    nr, nc = cfg.regions
    if regions is not None:
        for rid in np.unique(regions[regions > 0]).tolist():
            mask = regions == rid
            rows, cols = np.nonzero(mask)
            bounds = (int(rows.min()), int(rows.max()) + 1, int(cols.min()), int(cols.max()) + 1)
            council = NationalCouncil(
                model,
                cfg,
                name=(names or {}).get(rid, f"region-{rid}"),
                bounds=bounds,
                parent=national,
                cells=int(inhabited[mask].sum()),
                mask=mask,
            )
            council.region_id = int(rid)
            councils.append(council)
    elif nr * nc > 1:
        r_edges = np.linspace(0, h, nr + 1).round().astype(int)
        c_edges = np.linspace(0, w, nc + 1).round().astype(int)
        for i in range(nr):
            for j in range(nc):
                bounds = (r_edges[i], r_edges[i + 1], c_edges[j], c_edges[j + 1])
                r0, r1, c0, c1 = bounds
                councils.append(
                    NationalCouncil(
                        model,
                        cfg,
                        name=f"region-{i}-{j}",
                        bounds=bounds,
                        parent=national,
                        cells=int(inhabited[r0:r1, c0:c1].sum()),
                    )
                )
    council_of = np.zeros(n, dtype=np.int64)
    for k, council in enumerate(councils):
        for i, (r, c) in enumerate(positions.tolist()):
            if council.covers(r, c):
                council_of[i] = k
    return councils, council_of


def council_rows(councils: list[NationalCouncil], council_of: np.ndarray, step: int) -> list[dict]:
    """One row per council at the end of month ``step - 1`` (``i4p run --out``'s
    ``councils.csv``): its name (a region map's name of its region), level, region id,
    inhabited cells, committees answering to it, mandate and rapid responses sent."""
    counts = np.bincount(council_of[council_of >= 0], minlength=len(councils))
    t = max(step - 1, 0)
    return [
        {
            "council": c.name,
            "level": c.level,
            "region": c.region_id,
            "cells": int(round(c.scale * 1000.0)),
            "committees": int(counts[k]),
            "mandate": round(float(c.effective_mandate(t)), 6),
            "responses": int(c.responses_sent),
        }
        for k, c in enumerate(councils)
    ]


# ------------------------------------------------------------------------------ donors


class ExternalDonor(Agent):
    """An external donor with a per-step budget and an allocation policy.

    ``scale`` is the grid's inhabited cells / 1,000: the configured budget is a density
    (per month per 1,000 inhabited cells), :attr:`base_budget` the run's monthly amount.
    """

    def __init__(self, model: Model, cfg: DonorConfig, scale: float = 1.0) -> None:
        super().__init__(model)
        self.cfg = cfg
        self.name = cfg.name
        self.policy = cfg.policy
        self.base_budget = cfg.budget * scale
        self.multiplier = 1.0

    @property
    def budget(self) -> float:
        """This step's budget after withdrawals."""
        return self.base_budget * self.multiplier

    def split(self, lpcs: bool, council: bool) -> tuple[float, float]:
        """Budget for committees and for councils, given which tiers exist."""
        b = self.budget
        if lpcs and council:
            return b * self.cfg.lpc_share, b * (1.0 - self.cfg.lpc_share)
        if lpcs:
            return b, 0.0
        if council:
            return 0.0, b
        return 0.0, 0.0

    def allocate(self, amount: float, committees: CommitteeTier, need: np.ndarray) -> np.ndarray:
        """Allocate ``amount`` over committees by the donor's policy.

        ``uniform``: equal shares; ``need``: in proportion to catchment tension;
        ``performance``: in proportion to capacity x legitimacy of active committees.
        """
        n = committees.n
        if n == 0 or amount <= 0:
            return np.zeros(n)
        if self.policy == "uniform":
            weights = np.ones(n)
        elif self.policy == "need":
            weights = need + NEED_FLOOR
        else:
            weights = committees.effectiveness()
            if weights.sum() <= 0:
                return np.zeros(n)
        return amount * weights / weights.sum()

    def give(self, committees: CommitteeTier, need: np.ndarray, has_council: bool) -> float:
        """Add this step's committee share to ``committees.funding``; return the council share."""
        to_lpcs, to_council = self.split(committees.n > 0, has_council)
        committees.funding += self.allocate(to_lpcs, committees, need)
        return to_council


def committee_budget(donors: Sequence[ExternalDonor], has_lpcs: bool, has_council: bool):
    """The donors' committee budget this step: the sum of their committee splits (7.9)."""
    return sum(d.split(has_lpcs, has_council)[0] for d in donors)


def disburse(
    donors: Sequence[ExternalDonor],
    committees: CommitteeTier,
    national: NationalCouncil | None,
    tension: np.ndarray,
    need: np.ndarray | None = None,
) -> tuple[float, float]:
    """Donor funding of one step (docs/ODD.md 7.10); return (disbursed, returned).

    Each donor (budget multipliers already set by the withdrawal shocks) splits its budget
    and allocates the committee share by its policy (need = last step's catchment
    tension). A committee uses at most its running cost, the national council at most
    the running cost its domestic budget leaves uncovered: money above that is not
    silently dropped but **returned** to the donors and recorded (``funding_returned``).
    ``need``: the committees' catchment means of ``tension``, if already computed.
    """
    tier = committees
    tier.funding[:] = 0.0
    has_council = national is not None
    if need is None:
        need = tier.catchment_mean(tension) if tier.n else np.zeros(0)
    council_money = 0.0
    for donor in donors:
        council_money += donor.give(tier, need, has_council)
    offered = float(tier.funding.sum())
    np.minimum(tier.funding, tier.cfg.cost, out=tier.funding)
    disbursed = float(tier.funding.sum())
    returned = offered - disbursed
    if national is not None:
        used = min(council_money, national.uncovered_cost())
        national.donor_funds = used
        national.returned = council_money - used
        returned += council_money - used
        disbursed += used
    return disbursed, returned

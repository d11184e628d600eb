"""The four I4P agent types: communities, local peace committees, councils, donors.

Numeric bulk state lives in numpy arrays. A :class:`Community` reads its cell's values from
the model's property layers; a :class:`LocalPeaceCommittee` reads its row of the
:class:`CommitteeTier` arrays, whose rules are vectorised over all committees at once.
Councils and donors are few and act one by one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from mesa import Agent
from mesa.discrete_space import FixedAgent

if TYPE_CHECKING:
    from i4p_sim.config.scenario import CouncilConfig, DonorConfig, LPCConfig
    from i4p_sim.sim.model import I4PModel


# ------------------------------------------------------------------------- communities


class Community(FixedAgent):
    """A local community: one per inhabited cell; its attributes view the layers."""

    def __init__(self, model: I4PModel, cell) -> None:
        super().__init__(model)
        self.cell = cell

    def _at(self, layer: str) -> float:
        return self.model.layers[layer][self.cell.coordinate].item()

    population = property(lambda self: self._at("population"))
    group = property(lambda self: int(self._at("group")))
    grievance = property(lambda self: self._at("grievance"))
    tension = property(lambda self: self._at("tension"))
    cohesion = property(lambda self: self._at("cohesion"))
    violence = property(lambda self: bool(self._at("violence")))
    memory = property(lambda self: self._at("memory"))


# ------------------------------------------------------------- local peace committees


def disk_offsets(radius: int) -> np.ndarray:
    """(k, 2) integer offsets of a Euclidean disk of the given radius."""
    r = np.arange(-radius, radius + 1)
    dr, dc = np.meshgrid(r, r, indexing="ij")
    keep = dr**2 + dc**2 <= radius**2 + 1e-9
    return np.stack([dr[keep], dc[keep]], axis=1)


def catchment_indices(
    positions: np.ndarray, radius: int, shape: tuple[int, int], torus: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Flat cell indices of every committee's catchment, concatenated, and segment starts."""
    h, w = shape
    offsets = disk_offsets(radius)
    flat, starts = [], []
    total = 0
    for r, c in positions:
        rr, cc = r + offsets[:, 0], c + offsets[:, 1]
        if torus:
            rr, cc = rr % h, cc % w
            idx = np.unique(rr * w + cc)
        else:
            keep = (rr >= 0) & (rr < h) & (cc >= 0) & (cc < w)
            idx = rr[keep] * w + cc[keep]
        starts.append(total)
        flat.append(idx)
        total += idx.size
    if not flat:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.concatenate(flat).astype(np.int64), np.asarray(starts, dtype=np.int64)


def _segments(
    positions: np.ndarray, radius: int, shape: tuple[int, int], torus: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Catchment cells (flat), segment starts, sizes and the owning committee of each cell."""
    flat, starts = catchment_indices(positions, radius, shape, torus)
    sizes = np.diff(np.append(starts, flat.size))
    owner = np.repeat(np.arange(len(positions)), sizes)
    return flat, starts, sizes, owner


@dataclass
class CommitteeTier:
    """State and vectorised rules of all local peace committees.

    Attributes are arrays with one entry per committee.
    """

    cfg: LPCConfig
    positions: np.ndarray
    shape: tuple[int, int]
    torus: bool
    capacity: np.ndarray = field(init=False)
    ownership: np.ndarray = field(init=False)
    legitimacy: np.ndarray = field(init=False)
    active: np.ndarray = field(init=False)
    funding: np.ndarray = field(init=False)
    training: np.ndarray = field(init=False)
    legitimacy_target: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        n = len(self.positions)
        self.capacity = np.full(n, self.cfg.capacity)
        self.ownership = np.full(n, self.cfg.ownership)
        self.legitimacy = np.full(n, self.cfg.legitimacy)
        self.legitimacy_target = np.full(n, self.cfg.legitimacy)
        self.active = self.capacity >= self.cfg.floor
        self.funding = np.zeros(n)
        self.training = np.zeros(n)
        self.flat, self.starts, self.sizes, self.owner = _segments(
            self.positions, self.cfg.radius, self.shape, self.torus
        )
        self.watch = _segments(self.positions, self.cfg.watch_radius, self.shape, self.torus)
        self.cell_index = self.positions[:, 0] * self.shape[1] + self.positions[:, 1]
        # the cells some catchment covers (sorted flat indices) and, for every catchment
        # entry, its position in ``cover``: the per-step fields are non-zero only there
        self.cover, self.cover_inverse = np.unique(self.flat, return_inverse=True)

    @property
    def n(self) -> int:
        return len(self.positions)

    def catchment_mean(self, values: np.ndarray) -> np.ndarray:
        """Mean of a (H, W) field over each committee's catchment."""
        if self.n == 0:
            return np.zeros(0)
        sums = np.add.reduceat(values.ravel()[self.flat], self.starts)
        return sums / self.sizes

    def watched_cells(self) -> np.ndarray:
        """Flat indices of every cell some committee watches (sorted, unique)."""
        return np.unique(self.watch[0])

    def watched_hotspot(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Max of a field over each committee's watch area and the flat index holding it."""
        flat, starts, _, owner = self.watch
        gathered = values.ravel()[flat]
        peak = np.maximum.reduceat(gathered, starts)
        # the first cell in each segment that attains the segment's maximum
        pos = np.flatnonzero(gathered == peak[owner])[::-1]
        first = np.full(self.n, -1, dtype=np.int64)
        first[owner[pos]] = pos
        return peak, flat[first]

    def effectiveness(self) -> np.ndarray:
        """Capacity x legitimacy of active committees (0 for dormant ones)."""
        return self.capacity * self.legitimacy * self.active

    def update(
        self,
        *,
        tension: np.ndarray,
        violence: np.ndarray,
        cohesion: np.ndarray,
        budget_decline: float,
        council_mandate: np.ndarray,
        civic_space: float,
    ) -> None:
        """One step of capacity, ownership, legitimacy and dormancy (docs/ODD.md, LPC).

        Parameters
        ----------
        tension, violence, cohesion : (H, W) arrays
            The state the committee sees in its catchment (last step's).
        budget_decline : float
            Drop of the donors' committee budget this step as a share of the original
            budget (0 when steady or rising): gradual handover lets communities take over.
        council_mandate : (n,) array
            Mandate of the council covering each committee (NaN where there is none).
        civic_space : float
            1 in an open society; an autocratic turn closes it.
        """
        cfg = self.cfg
        if self.n == 0:
            return
        calm = 1.0 - self.catchment_mean(tension)
        violent = self.catchment_mean(violence)
        cohesive = self.catchment_mean(cohesion)
        funded = np.minimum(1.0, self.funding / cfg.cost)
        support = self.ownership + (1.0 - self.ownership) * funded
        cap = self.capacity + cfg.capacity_rate * (support - self.capacity) + self.training
        absorbed = min(budget_decline, cfg.absorption) / cfg.absorption
        own = self.ownership
        grow = (
            (
                cfg.ownership_growth * cap * cohesive * calm
                + cfg.handover * absorbed * cap * cohesive
            )
            * (1.0 - own)
            * civic_space
        )
        shrink = (
            cfg.ownership_loss * violent * own
            + cfg.ownership_loss * 0.1 * (1.0 - self.legitimacy) * own
        )
        self.ownership = np.clip(own + grow - shrink, 0.0, 1.0)
        self.capacity = np.clip(cap, 0.0, 1.0)
        coopted = np.where(np.isnan(council_mandate), 0.0, 1.0 - np.nan_to_num(council_mandate))
        target = self.legitimacy_target * civic_space
        self.legitimacy = np.clip(
            self.legitimacy
            + cfg.legitimacy_recovery * (target - self.legitimacy)
            - cfg.cooptation * coopted * self.legitimacy,
            0.0,
            1.0,
        )
        self.active = np.where(
            self.active, self.capacity >= cfg.floor, self.capacity >= cfg.reactivation
        )
        self.training[:] = 0.0

    def mediation_damping(self) -> np.ndarray:
        """(H, W) damping from all catchments: 1 - prod over committees of (1 - m c L)."""
        h, w = self.shape
        if self.n == 0:
            return np.zeros(self.shape)
        d = np.clip(self.cfg.mediation * self.effectiveness(), 0.0, 1.0 - 1e-12)
        log_keep = np.bincount(self.flat, weights=np.log1p(-d)[self.owner], minlength=h * w)
        return (-np.expm1(log_keep)).reshape(self.shape)

    def mediation_damping_cells(self) -> np.ndarray:
        """:meth:`mediation_damping` at the covered cells only (``cover``), bit for bit.

        Off the catchments the field is zero, so the model needs only these values; the
        per-cell sums run in the same order as in the full field.
        """
        d = np.clip(self.cfg.mediation * self.effectiveness(), 0.0, 1.0 - 1e-12)
        log_keep = np.bincount(
            self.cover_inverse, weights=np.log1p(-d)[self.owner], minlength=self.cover.size
        )
        return -np.expm1(log_keep)

    def dialogue_cells(self, civic_space: float) -> np.ndarray:
        """:meth:`dialogue_field` at the covered cells only (``cover``), bit for bit."""
        rate = self.cfg.dialogue * self.effectiveness() * civic_space
        field_ = np.bincount(
            self.cover_inverse, weights=rate[self.owner], minlength=self.cover.size
        )
        return np.minimum(field_, 1.0)

    def dialogue_field(self, civic_space: float) -> np.ndarray:
        """(H, W) per-step cohesion gain rate from dialogue, capped at 1."""
        h, w = self.shape
        if self.n == 0:
            return np.zeros(self.shape)
        rate = self.cfg.dialogue * self.effectiveness() * civic_space
        field_ = np.bincount(self.flat, weights=rate[self.owner], minlength=h * w)
        return np.minimum(field_, 1.0).reshape(self.shape)

    def warnings(self, tension: np.ndarray) -> list[tuple[int, int, float, int]]:
        """Early warnings: (row, col, severity, committee) where a hotspot passes the threshold."""
        if self.n == 0:
            return []
        peak, where = self.watched_hotspot(tension)
        send = self.active & (peak > self.cfg.warning_threshold)
        w = self.shape[1]
        # committees whose watch areas overlap report the same hotspot once
        cells, first = np.unique(where[send], return_index=True)
        senders = np.flatnonzero(send)[first]
        return [
            (int(c // w), int(c % w), float(peak[i]), int(i))
            for c, i in zip(cells, senders, strict=True)
        ]


class LocalPeaceCommittee(FixedAgent):
    """A local peace committee: the grassroots tier. Its state is a row of the tier arrays."""

    def __init__(self, model: I4PModel, cell, index: int) -> None:
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


# ----------------------------------------------------------------------------- councils


@dataclass
class Response:
    """A rapid-response mediation: dispatched now, landing after the response delay."""

    lands: int
    ends: int
    row: int
    col: int
    source: str  # "warning" or "observed"
    council: str
    target_tension: float = float("nan")
    target_percentile: float = float("nan")  # share of inhabited cells calmer than the target


class NationalCouncil(Agent):
    """A peace council over a rectangular jurisdiction (national or regional).

    Reads early warnings from the committees in its jurisdiction; what exceeds its
    rapid-response capacity passes up to its parent. Without warnings it sees only
    violence that has already happened, ``observation_delay`` steps late and
    ``observation_error`` cells off.
    """

    def __init__(
        self,
        model: I4PModel,
        cfg: CouncilConfig,
        *,
        name: str,
        bounds: tuple[int, int, int, int],
        parent: NationalCouncil | None = None,
    ) -> None:
        super().__init__(model)
        self.cfg = cfg
        self.name = name
        self.bounds = bounds  # row0, row1, col0, col1 (half-open)
        self.parent = parent
        self.mandate = cfg.mandate
        self.mandate_target = cfg.mandate
        self.suspended_until = -1
        self.donor_funds = 0.0
        self.responses_sent = 0
        self.agreement_until = -1
        self.cooldown_until = -1

    @property
    def level(self) -> str:
        return "national" if self.parent is None else "regional"

    def covers(self, row: int, col: int) -> bool:
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
        return min(1.0, (self.cfg.domestic_budget + self.donor_funds) / self.cfg.cost)

    def effective_mandate(self, step: int) -> float:
        return 0.0 if self.suspended(step) else self.mandate

    def capacity(self, step: int) -> int:
        """Rapid responses it can dispatch this step."""
        if self.suspended(step):
            return 0
        base = self.cfg.rapid_responses if self.parent is None else self.cfg.regional_responses
        return int(np.floor(base * self.funded_share() + 0.5))

    def recover_mandate(self) -> None:
        self.mandate += 0.02 * (self.mandate_target - self.mandate)

    def triage(
        self, warnings: list[tuple[int, int, float, int]], step: int
    ) -> tuple[list[tuple[int, int, float, int]], list[tuple[int, int, float, int]]]:
        """Split warnings (worst first) into those it answers and those it passes up."""
        ranked = sorted(warnings, key=lambda w: (-w[2], w[0], w[1]))
        k = self.capacity(step)
        return ranked[:k], ranked[k:]

    def train(self, committees: CommitteeTier, step: int) -> None:
        """Training raises the capacity of the committees in its jurisdiction."""
        if committees.n == 0 or self.suspended(step):
            return
        r0, r1, c0, c1 = self.bounds
        rows, cols = committees.positions[:, 0], committees.positions[:, 1]
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
        return True


# ------------------------------------------------------------------------------ donors


class ExternalDonor(Agent):
    """An external donor with a per-step budget and an allocation policy."""

    def __init__(self, model: I4PModel, cfg: DonorConfig) -> None:
        super().__init__(model)
        self.cfg = cfg
        self.name = cfg.name
        self.policy = cfg.policy
        self.base_budget = cfg.budget
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
            weights = need + 1e-3
        else:
            weights = committees.effectiveness()
            if weights.sum() <= 0:
                return np.zeros(n)
        return amount * weights / weights.sum()

"""Local peace committees as a vectorised tier: catchments and the rules of docs/ODD.md 7.9.

Pure numpy. :class:`CommitteeTier` holds one array entry per committee and applies the
update, mediation damping, dialogue and early-warning rules to all committees at once; the
Mesa agents (``i4p_sim.sim.agents.LocalPeaceCommittee``) only view its rows. The parameters
come as any object with the attributes of :class:`CommitteeParams` (the scenario's
``[lpc]`` table), so this module imports nothing else of the package.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

#: Share of the ownership-loss rate that lost legitimacy adds (ODD 7.9, "Ownership loss").
LEGITIMACY_OWNERSHIP_LOSS = 0.1
#: Largest damping one committee can exert: keeps ``log1p(-d)`` finite (ODD 7.9).
MAX_MEDIATION = 1.0 - 1e-12
#: Tolerance on the disk test ``dr^2 + dc^2 <= r^2`` of a catchment.
_DISK_TOL = 1e-9


class CommitteeParams(Protocol):
    """The committee parameters the tier reads (``[lpc]``, docs/ODD.md 8.5)."""

    capacity: float
    ownership: float
    legitimacy: float
    floor: float
    reactivation: float
    radius: int
    watch_radius: int
    cost: float
    capacity_rate: float
    absorption: float
    ownership_growth: float
    handover: float
    ownership_loss: float
    legitimacy_recovery: float
    cooptation: float
    mediation: float
    dialogue: float
    warning_threshold: float


def disk_offsets(radius: int) -> np.ndarray:
    """(k, 2) integer offsets of a Euclidean disk of the given radius."""
    r = np.arange(-radius, radius + 1)
    dr, dc = np.meshgrid(r, r, indexing="ij")
    keep = dr**2 + dc**2 <= radius**2 + _DISK_TOL
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
    """State and vectorised rules of all local peace committees (docs/ODD.md 7.9).

    Attributes are arrays with one entry per committee. The per-step fields (mediation
    damping, dialogue) are zero off the catchments, so they are computed at the covered
    cells only (:attr:`cover`).
    """

    cfg: CommitteeParams
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

    def lose_legitimacy(self, drop: float) -> None:
        """Every committee loses ``drop`` legitimacy (clipped to [0, 1]): shocks, ODD 7.13."""
        self.legitimacy = np.clip(self.legitimacy - drop, 0.0, 1.0)

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
        """One step of capacity, ownership, legitimacy and dormancy (docs/ODD.md 7.9).

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
            + cfg.ownership_loss * LEGITIMACY_OWNERSHIP_LOSS * (1.0 - self.legitimacy) * own
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

    def mediation_damping_cells(self) -> np.ndarray:
        """Mediation damping at the covered cells (``cover``): 1 - prod of (1 - m c L).

        Off the catchments the field is zero, so these values are all of it
        (``tests/oracles.py`` keeps the full-grid reference it equals bit for bit).
        """
        d = np.clip(self.cfg.mediation * self.effectiveness(), 0.0, MAX_MEDIATION)
        log_keep = np.bincount(
            self.cover_inverse, weights=np.log1p(-d)[self.owner], minlength=self.cover.size
        )
        return -np.expm1(log_keep)

    def mediation_damping_map(self) -> np.ndarray:
        """(H, W) mediation damping: :meth:`mediation_damping_cells`, zero elsewhere."""
        out = np.zeros(self.shape)
        out.reshape(-1)[self.cover] = self.mediation_damping_cells()
        return out

    def sanction_cells(self, group: np.ndarray) -> np.ndarray:
        """Social sanction at the covered cells (``cover``), docs/ODD.md 7.4.

        The sum over the committees whose catchment holds the cell of effectiveness times
        the legitimacy the cell's group grants the committee (``group_legitimacy``).
        """
        weights = self.effectiveness()[self.owner] * self.group_legitimacy(group)
        return np.bincount(self.cover_inverse, weights=weights, minlength=self.cover.size)

    def group_legitimacy(self, group: np.ndarray) -> np.ndarray:
        """Per catchment entry: the legitimacy the entry cell's group grants its committee."""
        return self.legitimacy[self.owner]

    def dialogue_cells(self, civic_space: float) -> np.ndarray:
        """Per-step cohesion gain rate from dialogue at the covered cells, capped at 1."""
        rate = self.cfg.dialogue * self.effectiveness() * civic_space
        field_ = np.bincount(
            self.cover_inverse, weights=rate[self.owner], minlength=self.cover.size
        )
        return np.minimum(field_, 1.0)

    def warnings(self, risk: np.ndarray) -> list[tuple[int, int, float, int]]:
        """Early warnings: (row, col, severity, committee) where a hotspot passes the threshold.

        ``risk`` is the map committees rank places by (the response-footprint mean of last
        step's tension, docs/ODD.md 7.9 "Early warnings").
        """
        if self.n == 0:
            return []
        peak, where = self.watched_hotspot(risk)
        send = self.active & (peak > self.cfg.warning_threshold)
        w = self.shape[1]
        # committees whose watch areas overlap report the same hotspot once
        cells, first = np.unique(where[send], return_index=True)
        senders = np.flatnonzero(send)[first]
        return [
            (int(c // w), int(c % w), float(peak[i]), int(i))
            for c, i in zip(cells, senders, strict=True)
        ]

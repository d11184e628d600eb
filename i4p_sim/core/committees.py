"""Local peace committees as a vectorised tier: catchments and the rules of docs/ODD.md 7.9.

Pure numpy. :class:`CommitteeTier` holds one array entry per committee and applies the
update, mediation damping, dialogue and early-warning rules to all committees at once; the
Mesa agents (``i4p_sim.sim.peace_committee.LocalPeaceCommittee``) only view its rows. The parameters
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
#: Up to this many committees sending a warning, each one's hotspot is found by its own
#: ``argmax`` (a few microseconds each) rather than by a search of every watch area.
FEW_SENDERS = 64
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
    ownership_growth: float
    contribution_rate: float
    min_resources: float
    inclusiveness: float
    partisan_threshold: float
    surveillance_cost: float
    ownership_loss: float
    legitimacy_recovery: float
    cooptation: float
    returns: float
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


@dataclass(frozen=True)
class CommitteeFields:
    """One step's committee fields at the covered cells (:meth:`CommitteeTier.step_fields`)."""

    damping: np.ndarray  # mediation damping
    drive: np.ndarray  # partisan mediation's drive rate
    sanction: np.ndarray  # social sanction (7.4)
    dialogue: np.ndarray  # cohesion gain rate from dialogue, capped at 1


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
        # composition (docs/ODD.md 7.9): the share of a committee's legitimacy its home
        # group and the other groups grant it; surveillance lowers them (7.13)
        self.trust_home = np.ones(n)
        self.trust_other = np.full(n, self.cfg.inclusiveness)
        self.entry_home = np.ones(self.flat.size, dtype=bool)  # set by set_groups
        self.watch_home = np.ones(self.watch[0].size, dtype=bool)
        self.home = np.zeros(n, dtype=np.int64)
        self._pick_trust()
        # the cells some catchment covers (sorted flat indices) and, for every catchment
        # entry, its position in ``cover``: the per-step fields are non-zero only there
        self.cover, self.cover_inverse = np.unique(self.flat, return_inverse=True)

    @property
    def n(self) -> int:
        return len(self.positions)

    def set_groups(self, group: np.ndarray) -> None:
        """Each committee's home group (its cell's) and which catchment cells share it."""
        g = group.reshape(-1)
        self.home = g[self.cell_index].astype(np.int64)
        self.entry_home = g[self.flat] == self.home[self.owner]
        self.watch_home = g[self.watch[0]] == self.home[self.watch[3]]
        self._pick_trust()

    def _pick_trust(self) -> None:
        """Per catchment and watch entry: its place in :meth:`_granted` (home or other)."""
        n = self.n
        self._entry_pick = self.owner + n * ~self.entry_home
        self._watch_pick = self.watch[3] + n * ~self.watch_home

    def _granted(self) -> np.ndarray:
        """``legitimacy * trust_home`` of every committee, then ``legitimacy * trust_other``."""
        return np.concatenate(
            [self.legitimacy * self.trust_home, self.legitimacy * self.trust_other]
        )

    def group_legitimacy(self) -> np.ndarray:
        """Per catchment entry: the legitimacy the cell's group grants its committee.

        ``legitimacy_c * trust_home_c`` for the home group, ``legitimacy_c * trust_other_c``
        (initially ``lpc.inclusiveness``) for the others (docs/ODD.md 7.9, composition).
        """
        # the same product per entry as legitimacy[owner] * trust[owner], one gather
        return self._granted()[self._entry_pick]

    def mediation_sign(self) -> np.ndarray:
        """Per catchment entry: ``(L - pt) / (1 - pt)`` if ``L >= pt`` else ``-(pt - L) / pt``.

        ``L`` the legitimacy the entry cell's group grants the committee, ``pt`` the partisan
        threshold: positive where mediation calms, negative where it drives (7.9).
        """
        return self._sign(self.group_legitimacy())

    def _sign(self, legit: np.ndarray) -> np.ndarray:
        pt = self.cfg.partisan_threshold
        return np.where(legit >= pt, (legit - pt) / (1.0 - pt), (legit - pt) / pt)

    def catchment_mean(self, values: np.ndarray) -> np.ndarray:
        """Mean of a (H, W) field over each committee's catchment."""
        if self.n == 0:
            return np.zeros(0)
        sums = np.add.reduceat(np.take(values.reshape(-1), self.flat), self.starts)
        return sums / self.sizes

    def watched_cells(self) -> np.ndarray:
        """Flat indices of every cell some committee watches (sorted, unique)."""
        return np.unique(self.watch[0])

    def watched_hotspot(
        self, values: np.ndarray, weights: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Max of a field over each committee's watch area and the flat index holding it.

        ``weights`` (one per watch entry) multiply the field first (what the committee sees).
        """
        gathered, peak = self._watched_peaks(values, weights)
        return peak, self._peak_cells(gathered, peak)

    def _watched_peaks(
        self, values: np.ndarray, weights: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The (weighted) field at every watch entry, and its max over each watch area."""
        flat, starts, _, _ = self.watch
        gathered = np.take(values.reshape(-1), flat)  # as values.ravel()[flat], faster
        if weights is not None:
            gathered = gathered * weights
        return gathered, np.maximum.reduceat(gathered, starts)

    def _peak_cells(
        self, gathered: np.ndarray, peak: np.ndarray, which: np.ndarray | None = None
    ) -> np.ndarray:
        """Flat index of the first cell of each watch area that attains its ``peak``.

        ``which`` (committee indices, optional): only those areas, one ``argmax`` each
        (the first maximum, as the vectorised search finds it), an array of their cells.
        """
        flat, starts, sizes, owner = self.watch
        if which is not None:
            first = [
                s + int(gathered[s : s + z].argmax())
                for s, z in zip(starts[which].tolist(), sizes[which].tolist(), strict=True)
            ]
            return flat[np.array(first, dtype=np.int64)]
        # the first cell in each segment that attains the segment's maximum
        pos = np.flatnonzero(gathered == peak[owner])[::-1]
        first = np.full(self.n, -1, dtype=np.int64)
        first[owner[pos]] = pos
        return flat[first]

    def capability(self) -> np.ndarray:
        """``capacity ** lpc.returns`` of active committees (0 for dormant ones): what a
        committee can do (docs/ODD.md 7.9, returns to scale).

        With ``returns = 1`` (the default) the power is skipped: ``capacity * active``, as
        before the parameter existed, bit for bit. Its legitimacy enters each channel once,
        per group (:meth:`group_legitimacy`).
        """
        gamma = self.cfg.returns
        if gamma == 1.0:
            return self.capacity * self.active
        return self.capacity**gamma * self.active

    def effectiveness(self) -> np.ndarray:
        """Capability x legitimacy of active committees (0 for dormant ones): the
        performance a donor with the ``performance`` policy rewards (docs/ODD.md 7.10)."""
        if self.cfg.returns == 1.0:
            return self.capacity * self.legitimacy * self.active
        return self.capability() * self.legitimacy

    def surveil(self, warnings: list, group: np.ndarray, capture: float) -> None:
        """Captured warnings become surveillance (docs/ODD.md 7.13).

        Each warning costs its committee ``surveillance_cost * capture`` (relative) of the
        legitimacy the reported cell's group grants it.
        """
        loss = 1.0 - self.cfg.surveillance_cost * capture
        for row, col, _, c in warnings:
            if group[row, col] == self.home[c]:
                self.trust_home[c] *= loss
            else:
                self.trust_other[c] *= loss

    def lose_legitimacy(self, drop: float) -> None:
        """Every committee loses ``drop`` legitimacy (clipped to [0, 1]): shocks, ODD 7.13."""
        self.legitimacy = np.clip(self.legitimacy - drop, 0.0, 1.0)

    def update(
        self,
        *,
        tension: np.ndarray,
        violence: np.ndarray,
        cohesion: np.ndarray,
        council_mandate: np.ndarray,
        civic_space: float,
        tension_mean: np.ndarray | None = None,
    ) -> None:
        """One step of capacity, ownership, legitimacy and dormancy (docs/ODD.md 7.9).

        Parameters
        ----------
        tension, violence, cohesion : (H, W) arrays
            The state the committee sees in its catchment (last step's).
        council_mandate : (n,) array
            Mandate of the council covering each committee (NaN where there is none).
        civic_space : float
            1 in an open society; an autocratic turn closes it.
        tension_mean : (n,) array, optional
            :meth:`catchment_mean` of ``tension``, if already computed.
        """
        cfg = self.cfg
        if self.n == 0:
            return
        calm = 1.0 - (self.catchment_mean(tension) if tension_mean is None else tension_mean)
        violent = self.catchment_mean(violence)
        cohesive = self.catchment_mean(cohesion)
        trust = np.add.reduceat(self.group_legitimacy(), self.starts) / self.sizes
        funded = np.minimum(1.0, self.funding / cfg.cost)
        # dilution: below the minimum viable resources capacity decays towards 0
        resources = np.minimum(1.0, funded + self.ownership)
        target = np.where(resources >= cfg.min_resources, resources, 0.0)
        cap = self.capacity + cfg.capacity_rate * (target - self.capacity) + self.training
        own = self.ownership
        # its own record (calm, cohesive, trusted) and community contributions, which rise
        # with the funding gap at a limited rate: no handover term (docs/ODD.md 7.9)
        grow = (
            (
                cfg.ownership_growth * cap * cohesive * calm * trust
                + cfg.contribution_rate * (1.0 - funded) * trust
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
        # 1 - NaN is NaN (quietly), replaced by 0.0 as before: no nan_to_num copy needed
        coopted = np.where(np.isnan(council_mandate), 0.0, 1.0 - council_mandate)
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
        """Mediation damping at the covered cells (``cover``): 1 - prod of (1 - d_e).

        ``d_e = mediation * e_c * max(s_e, 0)`` with ``s_e`` the :meth:`mediation_sign` of
        the entry: scaled by the legitimacy the cell's group grants the committee, zero
        below the partisan threshold (where :meth:`mediation_drive_cells` takes over).
        Off the catchments the field is zero, so these values are all of it.
        """
        return self._damping(self.capability()[self.owner], self.mediation_sign())

    def _damping(self, cap: np.ndarray, sign: np.ndarray) -> np.ndarray:
        d = self.cfg.mediation * cap * np.maximum(sign, 0.0)
        d = np.clip(d, 0.0, MAX_MEDIATION)
        log_keep = np.bincount(self.cover_inverse, weights=np.log1p(-d), minlength=self.cover.size)
        return -np.expm1(log_keep)

    def mediation_drive_cells(self) -> np.ndarray:
        """Partisan mediation's drive rate at the covered cells: sum of ``m e_c max(-s_e, 0)``.

        Below the partisan threshold an insider-partial committee raises the other group's
        tension (Odendaal 2013): the model adds ``rate * tension`` to the drive, the mirror
        of damping (which removes ``damping * tension``), 7.9.
        """
        return self._drive(self.capability()[self.owner], self.mediation_sign())

    def _drive(self, cap: np.ndarray, sign: np.ndarray) -> np.ndarray:
        if not (sign < 0.0).any():  # no entry drives: each rate is +-0.0, each sum +0.0
            return np.zeros(self.cover.size)
        rate = self.cfg.mediation * cap * np.maximum(-sign, 0.0)
        return np.bincount(self.cover_inverse, weights=rate, minlength=self.cover.size)

    def mediation_sign_map(self) -> np.ndarray:
        """(H, W) int8: +1 where mediation calms on balance, -1 where it drives, 0 elsewhere."""
        out = np.zeros(self.shape, dtype=np.int8)
        if self.n:
            net = self.mediation_damping_cells() - self.mediation_drive_cells()
            out.reshape(-1)[self.cover] = np.sign(net).astype(np.int8)
        return out

    def mediation_damping_map(self) -> np.ndarray:
        """(H, W) mediation damping: :meth:`mediation_damping_cells`, zero elsewhere."""
        out = np.zeros(self.shape)
        out.reshape(-1)[self.cover] = self.mediation_damping_cells()
        return out

    def sanction_cells(self, group: np.ndarray | None = None) -> np.ndarray:
        """Social sanction at the covered cells (``cover``), docs/ODD.md 7.4.

        The sum over the committees whose catchment holds the cell of effectiveness times
        the legitimacy the cell's group grants the committee (``group_legitimacy``).
        """
        return self._sanction(self.capability()[self.owner], self.group_legitimacy())

    def _sanction(self, cap: np.ndarray, legit: np.ndarray) -> np.ndarray:
        weights = cap * legit
        return np.bincount(self.cover_inverse, weights=weights, minlength=self.cover.size)

    def dialogue_cells(self, civic_space: float) -> np.ndarray:
        """Per-step cohesion gain rate from dialogue at the covered cells, capped at 1."""
        return self._dialogue(self.capability()[self.owner], self.group_legitimacy(), civic_space)

    def _dialogue(self, cap: np.ndarray, legit: np.ndarray, civic_space: float) -> np.ndarray:
        rate = self.cfg.dialogue * cap * legit
        rate *= civic_space
        field_ = np.bincount(self.cover_inverse, weights=rate, minlength=self.cover.size)
        return np.minimum(field_, 1.0)

    def step_fields(self, civic_space: float) -> CommitteeFields:
        """The four per-step fields at the covered cells, sharing their per-entry terms.

        Equal to :meth:`mediation_damping_cells`, :meth:`mediation_drive_cells`,
        :meth:`sanction_cells` and :meth:`dialogue_cells` called one after the other (the
        same expressions), with each entry's capability, group legitimacy and mediation
        sign computed once. Valid until the tier's state changes (the model takes them
        once a step, after committees and councils have acted).
        """
        cap = self.capability()[self.owner]
        legit = self.group_legitimacy()
        sign = self._sign(legit)
        return CommitteeFields(
            damping=self._damping(cap, sign),
            drive=self._drive(cap, sign),
            sanction=self._sanction(cap, legit),
            dialogue=self._dialogue(cap, legit, civic_space),
        )

    def warnings(self, risk: np.ndarray) -> list[tuple[int, int, float, int]]:
        """Early warnings: (row, col, severity, committee) where a hotspot passes the threshold.

        ``risk`` is the map committees rank places by (the response-footprint mean of last
        step's tension, docs/ODD.md 7.9 "Early warnings").
        """
        if self.n == 0:
            return []
        # information: people tell committees they trust, so the risk a committee sees at a
        # hotspot is weighted by the legitimacy the hotspot's group grants it (7.9)
        gathered, peak = self._watched_peaks(risk, self._granted()[self._watch_pick])
        sending = np.flatnonzero(self.active & (peak > self.cfg.warning_threshold))
        # the hotspot of each sender (one search each while they are few)
        if sending.size <= FEW_SENDERS:
            where = self._peak_cells(gathered, peak, sending)
        else:
            where = self._peak_cells(gathered, peak)[sending]
        w = self.shape[1]
        # committees whose watch areas overlap report the same hotspot once
        cells, first = np.unique(where, return_index=True)
        senders = sending[first]
        return [
            (int(c // w), int(c % w), float(peak[i]), int(i))
            for c, i in zip(cells, senders, strict=True)
        ]

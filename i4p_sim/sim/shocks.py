"""Shocks (docs/ODD.md 7.13): what each of the seven kinds does to the model, and when.

A :class:`ShockSchedule` is built from a scenario's ``[[shocks]]`` list (and grows when the
browser injects one). Each step :meth:`ShockSchedule.fire` calls every scheduled shock's
handler — one per kind, in :data:`HANDLERS`, keyed by the schema's kinds
(:data:`~i4p_sim.config.scenario.SHOCK_CLASSES`) — which sets the donors' budget
multipliers, adds this step's shock drive and applies the one-off effects due now. Random
parts (an economic shock's map, a trigger's location) draw from the shock's own keyed
stream (:func:`i4p_sim.core.streams.shock_stream`, keyed by a hash of the shock's kind,
step and parameters), so adding a shock shifts no other stream's draws.

Handlers change the model only through a narrow surface (:class:`ShockTarget`): council
and committee methods, ``close_civic_space`` and ``raise_grievance``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from i4p_sim.config.scenario import (
    SHOCK_CLASSES,
    AutocraticTurn,
    BorderSpillover,
    EconomicShock,
    Election,
    FundingWithdrawal,
    PoliticalUpheaval,
    TriggerIncident,
)
from i4p_sim.core.committees import CommitteeTier
from i4p_sim.core.landscape import edge_distance, smooth_field, square_window
from i4p_sim.core.streams import shock_key, shock_stream

if TYPE_CHECKING:
    from i4p_sim.sim.agents import ExternalDonor, NationalCouncil

#: An economic shock raises grievance by ``magnitude * (ECONOMIC_FLOOR + pattern)``, with
#: ``pattern`` in [0, 1]: every cell gets at least this share of the magnitude (ODD 7.13).
ECONOMIC_FLOOR = 0.5


class ShockTarget(Protocol):
    """What the shock handlers read and change in a model."""

    shape: tuple[int, int]
    torus: bool
    inhabited: np.ndarray
    friction_norm: np.ndarray
    shock_drive: np.ndarray
    councils: Sequence[NationalCouncil]
    committees: CommitteeTier
    donors: Sequence[ExternalDonor]

    def close_civic_space(self, share: float) -> None: ...

    def capture_i4p(self, share: float) -> None: ...

    def raise_grievance(self, rise: Any, *, permanent: bool = False) -> None: ...


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
    seed : int
        The run's seed: each shock's stream is keyed by it and the shock's id.
    """

    def __init__(self, shocks: list, seed: int = 0) -> None:
        self.seed = seed
        self.shocks: list = []
        self.rngs: list[np.random.Generator] = []
        self.keys: list[int] = []  # each shock's stream key (its stable id)
        self.fired: list[tuple[int, str]] = []
        for shock in shocks:
            self._append(shock)
        self._resolve()

    def _append(self, shock) -> None:
        """Schedule ``shock`` with its own stream, keyed by its id (not its position)."""
        params = shock.model_dump(mode="json", exclude={"kind", "at"})
        dump = shock.model_dump(mode="json")
        same = sum(s.model_dump(mode="json") == dump for s in self.shocks)
        key = shock_key(shock.kind, shock.at, params, same)
        self.shocks.append(shock)
        self.keys.append(key)
        self.rngs.append(shock_stream(self.seed, key))

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
        self._append(shock)
        self._resolve()

    def donor_multiplier(self, donor: str, step: int) -> float:
        """Product of every withdrawal's multiplier on this donor at ``step``.

        A query that changes nothing: the budget multiplier :meth:`fire` gives the donor at
        ``step`` through the withdrawal handlers (for planning and tests).
        """
        m = 1.0
        for s, at in zip(self.shocks, self.effective_at, strict=True):
            if isinstance(s, FundingWithdrawal) and s.donor in ("all", donor):
                m *= withdrawal_multiplier(s, at, step)
        return m

    def fire(self, model: ShockTarget, step: int) -> np.ndarray:
        """Run every shock's handler at ``step``; return this step's shock drive (H, W).

        The donors' budget multipliers start at 1 and each withdrawal multiplies in its own;
        the drive starts at 0 and is zero on uninhabited cells at the end.
        """
        drive = model.shock_drive
        drive[...] = 0.0
        for donor in model.donors:
            donor.multiplier = 1.0
        for s, at, rng in zip(self.shocks, self.effective_at, self.rngs, strict=True):
            if step == at:
                self.fired.append((step, s.kind))
            HANDLERS[s.kind](model, s, at, step, drive, rng)
        if self.shocks:  # without shocks the drive stays +0.0 everywhere
            drive *= model.inhabited
        return drive


# One handler per kind: (model, shock, effective step, step, drive, its stream) -> None.
Handler = Callable[[ShockTarget, Any, "int | None", int, np.ndarray, np.random.Generator], None]


def _withdrawal(
    model: ShockTarget,
    s: FundingWithdrawal,
    at: int | None,
    step: int,
    drive: np.ndarray,
    rng: np.random.Generator,
) -> None:
    """Multiply the budget multiplier of each donor it names by :func:`withdrawal_multiplier`."""
    for donor in model.donors:
        if s.donor in ("all", donor.name):
            donor.multiplier *= withdrawal_multiplier(s, at, step)


def _upheaval(
    model: ShockTarget,
    s: PoliticalUpheaval,
    at: int | None,
    step: int,
    drive: np.ndarray,
    rng: np.random.Generator,
) -> None:
    """Suspends councils, costs committees legitimacy (less under a strong mandate), spikes."""
    if step != at:
        return
    shield = 0.0
    for council in model.councils:
        shield = max(shield, council.effective_mandate(step) * council.cfg.mandate_shield)
        council.suspend(step + s.duration)
    model.committees.lose_legitimacy(s.legitimacy_drop * (1.0 - shield))
    drive += s.tension_spike


def _election(
    model: ShockTarget,
    s: Election,
    at: int | None,
    step: int,
    drive: np.ndarray,
    rng: np.random.Generator,
) -> None:
    """A campaign pulse before the vote; whether the vote turns violent is decided (7.4)."""
    if s.at - s.pre_steps <= step < s.at:
        drive += s.pulse


def _autocratic_turn(
    model: ShockTarget,
    s: AutocraticTurn,
    at: int | None,
    step: int,
    drive: np.ndarray,
    rng: np.random.Generator,
) -> None:
    """Councils lose mandate, committees legitimacy; civic space closes; grievance rises."""
    if step != at:
        return
    for council in model.councils:
        council.lose_mandate(s.mandate_drop)
    model.committees.lose_legitimacy(s.legitimacy_drop)
    model.close_civic_space(s.civic_space)
    model.raise_grievance(s.grievance_rise, permanent=True)
    if s.capture > 0:
        model.capture_i4p(s.capture)


def _border_spillover(
    model: ShockTarget,
    s: BorderSpillover,
    at: int | None,
    step: int,
    drive: np.ndarray,
    rng: np.random.Generator,
) -> None:
    """Tension flows in from one edge for ``duration`` steps, decaying with depth."""
    if s.at <= step < s.at + s.duration:
        drive += s.inflow * np.exp(-edge_distance(model.shape, s.edge) / s.depth)


def _economic_shock(
    model: ShockTarget,
    s: EconomicShock,
    at: int | None,
    step: int,
    drive: np.ndarray,
    rng: np.random.Generator,
) -> None:
    """Grievance rises by a smooth random pattern (transiently: it relaxes back)."""
    if step != at:
        return
    pattern = smooth_field(rng, model.shape, s.scale, model.torus)
    span = pattern.max() - pattern.min()
    pattern = (pattern - pattern.min()) / span if span > 0 else np.ones(model.shape)
    model.raise_grievance(s.magnitude * (ECONOMIC_FLOOR + pattern))


def _trigger_incident(
    model: ShockTarget,
    s: TriggerIncident,
    at: int | None,
    step: int,
    drive: np.ndarray,
    rng: np.random.Generator,
) -> None:
    """A tension spike on a square around a cell (random inhabited cell if not given)."""
    if step != at:
        return
    w = model.shape[1]
    if s.row is None or s.col is None:
        cells = np.flatnonzero(model.inhabited.ravel())
        pick = int(cells[rng.integers(cells.size)]) if cells.size else 0
        row = s.row if s.row is not None else pick // w
        col = s.col if s.col is not None else pick % w
    else:
        row, col = s.row, s.col
    drive[square_window(row, col, s.radius, model.shape)] += s.spike


#: Shock kind -> its handler: exactly the kinds of the schema.
HANDLERS: dict[str, Handler] = {
    "funding_withdrawal": _withdrawal,
    "political_upheaval": _upheaval,
    "election": _election,
    "autocratic_turn": _autocratic_turn,
    "border_spillover": _border_spillover,
    "economic_shock": _economic_shock,
    "trigger_incident": _trigger_incident,
}
if set(HANDLERS) != set(SHOCK_CLASSES):  # a new kind in the schema needs its handler here
    raise ImportError(f"shock handlers {sorted(HANDLERS)} != schema kinds {sorted(SHOCK_CLASSES)}")


# ----------------------------------------------------------- first effect (branching)


def _withdrawal_first(s: FundingWithdrawal) -> int:
    """First step whose budget multiplier differs from 1, taking effect at ``s.at``.

    A withdrawal conditional on an autocratic turn waits for it, but never fires before its
    own ``at``: computing from ``at`` is conservative (never later than the real effect).
    """
    if s.mode == "phased":
        step = max(0, int(np.floor(s.at - s.ramp / 2 - 0.5)) - 1)  # just before the ramp
        while withdrawal_multiplier(s, s.at, step) == 1.0 and step < s.at + s.ramp:
            step += 1
        return step
    return s.at


#: Shock kind -> the first step at which a shock of that kind can change the model (its
#: state or any random stream): before it, a run with the shock and one without are
#: identical, so a branching sweep runs that past once (docs/DESIGN.md, branching).
FIRST_EFFECT: dict[str, Callable[[Any], int]] = {
    "funding_withdrawal": _withdrawal_first,
    "political_upheaval": lambda s: s.at,
    "election": lambda s: max(0, s.at - s.pre_steps),  # the campaign pulse
    "autocratic_turn": lambda s: s.at,
    "border_spillover": lambda s: s.at,
    "economic_shock": lambda s: s.at,
    "trigger_incident": lambda s: s.at,
}
if set(FIRST_EFFECT) != set(SHOCK_CLASSES):
    raise ImportError("every shock kind must declare its first effect step (FIRST_EFFECT)")


def first_effect(shock) -> int:
    """The first step at which ``shock`` can change a run (see :data:`FIRST_EFFECT`)."""
    return int(FIRST_EFFECT[shock.kind](shock))

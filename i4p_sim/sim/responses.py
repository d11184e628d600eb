"""Rapid responses (docs/ODD.md 7.11 and 7.12): from a warning to damping on the ground.

Everything about a council's rapid responses lives here: its capacity and triage, the
risk map committees rank warnings by, the councils' late view of past violence, dispatch,
the queue of responses under way, their landing (with the diagnostics of 7.12) and the
damping they exert while in force. The model owns one :class:`RapidResponses` and calls it
at process steps 3 (risk map), 4 (triage and dispatch), 5 (landing, damping) and 6
(recording violence for later observation).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from i4p_sim.core.committees import CommitteeTier
from i4p_sim.core.hotspots import DensestWindows
from i4p_sim.core.landscape import square_window
from i4p_sim.core.window_means import FootprintMean

if TYPE_CHECKING:
    from i4p_sim.config.scenario import CouncilConfig
    from i4p_sim.sim.agents import NationalCouncil

#: Landed responses kept for diagnostics (ODD 7.12); older ones are only counted.
LANDED_KEPT = 1000
#: Above this many response windows in force, their union is found by dilating the map of
#: their cells instead of a loop over windows (same cells, same product).
DENSE_WINDOWS = 24
#: Above this many responses landing in one step, their percentiles are found by sorting
#: the inhabited cells' tension once instead of one count over them per response.
SORTED_LANDINGS = 32

Warning = tuple[int, int, float, int]  # row, col, severity, committee


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


def response_capacity(council: NationalCouncil, step: int) -> int:
    """Rapid responses ``council`` dispatches at ``step``: call once per council and step.

    The carried-remainder rule (docs/ODD.md 7.11): ``acc += rate; n = floor(acc);
    acc -= n``, with ``rate`` = :meth:`NationalCouncil.response_rate` (a density times the
    jurisdiction's inhabited cells / 1,000 times the funded share), so that the dose is
    exact over time on any grid. 0 while suspended (nothing accrues).
    """
    if council.suspended(step):
        return 0
    council.carried += council.response_rate()
    n = int(np.floor(council.carried))
    council.carried -= n
    return n


def max_targets(cfg: CouncilConfig, inhabited_cells: int) -> int:
    """The most responses the national council can send in one step (fixed-shape draws)."""
    return int(np.ceil(cfg.response_density * inhabited_cells / 1000.0)) + 1


def triage(warnings: Sequence[Warning], k: int) -> tuple[list[Warning], list[Warning]]:
    """Split warnings (worst first; ties by row, column) into the ``k`` answered and the rest."""
    ranked = sorted(warnings, key=lambda w: (-w[2], w[0], w[1]))
    return ranked[:k], ranked[k:]


class RapidResponses:
    """The rapid responses of a run's councils: risk map, triage, queue, landing, damping.

    Parameters
    ----------
    cfg : CouncilConfig
        The scenario's ``[council]`` table.
    shape : (int, int)
        Grid shape.
    torus : bool
        Whether the grid wraps (for the risk map's footprint).
    inhabited : (H, W) bool array
        Inhabited cells (for the landing percentile).
    rng : numpy.random.Generator
        The council's keyed stream (observation error): every step draws the same
        fixed-shape array of offsets (:meth:`draw_errors`), whatever the state.
    """

    def __init__(
        self,
        cfg: CouncilConfig,
        shape: tuple[int, int],
        torus: bool,
        inhabited: np.ndarray,
        rng: np.random.Generator,
        target_rng: np.random.Generator | None = None,
    ) -> None:
        self.cfg = cfg
        self.target_rng = target_rng
        self.shape = shape
        self.torus = torus
        self.rng = rng
        self.queue: deque[Response] = deque()  # dispatched, not yet expired, in send order
        self.landed: deque[Response] = deque(maxlen=LANDED_KEPT)
        self.n_landed = 0
        self.damping = np.zeros(shape)  # response_damping of docs/ODD.md 7.3
        # footprints in force this step (None: too many, their union was used instead)
        self._windows: list[tuple[slice, slice]] | None = []
        self._in_force = 0  # how many
        self._dilation = tuple(np.zeros(shape, dtype=bool) for _ in range(3))
        self._factor = np.empty(shape)
        self._window_mask = np.zeros(shape, dtype=bool)
        # the council's view of violence: a ring of preallocated maps, oldest first
        self.seen: deque[np.ndarray] = deque(maxlen=max(1, cfg.observation_delay + 1))
        self._densest = DensestWindows(shape, 3)  # a council's view: 3 x 3 windows
        self._risk = np.zeros(shape)
        self._footprint: FootprintMean | None = None
        self._inhabited_idx = np.flatnonzero(inhabited)
        self._gathered = np.empty(self._inhabited_idx.size)
        self._gathered_mask = np.empty(self._inhabited_idx.size, dtype=bool)
        self._ranked = np.empty(self._inhabited_idx.size)
        self.max_targets = max_targets(cfg, int(inhabited.sum()))
        self.capture = 0.0  # share of responses that become crackdowns (7.13)
        self._captured = 0.0  # its carried remainder
        self.crackdown = None  # (row, col, t) -> None: the state's crackdown, set by the model
        self._errors = np.zeros((2, self.max_targets), dtype=np.int64)
        self._random_cells = np.zeros(0, dtype=np.int64)  # targeting = "random" only
        self._random_used = 0

    def draw_random_targets(self) -> None:
        """Null check (``council.targeting = "random"``): this step's random inhabited cells.

        One fixed-shape draw of ``max_targets`` cells per step from the targeting stream;
        the i-th response dispatched this step goes to the i-th (cycling if ever more).
        """
        if not self._inhabited_idx.size:  # no inhabited cell: nothing to target, no draw
            self._random_cells = self._inhabited_idx
            return
        picks = self.target_rng.integers(0, self._inhabited_idx.size, size=self.max_targets)
        self._random_cells = self._inhabited_idx[picks]
        self._random_used = 0

    def _random_cell(self) -> tuple[int, int]:
        cell = int(self._random_cells[self._random_used % self._random_cells.size])
        self._random_used += 1
        return divmod(cell, self.shape[1])

    def draw_errors(self) -> None:
        """This step's observation errors: one fixed-shape (2, max_targets) draw (ODD 7.0)."""
        err = self.cfg.observation_error
        self._errors = self.rng.integers(-err, err + 1, size=(2, self.max_targets))

    def window(self, resp: Response) -> tuple[slice, slice]:
        """A response's footprint: the square of radius ``response_radius`` around it."""
        return self.square(resp.row, resp.col)

    # ------------------------------------------------------------ process step 3: risk

    def risk_map(self, tension: np.ndarray, committees: CommitteeTier) -> np.ndarray:
        """Tension averaged over a rapid response's footprint: what a warning ranks by.

        The mean over the (2r+1)^2 footprint, cells beyond a non-torus edge counting as 0
        (``scipy.ndimage.uniform_filter`` with mode "constant" or "wrap", to rounding),
        evaluated on the rows holding a cell some committee watches: warnings read nothing
        else. Its sums add the footprint's cells in the order ``np.sum`` adds a gathered
        footprint (:class:`~i4p_sim.core.window_means.FootprintMean`), whole rows at once.
        """
        if self._footprint is None:
            rows = committees.watched_cells() // self.shape[1]
            self._footprint = FootprintMean(
                self.shape, self.cfg.response_radius, self.torus, rows=rows
            )
        return self._footprint(tension, self._risk)

    # --------------------------------------------------- process step 4: triage, dispatch

    def respond(
        self,
        warnings: list[Warning],
        national: NationalCouncil,
        regional: Sequence[NationalCouncil],
        t: int,
    ) -> int:
        """Councils triage the warnings and dispatch responses; return how many they answer.

        Regional councils (row-major) take the warnings in their bounds and pass up what
        exceeds their capacity; the national council triages what reaches it, then sends
        spare capacity to violence it observed late (docs/ODD.md 7.11).
        """
        self.draw_errors()
        if self.cfg.targeting == "random":
            self.draw_random_targets()
        escalated: list[Warning] = []
        answered: list[Warning] = []
        if regional:
            for council in regional:
                mine = [w for w in warnings if council.covers(w[0], w[1])]
                capacity = response_capacity(council, t)
                take, up = triage(mine, capacity)
                self.dispatch(council, [(w[0], w[1], "warning") for w in take], t)
                answered += take
                escalated += up
                self._observe(council, capacity - len(take), t)
        else:
            escalated = warnings
        capacity = response_capacity(national, t)
        take, _ = triage(escalated, capacity)
        self.dispatch(national, [(w[0], w[1], "warning") for w in take], t)
        answered += take
        # spare capacity goes to violence it has seen: late and imprecise
        self._observe(national, capacity - len(take), t)
        return len(answered)

    def _observe(self, council: NationalCouncil, spare: int, t: int) -> None:
        """Send ``spare`` responses to violence ``council`` saw in its bounds (ODD 7.11)."""
        if spare > 0 and len(self.seen) == self.seen.maxlen:
            region = None  # the national council sees the whole grid
            if council.parent is not None:  # a block's bounds, or a map region's cells
                region = council.bounds if council.mask is None else council.mask
            self.dispatch(council, self.observed_targets(spare, region), t)

    def dispatch(
        self, council: NationalCouncil, targets: list[tuple[int, int, str]], t: int
    ) -> None:
        """Queue one response per (row, col, source) target, landing after the delay."""
        cfg = council.cfg
        for row, col, source in targets:
            if cfg.targeting == "random" and self._random_cells.size:
                row, col = self._random_cell()  # the null check: anywhere inhabited
            if self.capture > 0 and self.crackdown is not None:
                # capture: a share of the responses become crackdowns (carried remainder)
                self._captured += self.capture
                if self._captured >= 1.0:
                    self._captured -= 1.0
                    self.crackdown(row, col, t)
                    council.responses_sent += 1
                    continue
            lands = t + cfg.response_delay
            self.queue.append(
                Response(lands, lands + cfg.response_duration, row, col, source, council.name)
            )
            council.responses_sent += 1

    def observed_targets(
        self, k: int, bounds: tuple[int, int, int, int] | np.ndarray | None = None
    ) -> list[tuple[int, int, str]]:
        """The k worst areas of violence the council saw ``observation_delay`` steps ago.

        ``bounds`` (row0, row1, col0, col1) restricts the targets to a regional council's
        region (the displaced target may fall just outside it, as any observation error);
        an (H, W) bool mask restricts them to its cells (a region read from a map).
        """
        if not self.seen[0].any():
            return []
        # the k densest cells with density > 0, ties by cell index: the first k of a stable
        # argsort of -density restricted to > 0, without filtering and sorting the grid
        order = self._densest(self.seen[0], k, bounds)
        h, w = self.shape
        rows, cols = order // w, order % w
        # this step's fixed-shape draw; targets beyond it (never at run time) are exact
        errors = np.zeros((2, rows.size), dtype=np.int64)
        n = min(rows.size, self._errors.shape[1])
        errors[:, :n] = self._errors[:, :n]
        rows = np.clip(rows + errors[0], 0, h - 1)
        cols = np.clip(cols + errors[1], 0, w - 1)
        return [(int(r), int(c), "observed") for r, c in zip(rows, cols, strict=True)]

    # ------------------------------------------------ process step 5: landing, damping

    def land(self, t: int, tension: np.ndarray) -> None:
        """Drop expired responses; record the target of those landing now (ODD 7.12)."""
        while self.queue and self.queue[0].ends <= t:
            self.queue.popleft()
        landing = [r for r in self.queue if r.lands == t]
        if not landing:
            return
        targets = self.footprint_means(tension, landing)
        # the inhabited cells (mode="clip": valid indices; with ``out=`` mode="raise"
        # buffers the output), calmer than each target: sorted searches, or one count each
        sort = len(landing) > SORTED_LANDINGS
        inhabited = np.take(
            tension.reshape(-1),
            self._inhabited_idx,
            out=self._ranked if sort else self._gathered,
            mode="clip",
        )
        if sort:
            ranked = inhabited
            ranked.sort()
            below = np.searchsorted(ranked, targets, side="left").tolist()
        else:
            calmer = self._gathered_mask
            below = [np.count_nonzero(np.less(inhabited, x, out=calmer)) for x in targets]
        cells = max(inhabited.size, 1)
        for resp, target, count in zip(landing, targets.tolist(), below, strict=True):
            resp.target_tension = target
            resp.target_percentile = float(count / cells)
            self.landed.append(resp)
            self.n_landed += 1

    def footprint_means(self, tension: np.ndarray, responses: Sequence[Response]) -> np.ndarray:
        """``tension[self.window(r)].mean()`` of each response, all at once, bit for bit.

        numpy sums a window slice as it sums the window's cells gathered in row-major
        order into a contiguous row (tested), so the footprints of one shape (clipped
        ones differ) are gathered into a matrix and summed along its rows.
        """
        h, w = self.shape
        rad = self.cfg.response_radius
        rows = np.array([r.row for r in responses])
        cols = np.array([r.col for r in responses])
        r0, c0 = np.maximum(rows - rad, 0), np.maximum(cols - rad, 0)
        height = np.minimum(rows + rad + 1, h) - r0
        width = np.minimum(cols + rad + 1, w) - c0
        means = np.empty(rows.size)
        shapes = height * (w + 1) + width
        for shape in sorted(set(shapes.tolist())):  # as np.unique(shapes), faster when few
            mine = np.flatnonzero(shapes == shape)
            a, b = divmod(shape, w + 1)
            dr, dc = np.divmod(np.arange(a * b), b)
            cells = (r0[mine, None] + dr) * w + c0[mine, None] + dc
            means[mine] = np.take(tension.reshape(-1), cells).sum(axis=1) / (a * b)
        return means

    def damp(self, keep: np.ndarray, t: int) -> None:
        """Multiply ``keep`` by ``1 - response_damping`` of the responses in force at ``t``.

        :attr:`damping` is ``max(response_strength)`` over the footprints in force, zero
        elsewhere. Off the footprints the factor is 1 (and x * 1.0 == x exactly), so only
        the union of the footprints is multiplied, once per cell: the result is bit for bit
        the full-grid product of docs/ODD.md 7.3.
        """
        rd = self.damping
        strength = self.cfg.response_strength
        centres = [(r.row, r.col) for r in self.queue if r.lands <= t < r.ends]
        if len(centres) > DENSE_WINDOWS or self._in_force > DENSE_WINDOWS:
            # every response has the same strength: the factor is 1 - strength on the
            # union of the windows, the footprint dilated around the responses' cells
            union = self._union(centres)
            np.multiply(union, strength, out=rd)
            # keep *= 1 - strength on the union, 1.0 elsewhere (x * 1.0 == x): one product
            factor = np.subtract(1.0, rd, out=self._factor)  # 1.0 - 0.0 == 1.0 off it
            keep *= factor
            self._windows = None
            self._in_force = len(centres)
            return
        if self._windows is None:  # last step's union: back to zero
            rd.fill(0.0)
        else:
            for window in self._windows:  # last step's footprints: back to zero
                rd[window] = 0.0
        windows = [self.square(row, col) for row, col in centres]
        for window in windows:
            np.maximum(rd[window], strength, out=rd[window])
        self._windows = windows
        self._in_force = len(windows)
        if windows:
            done = self._window_mask
            for window in windows:
                sub = keep[window]
                np.multiply(sub, 1.0 - rd[window], out=sub, where=~done[window])
                done[window] = True
            for window in windows:
                done[window] = False

    def square(self, row: int, col: int) -> tuple[slice, slice]:
        """The footprint of a response at (row, col): see :meth:`window`."""
        return square_window(row, col, self.cfg.response_radius, self.shape)

    def _union(self, centres: list[tuple[int, int]]) -> np.ndarray:
        """Boolean (H, W) union of the footprints around ``centres``.

        The footprints are the squares of radius ``response_radius`` clipped to the grid:
        their union is the map of centres dilated by that square, one axis at a time.
        """
        r = self.cfg.response_radius
        marks, rows, union = self._dilation
        marks.fill(False)
        if centres:  # flat indices from the ints directly (an (n, 2) array costs more)
            w = self.shape[1]
            cells = [row * w + col for row, col in centres]
            marks.reshape(-1)[np.fromiter(cells, dtype=np.intp, count=len(cells))] = True
        np.copyto(rows, marks)
        for d in range(1, r + 1):  # along columns: rows i - r .. i + r
            rows[d:] |= marks[:-d]
            rows[:-d] |= marks[d:]
        np.copyto(union, rows)
        for d in range(1, r + 1):  # then along rows
            union[:, d:] |= rows[:, :-d]
            union[:, :-d] |= rows[:, d:]
        return union

    # ----------------------------------------------- process step 6: what councils see

    def record_violence(self, violence: np.ndarray) -> None:
        """Remember this step's violence map: councils see it ``observation_delay`` late."""
        history = self.seen
        if len(history) == history.maxlen:
            seen = history.popleft()
        else:
            seen = np.empty(self.shape, dtype=bool)
        np.copyto(seen, violence)
        history.append(seen)

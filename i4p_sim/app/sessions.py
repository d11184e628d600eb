"""Per-browser-session runs: a twin of models per session, kept in a bounded server store.

Every browser tab gets its own session id (a uuid4 made when the page is served) and
with it its own :class:`TwinRun`: a *baseline* model and a *shocked* model built from the
same scenario and seed and stepped together. Shocks the user injects go into the shocked
twin only; since the model draws its randomness from separate substreams, the twins are
identical until the first injected shock, so their difference is exactly what the shock
changed.

:class:`SessionStore` keeps the runs server side behind a lock, frees sessions idle for
longer than ``idle_seconds`` and bounds their number and their total cells (a memory
budget: every model costs about ``BYTES_PER_CELL`` per cell). Models are built one at a
time; to make room the oldest *idle* session is evicted first, never an active one (used
in the last ``active_seconds`` or in a request right now); when only active sessions are
left, a new session is refused with a message instead of growing memory.
"""

from __future__ import annotations

import io
import secrets
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from i4p_sim.config.errors import ConfigError
from i4p_sim.config.loading import validate_scenario
from i4p_sim.config.scenario import Scenario
from i4p_sim.sim.model import MEASURES, I4PModel
from i4p_sim.sim.simulation import Simulation

#: Shock kinds the app can inject, with a label for buttons and time-series markers.
SHOCK_LABELS = {
    "funding_withdrawal": "Funding withdrawal",
    "political_upheaval": "Political upheaval",
    "election": "Election",
    "autocratic_turn": "Autocratic turn",
    "border_spillover": "Border spillover",
    "economic_shock": "Economic shock",
    "trigger_incident": "Trigger incident",
}

#: Largest grid side the app accepts (the schema allows more; a browser does not).
MAX_SIDE = 256
#: Largest number of steps one request may advance.
MAX_STEPS_PER_REQUEST = 50
#: Default memory budget of all sessions, in model cells (each session holds two models,
#: baseline and shocked): 2**20 cells, about 2 GiB at 2 KiB a cell; eight 256 x 256
#: sessions or sixteen of the default 64 x 64.
MAX_TOTAL_CELLS = 1 << 20
#: A session used within this many seconds is active: never evicted to make room.
ACTIVE_SECONDS = 10.0


class SessionBudgetFull(ValueError):
    """No room for a new session or a larger grid: every other session is active."""


@dataclass(frozen=True)
class Injected:
    """A shock the user injected: the step it was injected at, a label and its config."""

    step: int
    label: str
    shock: Any


def check_app_limits(scenario: Scenario, source: str = "controls") -> None:
    """Refuse grids larger than the app can draw (one-line :class:`ConfigError`).

    Parameters
    ----------
    scenario : Scenario
        The validated scenario.
    source : str
        Where the values came from, for the message.
    """
    for name in ("width", "height"):
        value = getattr(scenario.grid, name)
        if value > MAX_SIDE:
            raise ConfigError(
                source, f"grid.{name}", f"got {value}; the browser app allows at most {MAX_SIDE}"
            )


class TwinRun:
    """A baseline and a shocked :class:`Simulation` from one scenario and seed, stepped together.

    Parameters
    ----------
    scenario : Scenario
        The validated scenario both twins are built from.
    """

    def __init__(self, scenario: Scenario) -> None:
        self.lock = threading.RLock()
        self.generation = 0
        self.step_clicks_seen = 0  # the Step button's n_clicks already acted on
        #: Called with the cells a new scenario would take, before building it (the
        #: store's memory budget; raises SessionBudgetFull). None: no budget.
        self.admit: Callable[[int], None] | None = None
        self._build(scenario)

    @staticmethod
    def cells_of(scenario: Scenario) -> int:
        """Model cells a twin run of ``scenario`` holds (two models)."""
        return 2 * scenario.grid.width * scenario.grid.height

    @property
    def cells(self) -> int:
        """Model cells this run holds."""
        return self.cells_of(self.scenario)

    def _build(self, scenario: Scenario) -> None:
        self.close()
        self.scenario = scenario
        self.baseline_run = Simulation(scenario, communities=False)
        self.shocked_run = Simulation(scenario, communities=False)
        self.injected: list[Injected] = []
        self.generation += 1

    def close(self) -> None:
        """Let the twins' models be freed (Mesa keeps every model alive otherwise); the
        caller holds :attr:`lock` or the run is no longer reachable."""
        for name in ("baseline_run", "shocked_run"):
            sim = self.__dict__.get(name)
            if sim is not None:
                sim.release()

    @property
    def baseline(self) -> I4PModel:
        """The baseline twin's model."""
        return self.baseline_run.model

    @property
    def shocked(self) -> I4PModel:
        """The shocked twin's model (the one shocks are injected into)."""
        return self.shocked_run.model

    # ------------------------------------------------------------------ dynamics

    @property
    def t(self) -> int:
        """Steps done (both twins are always at the same step)."""
        return self.shocked_run.steps_done

    def step(self, n: int = 1) -> None:
        """Advance both twins by ``n`` steps (at most :data:`MAX_STEPS_PER_REQUEST`)."""
        for _ in range(max(0, min(int(n), MAX_STEPS_PER_REQUEST))):
            target = self.t + 1
            self.baseline_run.advance(target)
            self.shocked_run.advance(target)

    def reset(self, scenario: Scenario | None = None, *, new_seed: bool = False) -> None:
        """Start again at step 0, dropping injected shocks.

        Parameters
        ----------
        scenario : Scenario, optional
            A new scenario (e.g. from the parameter controls); default the current one.
        new_seed : bool
            Draw a fresh random seed instead of keeping the scenario's.
        """
        scenario = scenario if scenario is not None else self.scenario
        if new_seed:
            scenario = scenario.model_copy(update={"seed": secrets.randbelow(2**31)})
        if self.admit is not None and self.cells_of(scenario) > self.cells:
            self.admit(self.cells_of(scenario))
        self._build(scenario)

    def shock_config(self, kind: str, **params: Any) -> Any:
        """Validate a shock of ``kind`` that starts now and return its config.

        ``at`` is chosen so the shock *starts* at the current step: a phased withdrawal's
        ramp is centred on ``at``, so ``at = t + ramp // 2``; an election's campaign
        pulse runs for ``pre_steps`` before the vote, so ``at = t + pre_steps``.

        Raises
        ------
        ConfigError
            One line naming the bad field, as for scenario files.
        """
        if kind not in SHOCK_LABELS:
            raise ConfigError("shock", "kind", f"got {kind!r}; allowed: {', '.join(SHOCK_LABELS)}")
        t = self.t
        raw = {k: v for k, v in params.items() if v is not None}
        at = t
        if kind == "funding_withdrawal" and raw.get("mode") == "phased":
            at = t + int(raw.get("ramp", 24)) // 2
        elif kind == "election":
            at = t + int(raw.get("pre_steps", 6))
        shock = {"kind": kind, "at": at, **raw}
        data = self.scenario.to_dict()
        data["shocks"] = [*data.get("shocks", []), shock]
        validated = validate_scenario(data, "shock")
        return validated.shocks[-1]

    def inject(self, kind: str, **params: Any) -> Injected:
        """Inject a shock into the shocked twin only, starting now.

        Parameters
        ----------
        kind : str
            One of :data:`SHOCK_LABELS`.
        **params
            The kind's parameters (``mode``, ``donor``, ``row``, ``col``, ``edge``...).

        Returns
        -------
        Injected
            What was scheduled (also appended to :attr:`injected`).
        """
        shock = self.shock_config(kind, **params)
        self.shocked.shocks.add(shock)
        label = SHOCK_LABELS[kind]
        if kind == "funding_withdrawal":
            label = f"{label} ({shock.mode}, {shock.donor})"
        elif kind == "trigger_incident":
            label = f"{label} at ({shock.row}, {shock.col})"
        elif kind == "border_spillover":
            label = f"{label} ({shock.edge})"
        item = Injected(self.t, label, shock)
        self.injected.append(item)
        return item

    # ------------------------------------------------------------------ export

    def scenario_with_shocks(self) -> Scenario:
        """The current scenario with the injected shocks appended to its schedule."""
        data = self.scenario.to_dict()
        data["shocks"] = [*data.get("shocks", []), *(i.shock.model_dump() for i in self.injected)]
        if self.injected:
            data["description"] = (
                f"{self.scenario.description} (with {len(self.injected)} shock(s) injected "
                "in the browser app)"
            ).strip()
        return validate_scenario(data, "export")

    def export_toml(self) -> str:
        """TOML of :meth:`scenario_with_shocks` that ``i4p run`` accepts."""
        return self.scenario_with_shocks().to_toml()

    def series(self, which: str = "shocked") -> dict[str, np.ndarray]:
        """Per-step measures of one twin as arrays (cheaper than a DataFrame per frame)."""
        model = self.shocked if which == "shocked" else self.baseline
        vars_ = model.datacollector.model_vars
        return {name: np.asarray(vars_.get(name, ()), dtype=np.float64) for name in MEASURES}

    def export_csv(self) -> str:
        """The shocked (current) run's per-step series as CSV, one row per step."""
        df = pd.DataFrame(self.series("shocked"), columns=list(MEASURES))
        df.index.name = "step"
        buf = io.StringIO()
        df.to_csv(buf)
        return buf.getvalue()


class SessionStore:
    """Server-side runs keyed by browser session id, bounded in number, idle time and cells.

    Parameters
    ----------
    factory : callable
        Makes a fresh :class:`TwinRun` for a new session.
    max_sessions : int
        At most this many sessions are kept.
    idle_seconds : float
        Sessions unused for longer are evicted.
    clock : callable
        Monotonic time source (injectable for tests).
    max_cells : int
        Memory budget: total model cells of all sessions (:data:`MAX_TOTAL_CELLS`).
    active_seconds : float
        Sessions used more recently are active and never evicted to make room.
    """

    def __init__(
        self,
        factory: Callable[[], TwinRun],
        *,
        max_sessions: int = 16,
        idle_seconds: float = 1800.0,
        clock: Callable[[], float] = time.monotonic,
        max_cells: int = MAX_TOTAL_CELLS,
        active_seconds: float = ACTIVE_SECONDS,
    ) -> None:
        if max_sessions < 1:
            raise ValueError("max_sessions must be >= 1")
        self.factory = factory
        self.max_sessions = max_sessions
        self.idle_seconds = idle_seconds
        self.clock = clock
        self.max_cells = max_cells
        self.active_seconds = active_seconds
        self._lock = threading.Lock()
        self._build_lock = threading.Lock()  # one model build at a time
        self._runs: OrderedDict[str, tuple[TwinRun, float]] = OrderedDict()
        self.created = 0
        self.evicted = 0
        self.refused = 0

    @staticmethod
    def valid_id(session_id: Any) -> str:
        """Return ``session_id`` if it is a uuid string, else raise ValueError."""
        if not isinstance(session_id, str) or len(session_id) > 64:
            raise ValueError("invalid session id")
        return str(uuid.UUID(session_id))

    def __len__(self) -> int:
        with self._lock:
            return len(self._runs)

    def __contains__(self, session_id: object) -> bool:
        with self._lock:
            return session_id in self._runs

    @property
    def total_cells(self) -> int:
        """Model cells held by all sessions now."""
        with self._lock:
            return self._cells()

    def _cells(self, skip: str | None = None) -> int:
        return sum(run.cells for key, (run, _) in self._runs.items() if key != skip)

    def _expire(self, now: float) -> None:
        stale = [k for k, (_, used) in self._runs.items() if now - used > self.idle_seconds]
        for key in stale:
            self._discard(key)
        self.evicted += len(stale)

    def _discard(self, key: str) -> None:
        """Remove a session and free its models; if a request holds it right now, its
        models are left to Mesa (a rare leak, never a model freed while in use)."""
        run, _ = self._runs.pop(key)
        if run.lock.acquire(blocking=False):
            try:
                run.close()
            finally:
                run.lock.release()

    def _is_active(self, run: TwinRun, used: float, now: float) -> bool:
        if now - used < self.active_seconds:
            return True
        if run.lock.acquire(blocking=False):  # held: a request is using it right now
            run.lock.release()
            return False
        return True

    def _make_room(self, key: str, cells: int, now: float) -> None:
        """Evict the oldest idle sessions (never ``key``, never an active one) until a
        session of ``cells`` fits; raise SessionBudgetFull if it cannot."""
        if cells > self.max_cells:
            raise SessionBudgetFull(
                f"this grid needs {cells:,} model cells; the app's budget is {self.max_cells:,}"
            )

        def full() -> bool:
            n = len(self._runs) + (key not in self._runs)
            return n > self.max_sessions or self._cells(skip=key) + cells > self.max_cells

        for other in list(self._runs):  # oldest first (least recently used)
            if not full():
                return
            run, used = self._runs[other]
            if other == key or self._is_active(run, used, now):
                continue
            self._discard(other)
            self.evicted += 1
        if full():
            self.refused += 1
            raise SessionBudgetFull(
                "the app is at its limit of sessions and memory, and every session is in "
                "use; try again in a minute"
            )

    def get(self, session_id: str) -> tuple[TwinRun, bool]:
        """The session's run (made on first use) and whether it was just created.

        Raises
        ------
        ValueError
            If ``session_id`` is not a uuid; :class:`SessionBudgetFull` (a ValueError) if
            there is no room for a new session.
        """
        key = self.valid_id(session_id)
        now = self.clock()
        with self._lock:
            self._expire(now)
            if key in self._runs:
                run, _ = self._runs[key]
                self._runs[key] = (run, now)
                self._runs.move_to_end(key)
                return run, False
        # models are built one at a time: 80 new tabs at once never build 80 models
        with self._build_lock:
            with self._lock:
                if key in self._runs:  # another request of the same tab built it
                    run, _ = self._runs[key]
                    self._runs.move_to_end(key)
                    return run, False
                probe = getattr(self.factory, "cells", None)
                if probe is not None:
                    self._make_room(key, int(probe), self.clock())
            run = self.factory()
            with self._lock:
                self._make_room(key, run.cells, self.clock())
                run.admit = lambda cells, key=key: self._admit(key, cells)
                self._runs[key] = (run, self.clock())
                self.created += 1
                return run, True

    def _admit(self, key: str, cells: int) -> None:
        """Budget check of session ``key`` growing to ``cells`` (Apply with a larger grid)."""
        with self._lock:
            self._make_room(key, cells, self.clock())

    def drop(self, session_id: str) -> None:
        """Forget a session (no error if unknown)."""
        with self._lock:
            if session_id in self._runs:
                self._discard(session_id)

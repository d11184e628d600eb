"""Per-browser-session runs kept in a bounded server-side store.

Every browser tab gets its own session id (a uuid4 made when the page is served) and
with it its own :class:`~i4p_sim.app.twins.TwinRun` (twins without | with shocks, one pair
per replicate; see :mod:`i4p_sim.app.twins`).

:class:`SessionStore` keeps the runs server side behind a lock, frees sessions idle for
longer than ``idle_seconds`` and bounds their number and their total cells (a memory
budget: every model costs about ``BYTES_PER_CELL`` per cell). Models are built one at a
time; to make room the oldest *idle* session is evicted first, never an active one (used
in the last ``active_seconds`` or in a request right now); when only active sessions are
left, a new session is refused with a message instead of growing memory.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from .twins import (
    EXTEND_STEPS,
    MAX_REPLICATES,
    MAX_SIDE,
    MAX_STEPS_PER_REQUEST,
    SHOCK_LABELS,
    Injected,
    TwinRun,
    check_app_limits,
    check_replicates,
)

__all__ = [
    "ACTIVE_SECONDS",
    "EXTEND_STEPS",
    "MAX_REPLICATES",
    "MAX_SIDE",
    "MAX_STEPS_PER_REQUEST",
    "MAX_TOTAL_CELLS",
    "SHOCK_LABELS",
    "Injected",
    "SessionBudgetFull",
    "SessionStore",
    "TwinRun",
    "check_app_limits",
    "check_replicates",
]

#: Default memory budget of all sessions, in model cells (each session holds two models a
#: replicate, baseline and shocked): 2**20 cells, about 2 GiB at 2 KiB a cell; eight
#: 256 x 256 sessions or sixteen of the default 64 x 64.
MAX_TOTAL_CELLS = 1 << 20
#: A session used within this many seconds is active: never evicted to make room.
ACTIVE_SECONDS = 10.0


class SessionBudgetFull(ValueError):
    """No room for a new session or a larger grid: every other session is active."""


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
                run.budget = self.max_cells
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

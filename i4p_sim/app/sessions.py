"""Per-browser-session runs: a twin of models per session, kept in a bounded server store.

Every browser tab gets its own session id (a uuid4 made when the page is served) and
with it its own :class:`TwinRun`: a *baseline* model and a *shocked* model built from the
same scenario and seed and stepped together. Shocks the user injects go into the shocked
twin only; since the model draws its randomness from separate substreams, the twins are
identical until the first injected shock, so their difference is exactly what the shock
changed.

:class:`SessionStore` keeps the runs server side behind a lock, frees sessions idle for
longer than ``idle_seconds`` and bounds their number (least recently used goes first), so
memory stays bounded however many tabs are opened.
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
        self._build(scenario)

    def _build(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.baseline_run = Simulation(scenario, communities=False)
        self.shocked_run = Simulation(scenario, communities=False)
        self.injected: list[Injected] = []
        self.generation += 1

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
    """Server-side runs keyed by browser session id, bounded in number and idle time.

    Parameters
    ----------
    factory : callable
        Makes a fresh :class:`TwinRun` for a new session.
    max_sessions : int
        At most this many sessions are kept; the least recently used is evicted first.
    idle_seconds : float
        Sessions unused for longer are evicted.
    clock : callable
        Monotonic time source (injectable for tests).
    """

    def __init__(
        self,
        factory: Callable[[], TwinRun],
        *,
        max_sessions: int = 16,
        idle_seconds: float = 1800.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_sessions < 1:
            raise ValueError("max_sessions must be >= 1")
        self.factory = factory
        self.max_sessions = max_sessions
        self.idle_seconds = idle_seconds
        self.clock = clock
        self._lock = threading.Lock()
        self._runs: OrderedDict[str, tuple[TwinRun, float]] = OrderedDict()
        self.created = 0
        self.evicted = 0

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

    def _evict(self, now: float) -> None:
        stale = [k for k, (_, used) in self._runs.items() if now - used > self.idle_seconds]
        for key in stale:
            del self._runs[key]
        while len(self._runs) > self.max_sessions:
            self._runs.popitem(last=False)
            stale.append("lru")
        self.evicted += len(stale)

    def get(self, session_id: str) -> tuple[TwinRun, bool]:
        """The session's run (made on first use) and whether it was just created.

        Raises
        ------
        ValueError
            If ``session_id`` is not a uuid.
        """
        key = self.valid_id(session_id)
        now = self.clock()
        with self._lock:
            self._evict(now)
            if key in self._runs:
                run, _ = self._runs[key]
                self._runs[key] = (run, now)
                self._runs.move_to_end(key)
                return run, False
        run = self.factory()  # outside the lock: building a model takes a while
        with self._lock:
            if key in self._runs:  # another request of the same tab won the race
                run, _ = self._runs[key]
                self._runs.move_to_end(key)
                return run, False
            self._runs[key] = (run, self.clock())
            self.created += 1
            self._evict(self.clock())
            return run, True

    def drop(self, session_id: str) -> None:
        """Forget a session (no error if unknown)."""
        with self._lock:
            self._runs.pop(session_id, None)

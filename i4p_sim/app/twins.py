"""The runs of one browser session: twins (without | with shocks), replicates, a horizon.

A :class:`TwinRun` holds, for each of ``replicates`` seeds, a *baseline* model built from
the scenario **without its scheduled shocks** and a *shocked* model built from the
scenario as written; shocks the user injects go into the shocked twins only. Since the
model draws its randomness from keyed substreams (one per shock, keyed by the shock, not
its position), the twins are identical until the first shock fires, so their difference
is exactly what the shocks changed. Replicate ``k`` uses seed ``seed + k``; the maps show
replicate 0, the charts the ensemble's median and band.

The run stops at the scenario's horizon (``steps``); :meth:`TwinRun.extend` lets it go on.
"""

from __future__ import annotations

import io
import secrets
import threading
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
#: Most replicates (seeds) an ensemble may run at once.
MAX_REPLICATES = 32
#: Months "Continue" adds past the horizon.
EXTEND_STEPS = 60


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


def check_replicates(value: Any, scenario: Scenario, max_cells: int | None = None) -> int:
    """Validate the number of replicates of an ensemble (one-line :class:`ConfigError`).

    Parameters
    ----------
    value : Any
        What the control holds (an integer from 1 to :data:`MAX_REPLICATES`).
    scenario : Scenario
        The scenario the replicates run (its grid sets the cells each costs).
    max_cells : int, optional
        The app's memory budget in model cells: ``replicates x 2 x cells`` must fit.

    Returns
    -------
    int
        The number of replicates.
    """
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ConfigError("controls", "replicates", "empty or not a whole number")
    if not 1 <= value <= MAX_REPLICATES:
        raise ConfigError(
            "controls", "replicates", f"got {value}; must be from 1 to {MAX_REPLICATES}"
        )
    if max_cells is not None:
        one = TwinRun.cells_of(scenario)
        if value * one > max_cells:
            fits = max_cells // one
            raise ConfigError(
                "controls",
                "replicates",
                f"got {value}; {value} x 2 twins x {scenario.grid.height} x "
                f"{scenario.grid.width} cells = {value * one:,} model cells, over the app's "
                f"budget of {max_cells:,} (at most {fits} replicate(s) of this grid)",
            )
    return value


def without_shocks(scenario: Scenario) -> Scenario:
    """The scenario with its shock schedule emptied (the baseline twin's)."""
    return scenario.model_copy(update={"shocks": []})


def reseeded(scenario: Scenario, k: int) -> Scenario:
    """Replicate ``k``'s scenario: seed ``seed + k`` (replicate 0 is the scenario itself)."""
    if k == 0:
        return scenario
    return scenario.model_copy(update={"seed": (scenario.seed + k) % 2**63})


class TwinRun:
    """Baseline and shocked :class:`Simulation` pairs, one per replicate, stepped together.

    Parameters
    ----------
    scenario : Scenario
        The validated scenario; the baseline twins run it without its shocks.
    replicates : int
        Number of seeds run together (an ensemble when more than 1).
    """

    def __init__(self, scenario: Scenario, replicates: int = 1) -> None:
        self.lock = threading.RLock()
        self.generation = 0
        self.step_clicks_seen = 0  # the Step button's n_clicks already acted on
        #: Called with the cells a new scenario would take, before building it (the
        #: store's memory budget; raises SessionBudgetFull). None: no budget.
        self.admit: Callable[[int], None] | None = None
        #: The app's memory budget in model cells (the store sets it), for the message
        #: of an ensemble too large for it. None: no budget.
        self.budget: int | None = None
        self._build(scenario, replicates)

    @staticmethod
    def cells_of(scenario: Scenario, replicates: int = 1) -> int:
        """Model cells a twin run of ``scenario`` holds (two models a replicate)."""
        return 2 * replicates * scenario.grid.width * scenario.grid.height

    @property
    def cells(self) -> int:
        """Model cells this run holds."""
        return self.cells_of(self.scenario, self.replicates)

    def _build(self, scenario: Scenario, replicates: int) -> None:
        self.close()
        self.scenario = scenario
        self.replicates = int(replicates)
        self.horizon = scenario.steps
        plain = without_shocks(scenario)
        self.pairs = [
            (
                Simulation(reseeded(plain, k), communities=False),
                Simulation(reseeded(scenario, k), communities=False),
            )
            for k in range(self.replicates)
        ]
        self.injected: list[Injected] = []
        self.generation += 1

    def close(self) -> None:
        """Let the models be freed (Mesa keeps every model alive otherwise); the caller
        holds :attr:`lock` or the run is no longer reachable."""
        for pair in self.__dict__.get("pairs", ()):
            for sim in pair:
                sim.release()
        self.pairs = []

    @property
    def baseline_run(self) -> Simulation:
        """Replicate 0's baseline twin (the scenario without its shocks)."""
        return self.pairs[0][0]

    @property
    def shocked_run(self) -> Simulation:
        """Replicate 0's shocked twin (its shocks and the injected ones)."""
        return self.pairs[0][1]

    @property
    def baseline(self) -> I4PModel:
        """The baseline twin's model (replicate 0)."""
        return self.baseline_run.model

    @property
    def shocked(self) -> I4PModel:
        """The shocked twin's model (replicate 0; shocks are injected into every replicate)."""
        return self.shocked_run.model

    # ------------------------------------------------------------------ dynamics

    @property
    def t(self) -> int:
        """Steps done (every model is always at the same step)."""
        return self.shocked_run.steps_done

    @property
    def at_horizon(self) -> bool:
        """Whether the run has reached its horizon (:meth:`extend` moves it)."""
        return self.t >= self.horizon

    def step(self, n: int = 1) -> int:
        """Advance every model by ``n`` steps (at most :data:`MAX_STEPS_PER_REQUEST`),
        never past the horizon; return the steps done."""
        n = max(0, min(int(n), MAX_STEPS_PER_REQUEST, self.horizon - self.t))
        for _ in range(n):
            target = self.t + 1
            for pair in self.pairs:
                for sim in pair:
                    sim.advance(target)
        return n

    def extend(self, by: int = EXTEND_STEPS) -> int:
        """Move the horizon ``by`` steps past the current step (Continue); return it."""
        self.horizon = max(self.horizon, self.t) + int(by)
        return self.horizon

    def reset(
        self,
        scenario: Scenario | None = None,
        *,
        new_seed: bool = False,
        replicates: int | None = None,
    ) -> None:
        """Start again at step 0, dropping injected shocks and any extension.

        Parameters
        ----------
        scenario : Scenario, optional
            A new scenario (e.g. from the parameter controls); default the current one.
        new_seed : bool
            Draw a fresh random seed instead of keeping the scenario's.
        replicates : int, optional
            A new number of replicates; default the current one.
        """
        scenario = scenario if scenario is not None else self.scenario
        replicates = self.replicates if replicates is None else int(replicates)
        if new_seed:
            scenario = scenario.model_copy(update={"seed": secrets.randbelow(2**31)})
        cells = self.cells_of(scenario, replicates)
        if self.admit is not None and cells > self.cells:
            self.admit(cells)
        self._build(scenario, replicates)

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
        # past the horizon (after Continue) a shock is still a valid injection
        data["steps"] = max(int(data.get("steps", 1)), self.horizon, at + 1)
        validated = validate_scenario(data, "shock")
        return validated.shocks[-1]

    def inject(self, kind: str, **params: Any) -> Injected:
        """Inject a shock into every shocked twin (never a baseline), starting now.

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
        for _, shocked in self.pairs:
            shocked.model.shocks.add(shock)
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

    def scheduled_fired(self) -> list[tuple[int, str]]:
        """(step, kind) of the scenario's own shocks that have fired in the shocked twin."""
        own = {(s.at, s.kind) for s in self.scenario.shocks}
        mine = {(i.shock.at, i.shock.kind) for i in self.injected}
        return [
            (step, kind.replace("_", " "))
            for step, kind in self.shocked.shocks.fired
            if (step, kind) not in mine or (step, kind) in own
        ]

    # ------------------------------------------------------------------ export

    def scenario_with_shocks(self) -> Scenario:
        """The current scenario with the injected shocks appended to its schedule."""
        data = self.scenario.to_dict()
        data["shocks"] = [*data.get("shocks", []), *(i.shock.model_dump() for i in self.injected)]
        # the run's horizon (after Continue) and every injected shock lie inside the file
        ends = [self.horizon, *(i.shock.at + 1 for i in self.injected)]
        data["steps"] = max(int(data.get("steps", 1)), *ends)
        if self.injected:
            data["description"] = (
                f"{self.scenario.description} (with {len(self.injected)} shock(s) injected "
                "in the browser app)"
            ).strip()
        return validate_scenario(data, "export")

    def export_toml(self) -> str:
        """TOML of :meth:`scenario_with_shocks` that ``i4p run`` accepts."""
        return self.scenario_with_shocks().to_toml()

    def series(self, which: str = "shocked", replicate: int = 0) -> dict[str, np.ndarray]:
        """Per-step measures of one twin as arrays (cheaper than a DataFrame per frame)."""
        sim = self.pairs[replicate][1 if which == "shocked" else 0]
        vars_ = sim.model.datacollector.model_vars
        return {name: np.asarray(vars_.get(name, ()), dtype=np.float64) for name in MEASURES}

    def ensemble(self, which: str = "shocked") -> dict[str, np.ndarray]:
        """Per-step measures of one twin across replicates: name -> (replicates, steps)."""
        runs = [self.series(which, k) for k in range(self.replicates)]
        return {name: np.vstack([r[name] for r in runs]) for name in MEASURES}

    def export_csv(self) -> str:
        """Both twins' per-step series as CSV: columns ``twin`` (``baseline``: the scenario
        without its shocks; ``shocked``: with them and the injected ones), ``replicate``,
        ``seed``, ``step`` and the measures."""
        frames = []
        for k, pair in enumerate(self.pairs):
            for twin, sim in zip(("baseline", "shocked"), pair, strict=True):
                df = pd.DataFrame(self.series(twin, k), columns=list(MEASURES))
                df.insert(0, "step", np.arange(len(df)))
                df.insert(0, "seed", sim.scenario.seed)
                df.insert(0, "replicate", k)
                df.insert(0, "twin", twin)
                frames.append(df)
        buf = io.StringIO()
        pd.concat(frames, ignore_index=True).to_csv(buf, index=False)
        return buf.getvalue()

    def replay_recipe(self) -> tuple[Scenario, list[Any], int]:
        """What :func:`i4p_sim.app.export.replay_layer` needs to recompute the shocked
        twin of replicate 0: its scenario, the injected shock configs and the steps done."""
        return self.scenario, [i.shock for i in self.injected], self.t

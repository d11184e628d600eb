"""One way to run the model: :class:`Simulation` and its thin wrapper :func:`simulate`.

Every path that runs a model — the sweep worker, ``i4p run``, the app, validation and the
benchmarks — builds a :class:`Simulation` from a validated
:class:`~i4p_sim.config.scenario.Scenario`, advances it and reads its outputs. Snapshot and
restore (:meth:`Simulation.snapshot`, :meth:`Simulation.restore`) let a branching sweep run a
shared past once and fork it, and ``i4p run`` write checkpoints.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from i4p_sim.config.scenario import Scenario
from i4p_sim.sim.memory import release_model
from i4p_sim.sim.model import I4PModel
from i4p_sim.sim.snapshot import ModelSnapshot, capture, rebind
from i4p_sim.sim.snapshot import restore as restore_model
from i4p_sim.stats.metrics import summary_metrics

#: Layers a spatial snapshot holds by default (what the report's heat maps draw).
SNAPSHOT_LAYERS = ("tension", "violence")
#: :meth:`Simulation.restore`'s default: keep the run's own re-seed step.
KEEP = object()


@dataclass(frozen=True)
class SimulationResult:
    """What a finished run gives back.

    Attributes
    ----------
    series : pandas.DataFrame
        Per-step measures indexed by step (0-based).
    summary : dict
        Summary metrics (docs/ODD.md section 4.9, "Per run") at the scenario's reference step.
    snapshots : dict
        Step -> layer name -> (H, W) float32 map of the state after that step.
    """

    series: pd.DataFrame
    summary: dict[str, Any]
    snapshots: dict[int, dict[str, np.ndarray]] = field(default_factory=dict)


class Simulation:
    """A model run that can be advanced step by step and read at any point.

    Parameters
    ----------
    scenario : Scenario
        A validated scenario (its ``seed`` and ``steps`` are the run's).
    communities : bool
        Create one Community agent per inhabited cell (what a user inspecting agents wants;
        sweeps that read only the arrays switch it off).
    snapshot_steps : iterable of int
        Steps after which the layers in ``snapshot_layers`` are copied (as float32).
    snapshot_layers : iterable of str
        Property layers to copy at those steps.
    reseed_at : int, optional
        Before computing this step, re-seed the model's ``reseed_name`` stream with
        ``reseed_key`` (:meth:`~i4p_sim.sim.model.I4PModel.reseed_stream`): the null
        perturbation of the paired metrics. ``None`` (default) changes nothing.
    reseed_key : int
        Key of the re-seeded stream.
    reseed_name : str
        The stream re-seeded (the violence draws).
    count_violence : bool
        Count, per cell, the months of violence (:attr:`violence_months`; what
        :meth:`mean_violence` divides by the steps done).
    """

    def __init__(
        self,
        scenario: Scenario,
        *,
        communities: bool = True,
        snapshot_steps: Iterable[int] = (),
        snapshot_layers: Iterable[str] = SNAPSHOT_LAYERS,
        reseed_at: int | None = None,
        reseed_key: int = 1,
        reseed_name: str = "decisions",
        count_violence: bool = False,
    ) -> None:
        if not isinstance(scenario, Scenario):
            raise TypeError(f"Simulation needs a validated Scenario, not {type(scenario)!r}")
        self.scenario = scenario
        self.model = I4PModel(scenario, communities=communities)
        self.snapshot_steps = frozenset(int(s) for s in snapshot_steps)
        self.snapshot_layers = tuple(snapshot_layers)
        self.snapshots: dict[int, dict[str, np.ndarray]] = {}
        self.reseed_at = None if reseed_at is None else int(reseed_at)
        self.reseed_key = int(reseed_key)
        self.reseed_name = reseed_name
        self.violence_months = (
            np.zeros(self.model.shape, dtype=np.int32) if count_violence else None
        )

    @property
    def steps_done(self) -> int:
        """Number of steps computed so far (the next step's 0-based index)."""
        return self.model.steps

    @property
    def horizon(self) -> int:
        """The scenario's number of steps."""
        return self.scenario.steps

    def advance(self, to: int | None = None) -> Simulation:
        """Compute steps until ``to`` steps are done (default: the horizon).

        ``to`` below :attr:`steps_done` is an error: a run does not go back (restore a
        snapshot for that).
        """
        target = self.horizon if to is None else int(to)
        if target < self.model.steps:
            raise ValueError(f"cannot advance to step {target}: {self.model.steps} already done")
        model, wanted = self.model, self.snapshot_steps
        while model.steps < target:
            t = model.steps
            if t == self.reseed_at:
                model.reseed_stream(self.reseed_name, self.reseed_key)
            model.step()
            if self.violence_months is not None:
                self.violence_months += model.layers["violence"]
            if t in wanted:
                self.snapshots[t] = {
                    name: model.layers[name].astype(np.float32) for name in self.snapshot_layers
                }
        return self

    def violence_stack(self) -> np.ndarray:
        """Advance to the horizon keeping every step's violence map.

        Returns
        -------
        numpy.ndarray of bool, shape (steps left, H, W)
            The violence layer after each step computed by this call, in order (what the
            event sizes and the catchment rings of validation and of the held-out checks
            read).
        """
        model = self.model
        stack = np.zeros((self.horizon - model.steps, *model.shape), dtype=bool)
        for t in range(stack.shape[0]):
            self.advance(model.steps + 1)
            stack[t] = model.layers["violence"]
        return stack

    def mean_violence(self) -> np.ndarray:
        """Share of the steps done in which each cell was violent (needs ``count_violence``)."""
        if self.violence_months is None:
            raise ValueError("mean_violence needs Simulation(..., count_violence=True)")
        return self.violence_months / max(1, self.model.steps)

    def snapshot(self) -> ModelSnapshot:
        """The state after :attr:`steps_done` steps: arrays, generator states, scalars.

        Holds no Python agent object (:mod:`i4p_sim.sim.snapshot`); the spatial snapshots
        taken so far are in its arrays as ``spatial/<layer>@<step>``.
        """
        snap = capture(self.model)
        for step, layers in self.snapshots.items():
            for name, grid in layers.items():
                snap.arrays[f"spatial/{name}@{step}"] = grid.copy()
        return snap

    def restore(
        self,
        snap: ModelSnapshot,
        scenario: Scenario | None = None,
        *,
        snapshot_steps: Iterable[int] | None = None,
        reseed_at: int | None | object = KEEP,
        reseed_key: int | None = None,
    ) -> Simulation:
        """Write ``snap`` into this simulation's model, in place; it continues from there.

        Agents are not rebuilt; the collected series and spatial snapshots are truncated
        to the snapshot's step. ``scenario`` (same dynamics and seed; shocks, steps and
        name may differ) rebinds the run's configuration: a branch of a shared past.
        ``snapshot_steps``, ``reseed_at`` and ``reseed_key`` replace this run's when given.
        """
        if scenario is not None:
            rebind(self.model, scenario)
            self.scenario = scenario
        restore_model(self.model, snap)
        if snapshot_steps is not None:
            self.snapshot_steps = frozenset(int(s) for s in snapshot_steps)
        if reseed_at is not KEEP:
            self.reseed_at = None if reseed_at is None else int(reseed_at)  # type: ignore[arg-type]
        if reseed_key is not None:
            self.reseed_key = int(reseed_key)
        spatial: dict[int, dict[str, np.ndarray]] = {}
        for key, grid in snap.arrays.items():
            if key.startswith("spatial/"):
                name, step = key[len("spatial/") :].rsplit("@", 1)
                spatial.setdefault(int(step), {})[name] = grid.copy()
        self.snapshots = {s: spatial[s] for s in sorted(spatial) if s < snap.step}
        return self

    def series(self) -> pd.DataFrame:
        """Per-step measures so far, indexed by step (0-based)."""
        return self.model.series()

    def summary(self, *, window: int = 12) -> dict[str, Any]:
        """Unpaired summary metrics of the steps so far at the scenario's reference step."""
        return summary_metrics(
            self.series(), self.scenario.resolved_reference_step(), window=window
        )

    def result(self, *, window: int = 12) -> SimulationResult:
        """Series, summary and snapshots of the steps so far."""
        series = self.series()
        summary = summary_metrics(series, self.scenario.resolved_reference_step(), window=window)
        return SimulationResult(series, summary, dict(self.snapshots))

    def release(self) -> None:
        """Let the model be freed once this object is dropped (it must not step again).

        Mesa 3.3 keeps every model that created an agent alive in a class-level registry
        (:func:`~i4p_sim.sim.memory.release_model`); a process running many simulations
        calls this after each.
        """
        release_model(self.model)


def simulate(
    scenario: Scenario,
    *,
    snapshot_steps: Iterable[int] = (),
    snapshot_layers: Iterable[str] = SNAPSHOT_LAYERS,
    window: int = 12,
    communities: bool = False,
    reseed_at: int | None = None,
    reseed_key: int = 1,
) -> SimulationResult:
    """Run ``scenario`` to its horizon; return its series, summary and snapshots.

    Parameters
    ----------
    scenario : Scenario
        A validated scenario.
    snapshot_steps, snapshot_layers
        Which spatial snapshots to keep (see :class:`Simulation`).
    window
        Passed to :func:`~i4p_sim.stats.metrics.summary_metrics`.
    communities : bool
        Build Community agents (off by default: the outputs do not need them).
    reseed_at, reseed_key
        The null perturbation (see :class:`Simulation`).
    """
    sim = Simulation(
        scenario,
        communities=communities,
        snapshot_steps=snapshot_steps,
        snapshot_layers=snapshot_layers,
        reseed_at=reseed_at,
        reseed_key=reseed_key,
    )
    try:
        return sim.advance().result(window=window)
    finally:
        sim.release()

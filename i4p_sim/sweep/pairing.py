"""Paired resilience metrics of a sweep and of a single run with its twin.

After a sweep has stored its runs, :func:`write_paired` reads the stored
``violence_share`` series and writes ``paired.parquet`` (one row per shocked-or-not ok run
with an ok twin; :data:`~i4p_sim.stats.resilience.PAIRED_SCHEMA`). It is rebuilt from the
store at the end of every sweep, a resumed one included, so it never disagrees with the
runs. :func:`run_with_twin` does the same for ``i4p run``: the scenario, its twin (shocks
removed, same seed) and null-perturbed twins for the tolerance.

The metrics themselves are :mod:`i4p_sim.stats.resilience`; this module only reads and
runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from i4p_sim.config.experiment import Experiment
from i4p_sim.config.scenario import Scenario
from i4p_sim.config.twins import NULL_RESEED_KEY
from i4p_sim.sim.agents import council_rows
from i4p_sim.sim.shocks import first_effect
from i4p_sim.sim.simulation import Simulation, SimulationResult
from i4p_sim.stats.resilience import (
    PAIRED_FILE,
    empty_paired,
    noise_floor,
    paired_metrics,
    paired_table,
)
from i4p_sim.sweep.storage import atomic_write_parquet
from i4p_sim.sweep.store import read_series

__all__ = ["TwinRun", "run_with_twin", "write_paired"]


def _stored_violence(root: Path, run_ids: list[str]) -> pd.DataFrame:
    frame = read_series(root, ["run_id", "step", "violence_share"], run_ids)
    return frame.drop_duplicates(["run_id", "step"], keep="last")


def write_paired(root: str | Path, exp: Experiment, runs: pd.DataFrame) -> pd.DataFrame:
    """Compute the paired table of a sweep from its stored series; write ``paired.parquet``."""
    root = Path(root)
    ok_ids = runs.loc[runs["status"] == "ok", "run_id"].tolist()
    series = _stored_violence(root, ok_ids)
    if len(ok_ids):
        table = paired_table(
            runs, series, exp.twins, exp.nulls, exp.reference_step, window=exp.window
        )
    else:
        table = empty_paired()
    atomic_write_parquet(root / PAIRED_FILE, table)
    return table


@dataclass(frozen=True)
class TwinRun:
    """A run, its twin and the paired metrics (``twin`` is None without shocks)."""

    result: SimulationResult
    twin: SimulationResult | None
    paired: dict[str, Any] | None
    tol: float | None
    twin_name: str | None
    noise_pairs: int
    #: The shocked run's state arrays at its end (layer name -> array), for checks.
    layers: dict[str, Any] | None = None
    #: The grid's georeference (CRS, transform) when the scenario reads maps, else None.
    georef: dict[str, Any] | None = None
    #: The shocked run's councils at its end (:func:`~i4p_sim.sim.agents.council_rows`).
    councils: list[dict[str, Any]] | None = None


def run_with_twin(
    scenario: Scenario,
    *,
    window: int = 12,
    noise_pairs: int = 1,
    mean_violence: bool = False,
    advance: Callable[[Simulation], Any] | None = None,
) -> TwinRun:
    """Run ``scenario``; with shocks, also its twin (shocks removed, same seed) and
    ``noise_pairs`` null-perturbed twins (decisions stream re-seeded at the reference
    step with keys 1, 2, ...) whose pairs with the twin give ``tol``.

    ``noise_pairs = 0`` gives ``tol = 0`` (the strictest band). ``mean_violence`` adds the
    share of months each cell was violent to ``layers`` (as ``"mean_violence"``).
    ``advance`` runs the scenario's own simulation to its horizon instead of
    ``Simulation.advance`` (the checkpoints of ``i4p run``,
    :class:`~i4p_sim.sweep.checkpoint.Checkpoints`).
    """
    sim = Simulation(scenario, communities=False, count_violence=mean_violence)
    s = scenario.resolved_reference_step()
    fork = None
    if advance is None:
        if scenario.shocks:
            # the twin and the null twins share the run's past until the first effect of its
            # shocks or the reference step: computed once, forked (docs/DESIGN.md, branching)
            sim.advance(min([s, *(first_effect(x) for x in scenario.shocks)]))
            fork = sim.snapshot()
        sim.advance()
    else:
        advance(sim)
    result = sim.result(window=window)
    layers = {name: layer.copy() for name, layer in sim.model.layers.items()}
    if mean_violence:
        layers["mean_violence"] = sim.mean_violence()
    if sim.model.region is not None:
        layers["region"] = sim.model.region
    georef = sim.model.georef
    model = sim.model
    councils = council_rows(model.councils, model.council_of, model.steps)
    del model
    if not scenario.shocks:
        sim.release()
        return TwinRun(result, None, None, None, None, 0, layers, georef, councils)
    twin_sc = scenario.model_copy(update={"shocks": [], "name": f"{scenario.name}~twin"})
    if fork is None:
        sim.release()
        sim = Simulation(twin_sc, communities=False)
    else:
        sim.restore(fork, twin_sc, reseed_at=None)
    try:
        sim.advance(s)
        at_s = sim.snapshot()
        twin = sim.advance().result(window=window)
        nulls = []
        for i in range(noise_pairs):
            sim.restore(at_s, twin_sc, reseed_at=s, reseed_key=NULL_RESEED_KEY + i)
            nulls.append(sim.advance().result(window=window))
    finally:
        sim.release()
    tv = twin.series["violence_share"].to_numpy()
    tol = noise_floor(
        [(tv, n.series["violence_share"].to_numpy()) for n in nulls], s, window=window
    )
    paired = paired_metrics(
        result.series["violence_share"].to_numpy(), tv, s, window=window, tol=tol
    )
    return TwinRun(result, twin, paired, tol, twin_sc.name, noise_pairs, layers, georef, councils)

"""Run specs: one validated scenario per run, its seed and its deterministic id.

Every run has a deterministic id: a hash of the resolved scenario (kernel and seed
included), the parameter point, the seed, the steps, the summary window and the package
version. Ids do not depend on the order runs are listed in, so a stored run is found again
by a later sweep of the same experiment.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from i4p_sim._version import __version__
from i4p_sim.config.experiment import Experiment, replicate_seeds
from i4p_sim.config.scenario import Scenario
from i4p_sim.config.twins import NULL_RESEED_KEY
from i4p_sim.sim.snapshot import dict_dynamics_key

__all__ = ["RunSpec", "iter_runs", "replicate_seeds", "run_id"]

#: Hex digits of the sha256 kept as a run id.
RUN_ID_LENGTH = 20

#: Scenario fields added after runs were stored, with the value that reproduces the model
#: before them bit for bit: at that value a field is left out of a run's identity, so that
#: stores written before it was added still resume (their runs' outputs are unchanged).
IDENTITY_NEUTRAL: dict[tuple[str, str], Any] = {("lpc", "returns"): 1.0}
#: Scenario dicts (per scenario x point) kept while listing runs; cleared when full.
IDENT_CACHE_SIZE = 4096


@dataclass(frozen=True)
class RunSpec:
    """One run: everything a worker needs, and its deterministic id.

    Attributes
    ----------
    run_id : str
        See :func:`run_id`.
    name : str
        Scenario name.
    replicate, point : int
        Replicate index and parameter point index.
    seed : int
        The run's seed (also ``scenario.seed``).
    params : dict
        The parameter point (dotted path -> value).
    scenario : Scenario
        The validated scenario, point applied and seed set.
    window : int
        Summary-metrics window.
    snapshot_steps : tuple of int
        Steps after which the worker keeps spatial snapshots (empty: none).
    reseed_at : int, optional
        A null-perturbed twin's run: the step at which its decisions stream is re-seeded
        (with key :data:`~i4p_sim.config.twins.NULL_RESEED_KEY`).
    dynamics : str
        :func:`~i4p_sim.sim.snapshot.dynamics_key` of the scenario (runs of one seed with
        the same key can share a prefix; not part of the run's id). Empty: not computed.
    """

    run_id: str
    name: str
    replicate: int
    point: int
    seed: int
    params: dict[str, Any]
    scenario: Scenario
    window: int
    snapshot_steps: tuple[int, ...] = ()
    reseed_at: int | None = None
    dynamics: str = ""


def identity_scenario(scenario: dict[str, Any]) -> dict[str, Any]:
    """A scenario dict without the fields of :data:`IDENTITY_NEUTRAL` at their neutral
    value (a copy where one is dropped; the argument is never changed)."""
    for (table, key), neutral in IDENTITY_NEUTRAL.items():
        section = scenario.get(table)
        if isinstance(section, dict) and key in section and section[key] == neutral:
            scenario = {**scenario, table: {k: v for k, v in section.items() if k != key}}
    return scenario


def run_id(
    scenario: dict[str, Any], params: dict[str, Any], seed: int, steps: int, window: int
) -> str:
    """The id of a run: sha256 of its JSON identity (scenario dict with its seed set,
    parameter point, seed, steps, window, package version), first :data:`RUN_ID_LENGTH`
    hex digits. Fields of :data:`IDENTITY_NEUTRAL` at their neutral value are left out."""
    scenario = identity_scenario(scenario)
    ident = {
        "scenario": scenario,
        "params": params,
        "seed": seed,
        "steps": steps,
        "window": window,
        "version": __version__,
    }
    digest = hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:RUN_ID_LENGTH]


def iter_runs(exp: Experiment) -> Iterator[RunSpec]:
    """Yield every run of ``exp`` lazily, replicate-major (so partial sweeps stay balanced).

    Replicates below the experiment's ``snapshot_replicates`` keep snapshots at its heat-map
    steps. Implicit twins and null-perturbed twins (:meth:`Experiment.run_names`) are runs
    like any other; a null run's id also holds its re-seed step and key.
    """
    dicts: dict[tuple[str, int], tuple[dict[str, Any], str]] = {}
    snap_steps = tuple(exp.heatmap_steps())
    n_snap = exp.config.snapshot_replicates
    for rep, seed in enumerate(exp.seeds):
        for p, point in enumerate(exp.points):
            for name in exp.run_names(rep):
                scenario = exp.scenario_at(name, p)
                reseed_at = exp.reseed_at(name)
                key = (name, p)
                if key not in dicts:
                    if len(dicts) >= IDENT_CACHE_SIZE:
                        dicts.clear()
                    as_dict = scenario.to_dict()
                    dicts[key] = (as_dict, dict_dynamics_key(as_dict))
                data = dict(dicts[key][0])
                data["seed"] = seed
                if reseed_at is not None:
                    data["reseed"] = {"at": reseed_at, "key": NULL_RESEED_KEY}
                yield RunSpec(
                    run_id=run_id(data, point, seed, data["steps"], exp.window),
                    name=name,
                    replicate=rep,
                    point=p,
                    seed=seed,
                    params=point,
                    scenario=scenario.model_copy(update={"seed": seed}),
                    window=exp.window,
                    snapshot_steps=snap_steps if rep < n_snap else (),
                    reseed_at=reseed_at,
                    dynamics=dicts[key][1],
                )

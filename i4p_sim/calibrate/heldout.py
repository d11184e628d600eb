"""Held-out targets on the ensemble members, after the last wave (DESIGN section 3.1).

``peace_spells_overdispersed`` reads the waves' stored series. ``event_size_tail`` and
``training_spillover`` need every month's violence map, which the sweep store does not
keep, so each member is rerun here:

- the member's scenario is the calibration's base scenario as the waves build it (its
  ``set``, ``steps``, no shock: the ``no_election`` variant) with the member's parameters
  applied by :func:`~i4p_sim.calibrate.waves.apply_params`, on a ``grid`` x ``grid`` grid
  (``targets.toml`` ``[heldout]``; ``[heldout.quick]`` under ``--quick``);
- ``replicates`` seeded runs per member, each a :class:`~i4p_sim.sim.simulation.Simulation`
  keeping every month's violence map (:meth:`~i4p_sim.sim.simulation.Simulation.
  violence_stack`, what validation's ``spatial_run`` reads), and its twin without
  committees (``lpc.enabled = false``, the same seed). Seeds come from
  ``SeedSequence(calibration seed, spawn_key=(tag, wave, point)).spawn(replicates)``
  (63-bit, as :func:`~i4p_sim.config.experiment.replicate_seeds`): a member keeps its
  seeds whatever else is in the ensemble and whatever the worker count;
- ``event_size_tail`` pools the space-time event sizes of the committee runs
  (:func:`~i4p_sim.stats.events.event_sizes`, as validation section 4), fits the power law
  with ``xmin`` chosen by KS and takes Vuong's ``R`` against an exponential
  (:func:`~i4p_sim.stats.events.compare_exponential`, as validation's ``fit_row``), and
  the local exponents at validation's ``XMINS`` within ``[xmin_low, xmin_high]`` with tails
  of at least ``MIN_TAIL`` events (:func:`~i4p_sim.stats.events.local_exponents`, validation's
  local-exponent table). It holds at a member when ``R > 0`` and at least one local exponent
  is fitted and every fitted one lies in ``[value_low, value_high]``;
- ``training_spillover``: per pair, violent cell-months after the burn-in in the ring at
  distance ``r + ring[0] .. r + ring[1]`` outside the committee run's catchments
  (:mod:`i4p_sim.stats.spillover`), committee run minus twin. It holds at a member when the
  mean paired difference over its replicates is negative.

Members run in a process pool of the calibration's ``workers`` (in process with one).
Each member's result is stored as ``RESULTS/heldout/wave_W_point_P.json`` (atomically,
fsynced) with a key over its scenario, seeds and definitions: a rerun (``i4p calibrate``
resumes every stored wave) recomputes only members whose key is new.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from i4p_sim.calibrate.design import Calibration, TargetSpec
from i4p_sim.calibrate.statistics import spells_check
from i4p_sim.calibrate.waves import apply_params
from i4p_sim.config.errors import ConfigError
from i4p_sim.config.experiment import replicate_seeds
from i4p_sim.config.loading import load_scenario, read_toml, set_path, validate_scenario
from i4p_sim.config.scenario import Scenario
from i4p_sim.sim.simulation import Simulation
from i4p_sim.stats import events as es
from i4p_sim.stats.spillover import ring_cell_months, ring_mask
from i4p_sim.sweep.executors import make_executor
from i4p_sim.sweep.spec import identity_scenario
from i4p_sim.sweep.storage import atomic_write_text
from i4p_sim.validation.event_sizes import MIN_TAIL, XMINS

if TYPE_CHECKING:
    from i4p_sim.calibrate.waves import ModelSimulator

__all__ = [
    "HeldoutSizes",
    "heldout_sizes",
    "heldout_table",
    "member_job",
    "member_scenarios",
    "member_seeds",
    "rerun_members",
]

#: spawn-key tag of the held-out seeds (apart from every other use of the seed)
SEED_TAG = 0x4E1D
#: bump when a member's result changes meaning: stored results are then recomputed
CACHE_VERSION = 1
CACHE_DIR = "heldout"
RERUN = ("event_size_tail", "training_spillover")
DEFAULT_RING = (1, 3)


@dataclass(frozen=True)
class HeldoutSizes:
    """Sizes of the member reruns (``targets.toml`` ``[heldout]``)."""

    grid: int = 128
    replicates: int = 4
    steps: int = 240


def heldout_sizes(cal: Calibration) -> HeldoutSizes:
    """``[heldout]`` of the calibration's targets file, ``[heldout.quick]`` under --quick.

    ``steps`` defaults to the calibration's; a bad key or value is one ConfigError line.
    """
    source = str(cal.path(cal.config.targets))
    table = read_toml(cal.path(cal.config.targets)).get("heldout", {})
    out: dict[str, int] = {"steps": cal.config.steps}
    tables = [("heldout", table)]
    while tables:
        where, tab = tables.pop(0)
        if not isinstance(tab, dict):
            raise ConfigError(source, where, "must be a table")
        for key, value in tab.items():
            if key == "quick" and where == "heldout":
                if cal.quick or not isinstance(value, dict):
                    tables.append(("heldout.quick", value))
                continue
            if key not in ("grid", "replicates", "steps"):
                raise ConfigError(
                    source, f"{where}.{key}", "unknown key; allowed: grid, replicates, steps"
                )
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(
                    source, f"{where}.{key}", f"must be an integer >= 1, got {value!r}"
                )
            out[key] = value
    if out["steps"] <= cal.definitions["burn_in"]:
        raise ConfigError(source, "heldout.steps", "must exceed the burn-in ([definitions])")
    return HeldoutSizes(**{**HeldoutSizes().__dict__, **out})


def member_seeds(seed: int, wave: int, point: int, replicates: int) -> list[int]:
    """The member's replicate seeds (module docstring): 63-bit, keyed by (wave, point)."""
    return replicate_seeds(int(seed), replicates, (SEED_TAG, int(wave), int(point)))


def member_scenarios(
    cal: Calibration, sizes: HeldoutSizes, point: dict[str, Any]
) -> tuple[Scenario, Scenario]:
    """The member's scenario (module docstring) and its twin without committees."""
    n = sizes.grid
    overrides = [*cal.config.set, f"steps={sizes.steps}", f"grid.width={n}", f"grid.height={n}"]
    base = load_scenario(cal.path(cal.config.scenario), overrides=overrides)
    base = validate_scenario({**base.to_dict(), "shocks": []}, cal.source)  # no_election
    point = {k: (v.item() if hasattr(v, "item") else v) for k, v in point.items()}
    with_lpc = apply_params(base, point, cal.source)
    without = set_path(with_lpc.to_dict(), "lpc.enabled", False, source=cal.source)
    return with_lpc, validate_scenario(without, cal.source)


def _stack(scenario: Scenario, seed: int) -> tuple[np.ndarray, Any]:
    sim = Simulation(scenario.model_copy(update={"seed": int(seed)}), communities=False)
    try:
        stack = sim.violence_stack()
        model = sim.model
        info = (model.committees.positions.copy(), model.inhabited.copy(), model.torus)
        return stack, info
    finally:
        sim.release()


def member_job(
    with_lpc: Scenario,
    without: Scenario,
    seeds: list[int],
    burn_in: int,
    ring: tuple[int, int],
    xmins: tuple[int, ...],
) -> dict[str, Any]:
    """One member's reruns: pooled event-size fits and per-pair ring cell-months."""
    sizes, with_ring, without_ring, cells = [], [], [], []
    for seed in seeds:
        stack, (positions, inhabited, torus) = _stack(with_lpc, seed)
        sizes.append(es.event_sizes(stack))
        mask = ring_mask(positions, with_lpc.lpc.radius, inhabited, torus, *ring)
        twin, (_, twin_inhabited, _) = _stack(without, seed)
        if not np.array_equal(inhabited, twin_inhabited):  # pragma: no cover - a model bug
            raise RuntimeError("the twin without committees has another landscape")
        with_ring.append(ring_cell_months(stack, mask, burn_in))
        without_ring.append(ring_cell_months(twin, mask, burn_in))
        cells.append(int(mask.sum()))
    pooled = np.concatenate(sizes)
    out: dict[str, Any] = {
        "events": int(pooled.size),
        "largest": int(pooled.max()) if pooled.size else 0,
        "with": with_ring,
        "without": without_ring,
        "ring_cells": cells,
        "R": float("nan"),
        "pR": float("nan"),
        "local": {},
    }
    if pooled.size:
        fit = es.fit_power_law(pooled)
        out["R"], out["pR"] = es.compare_exponential(pooled, fit)
        out["xmin"], out["alpha"] = int(fit.xmin), float(fit.alpha)
        local = es.local_exponents(pooled, xmins, min_tail=MIN_TAIL)
        out["local"] = {str(f.xmin): float(f.alpha) for f in local}
    return out


def _target(cal: Calibration, name: str) -> TargetSpec | None:
    return next((t for t in cal.held_out if t.name == name), None)


def _definitions(cal: Calibration) -> dict[str, Any]:
    """What a member's rerun statistics depend on besides its scenario and seeds."""
    tail = _target(cal, "event_size_tail")
    spill = _target(cal, "training_spillover")
    lo = int(tail.extra.get("xmin_low", 10)) if tail else 10
    hi = int(tail.extra.get("xmin_high", 50)) if tail else 50
    ring = tuple(int(v) for v in spill.extra.get("ring", DEFAULT_RING)) if spill else DEFAULT_RING
    return {
        "burn_in": int(cal.definitions["burn_in"]),
        "ring": ring,
        "xmins": tuple(x for x in XMINS if lo <= x <= hi),
        "min_tail": MIN_TAIL,
        "version": CACHE_VERSION,
    }


def _key(with_lpc: Scenario, seeds: list[int], defs: dict[str, Any]) -> str:
    text = json.dumps(
        {"scenario": identity_scenario(with_lpc.to_dict()), "seeds": seeds, **defs},
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _read_cached(path: Path, key: str) -> dict[str, Any] | None:
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return stored.get("result") if stored.get("key") == key else None


def rerun_members(
    cal: Calibration,
    ensemble: pd.DataFrame,
    root: Path,
    *,
    sizes: HeldoutSizes | None = None,
    workers: int | None = None,
    log: Callable[[str], None] | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """Every member's rerun results in ensemble order, and how many were computed now."""
    sizes = sizes or heldout_sizes(cal)
    defs = _definitions(cal)
    cache = root / CACHE_DIR
    cache.mkdir(parents=True, exist_ok=True)
    results: list[dict[str, Any] | None] = []
    todo: list[tuple[int, Path, str, tuple[Any, ...]]] = []
    params = list(cal.box.names)
    for i, row in enumerate(ensemble.to_dict("records")):
        wave, point = int(row["wave"]), int(row["point"])
        scenarios = member_scenarios(cal, sizes, {k: row[k] for k in params})
        seeds = member_seeds(cal.config.seed, wave, point, sizes.replicates)
        key = _key(scenarios[0], seeds, defs)
        path = cache / f"wave_{wave}_point_{point}.json"
        results.append(_read_cached(path, key))
        if results[-1] is None:
            args = (*scenarios, seeds, defs["burn_in"], defs["ring"], defs["xmins"])
            todo.append((i, path, key, args))
    t0 = time.perf_counter()

    def store(i: int, path: Path, key: str, result: dict[str, Any]) -> None:
        member = {"wave": int(ensemble["wave"].iloc[i]), "point": int(ensemble["point"].iloc[i])}
        text = json.dumps({"key": key, "member": member, "result": result}, indent=1)
        atomic_write_text(path, text)
        results[i] = result

    slots = min(workers or os.cpu_count() or 1, len(todo))
    if slots == 1:  # in process: no worker to start
        for i, path, key, args in todo:
            store(i, path, key, member_job(*args))
    elif todo:
        with make_executor(slots) as (pool, _, _):
            futures = {
                pool.submit(member_job, *args): (i, path, key) for i, path, key, args in todo
            }
            for fut in cf.as_completed(futures):
                store(*futures[fut], fut.result())
    if log is not None:
        log(
            f"held-out reruns: {len(results)} members ({len(results) - len(todo)} stored, "
            f"{len(todo)} computed in {time.perf_counter() - t0:.0f} s), "
            f"{sizes.replicates} x 2 runs of {sizes.grid} x {sizes.grid} each"
        )
    return [r for r in results if r is not None], len(todo)


# --------------------------------------------------------------------- summaries


def tail_holds(result: dict[str, Any], low: float, high: float) -> bool:
    """``event_size_tail`` at one member (module docstring)."""
    local = list(result["local"].values())
    return bool(result["R"] > 0 and local and all(low <= a <= high for a in local))


def spillover_difference(result: dict[str, Any]) -> float:
    """Mean paired difference (committee run minus twin) of ring cell-months per run."""
    return float(np.mean(np.subtract(result["with"], result["without"])))


def _members(k: int) -> str:
    return f"{k} member" + ("" if k == 1 else "s")


def event_tail_result(
    results: list[dict[str, Any]], target: TargetSpec, sizes: HeldoutSizes, xmins: tuple[int, ...]
) -> str:
    """The ``event_size_tail`` row's text: holds in K of N members, then the details."""
    n = len(results)
    low = float(target.extra.get("value_low", 1.8))
    high = float(target.extra.get("value_high", 3.0))
    held = sum(tail_holds(r, low, high) for r in results)
    favoured = sum(bool(r["R"] > 0) for r in results)
    fitted = sum(bool(r["local"]) for r in results)
    local = "; ".join(
        f"at xmin {x} median {float(np.median(v)):.2f} ({_members(len(v))})"
        for x in xmins
        if (v := [r["local"][str(x)] for r in results if str(x) in r["local"]])
    )
    events = float(np.median([r["events"] for r in results]))
    largest = float(np.median([r["largest"] for r in results]))
    return (
        f"power law favoured over an exponential (Vuong R > 0) and every local exponent at "
        f"xmin {', '.join(map(str, xmins))} within [{low:.1f}, {high:.1f}] in {held} of {n} "
        f"members; R > 0 in {favoured} of {n}; a local exponent fitted (at least {MIN_TAIL} "
        f"events at or above its xmin) in {fitted} of {n}"
        + (f" ({local})" if local else "")
        + f"; per member a median of {events:.0f} events, the largest {largest:.0f} "
        f"cell-months ({sizes.replicates} runs of {sizes.grid} x {sizes.grid} cells, "
        f"{sizes.steps} months)"
    )


def spillover_result(
    results: list[dict[str, Any]], defs: dict[str, Any], sizes: HeldoutSizes
) -> str:
    """The ``training_spillover`` row's text: negative in K of N members, then the details."""
    n, (inner, outer) = len(results), defs["ring"]
    if not any(any(r["ring_cells"]) for r in results):
        return "not evaluated: the members' scenario has no committee, so no catchment ring"
    diffs = [spillover_difference(r) for r in results]
    every = sum(all(w < o for w, o in zip(r["with"], r["without"], strict=True)) for r in results)
    rel = [
        d / b for d, r in zip(diffs, results, strict=True) if (b := float(np.mean(r["without"])))
    ]
    cells = float(np.median([np.mean(r["ring_cells"]) for r in results]))
    return (
        f"negative (fewer violent cell-months in inhabited cells at distance r+{inner} to "
        f"r+{outer} outside the catchments with committees than in the twin without them, "
        f"mean over {sizes.replicates} paired runs) in {sum(d < 0 for d in diffs)} of {n} "
        f"members; every pair negative in {every} of {n}; median over members of the mean "
        f"paired difference {float(np.median(diffs)):+.1f} cell-months per run"
        + (f" ({100 * float(np.median(rel)):+.0f}% of the twin's)" if rel else "")
        + f"; median {cells:.0f} ring cells ({sizes.grid} x {sizes.grid} cells, months "
        f"{defs['burn_in']}-{sizes.steps - 1})"
    )


def _spells_result(cal: Calibration, sim: ModelSimulator, ensemble: pd.DataFrame) -> str:
    """``peace_spells_overdispersed`` from the waves' stored series."""
    d = cal.definitions
    ratios, ps = [], []
    for wave, point in ensemble[["wave", "point"]].itertuples(index=False):
        r, p, _ = spells_check(
            sim.series[int(wave)], int(point), d["active_cells"], d["episode_gap"], d["burn_in"]
        )
        ratios.append(r)
        ps.append(p)
    n = len(ps)
    return (
        f"over-dispersed (one-sided p < 0.05) in {sum(p < 0.05 for p in ps)} of {n} members; "
        f"median observed/null variance-to-mean ratio {pd.Series(ratios).median():.2f}"
    )


def heldout_table(
    cal: Calibration,
    sim: ModelSimulator,
    ensemble: pd.DataFrame,
    root: Path,
    *,
    sizes: HeldoutSizes | None = None,
    workers: int | None = None,
    log: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """Held-out targets on the ensemble members: columns target, members, result."""
    sizes = sizes or heldout_sizes(cal)
    defs = _definitions(cal)
    n = len(ensemble)
    reruns: list[dict[str, Any]] = []
    if n and any(t.name in RERUN for t in cal.held_out):
        reruns, _ = rerun_members(cal, ensemble, root, sizes=sizes, workers=workers, log=log)
    rows = []
    for t in cal.held_out:
        if not n:
            result = "no member to check"
        elif t.name == "peace_spells_overdispersed":
            result = _spells_result(cal, sim, ensemble)
        elif t.name == "event_size_tail":
            result = event_tail_result(reruns, t, sizes, defs["xmins"])
        elif t.name == "training_spillover":
            result = spillover_result(reruns, defs, sizes)
        else:
            result = f"not evaluated: no operational implementation of '{t.name}'"
        members = 0 if result.startswith("not evaluated") else n
        rows.append({"target": t.name, "members": members, "result": result})
    return pd.DataFrame(rows, columns=["target", "members", "result"])

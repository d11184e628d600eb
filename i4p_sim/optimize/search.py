"""Exit-strategy search: optuna's ask-and-tell in fixed-size batches through the sweep engine.

Batch ``k`` of a search is written to ``RESULTS/batch_k/``: ``experiment.toml`` (the base
scenario as variant ``steady`` and the phased exit as variant ``exit``, its twin),
``design.json`` (the batch's trials: number and parameters), then the sweep's own store. The
experiment is loaded from that file and its points replaced by the trials, as
:mod:`i4p_sim.calibrate.waves` does for waves, and run with
:func:`~i4p_sim.sweep.driver.run_experiment`: executors, failure isolation and resume come
from the sweep engine, and every trial runs with the same replicate seeds (common random
numbers).

Objectives of a trial, each over its replicates: **excess violence**, the signed
cumulative excess of the exit over its steady-funding twin (``resilience_loss`` of
``paired.parquet``), and **money**, the donors' ``funding_spent`` plus the government's
co-funding of the council (``council.domestic_budget`` x inhabited cells / 1,000 x
steps). Optuna minimises the bad-case quantile (``quantile``, default the 80th percentile)
of excess violence and the mean of money; the means and quantiles of both are stored.

Resume: the study lives in memory and is **rebuilt** on every start by re-asking and
re-telling batch by batch, in trial-number order, from the stored runs (a sampler with a
fixed seed asks the same trials when told the same values). This is fully deterministic
and needs no second store next to the sweep's: a killed search rerun with the same command
recomputes no stored model run and ends with the same trials and values, for any worker
count. A stored ``design.json`` that differs from what the sampler asks (the file
changed) is refused. The trial count is rounded up to whole batches.
"""

from __future__ import annotations

import dataclasses
import json
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from i4p_sim.config.errors import ConfigError, RunFailed
from i4p_sim.config.experiment import Experiment, load_experiment
from i4p_sim.optimize.config import Search, load_search
from i4p_sim.optimize.space import PARAMS, scenario_at
from i4p_sim.sweep.driver import default_results_dir, run_experiment
from i4p_sim.sweep.storage import atomic_write_text, write_experiment_file

__all__ = ["PARAMS", "SearchResult", "run_search", "scenario_at", "trial_table"]

STEADY, EXIT = "steady", "exit"


def distributions(search: Search) -> dict[str, Any]:
    """The optuna distributions of the search space (in :data:`PARAMS` order)."""
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    sp = search.config.space
    return {
        "exit_start": IntDistribution(*sp.exit_start),
        "ramp": IntDistribution(*sp.ramp, step=2),
        "lpc_share": FloatDistribution(*sp.lpc_share),
        "density": FloatDistribution(*sp.density),
        "placement": CategoricalDistribution(tuple(sp.placement)),
        "domestic_budget": FloatDistribution(*sp.domestic_budget),
    }


def write_batch_toml(search: Search, k: int, path: Path) -> None:
    """The batch's experiment file (absolute scenario path, so it runs from anywhere)."""
    cfg = search.config
    exit_shock = {"kind": "funding_withdrawal", "at": 1, "donor": "all", "mode": "phased"}
    table = {
        "name": f"{cfg.name}_batch_{k}",
        "seed": cfg.seed,
        "replicates": cfg.replicates,
        "steps": cfg.steps,
        "reference_step": 0,
        "noise_pairs": 0,
        "snapshot_replicates": 0,
        "baseline": STEADY,
        "base": str(search.path(cfg.scenario)),
        "set": list(cfg.set),
        "variants": [
            {"name": STEADY, "shocks": []},
            {"name": EXIT, "shocks": [exit_shock], "twin": STEADY},
        ],
    }
    comment = (
        f"batch {k} of exit-strategy search {cfg.name} ({search.source}); trials in design.json"
    )
    write_experiment_file(path, table, comment)


def batch_experiment(search: Search, k: int, design: list[dict[str, Any]], root: Path):
    """Write ``batch_k/experiment.toml`` and ``design.json``; the experiment at the trials."""
    bdir = root / f"batch_{k}"
    bdir.mkdir(parents=True, exist_ok=True)
    toml = bdir / "experiment.toml"
    write_batch_toml(search, k, toml)
    exp = load_experiment(toml)
    js = bdir / "design.json"
    if js.exists():
        stored = json.loads(js.read_text(encoding="utf-8"))
        if stored != json.loads(json.dumps(design)):
            raise ConfigError(
                str(js),
                "",
                "holds other trials (the search file changed?); use --fresh or another --out",
            )
    else:
        atomic_write_text(js, json.dumps(design, indent=1))
    from i4p_sim.calibrate.waves import apply_params

    at_points, points = {}, []
    for trial in design:
        for m, member in enumerate(search.members):
            p = len(points)
            points.append(
                {"search.member": m, **{f"search.{k}": trial["params"][k] for k in PARAMS}}
            )
            for name, exit in ((STEADY, False), (EXIT, True)):
                sc = (
                    apply_params(exp.scenarios[name], member, str(js))
                    if member
                    else exp.scenarios[name]
                )
                at_points[(name, p)] = scenario_at(sc, trial["params"], exit=exit, source=str(js))
    return dataclasses.replace(exp, points=points, at_points=at_points)


def inhabited(exp: Experiment) -> dict[int, int]:
    """Inhabited cells of each replicate's landscape (the same at every trial)."""
    from i4p_sim.sim.model import I4PModel

    sc = exp.scenarios[STEADY]
    return {
        r: int(I4PModel(sc, seed=seed, communities=False).n_inhabited)
        for r, seed in enumerate(exp.seeds)
    }


def trial_table(
    design: list[dict[str, Any]],
    runs: pd.DataFrame,
    paired: pd.DataFrame,
    cells: dict[int, int],
    steps: int,
    q: float,
    members: int = 1,
) -> pd.DataFrame:
    """One row per trial: parameters, excess violence and money (mean and ``q`` quantile).

    Trial ``i`` is points ``i * members`` to ``(i + 1) * members - 1`` (one per ensemble
    member); its values are taken over all their replicates.
    """
    ok = runs[(runs["status"] == "ok") & (runs["scenario"] == EXIT)]
    ex = paired[paired["scenario"] == EXIT]
    rows = []
    for p, trial in enumerate(design):
        par = trial["params"]
        span = range(p * members, (p + 1) * members)
        loss = ex.loc[ex["point"].isin(span)].sort_values(["point", "replicate"])
        spent = ok.loc[ok["point"].isin(span)].sort_values(["point", "replicate"])
        domestic = np.array(
            [par["domestic_budget"] * cells[int(r)] / 1000.0 * steps for r in spent["replicate"]]
        )
        money = spent["funding_spent"].to_numpy(float) + domestic
        excess = loss["resilience_loss"].to_numpy(float)
        if not len(excess) or not len(money):
            raise RunFailed("", "", f"trial {trial['number']} has no paired runs")
        rows.append(
            {
                "trial": int(trial["number"]),
                **par,
                "excess_mean": float(np.mean(excess)),
                "excess_q": float(np.quantile(excess, q)),
                "money_mean": float(np.mean(money)),
                "money_q": float(np.quantile(money, q)),
                "donor_money_mean": float(spent["funding_spent"].mean()),
                "members": members,
                "replicates": int(len(excess)),
            }
        )
    return pd.DataFrame(rows)


@dataclass
class SearchResult:
    """What :func:`run_search` returns."""

    search: Search
    out: Path
    trials: pd.DataFrame
    front: pd.DataFrame
    ran: int
    skipped: int


def _study(search: Search):
    try:
        import optuna
    except ImportError:
        raise ConfigError(
            search.source, "", "i4p optimize needs optuna: pip install 'i4p-sim[optimize]'"
        ) from None

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    cfg = search.config
    sampler = optuna.samplers.NSGAIISampler(population_size=cfg.population, seed=cfg.seed)
    return optuna.create_study(directions=["minimize", "minimize"], sampler=sampler)


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def run_search(
    path: str | Path,
    *,
    trials: int | None = None,
    out: str | Path | None = None,
    workers: int | None = None,
    fresh: bool = False,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> SearchResult:
    """Run (or resume) a search; write ``trials.parquet``, ``front.parquet``, ``report.html``."""
    from i4p_sim.optimize.front import pareto_front, write_outputs

    search = load_search(path)
    cfg = search.config
    n_trials = cfg.trials if trials is None else int(trials)
    if n_trials < 1:
        raise ConfigError(search.source, "trials", f"need at least 1 trial, got {n_trials}")
    root = Path(out) if out is not None else default_results_dir(cfg.name)
    root.mkdir(parents=True, exist_ok=True)
    study = _study(search)
    dists = distributions(search)
    frames: list[pd.DataFrame] = []
    ran = skipped = 0
    cells: dict[int, int] | None = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # optuna's ExperimentalWarning for NSGA-II options
        for k in range(math.ceil(n_trials / cfg.batch)):
            asked = [study.ask(dists) for _ in range(cfg.batch)]
            design = [
                {"number": t.number, "params": {p: _plain(t.params[p]) for p in PARAMS}}
                for t in asked
            ]
            if fresh:
                (root / f"batch_{k}" / "design.json").unlink(missing_ok=True)
            exp = batch_experiment(search, k, design, root)
            if cells is None:
                cells = inhabited(exp)
            res = run_experiment(
                exp, out=root / f"batch_{k}", workers=workers, fresh=fresh, progress=progress
            )
            ran, skipped = ran + res.ran, skipped + res.skipped
            bad = res.runs[res.runs["status"] != "ok"]
            if len(bad):
                last = str(bad["error"].iloc[0]).strip().splitlines() or ["?"]
                raise RunFailed(
                    str(root / f"batch_{k}"), "", f"{len(bad)} run(s) failed, e.g. {last[-1]}"
                )
            table = trial_table(
                design, res.runs, res.paired, cells, cfg.steps, cfg.quantile, len(search.members)
            )
            for t, row in zip(asked, table.itertuples(index=False), strict=True):
                study.tell(t, [row.excess_q, row.money_mean])
            frames.append(table)
            if log is not None:
                log(f"batch {k}: trials {design[0]['number']}-{design[-1]['number']} told")
    table = pd.concat(frames, ignore_index=True)
    front = pareto_front(table)
    write_outputs(search, root, table, front)
    return SearchResult(search, root, table, front, ran, skipped)

"""What every validation section shares: run sizes, the run context, and running.

The validation experiments are ``experiments/validation/*.toml``. Experiments whose measures are per-run summaries or
per-step series go through the sweep runner (results under ``results/validation/<name>/``);
the ones that need every month's violence map (event sizes, relapse) run their scenarios
here, one :class:`~i4p_sim.sim.simulation.Simulation` per run, in the same kind of pool.

Everything validation takes from the sweep layer is imported here and nowhere else.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from i4p_sim.config.experiment import Experiment, load_experiment
from i4p_sim.config.scenario import Scenario
from i4p_sim.sim.simulation import Simulation
from i4p_sim.stats import events as es
from i4p_sim.stats.resilience import with_paired
from i4p_sim.stats.tables import experiment_runs
from i4p_sim.sweep.driver import run_experiment
from i4p_sim.sweep.executors import make_executor
from i4p_sim.sweep.manifest import git_revision
from i4p_sim.sweep.sensitivity import analyse_store
from i4p_sim.sweep.storage import atomic_write_text

__all__ = [
    "CONFIDENCE",
    "DEFAULT_OUT",
    "DEFAULT_RESULTS",
    "EXPERIMENTS",
    "QUICK_OUT",
    "REPO",
    "VALIDATION_DIR",
    "Context",
    "Experiment",
    "Plan",
    "analyse_store",
    "atomic_write_text",
    "git_revision",
    "load",
    "load_experiment",
    "make_executor",
    "read_series",
    "rel",
    "run_spatial",
    "run_scenarios",
    "spatial_run",
    "sweep",
    "window_means",
]

REPO = Path(__file__).resolve().parents[2]
EXPERIMENTS = REPO / "experiments"
VALIDATION_DIR = EXPERIMENTS / "validation"
DEFAULT_OUT = REPO / "docs" / "VALIDATION.md"
QUICK_OUT = REPO / "results" / "validation" / "VALIDATION-quick.md"
DEFAULT_RESULTS = REPO / "results" / "validation"
CONFIDENCE = 0.95


@dataclass(frozen=True)
class Plan:
    """Sizes of the validation runs.

    Attributes
    ----------
    quick : bool
        A smoke run (sizes below), not a result.
    replicates : dict
        Replicates per experiment name (file stem); ``None`` keeps the file's.
    event_boot : int
        Bootstrap samples of the power-law goodness of fit and of alpha's interval.
    n_resamples : int
        Bootstrap resamples of every interval.
    """

    quick: bool = False
    replicates: dict[str, int | None] = field(default_factory=dict)
    event_boot: int = 200
    n_resamples: int = 2000

    @classmethod
    def full(cls) -> Plan:
        """The sizes in the experiment files."""
        return cls()

    @classmethod
    def smoke(cls) -> Plan:
        """A fast end-to-end run (well under two minutes on two cores)."""
        return cls(
            quick=True,
            replicates={
                "i4p_effect": 3,
                "funding_withdrawal": 2,
                "patch_scale": 2,
                "event_sizes": 1,
                "relapse": 3,
                "elections": 16,
            },
            event_boot=10,
            n_resamples=500,
        )


@dataclass
class Context:
    """Shared settings and bookkeeping of one validation run."""

    plan: Plan
    results: Path
    workers: int
    resume: bool
    runs: dict[str, int] = field(default_factory=dict)
    walls: dict[str, float] = field(default_factory=dict)
    log: Callable[[str], None] = print


def rel(path: Path | str) -> str:
    """``path`` relative to the repository (as the document names files)."""
    p = Path(path).resolve()
    try:
        return str(p.relative_to(REPO))
    except ValueError:
        return str(path)


# --- experiments and scenarios --------------------------------------------------------


def load(ctx: Context, stem: str, path: Path | None = None) -> Experiment:
    """Load ``experiments/validation/<stem>.toml`` with the plan's replicates."""
    path = path or VALIDATION_DIR / f"{stem}.toml"
    return load_experiment(path, replicates=ctx.plan.replicates.get(stem))


def run_scenarios(exp: Experiment) -> Iterator[tuple[str, int, Scenario]]:
    """``(scenario name, replicate, scenario with the replicate's seed)`` of every run.

    Replicate-major like the sweep; only for experiments without axes or a sample.
    """
    if any(exp.points):
        raise ValueError(f"{exp.name}: run_scenarios does not apply axes or samples")
    scenarios = exp.scenarios
    for rep, seed in enumerate(exp.seeds):
        for name, sc in scenarios.items():
            yield name, rep, sc.model_copy(update={"seed": int(seed)})


# --- sweeps ---------------------------------------------------------------------------


def sweep(ctx: Context, exp: Experiment) -> pd.DataFrame:
    """Run ``exp`` through the sweep runner into ``ctx.results/<name>``; its runs table."""
    res = run_experiment(
        exp,
        out=ctx.results / exp.name,
        workers=ctx.workers,
        fresh=not ctx.resume,
        progress=False,
    )
    # each run with its paired metrics against its twin; without the sweep's own implicit
    # and null-perturbed twins
    runs = experiment_runs(with_paired(res.runs, res.paired))
    failed = runs[runs["status"] != "ok"]
    if len(failed):
        first = str(failed["error"].iloc[0]).strip().splitlines()[-1]
        raise RuntimeError(f"{exp.name}: {len(failed)} run(s) failed, e.g. {first}")
    ctx.runs[Path(exp.source).stem] = len(runs)
    return runs


def read_series(
    ctx: Context, exp: Experiment, columns: Sequence[str] = ("violence_share",)
) -> pd.DataFrame:
    """Per-step series of a finished validation sweep (selected columns)."""
    cols = ["scenario", "replicate", "point", "step", *columns]
    return pd.read_parquet(ctx.results / exp.name / "series", columns=cols)


def window_means(
    series: pd.DataFrame, lo: int, hi: int, column: str = "violence_share"
) -> pd.DataFrame:
    """Mean of ``column`` over steps ``lo .. hi - 1``, one column per scenario.

    Parameters
    ----------
    series : pandas.DataFrame
        Per-step rows with ``scenario``, ``replicate``, ``step`` and ``column``.
    lo, hi : int
        Half-open step window.
    column : str
        The measure.

    Returns
    -------
    pandas.DataFrame
        Index ``replicate``, one column per scenario.
    """
    sub = series[(series["step"] >= lo) & (series["step"] < hi)]
    return sub.groupby(["replicate", "scenario"])[column].mean().unstack("scenario")


# --- runs that keep every month's violence map ----------------------------------------


def spatial_run(scenario: Scenario, blocks: tuple[int, ...], events: bool) -> dict[str, Any]:
    """Run one scenario keeping every step's violence map; return derived statistics.

    Returns ``violent_cell_steps``; per block size ``b`` in ``blocks`` the violent cells per
    step and ``b x b`` block (``blocks_b``, shape (T, blocks)) and the inhabited cells per
    block (``occupied_b``); with ``events`` the space-time and per-month event sizes.
    """
    sim = Simulation(scenario, communities=False)
    model = sim.model
    stack = sim.violence_stack()
    sim.release()
    steps = stack.shape[0]
    h, w = model.shape
    out: dict[str, Any] = {"violent_cell_steps": int(stack.sum())}
    inhabited = model.inhabited
    for b in blocks:
        hb, wb = h // b, w // b
        cut = stack[:, : hb * b, : wb * b]
        counts = cut.reshape(steps, hb, b, wb, b).sum(axis=(2, 4)).reshape(steps, -1)
        occupied = inhabited[: hb * b, : wb * b].reshape(hb, b, wb, b).sum(axis=(1, 3)).ravel()
        out[f"blocks_{b}"] = counts.astype(np.int32)
        out[f"occupied_{b}"] = occupied
    if events:
        out["sizes"] = es.event_sizes(stack)
        out["spatial_sizes"] = es.event_sizes(stack, spatial=True)
    return out


def run_spatial(
    ctx: Context, exp: Experiment, blocks: tuple[int, ...], events: bool
) -> dict[str, list[dict[str, Any]]]:
    """Every scenario x replicate of ``exp`` through :func:`spatial_run`, by scenario."""
    t0 = time.perf_counter()
    jobs = list(run_scenarios(exp))
    out: dict[str, list[dict[str, Any]]] = {name: [] for name in exp.scenarios}
    with make_executor(ctx.workers) as (pool, _, _):
        futures = [(name, pool.submit(spatial_run, sc, blocks, events)) for name, _, sc in jobs]
        for name, fut in futures:
            out[name].append(fut.result())
    ctx.runs[Path(exp.source).stem] = len(jobs)
    ctx.log(f"[validate] {exp.name}: {len(jobs)} runs in {time.perf_counter() - t0:.0f} s")
    return out

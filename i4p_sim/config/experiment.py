"""Experiments: schema, run ids, executors, the results store and the ``sweep``/``compare`` commands.

An experiment (TOML in ``experiments/``) names scenarios (or one ``base`` plus
``[[variants]]``), optional parameter ``[axes]`` (a full grid) or a ``[sample]`` (Latin
hypercube or scrambled Sobol, :mod:`scipy.stats.qmc`), ``replicates``, ``steps`` and one
``reference_step`` used for every scenario's summary metrics.

Common random numbers: replicate ``i`` of every scenario and every parameter point runs
with the same seed, ``SeedSequence(experiment_seed).spawn(R)[i]``, so comparisons are
paired.  Every run has a deterministic id: a hash of the resolved scenario (kernel
included), the parameter point, the seed, the steps, the summary window and the package
version.

Store layout (``results/<experiment>/`` or ``--out``)::

    manifest.json          versions, git revision, resolved config and its hash, timings
    runs.parquet           one row per run (assembled from runs/part-*.parquet)
    runs/part-*.parquet    chunks of run rows, one per finished batch
    series/part-*.parquet  per-step measures (run_id, scenario, replicate, point, step, ...)
    report.html            the plotly report (see :mod:`i4p_sim.report`)
    .lock                  held (``flock``) by the sweep writing the directory; its pid

Every file is written through a temp file and ``os.replace``; a series chunk is written
before the run chunk of the same batch, and a series chunk whose run chunk is missing is
discarded on resume, so a sweep killed at any point resumes without duplicates. A second
sweep into a directory that a running sweep holds stops with a one-line error instead of
clearing the other's temp files and chunks.

Test hook: the environment variable ``I4P_FAIL_SCENARIO`` (comma-separated scenario
names), read in the worker, makes runs of those scenarios raise ``RuntimeError`` before
the model is built.  It exists to test failure isolation and ``--retry-failed``; it does
not touch the model, and it is not part of any run's id.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import copy
import hashlib
import itertools
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from i4p_sim.config.errors import ConfigError, from_validation_error
from i4p_sim.stats.metrics import SUMMARY_KEYS

__all__ = [
    "Experiment",
    "ExperimentSpec",
    "RunSpec",
    "compare_command",
    "load_experiment",
    "make_executor",
    "replicate_seeds",
    "run_experiment",
    "sweep_command",
]

FAIL_ENV = "I4P_FAIL_SCENARIO"
THREAD_ENV = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "NUMEXPR_MAX_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMBA_NUM_THREADS",
)
DEFAULT_METRICS = (
    "cumulative_violence",
    "peak_violence",
    "resilience_loss",
    "recovery_time",
    "lpcs_surviving",
    "funding_spent",
)
PAIR_ON = ("replicate", "point")
# stable dtypes whether or not some runs failed (failed runs have missing metrics)
_METRIC_DTYPES = {
    "cumulative_violence": "float64",
    "pre_violence": "float64",
    "peak_violence": "float64",
    "time_to_peak": "Int64",
    "recovery_time": "Int64",
    "recovered": "boolean",
    "resilience_loss": "float64",
    "lpcs_surviving": "Int64",
    "funding_spent": "float64",
    "mean_tension": "float64",
}

# --------------------------------------------------------------------------- schema


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class VariantConfig(_Strict):
    """One variant of the base scenario (or of ``file``): a name, dotted overrides and
    optionally a replacement shock schedule."""

    name: Annotated[str, Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_.\-+]+$")]
    description: str = ""
    file: str | None = None
    set: list[str] = Field(default_factory=list)
    shocks: list[dict[str, Any]] | None = None


class ScenarioRef(_Strict):
    """A scenario file, optionally renamed and with dotted overrides."""

    file: Annotated[str, Field(min_length=1)]
    name: Annotated[
        str | None, Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_.\-+]+$")
    ] = None
    set: list[str] = Field(default_factory=list)


class SampleConfig(_Strict):
    """A space-filling sample over parameter ranges (``scipy.stats.qmc``)."""

    method: Literal["lhs", "sobol"] = "lhs"
    n: Annotated[int, Field(ge=1, le=100_000)]
    seed: Annotated[int, Field(ge=0, le=2**63 - 1)] = 0
    ranges: dict[str, Any]
    integers: list[str] = Field(default_factory=list)


class InteractionConfig(_Strict):
    """A 2x2 cell of a factorial: grassroots (a) x top-down (b)."""

    name: Annotated[str, Field(min_length=1, max_length=80)]
    none: str
    a: str
    b: str
    ab: str


class ExperimentConfig(_Strict):
    """The experiment file's schema (see the module docstring)."""

    name: Annotated[str, Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_.\-]+$")]
    description: str = ""
    seed: Annotated[int, Field(ge=0, le=2**63 - 1)] = 0
    replicates: Annotated[int, Field(ge=1, le=100_000)] = 8
    steps: Annotated[int, Field(ge=1, le=100_000)] | None = None
    reference_step: Annotated[int, Field(ge=0)] | None = None
    window: Annotated[int, Field(ge=1, le=1000)] = 12
    kernel: Literal["numpy", "numba"] | None = None
    set: list[str] = Field(default_factory=list)
    scenarios: list[str | ScenarioRef] = Field(default_factory=list)
    base: str | None = None
    variants: list[VariantConfig] = Field(default_factory=list)
    baseline: str | None = None
    axes: dict[str, Any] = Field(default_factory=dict)
    sample: SampleConfig | None = None
    interactions: list[InteractionConfig] = Field(default_factory=list)
    heatmap_steps: list[Annotated[int, Field(ge=0)]] = Field(default_factory=list)


_EXPERIMENT_KEYS = list(ExperimentConfig.model_fields)


def _flatten(table: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"lpc": {"count": x}}`` -> ``{"lpc.count": x}`` (TOML dotted keys nest)."""
    out: dict[str, Any] = {}
    for key, value in table.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, path + "."))
        else:
            out[path] = value
    return out


_EXPERIMENT_SECTIONS = {
    "sample": SampleConfig,
    "variants": VariantConfig,
    "interactions": InteractionConfig,
    "scenarios": ScenarioRef,
}


def _experiment_keys(section: str) -> list[str] | None:
    """Allowed keys at a section path of an experiment file (for 'unknown key')."""
    if not section:
        return _EXPERIMENT_KEYS
    model = _EXPERIMENT_SECTIONS.get(section.split(".")[0])
    return list(model.model_fields) if model is not None else None


def _pydantic_error(source: str, exc: ValidationError) -> ConfigError:
    # a union 'str | ScenarioRef' reports the alternative's name in the location
    return from_validation_error(
        source, exc, allowed_keys=_experiment_keys, skip=("str", "ScenarioRef")
    )


# --------------------------------------------------------------------------- runs


@dataclass(frozen=True)
class RunSpec:
    """One run: everything a worker needs, and its deterministic id."""

    run_id: str
    scenario: str
    replicate: int
    point: int
    seed: int
    params: dict[str, Any]
    scenario_dict: dict[str, Any]
    window: int


@dataclass
class Experiment:
    """A loaded, validated experiment.

    Attributes
    ----------
    name : str
        Experiment name (results go to ``results/<name>/``).
    source : str
        The file it came from.
    config : ExperimentConfig
        The validated file.
    scenarios : dict
        Scenario name -> resolved scenario dict (steps, reference step, kernel applied;
        seed set per run).
    points : list of dict
        Parameter points (dotted path -> value); ``[{}]`` without axes or sample.
    seeds : list of int
        Seed of each replicate (common random numbers).
    """

    name: str
    source: str
    config: ExperimentConfig
    scenarios: dict[str, dict[str, Any]]
    points: list[dict[str, Any]]
    seeds: list[int]
    baseline: str
    reference_step: int
    steps: int
    descriptions: dict[str, str] = field(default_factory=dict)

    @property
    def replicates(self) -> int:
        """Number of replicates per scenario and point."""
        return len(self.seeds)

    @property
    def param_names(self) -> list[str]:
        """Dotted parameter paths varied by the axes or sample."""
        return list(self.points[0]) if self.points else []

    def total_runs(self) -> int:
        """Scenarios x points x replicates."""
        return len(self.scenarios) * len(self.points) * len(self.seeds)

    def iter_runs(self) -> Iterator[RunSpec]:
        """Yield every run lazily, replicate-major (so partial sweeps stay balanced)."""
        from i4p_sim import __version__

        resolved: dict[tuple[str, int], dict[str, Any]] = {}
        for rep, seed in enumerate(self.seeds):
            for p, point in enumerate(self.points):
                for name, base in self.scenarios.items():
                    key = (name, p)
                    if key not in resolved:
                        if len(resolved) > 4096:
                            resolved.clear()
                        resolved[key] = apply_point(base, point, self.source)
                    data = dict(resolved[key])
                    data["seed"] = seed
                    ident = {
                        "scenario": data,
                        "params": point,
                        "seed": seed,
                        "steps": data["steps"],
                        "window": self.config.window,
                        "version": __version__,
                    }
                    digest = hashlib.sha256(
                        json.dumps(ident, sort_keys=True, default=str).encode()
                    ).hexdigest()[:20]
                    yield RunSpec(digest, name, rep, p, seed, point, data, self.config.window)

    def resolved_config(self) -> dict[str, Any]:
        """The fully resolved experiment (JSON-serialisable) for the manifest."""
        return {
            "name": self.name,
            "source": self.source,
            "file": self.config.model_dump(mode="json", exclude_none=True),
            "baseline": self.baseline,
            "reference_step": self.reference_step,
            "steps": self.steps,
            "replicates": self.replicates,
            "seeds": self.seeds,
            "scenarios": self.scenarios,
            "descriptions": self.descriptions,
            "points": self.points,
            "interactions": [i.model_dump() for i in self.config.interactions],
            "heatmap_steps": self.heatmap_steps(),
        }

    def config_hash(self) -> str:
        """sha256 of :meth:`resolved_config`."""
        text = json.dumps(self.resolved_config(), sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()

    def heatmap_steps(self) -> list[int]:
        """Steps at which the report shows heat maps."""
        if self.config.heatmap_steps:
            return sorted({min(s, self.steps - 1) for s in self.config.heatmap_steps})
        s = self.reference_step
        cand = [max(0, s - 1), min(self.steps - 1, s + 24), self.steps - 1]
        return sorted(set(cand))


# An alias used in type hints of callers that only need the spec side.
ExperimentSpec = Experiment


def replicate_seeds(seed: int, replicates: int) -> list[int]:
    """Seeds of replicates ``0..R-1``: ``SeedSequence(seed).spawn(R)``, 63-bit.

    Replicate ``i`` gets the same seed whatever ``R`` is, so extending an experiment's
    replicates keeps the runs already stored.
    """
    children = np.random.SeedSequence(seed).spawn(replicates)
    return [int(c.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1)) for c in children]


def apply_point(base: dict[str, Any], point: dict[str, Any], source: str) -> dict[str, Any]:
    """A scenario dict with a parameter point applied and validated."""
    from i4p_sim.config.loading import set_path, validate_scenario

    if not point:
        return base
    data = copy.deepcopy(base)
    for path, value in point.items():
        try:
            data = set_path(data, path, value, source=source)
        except ConfigError as err:
            raise ConfigError(source, f"axes.{path}", err.message) from None
    try:
        return validate_scenario(data, source).to_dict()
    except ConfigError as err:
        raise ConfigError(source, f"axes/sample: {err.field}", err.message) from None


def _resolve_scenario(
    file: Path,
    sets: list[str],
    exp_source: str,
    where: str,
    name: str,
    common: dict[str, Any],
    shocks: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    from i4p_sim.config.loading import (
        apply_set,
        resolve_extends,
        validate_scenario,
        with_default_lists,
    )

    if not file.exists():
        raise ConfigError(exp_source, where, f"scenario file not found: {file}")
    try:
        data = resolve_extends(file)
    except ConfigError as err:
        raise ConfigError(exp_source, where, f"in {err.one_line()}") from None
    data = with_default_lists(data)
    data["name"] = name
    if shocks is not None:
        data["shocks"] = copy.deepcopy(shocks)
    for assignment in sets:
        try:
            data = apply_set(data, assignment)
        except ConfigError as err:
            raise ConfigError(exp_source, f"{where}.set", err.one_line()) from None
    data.update(common)
    try:
        return validate_scenario(data, str(file)).to_dict()
    except ConfigError as err:
        raise ConfigError(exp_source, f"{where} ({name})", err.one_line()) from None


def load_experiment(
    path: str | Path,
    *,
    replicates: int | None = None,
    steps: int | None = None,
) -> Experiment:
    """Load and validate an experiment file.

    Parameters
    ----------
    path : str or Path
        The experiment TOML file.
    replicates, steps : int, optional
        Override the file's replicates and steps (the CLI's quick-look flags).

    Returns
    -------
    Experiment

    Raises
    ------
    ConfigError
        One line naming the file, the field and what is allowed.
    """
    from i4p_sim.config.loading import read_toml

    p = Path(path)
    source = str(path)
    raw = read_toml(p)
    if "experiment" in raw:
        table = raw.pop("experiment")
        if not isinstance(table, dict):
            raise ConfigError(source, "experiment", "must be a table")
        for key, value in table.items():
            if key in raw:
                raise ConfigError(
                    source, f"experiment.{key}", "given twice (in [experiment] and at top level)"
                )
            raw[key] = value
    raw.setdefault("name", p.stem)
    if replicates is not None:
        raw["replicates"] = replicates
    if steps is not None:
        raw["steps"] = steps
    try:
        cfg = ExperimentConfig.model_validate(raw)
    except ValidationError as exc:
        raise _pydantic_error(source, exc) from None

    if not cfg.scenarios and not cfg.base and not cfg.variants:
        raise ConfigError(source, "scenarios", "name scenario files, or give base and [[variants]]")
    if cfg.axes and cfg.sample is not None:
        raise ConfigError(source, "axes", "give [axes] or [sample], not both")

    common: dict[str, Any] = {}
    if cfg.steps is not None:
        common["steps"] = cfg.steps
    if cfg.kernel is not None:
        common["kernel"] = cfg.kernel

    here = p.parent
    scenarios: dict[str, dict[str, Any]] = {}
    descriptions: dict[str, str] = {}

    def add(name: str, data: dict[str, Any], where: str) -> None:
        if name in scenarios:
            raise ConfigError(source, where, f"duplicate scenario name '{name}'")
        scenarios[name] = data
        descriptions[name] = str(data.get("description", ""))

    for i, ref in enumerate(cfg.scenarios):
        where = f"scenarios.{i}"
        if isinstance(ref, str):
            ref = ScenarioRef(file=ref)
        file = here / ref.file
        name = ref.name or Path(ref.file).stem
        add(name, _resolve_scenario(file, [*cfg.set, *ref.set], source, where, name, common), where)
    if cfg.base is not None and not cfg.variants:
        name = Path(cfg.base).stem
        add(name, _resolve_scenario(here / cfg.base, cfg.set, source, "base", name, common), "base")
    for i, var in enumerate(cfg.variants):
        where = f"variants.{i}"
        if var.file is None and cfg.base is None:
            raise ConfigError(source, "base", "required when a variant has no 'file'")
        data = _resolve_scenario(
            here / (var.file or cfg.base),
            [*cfg.set, *var.set],
            source,
            where,
            var.name,
            common,
            var.shocks,
        )
        if var.description:
            data["description"] = var.description
        add(var.name, data, where)

    baseline = cfg.baseline or next(iter(scenarios))
    if baseline not in scenarios:
        raise ConfigError(
            source, "baseline", f"'{baseline}' is not a scenario; allowed: {', '.join(scenarios)}"
        )
    for i, inter in enumerate(cfg.interactions):
        for cell in ("none", "a", "b", "ab"):
            if getattr(inter, cell) not in scenarios:
                raise ConfigError(
                    source,
                    f"interactions.{i}.{cell}",
                    f"'{getattr(inter, cell)}' is not a scenario of this experiment",
                )

    run_steps = {d["steps"] for d in scenarios.values()}
    if len(run_steps) != 1:
        raise ConfigError(
            source, "steps", f"scenarios differ in steps {sorted(run_steps)}; set steps here"
        )
    n_steps = run_steps.pop()
    if cfg.reference_step is not None:
        if cfg.reference_step >= n_steps:
            raise ConfigError(
                source, "reference_step", f"got {cfg.reference_step}; must be < steps ({n_steps})"
            )
        ref_step = cfg.reference_step
    else:
        firsts = [min(s["at"] for s in d["shocks"]) for d in scenarios.values() if d["shocks"]]
        ref_step = min(min(firsts), n_steps - 1) if firsts else n_steps // 2
    for d in scenarios.values():
        d["reference_step"] = ref_step
    for i, s in enumerate(cfg.heatmap_steps):
        if s >= n_steps:
            raise ConfigError(source, f"heatmap_steps.{i}", f"got {s}; must be < steps ({n_steps})")

    points = _points(cfg, source)
    exp = Experiment(
        name=cfg.name,
        source=source,
        config=cfg,
        scenarios=scenarios,
        points=points,
        seeds=replicate_seeds(cfg.seed, cfg.replicates),
        baseline=baseline,
        reference_step=ref_step,
        steps=n_steps,
        descriptions=descriptions,
    )
    # validate every scenario x point now, so `i4p check` catches bad combinations
    for data in scenarios.values():
        for point in points:
            apply_point(data, point, source)
    return exp


def _points(cfg: ExperimentConfig, source: str) -> list[dict[str, Any]]:
    if cfg.axes:
        axes = _flatten(cfg.axes)
        for path, values in axes.items():
            if not isinstance(values, list) or not values:
                raise ConfigError(source, f"axes.{path}", "must be a non-empty list of values")
        names = list(axes)
        return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*axes.values())]
    if cfg.sample is None:
        return [{}]
    from scipy.stats import qmc

    sample = cfg.sample
    ranges = _flatten(sample.ranges)
    if not ranges:
        raise ConfigError(source, "sample.ranges", "name at least one dotted.path = [low, high]")
    lows, highs = [], []
    for path, rng in ranges.items():
        where = f"sample.ranges.{path}"
        if (
            not isinstance(rng, list)
            or len(rng) != 2
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in rng)
        ):
            raise ConfigError(source, where, "must be [low, high] (two numbers)")
        if not (math.isfinite(rng[0]) and math.isfinite(rng[1])) or rng[0] >= rng[1]:
            raise ConfigError(source, where, f"got {rng}; need finite low < high")
        lows.append(float(rng[0]))
        highs.append(float(rng[1]))
    for i, path in enumerate(sample.integers):
        if path not in ranges:
            raise ConfigError(source, f"sample.integers.{i}", f"'{path}' is not in sample.ranges")
    d = len(ranges)
    if sample.method == "lhs":
        unit = qmc.LatinHypercube(d=d, seed=sample.seed).random(sample.n)
    else:
        if sample.n & (sample.n - 1):
            raise ConfigError(
                source, "sample.n", f"got {sample.n}; Sobol needs a power of 2 (e.g. 64, 128)"
            )
        unit = qmc.Sobol(d=d, scramble=True, seed=sample.seed).random(sample.n)
    scaled = qmc.scale(unit, lows, highs)
    points = []
    for row in scaled:
        point: dict[str, Any] = {}
        for path, value in zip(ranges, row, strict=True):
            point[path] = int(round(value)) if path in sample.integers else float(value)
        points.append(point)
    return points


# --------------------------------------------------------------------------- worker


def _limit_threads() -> None:
    for name in THREAD_ENV:
        os.environ[name] = "1"


def _worker_init() -> None:
    """Process-pool initializer: one thread per worker, Ctrl-C handled by the driver."""
    import signal

    _limit_threads()
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def run_batch(specs: list[RunSpec]) -> tuple[list[dict[str, Any]], pd.DataFrame | None]:
    """Run a batch of runs in a worker.

    Parameters
    ----------
    specs : list of RunSpec
        The runs.

    Returns
    -------
    rows : list of dict
        One row per run (ids, parameters, summary metrics, status, error, wall_s).
    series : pandas.DataFrame or None
        Per-step measures of the ok runs, keyed by run_id, scenario, replicate, point, step.
    """
    _limit_threads()
    from i4p_sim.config.loading import scenario_from_dict
    from i4p_sim.core.field import warm_up
    from i4p_sim.sim.model import I4PModel
    from i4p_sim.stats.metrics import summary_metrics

    failing = {s.strip() for s in os.environ.get(FAIL_ENV, "").split(",") if s.strip()}
    # JIT-compile (or load from numba's cache) once per worker process, outside the runs'
    # timings: later calls are no-ops, so no run of a sweep pays the compilation
    for kernel in sorted({s.scenario_dict.get("kernel", "numpy") for s in specs}):
        with contextlib.suppress(Exception):  # a missing numba fails the runs themselves
            warm_up(kernel)
    rows: list[dict[str, Any]] = []
    frames: list[pd.DataFrame] = []
    for spec in specs:
        t0 = time.perf_counter()
        row: dict[str, Any] = {
            "run_id": spec.run_id,
            "scenario": spec.scenario,
            "replicate": spec.replicate,
            "point": spec.point,
            "seed": spec.seed,
            **spec.params,
        }
        try:
            if spec.scenario in failing:
                raise RuntimeError(f"{FAIL_ENV} test hook: scenario '{spec.scenario}' fails")
            scenario = scenario_from_dict(spec.scenario_dict, spec.scenario)
            model = I4PModel(scenario, communities=False)
            model.run()
            series = model.series()
            metrics = summary_metrics(
                series, scenario.resolved_reference_step(), window=spec.window
            )
            row.update(metrics)
            row["status"] = "ok"
            row["error"] = ""
            frame = series.reset_index()
            frame.insert(0, "point", spec.point)
            frame.insert(0, "replicate", spec.replicate)
            frame.insert(0, "scenario", spec.scenario)
            frame.insert(0, "run_id", spec.run_id)
            frames.append(frame)
        except Exception:  # noqa: BLE001 - a failing run is recorded, the sweep goes on
            row.update(dict.fromkeys(SUMMARY_KEYS, None))
            row["status"] = "failed"
            row["error"] = traceback.format_exc()
        row["wall_s"] = time.perf_counter() - t0
        rows.append(row)
    series_out = pd.concat(frames, ignore_index=True) if frames else None
    return rows, series_out


# --------------------------------------------------------------------------- executors


@contextlib.contextmanager
def make_executor(
    workers: int | None = None,
    scheduler: str | None = None,
    dask_local: int | None = None,
) -> Iterator[tuple[cf.Executor, str, int]]:
    """Yield ``(executor, description, slots)`` and shut everything down afterwards.

    Parameters
    ----------
    workers : int, optional
        Local process pool size (default ``os.cpu_count()``); used when neither Dask
        option is given.
    scheduler : str, optional
        Address of an existing Dask scheduler (``tcp://HOST:PORT``).
    dask_local : int, optional
        Start a Dask ``LocalCluster`` of this many single-threaded worker processes.
    """
    # inherited by spawned workers before they import numpy
    for name in THREAD_ENV:
        os.environ.setdefault(name, "1")
    if scheduler or dask_local:
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise ConfigError(
                "command line",
                "--scheduler" if scheduler else "--dask-local",
                "Dask is not installed; pip install 'i4p-sim[distributed]'",
            ) from None
        cluster = None
        try:
            if scheduler:
                try:
                    client = Client(scheduler, timeout="10s")
                except (OSError, TimeoutError, ValueError) as exc:
                    raise ConfigError(
                        "command line",
                        "--scheduler",
                        f"cannot connect to {scheduler!r}: {exc}".splitlines()[0],
                    ) from None
                desc = f"dask {scheduler}"
            else:
                cluster = LocalCluster(
                    n_workers=dask_local,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                )
                client = Client(cluster)
                desc = f"dask LocalCluster({dask_local} workers)"
            client.run(_limit_threads)
            slots = max(1, sum(client.nthreads().values()))
            try:
                yield client.get_executor(pure=False), desc, slots
            finally:
                client.close()
        finally:
            if cluster is not None:
                cluster.close()
        return
    import multiprocessing as mp

    n = workers or os.cpu_count() or 1
    ctx = mp.get_context("spawn")
    pool = cf.ProcessPoolExecutor(max_workers=n, mp_context=ctx, initializer=_worker_init)
    try:
        yield pool, f"process pool ({n} workers, spawn)", n
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


# --------------------------------------------------------------------------- store


class Store:
    """The results directory of one experiment (see the module docstring)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.runs_dir = self.root / "runs"
        self.series_dir = self.root / "series"
        self._counter = 0

    def clear(self) -> None:
        """Delete what a sweep wrote (and nothing else in the directory)."""
        for sub in (self.runs_dir, self.series_dir):
            if sub.exists():
                shutil.rmtree(sub)
        for name in ("runs.parquet", "manifest.json", "report.html"):
            (self.root / name).unlink(missing_ok=True)

    def prepare(self) -> None:
        """Create the directories; drop orphan series chunks and stale temp files."""
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        self.series_dir.mkdir(parents=True, exist_ok=True)
        for d in (self.runs_dir, self.series_dir):
            for tmp in d.glob(".*.tmp"):
                tmp.unlink(missing_ok=True)
        runs_parts = {p.name for p in self.runs_dir.glob("part-*.parquet")}
        for part in self.series_dir.glob("part-*.parquet"):
            if part.name not in runs_parts:
                part.unlink(missing_ok=True)

    def _part_name(self) -> str:
        self._counter += 1
        return f"part-{time.time_ns():020d}-{os.getpid()}-{self._counter:06d}.parquet"

    def write_batch(self, rows: list[dict[str, Any]], series: pd.DataFrame | None) -> None:
        """Write one batch: its series chunk first, then its run chunk (the commit)."""
        from i4p_sim.sweep.storage import atomic_write_parquet

        name = self._part_name()
        if series is not None and len(series):
            atomic_write_parquet(self.series_dir / name, series)
        frame = pd.DataFrame(rows)
        frame["error"] = frame["error"].astype(str)
        frame["finished"] = time.time_ns()
        atomic_write_parquet(self.runs_dir / name, frame)

    def stored_status(self) -> dict[str, str]:
        """run_id -> latest status over all run chunks."""
        import pyarrow.parquet as pq

        status: dict[str, str] = {}
        for part in sorted(self.runs_dir.glob("part-*.parquet")):
            table = pq.read_table(part, columns=["run_id", "status"])
            for rid, st in zip(
                table.column("run_id").to_pylist(), table.column("status").to_pylist(), strict=True
            ):
                status[rid] = st
        return status

    def assemble(self, expected: set[str] | None = None) -> pd.DataFrame:
        """Assemble runs.parquet from the chunks (latest row per run id wins)."""
        from i4p_sim.sweep.storage import atomic_write_parquet

        parts = sorted(self.runs_dir.glob("part-*.parquet"))
        if parts:
            frame = pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)
            frame = frame.sort_values("finished", kind="stable")
            frame = frame.drop_duplicates("run_id", keep="last")
            if expected is not None:
                frame = frame[frame["run_id"].isin(expected)]
            frame = frame.drop(columns=["finished"])
            frame = frame.astype(_METRIC_DTYPES)
            frame = frame.sort_values(["replicate", "point", "scenario"], kind="stable")
            frame = frame.reset_index(drop=True)
        else:
            frame = pd.DataFrame(
                columns=["run_id", "scenario", "replicate", "point", "seed", *SUMMARY_KEYS]
                + ["status", "error", "wall_s"]
            )
        atomic_write_parquet(self.root / "runs.parquet", frame)
        return frame

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        """Write manifest.json atomically."""
        from i4p_sim.sweep.storage import atomic_write_text

        atomic_write_text(
            self.root / "manifest.json", json.dumps(manifest, indent=2, default=str) + "\n"
        )


def read_runs(results: str | Path) -> pd.DataFrame:
    """Read ``runs.parquet`` of a results directory (ConfigError if it is not one)."""
    root = Path(results)
    path = root / "runs.parquet"
    if not root.is_dir():
        raise ConfigError(str(root), "", "not a directory; expected a sweep's results directory")
    if not path.exists():
        raise ConfigError(str(root), "runs.parquet", "not found; run 'i4p sweep' first")
    return pd.read_parquet(path)


def read_manifest(results: str | Path) -> dict[str, Any]:
    """Read ``manifest.json`` of a results directory (``{}`` if missing)."""
    path = Path(results) / "manifest.json"
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(str(path), "", f"unreadable manifest: {exc}") from None


# --------------------------------------------------------------------------- provenance


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for pkg in (
        "i4p-sim",
        "numpy",
        "scipy",
        "pandas",
        "pyarrow",
        "mesa",
        "pydantic",
        "numba",
        "dask",
        "distributed",
        "plotly",
    ):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            pass
    return out


def _git_revision() -> str | None:
    here = Path(__file__).resolve().parent
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5
        )
        if rev.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=5,
        )
        return rev.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# --------------------------------------------------------------------------- driver


@dataclass
class SweepResult:
    """What :func:`run_experiment` returns."""

    experiment: Experiment
    out: Path
    runs: pd.DataFrame
    ran: int
    skipped: int
    failed: int
    wall_s: float
    report: Path | None = None


# work per task worth its overhead: ~0.3 s of model time (a 64x64, 240-step run is ~1M)
_CELL_STEPS_PER_TASK = 4_000_000


def _batch_size(first: RunSpec | None, n_pending: int, slots: int) -> int:
    """Runs per task: enough to amortise a task's overhead on tiny runs, never so many that
    long runs leave a worker idle at the end (at least 6 tasks per worker when possible)."""
    by_count = math.ceil(n_pending / (slots * 6))
    if first is None:
        return max(1, min(16, by_count))
    grid = first.scenario_dict.get("grid", {})
    cell_steps = (
        grid.get("width", 64) * grid.get("height", 64) * first.scenario_dict.get("steps", 240)
    )
    by_cost = math.ceil(_CELL_STEPS_PER_TASK / max(cell_steps, 1))
    return max(1, min(16, by_count, by_cost))


def _batches(specs: Iterator[RunSpec], size: int) -> Iterator[list[RunSpec]]:
    while True:
        batch = list(itertools.islice(specs, size))
        if not batch:
            return
        yield batch


def _progress(total: int, desc: str):
    from tqdm.auto import tqdm

    return tqdm(
        total=total,
        desc=desc,
        unit="run",
        disable=not sys.stderr.isatty(),
        dynamic_ncols=True,
    )


def run_experiment(
    experiment: str | Path | Experiment,
    *,
    out: str | Path | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    dask_local: int | None = None,
    replicates: int | None = None,
    steps: int | None = None,
    fresh: bool = False,
    retry_failed: bool = False,
    report: bool = True,
    batch_size: int | None = None,
    progress: bool = True,
) -> SweepResult:
    """Run an experiment into a resumable results store.

    Parameters
    ----------
    experiment : str, Path or Experiment
        An experiment file or a loaded :class:`Experiment`.
    out : str or Path, optional
        Results directory (default ``results/<name>``).
    workers : int, optional
        Local worker processes (default: CPU count).
    scheduler : str, optional
        Dask scheduler address.
    dask_local : int, optional
        Start a Dask LocalCluster of this many workers.
    replicates, steps : int, optional
        Override the file's values (files only).
    fresh : bool
        Discard stored runs first.
    retry_failed : bool
        Rerun only the runs stored as failed.
    report : bool
        Write ``report.html`` at the end.
    batch_size : int, optional
        Runs per task (default: automatic, so each worker gets several tasks).
    progress : bool
        Show a tqdm bar (only when stderr is a terminal).

    Returns
    -------
    SweepResult
        The assembled runs table and counts.

    Raises
    ------
    ConfigError
        For a bad experiment, or when another sweep is writing the same directory.
    """
    if isinstance(experiment, Experiment):
        exp = experiment
    else:
        exp = load_experiment(experiment, replicates=replicates, steps=steps)
    root = Path(out) if out is not None else Path("results") / exp.name
    if root.exists() and not root.is_dir():
        raise ConfigError(str(root), "", "exists and is not a directory")
    from i4p_sim.sweep.storage import directory_lock

    # one sweep per directory: a second one would delete this one's files in flight
    with directory_lock(root):
        store = Store(root)
        if fresh:
            store.clear()
        store.prepare()

        t_start = time.perf_counter()
        started = _now()
        status = store.stored_status()
        expected: set[str] = set()
        n_pending = 0
        n_skipped = 0
        for spec in exp.iter_runs():
            expected.add(spec.run_id)
            st = status.get(spec.run_id)
            if st is None or (retry_failed and st == "failed"):
                n_pending += 1
            else:
                n_skipped += 1
        del status

        def pending() -> Iterator[RunSpec]:
            st = store.stored_status() if n_skipped else {}
            for spec in exp.iter_runs():
                s = st.get(spec.run_id)
                if s is None or (retry_failed and s == "failed"):
                    yield spec

        manifest: dict[str, Any] = {
            "experiment": exp.name,
            "source": exp.source,
            "versions": _versions(),
            "git_revision": _git_revision(),
            "config": exp.resolved_config(),
            "config_hash": exp.config_hash(),
            "total_runs": exp.total_runs(),
            "started": started,
            "finished": None,
            "status": "running",
            "executor": None,
            "command": " ".join(sys.argv),
        }
        previous = read_manifest(root)
        if previous.get("sessions"):
            manifest["sessions"] = previous["sessions"]
        manifest.setdefault("sessions", [])

        ran = failed = 0
        executor_desc = "none (nothing to run)"
        interrupted = False
        try:
            if n_pending:
                with make_executor(workers, scheduler, dask_local) as (executor, desc, slots):
                    executor_desc = desc
                    manifest["executor"] = desc
                    store.write_manifest(manifest)
                    size = batch_size or _batch_size(
                        next(iter(exp.iter_runs()), None), n_pending, slots
                    )
                    window = slots * 2
                    batches = _batches(pending(), size)
                    in_flight: set[cf.Future] = set()
                    last_assemble = time.monotonic()
                    bar = _progress(n_pending, exp.name) if progress else None
                    try:
                        while True:
                            while len(in_flight) < window:
                                batch = next(batches, None)
                                if batch is None:
                                    break
                                in_flight.add(executor.submit(run_batch, batch))
                            if not in_flight:
                                break
                            done, in_flight = cf.wait(in_flight, return_when=cf.FIRST_COMPLETED)
                            for fut in done:
                                rows, series = fut.result()
                                store.write_batch(rows, series)
                                del series
                                ran += len(rows)
                                failed += sum(r["status"] == "failed" for r in rows)
                                if bar is not None:
                                    bar.update(len(rows))
                            if time.monotonic() - last_assemble > 30:
                                store.assemble(expected)
                                last_assemble = time.monotonic()
                    except KeyboardInterrupt:
                        interrupted = True
                        for fut in in_flight:
                            fut.cancel()
                        raise
                    finally:
                        if bar is not None:
                            bar.close()
        finally:
            runs = store.assemble(expected)
            wall = time.perf_counter() - t_start
            manifest["finished"] = _now()
            manifest["status"] = (
                "interrupted"
                if interrupted
                else ("complete" if len(runs) == len(expected) else "partial")
            )
            manifest["executor"] = manifest["executor"] or executor_desc
            manifest["runs_ok"] = int((runs["status"] == "ok").sum()) if len(runs) else 0
            manifest["runs_failed"] = int((runs["status"] == "failed").sum()) if len(runs) else 0
            manifest["timings"] = {
                "wall_s": round(wall, 3),
                "runs_this_session": ran,
                "skipped_stored": n_skipped,
                "mean_run_wall_s": float(runs["wall_s"].mean()) if len(runs) else None,
                "sum_run_wall_s": float(runs["wall_s"].sum()) if len(runs) else None,
            }
            manifest["sessions"].append(
                {
                    "started": started,
                    "finished": manifest["finished"],
                    "executor": manifest["executor"],
                    "ran": ran,
                    "failed": failed,
                    "wall_s": round(wall, 3),
                    "interrupted": interrupted,
                }
            )
            store.write_manifest(manifest)

        result = SweepResult(exp, root, runs, ran, n_skipped, failed, time.perf_counter() - t_start)
        if report:
            from i4p_sim.report.html import write_report

            result.report = write_report(root)
            result.wall_s = time.perf_counter() - t_start
            manifest["timings"]["wall_s_with_report"] = round(result.wall_s, 3)
            store.write_manifest(manifest)
        return result


# --------------------------------------------------------------------------- commands


def sweep_command(args: Any) -> int:
    """``i4p sweep``: run an experiment; print where the results went."""
    if args.fresh and args.retry_failed:
        raise ConfigError("command line", "--retry-failed", "cannot be combined with --fresh")
    res = run_experiment(
        args.experiment,
        out=args.out,
        workers=args.workers,
        scheduler=args.scheduler,
        dask_local=args.dask_local,
        replicates=args.replicates,
        steps=args.steps,
        fresh=args.fresh,
        retry_failed=args.retry_failed,
        report=not args.no_report,
    )
    runs = res.runs
    n_ok = int((runs["status"] == "ok").sum()) if len(runs) else 0
    n_failed = int((runs["status"] == "failed").sum()) if len(runs) else 0
    print(
        f"{res.experiment.name}: {len(runs)}/{res.experiment.total_runs()} runs stored "
        f"({n_ok} ok, {n_failed} failed); ran {res.ran}, skipped {res.skipped} already stored; "
        f"{res.wall_s:.1f} s"
    )
    print(f"results: {res.out / 'runs.parquet'}, {res.out / 'series'}/, manifest.json")
    if res.report is not None:
        print(f"report:  {res.report}")
    if n_failed:
        print(
            f"{n_failed} run(s) failed (see the 'error' column); rerun with --retry-failed",
            file=sys.stderr,
        )
        return 1
    return 0


def effects_table(
    runs: pd.DataFrame,
    baseline: str,
    metrics: list[str] | tuple[str, ...],
    *,
    order: list[str] | None = None,
    n_resamples: int = 2000,
) -> pd.DataFrame:
    """Paired effects of every scenario against ``baseline`` (ok runs, paired on
    replicate and parameter point), via :func:`i4p_sim.analysis.paired_effects`.

    ``order`` lists the scenarios in the experiment's order (default: as stored)."""
    from i4p_sim.stats.paired import paired_effects

    pair_on = [c for c in PAIR_ON if c in runs.columns]
    present = set(runs.loc[runs["status"] == "ok", "scenario"])
    names = order if order is not None else list(pd.unique(runs["scenario"]))
    scenarios = [s for s in names if s != baseline and s in present]
    return paired_effects(
        runs,
        baseline,
        list(metrics),
        scenarios=scenarios,
        pair_on=pair_on,
        n_resamples=n_resamples,
    )


def interactions_table(
    runs: pd.DataFrame,
    interactions: list[dict[str, str]],
    metrics: list[str] | tuple[str, ...],
    *,
    n_resamples: int = 2000,
) -> pd.DataFrame:
    """Grassroots x top-down interaction per declared 2x2, additive and ratio scale."""
    from i4p_sim.stats.paired import interaction

    pair_on = [c for c in PAIR_ON if c in runs.columns]
    rows = []
    for inter in interactions:
        cells = {k: inter[k] for k in ("none", "a", "b", "ab")}
        for metric in metrics:
            for scale in ("additive", "ratio"):
                res = interaction(
                    runs, cells, metric, scale=scale, pair_on=pair_on, n_resamples=n_resamples
                )
                rows.append(
                    {
                        "interaction": inter["name"],
                        "metric": metric,
                        "scale": scale,
                        "estimate": res["estimate"],
                        "ci_low": res["ci_low"],
                        "ci_high": res["ci_high"],
                        "n": res["n"],
                        "note": res["reason"] or "",
                    }
                )
    return pd.DataFrame(rows)


def funding_table(runs: pd.DataFrame, baseline: str, *, n_resamples: int = 2000) -> pd.DataFrame:
    """Violence averted per unit of funding: the baseline against every scenario that
    spends a different amount (paired runs; differences under 1% of the baseline's
    funding are skipped as noise)."""
    from i4p_sim.stats.paired import averted_per_funding

    pair_on = [c for c in PAIR_ON if c in runs.columns]
    ok = runs[runs["status"] == "ok"]
    scale = abs(float(ok.loc[ok["scenario"] == baseline, "funding_spent"].mean()))
    rows = []
    for scenario in pd.unique(ok["scenario"]):
        if scenario == baseline:
            continue
        res = averted_per_funding(
            runs, baseline, scenario, pair_on=pair_on, n_resamples=n_resamples
        )
        if res["n"] == 0 or not abs(res["extra_funding"]) > 0.01 * scale:
            continue
        rows.append(
            {
                "funded": baseline,
                "versus": scenario,
                "violence_averted": res["violence_averted"],
                "extra_funding": res["extra_funding"],
                "averted_per_funding": res["estimate"],
                "ci_low": res["ci_low"],
                "ci_high": res["ci_high"],
                "n": res["n"],
            }
        )
    return pd.DataFrame(rows)


def _fmt(x: Any) -> str:
    if isinstance(x, float | np.floating):
        if math.isnan(x):
            return "nan"
        if x == 0:
            return "0"
        return f"{x:.4g}"
    return str(x)


def format_table(frame: pd.DataFrame) -> str:
    """Plain aligned text table."""
    if frame.empty:
        return "(no rows)"
    cols = list(frame.columns)
    cells = [[_fmt(v) for v in row] for row in frame.itertuples(index=False)]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(cols)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True))]
    for r in cells:
        lines.append("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)))
    return "\n".join(lines)


def compare_command(args: Any) -> int:
    """``i4p compare``: paired effect table (estimate, CI, n) against the baseline."""
    runs = read_runs(args.results)
    manifest = read_manifest(args.results)
    config = manifest.get("config", {})
    ok = runs[runs["status"] == "ok"]
    if ok.empty:
        raise ConfigError(str(args.results), "runs.parquet", "no successful runs to compare")
    names = list(pd.unique(runs["scenario"]))
    baseline = args.baseline or config.get("baseline") or names[0]
    if baseline not in names:
        raise ConfigError(
            "command line", "--baseline", f"'{baseline}' not found; allowed: {', '.join(names)}"
        )
    metrics = list(args.metric or DEFAULT_METRICS)
    for m in metrics:
        if m not in SUMMARY_KEYS:
            raise ConfigError(
                "command line", "--metric", f"'{m}' unknown; allowed: {', '.join(SUMMARY_KEYS)}"
            )
    order = list(config.get("scenarios") or names)
    table = effects_table(runs, baseline, metrics, order=order)
    shown = table[["scenario", "metric", "estimate", "ci_low", "ci_high", "n", "ratio"]]
    print(
        f"paired differences (scenario - {baseline}), mean over replicates with 95% "
        f"bootstrap CI; {int(ok['replicate'].nunique())} replicates"
    )
    print(format_table(shown))
    inter = config.get("interactions") or []
    if inter:
        itab = interactions_table(runs, inter, [m for m in metrics if m in DEFAULT_METRICS[:3]])
        print("\n2 x 2 interactions ((ab - b) - (a - none); ratio scale: 1 = no interaction)")
        print(format_table(itab))
    ftab = funding_table(runs, baseline)
    if not ftab.empty:
        print(f"\nviolence averted per unit of funding ({baseline} versus each scenario)")
        print(format_table(ftab))
    if args.csv:
        from i4p_sim.sweep.storage import atomic_write_text

        atomic_write_text(args.csv, table.to_csv(index=False))
        print(f"wrote {args.csv}")
    return 0

"""Experiment files: schema, scenario resolution, parameter points and replicate seeds.

An experiment (TOML in ``experiments/``) names scenarios (or one ``base`` plus
``[[variants]]``), optional parameter ``[axes]`` (a full grid) or a ``[sample]`` (Latin
hypercube or scrambled Sobol, :mod:`scipy.stats.qmc`), ``replicates``, ``steps`` and one
``reference_step`` used for every scenario's summary metrics; or an ``ensemble`` whose
members are the points (:mod:`i4p_sim.config.ensemble`).

Twins (docs/ODD.md 4.9): every shocked scenario is measured against a counterfactual
twin, declared per scenario or variant (``twin = "NAME"``) or by default the scenario of
the experiment that equals it without its shocks (in a factorial, the no-shock variant with
the same tiers). If there is none, the sweep adds the twin's runs itself under the name
``<scenario>~twin`` (the scenario with ``shocks = []``): an implicit twin is friendlier than
an error and costs exactly the runs the paired metrics need. For each twin the sweep also
runs ``noise_pairs`` null-perturbed replicates, ``<twin>~null`` (the twin with its violence
stream re-seeded at the reference step), whose pairs with the twin give the recovery
tolerance. Unshocked scenarios are their own twins (paired metrics exactly 0).

:func:`load_experiment` validates every scenario and every scenario x parameter point once
and keeps the validated :class:`~i4p_sim.config.scenario.Scenario` objects, so ``i4p
check`` catches a bad combination and a sweep never validates again.

Common random numbers: replicate ``i`` of every scenario and every parameter point runs
with the same seed, ``SeedSequence(experiment_seed).spawn(R)[i]`` (:func:`replicate_seeds`),
so comparisons are paired.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from i4p_sim.config.ensemble import ensemble_points
from i4p_sim.config.errors import ConfigError
from i4p_sim.config.experiment_schema import ExperimentConfig, ScenarioRef, experiment_error
from i4p_sim.config.horizon import check_shocks_in_horizon
from i4p_sim.config.limits import check_sweep_size, count_points
from i4p_sim.config.loading import (
    apply_set,
    flatten_dotted,
    read_toml,
    resolve_extends,
    resolve_files,
    set_path,
    validate_scenario,
    with_default_lists,
)
from i4p_sim.config.sampling import design_record, sample_points, sample_ranges, sample_size
from i4p_sim.config.scenario import Scenario
from i4p_sim.config.twins import NULL_SUFFIX, TWIN_SUFFIX, resolve_twins

__all__ = [
    "NULL_SUFFIX",
    "TWIN_SUFFIX",
    "Experiment",
    "ExperimentConfig",
    "apply_point",
    "load_experiment",
    "replicate_seeds",
]

#: Steps after the reference step of the middle default heat map.
HEATMAP_AFTER_REFERENCE = 24


def replicate_seeds(seed: int, replicates: int, spawn_key: tuple[int, ...] = ()) -> list[int]:
    """Seeds of replicates ``0..R-1``: ``SeedSequence(seed, spawn_key).spawn(R)``, 63-bit.

    Replicate ``i`` gets the same seed whatever ``R`` is, so extending an experiment's
    replicates keeps the runs already stored. ``spawn_key`` keys an independent family
    (e.g. the calibration's held-out reruns per member).
    """
    children = np.random.SeedSequence(seed, spawn_key=spawn_key).spawn(replicates)
    return [int(c.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1)) for c in children]


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
        Scenario name -> validated :class:`Scenario` (steps, reference step and kernel
        applied; the seed is set per run).
    points : list of dict
        Parameter points (dotted path -> value); ``[{}]`` without axes or sample.
    seeds : list of int
        Seed of each replicate (common random numbers).
    at_points : dict
        ``(scenario name, point index)`` -> the validated scenario with that point applied.
    notes : list of str
        One-line notes for the user: reference and heat-map steps past a ``steps``
        override's horizon, clamped to its last month.
    """

    name: str
    source: str
    config: ExperimentConfig
    scenarios: dict[str, Scenario]
    points: list[dict[str, Any]]
    seeds: list[int]
    baseline: str
    reference_step: int
    steps: int
    descriptions: dict[str, str] = field(default_factory=dict)
    at_points: dict[tuple[str, int], Scenario] = field(default_factory=dict)
    twins: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Scenario] = field(default_factory=dict)
    nulls: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def replicates(self) -> int:
        """Number of replicates per scenario and point."""
        return len(self.seeds)

    @property
    def window(self) -> int:
        """Moving-average window of the summary metrics."""
        return self.config.window

    @property
    def param_names(self) -> list[str]:
        """Dotted parameter paths varied by the axes or sample."""
        return list(self.points[0]) if self.points else []

    @property
    def noise_pairs(self) -> int:
        """Null-perturbed replicates per twin and point (at most the replicates)."""
        return min(self.config.noise_pairs, len(self.seeds))

    def run_names(self, replicate: int) -> list[str]:
        """Scenario names that replicate ``replicate`` runs: the experiment's, its implicit
        twins, and the null-perturbed twins below :attr:`noise_pairs`."""
        names = [*self.scenarios, *(n for n in self.extra if n not in self.nulls.values())]
        if replicate < self.noise_pairs:
            names += list(self.nulls.values())
        return names

    def total_runs(self) -> int:
        """(Scenarios + implicit twins) x points x replicates + null-perturbed runs."""
        n_main = len(self.scenarios) + len(self.extra) - len(self.nulls)
        per_point = n_main * len(self.seeds) + len(self.nulls) * self.noise_pairs
        return per_point * len(self.points)

    def reseed_at(self, name: str) -> int | None:
        """The step at which the runs of ``name`` re-seed their decisions stream (nulls)."""
        return self.reference_step if name in set(self.nulls.values()) else None

    def largest_cells(self) -> int:
        """Cells of the largest grid of any scenario at any point (for the memory check)."""
        shapes = [sc.grid for sc in (*self.scenarios.values(), *self.at_points.values())]
        return max((g.width * g.height for g in shapes), default=0)

    def scenario_at(self, name: str, point: int) -> Scenario:
        """The validated scenario ``name`` with parameter point ``point`` applied."""
        key = (name, point)
        if key in self.at_points:
            return self.at_points[key]
        return self.scenarios[name] if name in self.scenarios else self.extra[name]

    def heatmap_steps(self) -> list[int]:
        """Steps at which the report shows heat maps (and runs store snapshots)."""
        if self.config.heatmap_steps:
            return sorted({min(s, self.steps - 1) for s in self.config.heatmap_steps})
        s = self.reference_step
        cand = [max(0, s - 1), min(self.steps - 1, s + HEATMAP_AFTER_REFERENCE), self.steps - 1]
        return sorted(set(cand))

    def resolved_config(self) -> dict[str, Any]:
        """The fully resolved experiment (JSON-serialisable) for the manifest; a sensitivity
        design (morris, saltelli) adds ``design`` for ``i4p sensitivity``."""
        resolved = {
            "name": self.name,
            "source": self.source,
            "file": self.config.model_dump(mode="json", exclude_none=True),
            "baseline": self.baseline,
            "reference_step": self.reference_step,
            "steps": self.steps,
            "window": self.window,
            "replicates": self.replicates,
            "seeds": self.seeds,
            "scenarios": {name: sc.to_dict() for name, sc in self.scenarios.items()},
            "descriptions": self.descriptions,
            "points": self.points,
            "interactions": [i.model_dump() for i in self.config.interactions],
            "heatmap_steps": self.heatmap_steps(),
            "snapshot_replicates": self.config.snapshot_replicates,
            "twins": self.twins,
            "implicit": {name: sc.to_dict() for name, sc in self.extra.items()},
            "nulls": self.nulls,
            "noise_pairs": self.noise_pairs,
        }
        design = design_record(self.config.sample, self.source) if self.config.sample else None
        if design is not None:  # only for sensitivity designs: other hashes stay as they were
            resolved["design"] = design
        return resolved

    def config_hash(self) -> str:
        """sha256 of :meth:`resolved_config`."""
        text = json.dumps(self.resolved_config(), sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()


def apply_point(base: Scenario, point: dict[str, Any], source: str) -> Scenario:
    """``base`` with a parameter point (dotted path -> value) applied, validated once.

    An empty point returns ``base`` itself.
    """
    if not point:
        return base
    data = base.to_dict()
    for path, value in point.items():
        try:
            for one in _shock_kind_paths(data, path):
                data = set_path(data, one, value, source=source)
        except ConfigError as err:
            raise ConfigError(source, f"axes.{path}", err.message) from None
    try:
        return validate_scenario(data, source)
    except ConfigError as err:
        raise ConfigError(source, f"axes/sample: {err.field}", err.message) from None


def _shock_kind_paths(data: dict[str, Any], path: str) -> list[str]:
    """``shocks.KIND.FIELD`` (the form of experiments/priors.toml) -> ``shocks.I.FIELD`` for
    every shock ``I`` of that kind (none in a twin without shocks); any other path ->
    itself."""
    parts = path.split(".")
    if len(parts) != 3 or parts[0] != "shocks" or parts[1].isdigit():
        return [path]
    return [
        f"shocks.{i}.{parts[2]}"
        for i, shock in enumerate(data.get("shocks") or [])
        if shock.get("kind") == parts[1]
    ]


def _check_shock_kinds(points: list[dict[str, Any]], scenarios: dict[str, Scenario], source: str):
    """A ``shocks.KIND.FIELD`` parameter needs a scenario with a ``KIND`` shock."""
    kinds = {shock.kind for sc in scenarios.values() for shock in sc.shocks}
    for path in points[0] if points else {}:
        parts = path.split(".")
        if len(parts) == 3 and parts[0] == "shocks" and not parts[1].isdigit():
            if parts[1] not in kinds:
                raise ConfigError(
                    source,
                    f"sample.ranges.{path}",
                    f"no scenario here has a '{parts[1]}' shock; leave it out (sample.exclude)",
                )


def _resolve_scenario(
    file: Path,
    sets: list[str],
    exp_source: str,
    where: str,
    name: str,
    common: dict[str, Any],
    shocks: list[dict[str, Any]] | None = None,
    description: str = "",
) -> Scenario:
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
    try:  # a map or sites path given by a set: relative to the experiment file
        data = resolve_files(data, Path(exp_source))
    except ConfigError as err:
        raise ConfigError(exp_source, f"{where}.set: {err.field}", err.message) from None
    data.update(common)
    if description:
        data["description"] = description
    try:
        return validate_scenario(data, str(file))
    except ConfigError as err:
        raise ConfigError(exp_source, f"{where} ({name})", err.one_line()) from None


def _read_experiment(
    p: Path, source: str, replicates: int | None, steps: int | None
) -> ExperimentConfig:
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
        raise experiment_error(source, exc) from None
    if not cfg.scenarios and not cfg.base and not cfg.variants:
        raise ConfigError(source, "scenarios", "name scenario files, or give base and [[variants]]")
    if cfg.axes and cfg.sample is not None:
        raise ConfigError(source, "axes", "give [axes] or [sample], not both")
    return cfg


def _scenarios(cfg: ExperimentConfig, here: Path, source: str) -> dict[str, Scenario]:
    common: dict[str, Any] = {}
    if cfg.steps is not None:
        common["steps"] = cfg.steps
    if cfg.kernel is not None:
        common["kernel"] = cfg.kernel
    scenarios: dict[str, Scenario] = {}

    def add(scenario: Scenario, where: str) -> None:
        if scenario.name in scenarios:
            raise ConfigError(source, where, f"duplicate scenario name '{scenario.name}'")
        scenarios[scenario.name] = scenario

    for i, ref in enumerate(cfg.scenarios):
        where = f"scenarios.{i}"
        if isinstance(ref, str):
            ref = ScenarioRef(file=ref)
        name = ref.name or Path(ref.file).stem
        sets = [*cfg.set, *ref.set]
        add(_resolve_scenario(here / ref.file, sets, source, where, name, common), where)
    if cfg.base is not None and not cfg.variants:
        name = Path(cfg.base).stem
        add(_resolve_scenario(here / cfg.base, cfg.set, source, "base", name, common), "base")
    for i, var in enumerate(cfg.variants):
        where = f"variants.{i}"
        if var.file is None and cfg.base is None:
            raise ConfigError(source, "base", "required when a variant has no 'file'")
        scenario = _resolve_scenario(
            here / (var.file or cfg.base),
            [*cfg.set, *var.set],
            source,
            where,
            var.name,
            common,
            var.shocks,
            var.description,
        )
        add(scenario, where)
    return scenarios


def _check_names(cfg: ExperimentConfig, scenarios: dict[str, Scenario], source: str) -> str:
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
    for i, pair in enumerate(cfg.report.contrasts if cfg.report else []):
        for j, name in enumerate(pair):
            if name not in scenarios:
                raise ConfigError(
                    source,
                    f"report.contrasts.{i}.{j}",
                    f"'{name}' is not a scenario; allowed: {', '.join(scenarios)}",
                )
        if pair[0] == pair[1]:
            raise ConfigError(source, f"report.contrasts.{i}", f"compares '{pair[0]}' with itself")
    return baseline


def _steps_and_reference(
    cfg: ExperimentConfig, scenarios: dict[str, Scenario], source: str, overridden: bool
) -> tuple[int, int, list[str]]:
    """The common steps, the reference step and notes on what a ``steps`` override clamped.

    A reference step or heat-map step past the last month is an error in the file itself,
    and clamped to the last month (with a note) when ``steps`` comes from the caller
    (``--steps``), so that a quick run of any experiment works.
    """
    run_steps = {sc.steps for sc in scenarios.values()}
    if len(run_steps) != 1:
        raise ConfigError(
            source, "steps", f"scenarios differ in steps {sorted(run_steps)}; set steps here"
        )
    n_steps = run_steps.pop()
    last = n_steps - 1
    notes: list[str] = []
    if cfg.reference_step is not None:
        ref_step = cfg.reference_step
        if ref_step > last and overridden:
            notes.append(
                f"{source}: reference_step {ref_step} is past the last month of a {n_steps}-step "
                f"run; clamped to {last}"
            )
            ref_step = last
        elif ref_step > last:
            raise ConfigError(
                source, "reference_step", f"got {ref_step}; must be < steps ({n_steps})"
            )
    else:
        firsts = [min(s.at for s in sc.shocks) for sc in scenarios.values() if sc.shocks]
        ref_step = min(min(firsts), last) if firsts else n_steps // 2
    late = [s for s in cfg.heatmap_steps if s > last]
    if late and overridden:
        shown = ", ".join(map(str, late))
        notes.append(
            f"{source}: heatmap_steps {shown} past the last month of a {n_steps}-step run; "
            f"clamped to {last}"
        )
    elif late:
        i = cfg.heatmap_steps.index(late[0])
        raise ConfigError(
            source, f"heatmap_steps.{i}", f"got {late[0]}; must be < steps ({n_steps})"
        )
    return n_steps, ref_step, notes


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
        Override the file's replicates and steps (the CLI's quick-look flags). Reference
        and heat-map steps past an overridden horizon are clamped to its last month, each
        clamp described in :attr:`Experiment.notes`.

    Returns
    -------
    Experiment
        With every scenario and every scenario x point validated (once).

    Raises
    ------
    ConfigError
        One line naming the file, the field and what is allowed; also for a shock past the
        last month of its run (:func:`~i4p_sim.config.horizon.check_shocks_in_horizon`).
    """
    p = Path(path)
    source = str(path)
    cfg = _read_experiment(p, source, replicates, steps)
    scenarios = _scenarios(cfg, p.parent, source)
    baseline = _check_names(cfg, scenarios, source)
    n_steps, ref_step, notes = _steps_and_reference(cfg, scenarios, source, steps is not None)
    # the common reference step is in range (checked above): no second validation needed
    scenarios = {
        name: sc.model_copy(update={"reference_step": ref_step}) for name, sc in scenarios.items()
    }
    # count before listing: seven 30-value axes are 22 billion points
    n_points = count_points(flatten_dotted(cfg.axes), None)
    if cfg.sample is not None:
        n_points = sample_size(cfg.sample, len(sample_ranges(cfg.sample, source)[0]))
    members, more_notes = ensemble_points(cfg, scenarios, source, apply_point)  # [] if none
    notes += more_notes
    n_points = len(members) or n_points
    field = "ensemble" if members else ("sample" if cfg.sample else "axes")
    check_sweep_size(len(scenarios), n_points, cfg.replicates, source, field=field)
    twins, extra, nulls = resolve_twins(cfg, scenarios, source)
    points = members or _points(cfg, source)
    if not members:  # an ensemble's shocks.KIND columns may name kinds not used here
        _check_shock_kinds(points, scenarios, source)
    at_points = {
        (name, p_idx): apply_point(sc, point, source)
        for p_idx, point in enumerate(points)
        if point
        for name, sc in {**scenarios, **extra}.items()
    }
    # a shock past the horizon would be ignored: refuse it, naming the steps that keep it
    check_shocks_in_horizon(
        [
            *((f"{name}: ", sc) for name, sc in scenarios.items()),
            *((f"{name} at point {i}: ", sc) for (name, i), sc in at_points.items()),
        ],
        source,
        flag="--steps" if steps is not None else "steps =",
    )
    return Experiment(
        name=cfg.name,
        source=source,
        config=cfg,
        scenarios=scenarios,
        points=points,
        seeds=replicate_seeds(cfg.seed, cfg.replicates),
        baseline=baseline,
        reference_step=ref_step,
        steps=n_steps,
        descriptions={name: sc.description for name, sc in scenarios.items()},
        at_points=at_points,
        twins=twins,
        extra=extra,
        nulls=nulls,
        notes=notes,
    )


def _points(cfg: ExperimentConfig, source: str) -> list[dict[str, Any]]:
    """The parameter points of ``[axes]`` (full grid) or ``[sample]``; ``[{}]`` if neither."""
    if cfg.axes:
        axes = flatten_dotted(cfg.axes)
        for path, values in axes.items():
            if not isinstance(values, list) or not values:
                raise ConfigError(source, f"axes.{path}", "must be a non-empty list of values")
        names = list(axes)
        return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*axes.values())]
    if cfg.sample is None:
        return [{}]
    return sample_points(cfg.sample, source)

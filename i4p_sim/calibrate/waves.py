"""Each wave of a calibration as an experiment through the sweep engine.

Wave ``k`` is written to ``RESULTS/wave_k/``: ``experiment.toml`` (the base scenario as
variant ``no_election`` and the election scenario as variant ``election``, its twin;
the calibration's replicates, seed, steps and ``set``), ``design.csv`` (the wave's
parameter points), then the sweep's own store (runs, series, manifest). The experiment is
loaded from that file and its points replaced by the design (each scenario x point
validated once, as :func:`~i4p_sim.config.experiment.load_experiment` does), and run with
:func:`~i4p_sim.sweep.driver.run_experiment`: executors, progress, failure isolation and
resume come from the sweep engine. Every point of every wave runs with the same replicate
seeds (common random numbers).

A killed calibration is resumed by running the same command: waves already stored are
skipped run by run, the designs are recomputed (deterministically) from the stored runs and
checked against each wave's ``design.csv``.

A prior path ``shocks.KIND.FIELD`` sets that field of every shock of that kind.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from i4p_sim.calibrate.design import Calibration
from i4p_sim.calibrate.statistics import ELECTION, NO_ELECTION, point_statistics
from i4p_sim.config.errors import ConfigError, RunFailed
from i4p_sim.config.experiment import Experiment, load_experiment
from i4p_sim.config.loading import set_path, validate_scenario
from i4p_sim.config.scenario import Election, Scenario
from i4p_sim.sweep.driver import run_experiment
from i4p_sim.sweep.storage import atomic_write_text, write_experiment_file

__all__ = [
    "ModelSimulator",
    "apply_params",
    "check_grid",
    "election_threshold",
    "wave_experiment",
]

SERIES_COLUMNS = ["run_id", "scenario", "replicate", "point", "step", "violent_events"]


def apply_params(base: Scenario, point: dict[str, Any], source: str) -> Scenario:
    """``base`` with a point applied; ``shocks.KIND.FIELD`` sets every shock of that kind."""
    data = base.to_dict()
    for path, value in point.items():
        parts = path.split(".")
        if parts[0] == "shocks" and len(parts) == 3 and not parts[1].isdigit():
            for shock in data.get("shocks", []):
                if shock.get("kind") == parts[1]:
                    shock[parts[2]] = value
            continue
        data = set_path(data, path, value, source=source)
    return validate_scenario(data, source)


def write_wave_toml(cal: Calibration, wave: int, path: Path) -> None:
    """The wave's experiment file (absolute scenario paths, so it runs from anywhere)."""
    cfg = cal.config
    table = {
        "name": f"{cfg.name}_wave_{wave}",
        "seed": cfg.seed,
        "replicates": cal.size("replicates"),
        "steps": cfg.steps,
        "noise_pairs": 0,
        "snapshot_replicates": 0,
        "baseline": NO_ELECTION,
        "base": str(cal.path(cfg.scenario)),
        "set": list(cfg.set),
        "variants": [
            {"name": NO_ELECTION, "shocks": []},
            {"name": ELECTION, "file": str(cal.path(cfg.elections)), "twin": NO_ELECTION},
        ],
    }
    comment = f"wave {wave} of calibration {cfg.name} ({cal.source}); points in design.csv"
    write_experiment_file(path, table, comment)


def check_grid(cal: Calibration, exp: Experiment) -> None:
    """One region per run: the grid must be ``region_cells`` square (statistics module)."""
    n = cal.definitions["region_cells"]
    for name, sc in exp.scenarios.items():
        if (sc.grid.width, sc.grid.height) != (n, n):
            raise ConfigError(
                cal.source,
                "set",
                f"scenario '{name}' has a {sc.grid.width} x {sc.grid.height} grid; calibration "
                f"runs need exactly one {n} x {n} region (grid.width = grid.height = {n}): "
                "per-region series of larger grids are not stored by the sweep",
            )


def wave_experiment(cal: Calibration, wave: int, design: pd.DataFrame, root: Path) -> Experiment:
    """Write ``wave_k/experiment.toml`` and ``design.csv``; the experiment at the design."""
    wdir = root / f"wave_{wave}"
    wdir.mkdir(parents=True, exist_ok=True)
    toml = wdir / "experiment.toml"
    write_wave_toml(cal, wave, toml)
    exp = load_experiment(toml)
    check_grid(cal, exp)
    csv = wdir / "design.csv"
    if csv.exists():
        stored = pd.read_csv(csv)
        same = list(stored.columns) == list(design.columns) and np.allclose(
            stored.to_numpy(float), design.to_numpy(float), rtol=1e-9, atol=1e-12
        )
        if not same:
            raise ConfigError(
                str(csv),
                "",
                "holds another design (the calibration file changed?); use --fresh or "
                "another --out",
            )
    else:
        atomic_write_text(csv, design.to_csv(index=False, float_format="%.17g"))
    points = [
        {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
        for row in design.to_dict("records")
    ]
    at_points = {}
    for p, point in enumerate(points):
        for name, sc in exp.scenarios.items():
            try:
                at_points[(name, p)] = apply_params(sc, point, str(csv))
            except ConfigError as err:
                raise ConfigError(cal.source, "parameters", err.one_line()) from None
    return dataclasses.replace(exp, points=points, at_points=at_points)


def votes_of(exp: Experiment) -> list[int]:
    """Months of the election scenario's votes."""
    return sorted(s.at for s in exp.scenarios[ELECTION].shocks if isinstance(s, Election))


def election_threshold(cal: Calibration) -> float:
    """The declared ``threshold_cell_months`` of the election target (10 if not given)."""
    t = next((t for t in cal.targets if t.name == "serious_election_violence"), None)
    return float(t.extra.get("threshold_cell_months", 10)) if t is not None else 10.0


class ModelSimulator:
    """The model as a :func:`~i4p_sim.calibrate.matching.history_match` simulator.

    Each call runs one wave through the sweep engine into ``root/wave_k`` and returns the
    target statistics per point (:func:`~i4p_sim.calibrate.statistics.point_statistics`).
    ``runs_done`` counts the runs stored per wave; ``statistics`` keeps each wave's
    per-point frame with its counts (replicates, terminations, elections).
    """

    def __init__(
        self,
        cal: Calibration,
        root: Path,
        *,
        workers: int | None = None,
        fresh: bool = False,
        progress: bool = True,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.cal, self.root = cal, root
        self.workers, self.fresh, self.progress = workers, fresh, progress
        self.log = log
        self.series: dict[int, pd.DataFrame] = {}
        self.statistics: dict[int, pd.DataFrame] = {}
        self.votes: list[int] = []
        self.walls: dict[int, float] = {}

    def __call__(self, wave: int, design: pd.DataFrame) -> pd.DataFrame:
        if self.fresh:  # --fresh: the stored design goes with the stored runs
            (self.root / f"wave_{wave}" / "design.csv").unlink(missing_ok=True)
        exp = wave_experiment(self.cal, wave, design, self.root)
        self.votes = votes_of(exp)
        res = run_experiment(
            exp,
            out=self.root / f"wave_{wave}",
            workers=self.workers,
            fresh=self.fresh,
            progress=self.progress,
        )
        self.walls[wave] = res.wall_s
        bad = res.runs[res.runs["status"] != "ok"]
        if len(bad):
            last = str(bad["error"].iloc[0]).strip().splitlines() or ["?"]
            raise RunFailed(
                str(self.root / f"wave_{wave}"), "", f"{len(bad)} run(s) failed, e.g. {last[-1]}"
            )
        ids = set(res.runs["run_id"])
        series = pd.read_parquet(self.root / f"wave_{wave}" / "series", columns=SERIES_COLUMNS)
        series = series[series["run_id"].isin(ids)]
        self.series[wave] = series
        threshold = election_threshold(self.cal)
        stats = point_statistics(
            series,
            len(design),
            self.votes,
            self.cal.definitions,
            threshold,
            {t.name: t.units for t in self.cal.targets},
        )
        self.statistics[wave] = stats
        return stats

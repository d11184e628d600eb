"""A whole calibration: the waves, then the outputs in ``RESULTS/``.

- ``ensemble.parquet``: the parameter sets **not ruled out** (maximum implausibility <= the
  cut-off) over all waves, each with its wave, point, parameters, simulated target means,
  implausibility per target and ``max_I``. It is a not-ruled-out set, **not a posterior**:
  members are not weighted, and their density reflects the designs, not a likelihood.
- ``points.parquet``: every simulated point, ruled out or not;
- ``waves.parquet``: per wave the points, how many are not ruled out, and the estimated
  fraction of the prior box not ruled out before and after the wave;
- ``sensitivity.parquet``: points not ruled out when one declared threshold of
  ``targets.toml`` (``[sensitivity]``, the election target's ``threshold_sensitivity``)
  takes another value;
- ``heldout.parquet``: the held-out targets, checked on the ensemble after the last wave
  only (:mod:`~i4p_sim.calibrate.heldout`; the members' reruns are kept in ``heldout/``,
  so a rerun of the command recomputes only new members);
- ``calibration.json``: the file, sizes, targets, git revision, timings;
- ``report.html``: :mod:`i4p_sim.report.calibration`.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from i4p_sim.calibrate.design import Calibration, load_calibration
from i4p_sim.calibrate.heldout import heldout_sizes, heldout_table
from i4p_sim.calibrate.matching import Matching, history_match, score
from i4p_sim.calibrate.statistics import point_statistics
from i4p_sim.calibrate.waves import ModelSimulator, election_threshold
from i4p_sim.sweep.driver import default_results_dir
from i4p_sim.sweep.manifest import git_revision, now
from i4p_sim.sweep.storage import atomic_write_text

__all__ = ["CalibrationResult", "run_calibration"]

#: Bootstrap resamples of the relapse share's variance in the sensitivity table.
SENSITIVITY_BOOT = 50


@dataclass
class CalibrationResult:
    """What :func:`run_calibration` returns."""

    calibration: Calibration
    out: Path
    matching: Matching
    heldout: pd.DataFrame
    sensitivity: pd.DataFrame
    wall_s: float

    @property
    def ensemble(self) -> pd.DataFrame:
        """The not-ruled-out set (not a posterior)."""
        return self.matching.ensemble


def sensitivity_table(cal: Calibration, sim: ModelSimulator, points: pd.DataFrame) -> pd.DataFrame:
    """Points not ruled out with one declared threshold changed at a time."""
    base = dict(cal.definitions)
    thr = election_threshold(cal)
    elect = next((t for t in cal.targets if t.name == "serious_election_violence"), None)
    options: list[tuple[str, Any, dict[str, int], float]] = [("declared", "", base, thr)]
    for key in ("active_cells", "episode_gap"):
        for v in cal.sensitivity.get(key, []):
            if v != base.get(key):
                options.append((key, v, {**base, key: int(v)}, thr))
    for v in elect.extra.get("threshold_sensitivity", []) if elect else []:
        if v != thr:
            options.append(("threshold_cell_months", v, base, float(v)))
    units = {t.name: t.units for t in cal.targets}
    params = list(cal.box.names)
    rows = []
    for what, value, defs, threshold in options:
        frames = []
        for wave, series in sim.series.items():
            design = points[points["wave"] == wave]
            stats = point_statistics(
                series, len(design), sim.votes, defs, threshold, units, n_boot=SENSITIVITY_BOOT
            )
            frames.append(
                pd.concat(
                    [design[["wave", "point", *params]].reset_index(drop=True), stats], axis=1
                )
            )
        scored = score(pd.concat(frames, ignore_index=True), cal.matched, cal.config.cutoff)
        row = {
            "definition": what,
            "value": str(value),
            "not_ruled_out": int(scored["not_ruled_out"].sum()),
        }
        for t in cal.targets:
            row[f"{t.name} (median over points)"] = float(scored[t.name].median())
        rows.append(row)
    return pd.DataFrame(rows)


def _write(frame: pd.DataFrame, path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    frame.to_parquet(tmp, index=False)
    tmp.replace(path)


def run_calibration(
    path: str | Path,
    *,
    quick: bool = False,
    out: str | Path | None = None,
    workers: int | None = None,
    fresh: bool = False,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> CalibrationResult:
    """Load a calibration file, run its waves (resumable) and write every output."""
    cal = load_calibration(path, quick=quick)
    sizes = heldout_sizes(cal)  # a bad [heldout] table fails now, not after the waves
    name = cal.config.name + ("_quick" if quick else "")
    root = Path(out) if out is not None else default_results_dir(name)
    root.mkdir(parents=True, exist_ok=True)
    started, t0, revision = now(), time.perf_counter(), git_revision()
    sim = ModelSimulator(cal, root, workers=workers, fresh=fresh, progress=progress, log=log)
    matching = history_match(
        sim,
        cal.box,
        cal.matched,
        waves=cal.size("waves"),
        points=cal.size("points"),
        candidates=cal.size("candidates"),
        seed=cal.config.seed,
        cutoff=cal.config.cutoff,
        members=cal.size("members"),
        fill_waves=cal.size("fill_waves"),
        fill_scale=cal.config.fill_scale,
        log=lambda m: log(f"i4p: {m}"),
    )
    t_held = time.perf_counter()
    heldout = heldout_table(
        cal,
        sim,
        matching.ensemble,
        root,
        sizes=sizes,
        workers=workers,
        log=lambda m: log(f"i4p: {m}"),
    )
    held_wall = time.perf_counter() - t_held
    sens = sensitivity_table(cal, sim, matching.points)
    wall = time.perf_counter() - t0
    _write(matching.ensemble, root / "ensemble.parquet")
    _write(matching.points, root / "points.parquet")
    _write(matching.waves, root / "waves.parquet")
    _write(sens, root / "sensitivity.parquet")
    _write(heldout, root / "heldout.parquet")
    meta = {
        "calibration": cal.config.name,
        "source": str(cal.source),
        "quick": quick,
        "file": cal.config.model_dump(mode="json"),
        "sizes": {
            k: cal.size(k)
            for k in ("waves", "points", "replicates", "candidates", "members", "fill_waves")
        },
        "box": {
            n: [lo, hi] for n, lo, hi in zip(cal.box.names, cal.box.low, cal.box.high, strict=True)
        },
        "targets": [
            {
                "name": t.name,
                "value": t.value,
                "low": t.low,
                "high": t.high,
                "var_target": t.var_target,
                "var_discrepancy": t.var_discrepancy,
                "units": t.units,
            }
            for t in cal.targets
        ],
        "blocked": {t.name: t.blocked for t in cal.blocked},
        "held_out": [t.name for t in cal.held_out],
        # the members' reruns (calibrate.heldout); the wall time includes reused members
        "heldout_sizes": dataclasses.asdict(sizes),
        "heldout_wall_s": held_wall,
        "definitions": cal.definitions,
        "git_revision": revision,  # at the start: the code that ran
        "started": started,
        "finished": now(),
        "wall_s": wall,
        "wave_wall_s": sim.walls,
        "ensemble_size": len(matching.ensemble),
        "note": "ensemble.parquet is the set of parameter points not ruled out by history "
        "matching (maximum implausibility <= cutoff), not a posterior",
    }
    atomic_write_text(root / "calibration.json", json.dumps(meta, indent=2, default=str))
    from i4p_sim.report.calibration import write_calibration_report

    write_calibration_report(root)
    return CalibrationResult(cal, root, matching, heldout, sens, wall)

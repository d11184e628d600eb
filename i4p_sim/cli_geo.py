"""The command line's geo steps: read a scenario's maps up front, write GeoTIFF outputs.

Kept apart from :mod:`i4p_sim.cli` (one screenful per command there); ``i4p_sim.geo``
(rasterio, the ``geo`` extra) is imported only inside these functions, and only when a
scenario reads maps.
"""

from __future__ import annotations

from pathlib import Path


def check_geo(scenario, source: str) -> dict | None:
    """Read a scenario's maps and sites CSV now (errors name ``source``); its georeference."""
    if not (scenario.landscape.maps() or scenario.lpc.sites):
        return None
    from i4p_sim.geo import check_scenario

    return check_scenario(scenario, source)


def write_run_maps(out: Path, run) -> list[str]:
    """A geo run's layers as GeoTIFF under ``out/maps/`` and its georeference as JSON."""
    from i4p_sim.geo.output import write_geotiffs
    from i4p_sim.sweep.finite import json_dumps
    from i4p_sim.sweep.storage import atomic_write_text

    atomic_write_text(out / "georeference.json", json_dumps(run.georef, indent=2) + "\n")
    names = ("mean_violence", "population", "region", "group", "grievance", "tension")
    layers = {n: run.layers[n] for n in names if n in run.layers}
    write_geotiffs(out / "maps", run.georef, layers)
    return [f"maps/{n}.tif" for n in layers]


def write_sweep_maps(res, source: str) -> list:
    """A sweep's snapshots as GeoTIFF for every scenario that reads maps (else nothing)."""
    exp = res.experiment
    keys = [(n, p) for n in exp.scenarios for p in range(len(exp.points) or 1)]
    scenarios = {k: exp.scenario_at(*k) for k in keys}
    if not any(sc.landscape.maps() for sc in scenarios.values()):
        return []
    from i4p_sim.geo import check_scenario
    from i4p_sim.geo.output import write_sweep_geotiffs

    georefs = {k: check_scenario(sc, source) for k, sc in scenarios.items() if sc.landscape.maps()}
    return write_sweep_geotiffs(res.out, georefs, res.runs)

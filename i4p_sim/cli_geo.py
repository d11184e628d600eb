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


def check_experiment_geo(exp, source: str) -> dict[tuple[str, int], dict]:
    """Read the maps and sites CSV of every scenario x point of ``exp`` now, before a run.

    Returns ``(scenario, point) -> georeference`` for those that read maps. A bad map or
    sites file is the one-line :class:`~i4p_sim.config.errors.ConfigError` of
    :func:`check_geo`, its field prefixed with the variant's name (and point), as the
    horizon check names it.
    """
    from i4p_sim.config.errors import ConfigError

    out = {}
    n_points = len(exp.points) or 1
    for name in exp.scenarios:
        for point in range(n_points):
            try:
                georef = check_geo(exp.scenario_at(name, point), source)
            except ConfigError as err:
                where = f"{name} at point {point}" if n_points > 1 else name
                raise ConfigError(source, f"{where}: {err.field}", err.message) from None
            if georef is not None:
                out[(name, point)] = georef
    return out


def maps_record(georefs: dict[tuple[str, int], dict]) -> dict[str, dict]:
    """The manifest's ``maps``: each scenario's georeference and named regions (one entry
    per scenario when its points share one, else ``NAME@POINT``)."""
    out: dict[str, dict] = {}
    names = dict.fromkeys(name for name, _ in georefs)
    for name in names:
        mine = {p: g for (n, p), g in georefs.items() if n == name}
        first = next(iter(mine.values()))
        if all(g == first for g in mine.values()):
            out[name] = first
        else:
            out.update({f"{name}@{p}": g for p, g in mine.items()})
    return out


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


def write_sweep_maps(res, georefs: dict[tuple[str, int], dict]) -> list:
    """A sweep's snapshots as GeoTIFF for every scenario x point with a georeference
    (:func:`check_experiment_geo`; none: nothing)."""
    if not georefs:
        return []
    from i4p_sim.geo.output import write_sweep_geotiffs

    return write_sweep_geotiffs(res.out, georefs, res.runs)

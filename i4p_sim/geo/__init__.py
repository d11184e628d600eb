"""Real maps (docs/ODD.md 6, "Input data"): rasters and polygons onto the grid, with a CRS.

The ``geo`` extra (``pip install -e ".[geo]"``) installs rasterio, which bundles GDAL and
PROJ. Nothing here imports rasterio at module level, and the rest of the package imports
this layer only inside the functions that need it, so the base install runs every
scenario without maps. A scenario that names a map without rasterio gets one line naming
the install command (:func:`require_rasterio`).

- :mod:`i4p_sim.geo.maps`: the grid's georeference and the population, group and region
  layers read from GeoTIFF or GeoJSON (:func:`~i4p_sim.geo.maps.load_maps`);
- :mod:`i4p_sim.geo.sites`: committee sites from a CSV, by ``row,col`` or ``lon,lat``;
- :mod:`i4p_sim.geo.output`: layers written as GeoTIFF, and the georeference as JSON.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from i4p_sim.config.errors import ConfigError

if TYPE_CHECKING:
    from i4p_sim.config.scenario import Scenario

#: The install command a geo scenario without rasterio is told to run.
INSTALL_HINT = 'pip install -e ".[geo]"'


def uses_maps(scenario: Scenario) -> bool:
    """Whether ``scenario`` reads any map (and so has a georeference)."""
    return bool(scenario.landscape.maps())


def require_rasterio(source: str, field: str) -> None:
    """Raise a one-line :class:`ConfigError` when rasterio cannot be imported."""
    try:
        import rasterio  # noqa: F401
    except ImportError:
        raise ConfigError(
            source, field, f"real maps need rasterio, which is not installed; run {INSTALL_HINT}"
        ) from None


def grid_maps(scenario: Scenario, source: str):
    """The scenario's :class:`~i4p_sim.geo.maps.GridMaps` (one line if rasterio is missing)."""
    require_rasterio(source, "landscape." + next(iter(scenario.landscape.maps())))
    from i4p_sim.geo.maps import load_maps

    return load_maps(scenario, source)


def check_scenario(scenario: Scenario, source: str) -> dict | None:
    """Read a scenario's maps and sites as a run would: errors name ``source``.

    Returns the georeference (:meth:`~i4p_sim.geo.maps.GridMaps.georeference`) or None
    for a scenario without maps. What is read is cached, so the run that follows reads
    nothing again.
    """
    maps = None
    if uses_maps(scenario):
        maps = grid_maps(scenario, source)
    if scenario.lpc.sites is not None and scenario.lpc.enabled:
        from i4p_sim.geo.sites import read_sites

        inhabited = maps.inhabited() if maps is not None else None
        read_sites(scenario.lpc.sites, scenario, maps, inhabited, source)
    return maps.georeference() if maps is not None else None

"""Population, group and region maps onto the grid, in a projected CRS (docs/ODD.md 6).

The grid's georeference comes from one *reference* map (``region_map``, else
``population_map``, else ``group_map``): its extent, in the scenario's ``crs``, from its
top-left corner in cells of ``cell_km``. ``grid.height`` and ``grid.width`` must be the
number of cells that extent covers (a map of another shape is a one-line error that gives
the right numbers). Every map is then read onto that grid:

- a GeoTIFF's band 1 is reprojected (rasterio.warp): population (persons per pixel) by
  ``sum``, so that totals are kept; groups and regions (categories) by ``nearest``;
- GeoJSON polygons (RFC 7946 lon/lat, or a legacy ``crs`` member) are transformed to the
  CRS and rasterised (rasterio.features; a cell belongs to the polygon covering its
  centre); each feature's attribute ``*_field`` is its value. A polygon's population is
  spread evenly over its cells; one too small to cover a cell centre puts it all in the
  cell under the centre of its bounding box.

Imports rasterio: import this module only through :mod:`i4p_sim.geo`, which checks first.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import rasterio
from rasterio.crs import CRS
from rasterio.errors import CRSError, RasterioIOError
from rasterio.features import rasterize
from rasterio.transform import Affine
from rasterio.warp import Resampling, reproject, transform_bounds, transform_geom

from i4p_sim.config.errors import ConfigError
from i4p_sim.geo.regions import feature_property

if TYPE_CHECKING:
    from i4p_sim.config.scenario import Scenario

RASTER_SUFFIXES = (".tif", ".tiff")
VECTOR_SUFFIXES = (".geojson", ".json")
#: The CRS of GeoJSON without a ``crs`` member (RFC 7946): WGS84 longitude, latitude.
GEOJSON_CRS = "EPSG:4326"
#: Most regions (regional councils) a region map may hold.
MAX_REGIONS = 4096
#: Largest GeoJSON file read.
MAX_GEOJSON_BYTES = 256 << 20


@dataclass(frozen=True)
class GridMaps:
    """The grid's georeference and the layers read from maps (None: not given)."""

    crs: CRS
    transform: Affine
    shape: tuple[int, int]
    cell_km: float
    population: np.ndarray | None
    group: np.ndarray | None
    region: np.ndarray | None
    #: each region id on the grid and its name (``region-<id>`` where the map gives none)
    region_names: dict[int, str] | None = None

    def inhabited(self) -> np.ndarray | None:
        """Cells with population (a population map), or in a region (a region map)."""
        if self.population is not None:
            return self.population > 0
        if self.region is not None:
            return self.region > 0
        return None

    def apply(self, layers: dict[str, np.ndarray]) -> np.ndarray | None:
        """Write the maps into the model's generated ``layers``; return the region ids.

        The generated fields were drawn all the same, so the landscape stream (and what a
        map leaves generated) does not depend on which maps are given. With a region map
        but no population map, cells outside every region are uninhabited; cells a group
        map leaves blank (-1) keep their generated group.
        """
        if self.population is not None:
            layers["population"][...] = self.population
        elif self.region is not None:
            layers["population"][self.region == 0] = 0.0
        if self.group is not None:
            layers["group"][...] = np.where(self.group >= 0, self.group, layers["group"])
        return None if self.region is None else self.region.copy()

    def georeference(self) -> dict[str, Any]:
        """The georeference as plain JSON-able data (what a run records)."""
        epsg = self.crs.to_epsg()
        out: dict[str, Any] = {
            "crs": f"EPSG:{epsg}" if epsg else self.crs.to_string(),
            "crs_wkt": self.crs.to_wkt(),
            "transform": list(self.transform)[:6],
            "cell_km": self.cell_km,
            "height": self.shape[0],
            "width": self.shape[1],
        }
        if self.region_names is not None:  # the regional councils, by region id
            out["regions"] = [{"id": k, "name": v} for k, v in self.region_names.items()]
        return out


def target_crs(text: str, source: str) -> CRS:
    """The scenario's ``landscape.crs``: a known, projected CRS in metres."""
    field = "landscape.crs"
    try:
        crs = CRS.from_user_input(text)
    except CRSError:
        raise ConfigError(
            source,
            field,
            f"unknown CRS {text!r}; allowed: an EPSG code ('EPSG:32737'), WKT or a PROJ "
            "string of a projected CRS",
        ) from None
    if not crs.is_projected:
        raise ConfigError(
            source,
            field,
            f"{text!r} is not projected (degrees); allowed: a projected CRS in metres, "
            "e.g. 'EPSG:32737' (UTM zone 37S)",
        )
    if crs.linear_units_factor[1] <= 0:  # pragma: no cover - PROJ gives a factor
        raise ConfigError(source, field, f"{text!r} has no linear unit; allowed: metres")
    return crs


def load_maps(scenario: Scenario, source: str = "<scenario>") -> GridMaps:
    """Read the scenario's maps onto its grid (cached while the files do not change)."""
    ls = scenario.landscape
    files = []
    for name, path in ls.maps().items():
        try:
            info = Path(path).stat()
        except OSError:
            raise ConfigError(source, f"landscape.{name}", f"'{path}' not found") from None
        attr = getattr(ls, name.replace("_map", "_field"))
        files.append((name, path, attr, info.st_mtime_ns, info.st_size))
    names = None
    if ls.region_name_field is not None:
        stamp = _stamp(ls.region_names) if ls.region_names else None
        names = (ls.region_name_field, ls.region_names, stamp)
    shape = (scenario.grid.height, scenario.grid.width)
    try:
        # inside an Env, GDAL and PROJ errors reach rasterio's handler (and so the one
        # line below) instead of being printed on stderr too ("ERROR 1: PROJ: ...")
        with rasterio.Env():
            return _load(ls.crs, ls.cell_km, shape, ls.groups, tuple(files), names)
    except ConfigError as err:  # the cached reader names no file: give it the scenario's
        raise ConfigError(source, err.field, err.message) from None


def _stamp(path: str) -> tuple[int, int] | None:
    """(mtime, size) of a file, so that the cache sees it change; None if unreadable."""
    try:
        info = Path(path).stat()
    except OSError:
        return None  # the reader says what is wrong
    return (info.st_mtime_ns, info.st_size)


@lru_cache(maxsize=8)
def _load(
    crs_text: str,
    cell_km: float,
    shape: tuple[int, int],
    groups: int,
    files: tuple,
    names: tuple | None = None,
) -> GridMaps:
    crs = target_crs(crs_text, "")
    by_name = {f[0]: f for f in files}
    ref = next(by_name[n] for n in ("region_map", "population_map", "group_map") if n in by_name)
    transform = _grid_transform(ref, crs, cell_km, shape)
    layers: dict[str, np.ndarray | None] = dict.fromkeys(("population", "group", "region"))
    for name, path, attr, _, _ in files:
        kind = name.removesuffix("_map")
        values = _read(name, path, attr, crs, transform, shape, kind)
        if kind == "population":
            layers[kind] = _check_population(values, name)
        else:
            layers[kind] = _check_categories(values, name, path, groups if kind == "group" else 0)
    for arr in layers.values():
        if arr is not None:
            arr.setflags(write=False)
    region_names = None
    if layers["region"] is not None:
        from i4p_sim.geo.regions import region_names as read_names

        _, path, attr = by_name["region_map"][:3]
        name_field, table = names[:2] if names else (None, None)
        region_names = read_names(layers["region"], path, attr, name_field, table)
    return GridMaps(crs, transform, shape, cell_km, **layers, region_names=region_names)


# ---------------------------------------------------------------- grid and reading


def _kind_of_file(name: str, path: str) -> str:
    suffix = Path(path).suffix.lower()
    if suffix in RASTER_SUFFIXES:
        return "raster"
    if suffix in VECTOR_SUFFIXES:
        return "vector"
    raise ConfigError(
        "",
        f"landscape.{name}",
        f"'{Path(path).name}' is neither GeoTIFF ({', '.join(RASTER_SUFFIXES)}) nor "
        f"GeoJSON ({', '.join(VECTOR_SUFFIXES)})",
    )


def _grid_transform(ref: tuple, crs: CRS, cell_km: float, shape: tuple[int, int]) -> Affine:
    """The grid's affine transform from the reference map's extent in ``crs``."""
    name, path, attr = ref[:3]
    if _kind_of_file(name, path) == "raster":
        with _open_raster(name, path) as src:
            left, bottom, right, top = transform_bounds(src.crs, crs, *src.bounds, densify_pts=21)
    else:
        left, bottom, right, top = _bounds(_features(name, path, attr, crs))
    cell = cell_km * 1000.0
    need = (
        max(1, math.ceil((top - bottom) / cell - 1e-6)),
        max(1, math.ceil((right - left) / cell - 1e-6)),
    )
    if need != tuple(shape):
        raise ConfigError(
            "",
            f"landscape.{name}",
            f"covers {need[0]} x {need[1]} cells of {cell_km:g} km in {_crs_name(crs)}, "
            f"but the grid is {shape[0]} x {shape[1]}; set grid.height = {need[0]} and "
            f"grid.width = {need[1]} (or change landscape.cell_km)",
        )
    return Affine(cell, 0.0, left, 0.0, -cell, top)


def _crs_name(crs: CRS) -> str:
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else crs.to_string()


def _read(name, path, attr, crs, transform, shape, kind) -> np.ndarray:
    """One map on the grid: float64, NaN where it says nothing."""
    if _kind_of_file(name, path) == "raster":
        return _read_raster(name, path, crs, transform, shape, kind)
    feats = _features(name, path, attr, crs)
    out = np.full(shape, np.nan)
    if not feats:
        return out
    index = rasterize(
        [(geom, i + 1) for i, (geom, _) in enumerate(feats)],
        out_shape=shape,
        transform=transform,
        fill=0,
        dtype="int32",
    )
    values = np.array([v for _, v in feats], dtype=np.float64)
    inside = index > 0
    if kind != "population":
        out[inside] = values[index[inside] - 1]
        return out
    counts = np.bincount(index.ravel(), minlength=len(feats) + 1)
    out[inside] = values[index[inside] - 1] / counts[index[inside]]
    out[~inside] = 0.0
    for i, (geom, value) in enumerate(feats):  # too small to hold a cell centre
        if counts[i + 1] == 0 and value > 0:
            left, bottom, right, top = _bounds([(geom, value)])
            r, c = cell_of(transform, (left + right) / 2, (bottom + top) / 2)
            if 0 <= r < shape[0] and 0 <= c < shape[1]:
                out[r, c] += value
    return out


def cell_of(transform: Affine, x: float, y: float) -> tuple[int, int]:
    """(row, col) of the cell holding the point (x, y) of a north-up grid."""
    return (
        math.floor((y - transform.f) / transform.e),
        math.floor((x - transform.c) / transform.a),
    )


def _open_raster(name: str, path: str):
    try:
        src = rasterio.open(path)
    except RasterioIOError as exc:
        msg = str(exc).splitlines()[0] if str(exc) else "unreadable"
        raise ConfigError("", f"landscape.{name}", f"not a readable GeoTIFF: {msg}") from None
    if src.crs is None:
        src.close()
        raise ConfigError(
            "",
            f"landscape.{name}",
            f"'{Path(path).name}' has no CRS; allowed: a georeferenced GeoTIFF",
        )
    return src


def _read_raster(name, path, crs, transform, shape, kind) -> np.ndarray:
    with _open_raster(name, path) as src:
        band = src.read(1, masked=True).astype(np.float64).filled(np.nan)
        src_crs, src_transform = src.crs, src.transform
    out = np.full(shape, np.nan)
    population = kind == "population"
    if population:
        band = np.nan_to_num(band, nan=0.0)
    reproject(
        source=band,
        destination=out,
        src_transform=src_transform,
        src_crs=src_crs,
        src_nodata=None if population else np.nan,
        dst_transform=transform,
        dst_crs=crs,
        dst_nodata=np.nan,
        resampling=Resampling.sum if population else Resampling.nearest,
    )
    return out


def _features(name: str, path: str, attr: str, crs: CRS) -> list[tuple[dict, float]]:
    """(geometry in ``crs``, value) of every feature with a geometry."""
    try:
        stamp = Path(path).stat().st_mtime_ns
    except OSError:
        stamp = 0  # the read below says what is wrong
    return list(_features_cached(name, path, attr, crs.to_wkt(), stamp))


@lru_cache(maxsize=16)
def _features_cached(name: str, path: str, attr: str, crs_wkt: str, stamp: int) -> tuple:
    field = f"landscape.{name}"
    p = Path(path)
    try:
        if p.stat().st_size > MAX_GEOJSON_BYTES:
            raise ConfigError("", field, f"larger than {MAX_GEOJSON_BYTES >> 20} MiB")
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError("", field, f"not valid GeoJSON: {exc}") from None
    if isinstance(data, dict) and data.get("type") == "Feature":
        data = {"type": "FeatureCollection", "features": [data]}
    if not isinstance(data, dict) or not isinstance(data.get("features"), list):
        raise ConfigError("", field, "not a GeoJSON FeatureCollection")
    src_crs = _geojson_crs(data, field)
    value_field = field.replace("_map", "_field")
    out = []
    for i, feat in enumerate(data["features"]):
        geom = feat.get("geometry") if isinstance(feat, dict) else None
        if not geom:
            continue
        value = feature_property(feat.get("properties") or {}, i, attr, value_field)
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise ConfigError(
                "", value_field, f"feature {i}: {attr} = {value!r}; allowed: a finite number"
            )
        try:
            out.append((transform_geom(src_crs, CRS.from_wkt(crs_wkt), geom), float(value)))
        except Exception as exc:  # a malformed geometry: GDAL's own words, on one line
            raise ConfigError("", field, f"feature {i}: bad geometry: {exc}") from None
    return tuple(out)


def _geojson_crs(data: dict, field: str) -> CRS:
    named = (
        (data.get("crs") or {}).get("properties", {}).get("name")
        if isinstance(data.get("crs"), dict)
        else None
    )
    if not named:
        return CRS.from_user_input(GEOJSON_CRS)
    try:
        return CRS.from_user_input(named)
    except CRSError:
        raise ConfigError("", field, f"unknown CRS {named!r} in the GeoJSON's crs member") from None


def _bounds(feats) -> tuple[float, float, float, float]:
    xs: list[float] = []
    ys: list[float] = []

    def walk(coords):
        if coords and isinstance(coords[0], int | float):
            xs.append(coords[0])
            ys.append(coords[1])
        else:
            for c in coords:
                walk(c)

    for geom, _ in feats:
        walk(geom["coordinates"])
    if not xs:
        return (0.0, 0.0, 0.0, 0.0)
    return (min(xs), min(ys), max(xs), max(ys))


# ---------------------------------------------------------------------------- checks


def _check_population(values: np.ndarray, name: str) -> np.ndarray:
    values = np.nan_to_num(values, nan=0.0)
    if (values < 0).any():
        raise ConfigError("", f"landscape.{name}", "negative population; allowed: >= 0")
    if not (values > 0).any():
        raise ConfigError("", f"landscape.{name}", "no cell of the grid has population > 0")
    return values


def _check_categories(values: np.ndarray, name: str, path: str, groups: int) -> np.ndarray:
    """Integer categories: groups 0..groups-1 (-1: none), regions >= 1 (0: none)."""
    known = values[~np.isnan(values)]
    field = f"landscape.{name}"
    if known.size and not np.all(known == np.round(known)):
        raise ConfigError("", field, "values must be whole numbers")
    if groups:
        bad = known[(known < 0) | (known >= groups)]
        if bad.size:
            raise ConfigError(
                "",
                field,
                f"group {bad[0]:g} on the grid; allowed: 0..{groups - 1} (landscape.groups)",
            )
        return np.where(np.isnan(values), -1, values).astype(np.int64)
    bad = known[known < 1]
    if bad.size:
        raise ConfigError("", field, f"region {bad[0]:g} on the grid; allowed: ids >= 1")
    region = np.where(np.isnan(values), 0, values).astype(np.int64)
    if not (region > 0).any():
        raise ConfigError("", field, "no region covers any cell of the grid")
    if np.unique(region[region > 0]).size > MAX_REGIONS:
        raise ConfigError("", field, f"more than {MAX_REGIONS} regions on the grid")
    return region

"""The names of a region map's regions (``landscape.region_name_field``, docs/ODD.md 6).

A regional council is named after its region: the ``region_name_field`` property of the
GeoJSON feature(s) carrying its id, or, with ``landscape.region_names``, the
``region_name_field`` column of that CSV on the line whose ``region_field`` column is the
id (a name table; the only way to name the regions of a GeoTIFF). Without a name the
council is ``region-<id>``. Every region on the grid must get exactly one name, and two
regions may not share one; anything else is a one-line error.

Reads no raster and imports no rasterio: plain JSON and CSV.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np

from i4p_sim.config.errors import ConfigError

#: Longest region name kept (a council's name in outputs).
MAX_NAME = 80
#: Most lines of a name table.
MAX_ROWS = 100_000


def default_name(rid: int) -> str:
    """The name of region ``rid`` when the map gives none."""
    return f"region-{rid}"


def region_names(
    region: np.ndarray,
    map_path: str,
    id_field: str,
    name_field: str | None,
    table: str | None,
) -> dict[int, str]:
    """Each region id on the grid (``region > 0``) and its name, in increasing id order.

    Parameters
    ----------
    region : numpy.ndarray
        The region layer on the grid (0: no region).
    map_path : str
        The region map (GeoJSON properties are read from it when ``table`` is None).
    id_field, name_field : str
        ``landscape.region_field`` and ``landscape.region_name_field`` (None: no names).
    table : str or None
        ``landscape.region_names``, a CSV naming the regions.

    Raises
    ------
    ConfigError
        With an empty source (the caller names the scenario): a region without a name, one
        region with two names, two regions with one name, a bad file.
    """
    ids = [int(r) for r in np.unique(region[region > 0])]
    if name_field is None:
        return {rid: default_name(rid) for rid in ids}
    if table is not None:
        pairs, field = _from_table(table, id_field, name_field), "landscape.region_names"
    else:
        pairs, field = _from_geojson(map_path, id_field, name_field), "landscape.region_map"
    names: dict[int, str] = {}
    for where, rid, name in pairs:
        if rid in names and names[rid] != name:
            raise ConfigError(
                "", field, f"{where}: region {rid} is named {names[rid]!r} and {name!r}"
            )
        names[rid] = name
    out: dict[int, str] = {}
    owner: dict[str, int] = {}
    for rid in ids:
        if rid not in names:
            raise ConfigError(
                "",
                field,
                f"region {rid} is on the grid but has no {name_field}; allowed: a "
                "name for every region",
            )
        name = names[rid]
        if name == "national":
            raise ConfigError(
                "", field, f"region {rid} is named 'national', the national council's name"
            )
        if name in owner:
            raise ConfigError(
                "",
                field,
                f"regions {owner[name]} and {rid} are both named {name!r}; allowed: "
                "one name per region",
            )
        owner[name] = rid
        out[rid] = name
    return out


def _name(value: object, where: str, field: str) -> str:
    text = "" if value is None or isinstance(value, dict | list) else str(value).strip()
    if not text or not text.isprintable() or len(text) > MAX_NAME:
        raise ConfigError(
            "", field, f"{where}: name {value!r}; allowed: 1 to {MAX_NAME} printable characters"
        )
    return text


def _region_id(value: object, where: str, field: str) -> int:
    try:
        number = float(str(value).strip()) if not isinstance(value, bool) else math.nan
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or number != int(number) or number < 1:
        raise ConfigError("", field, f"{where}: region id {value!r}; allowed: a whole number >= 1")
    return int(number)


def feature_property(props: dict, i: int, attr: str, field: str):
    """The value of property ``attr`` of GeoJSON feature ``i`` (its ``properties``), or the
    one-line error for ``field`` naming the properties it has."""
    if attr not in props:
        known = ", ".join(sorted(props)) or "none"
        raise ConfigError("", field, f"feature {i} has no property {attr!r}; it has: {known}")
    return props[attr]


def _from_geojson(path: str, id_field: str, name_field: str) -> list[tuple[str, int, str]]:
    field = "landscape.region_name_field"
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError("", "landscape.region_map", f"not valid GeoJSON: {exc}") from None
    if isinstance(data, dict) and data.get("type") == "Feature":
        data = {"features": [data]}
    feats = data.get("features") if isinstance(data, dict) else None
    out = []
    for i, feat in enumerate(feats if isinstance(feats, list) else []):
        if not isinstance(feat, dict) or not feat.get("geometry"):
            continue
        props = feat.get("properties") or {}
        name = feature_property(props, i, name_field, field)
        where = f"feature {i}"
        rid = _region_id(props.get(id_field), where, "landscape.region_field")
        out.append((where, rid, _name(name, where, field)))
    return out


def _from_table(path: str, id_field: str, name_field: str) -> list[tuple[str, int, str]]:
    field = "landscape.region_names"
    p = Path(path)
    out = []
    try:
        with open(p, encoding="utf-8-sig", newline="") as fh:
            reader = csv.DictReader(fh)
            header = [h.strip() for h in reader.fieldnames or []]
            reader.fieldnames = header
            missing = [c for c in (id_field, name_field) if c not in header]
            if missing:
                raise ConfigError(
                    "",
                    field,
                    f"'{p.name}' has columns {header or 'none'}; allowed: a header with "
                    f"{id_field} (landscape.region_field) and {name_field} "
                    "(landscape.region_name_field)",
                )
            for record in reader:
                if len(out) >= MAX_ROWS:
                    raise ConfigError("", field, f"more than {MAX_ROWS} lines")
                where = f"line {reader.line_num}"
                rid = _region_id(record.get(id_field), where, field)
                out.append((where, rid, _name(record.get(name_field), where, field)))
    except FileNotFoundError:
        raise ConfigError("", field, f"'{path}' not found") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ConfigError("", field, f"cannot read '{p.name}': {exc}") from None
    return out

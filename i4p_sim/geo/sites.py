"""Committee sites from a CSV (``[lpc] sites``, docs/ODD.md 5.2 and 6).

A header row names the columns: ``row,col`` (grid cells, 0-based, row 0 at the top) or
``lon,lat`` (WGS84 degrees, placed by the scenario's maps' georeference; needs a map).
Other columns (a name, a note) are ignored. One committee per line, in file order; a
site off the grid, on an uninhabited cell or in a cell already taken is a one-line error.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from i4p_sim.config.errors import ConfigError

if TYPE_CHECKING:
    from i4p_sim.config.scenario import Scenario
    from i4p_sim.geo.maps import GridMaps

FIELD = "lpc.sites"
#: Most lines a sites file may hold.
MAX_SITES = 100_000


def read_sites(
    path: str,
    scenario: Scenario,
    maps: GridMaps | None,
    inhabited: np.ndarray | None,
    source: str = "<scenario>",
) -> np.ndarray:
    """Flat cell indices of the committees listed in ``path`` (file order)."""
    shape = (scenario.grid.height, scenario.grid.width)
    rows_cols, labels = _read(path, source)
    if labels == ("lon", "lat"):
        if maps is None:
            raise ConfigError(
                source,
                FIELD,
                "lon,lat sites need a map (landscape.region_map, population_map or "
                "group_map) to place them; allowed without one: row,col",
            )
        from rasterio.warp import transform

        lons = [p[1][0] for p in rows_cols]
        lats = [p[1][1] for p in rows_cols]
        xs, ys = transform("EPSG:4326", maps.crs, lons, lats)
        from i4p_sim.geo.maps import cell_of

        cells = [cell_of(maps.transform, x, y) for x, y in zip(xs, ys, strict=True)]
    else:
        cells = [(int(p[1][0]), int(p[1][1])) for p in rows_cols]
    h, w = shape
    seen: dict[int, int] = {}
    out = []
    for (line, given), (r, c) in zip(rows_cols, cells, strict=True):
        where = f"line {line}: {labels[0]} {given[0]:g}, {labels[1]} {given[1]:g}"
        if not (0 <= r < h and 0 <= c < w):
            raise ConfigError(
                source,
                FIELD,
                f"{where} is off the map (cell {r}, {c}); allowed: rows 0..{h - 1}, "
                f"cols 0..{w - 1}",
            )
        if inhabited is not None and not inhabited[r, c]:
            raise ConfigError(
                source, FIELD, f"{where} is on an uninhabited cell ({r}, {c}); allowed: inhabited"
            )
        flat = r * w + c
        if flat in seen:
            raise ConfigError(
                source,
                FIELD,
                f"{where} is in cell ({r}, {c}), as line {seen[flat]}; one committee per cell",
            )
        seen[flat] = line
        out.append(flat)
    return np.asarray(out, dtype=np.int64)


def _read(path: str, source: str) -> tuple[list[tuple[int, tuple[float, float]]], tuple]:
    """(line number, (a, b)) per site and the column pair used."""
    p = Path(path)
    try:
        with open(p, encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh)
            header = [h.strip().lower() for h in reader.fieldnames or []]
            reader.fieldnames = header
            labels = next(
                (pair for pair in (("row", "col"), ("lon", "lat")) if set(pair) <= set(header)),
                None,
            )
            if labels is None:
                raise ConfigError(
                    source,
                    FIELD,
                    f"'{p.name}' has columns {header or 'none'}; allowed: a header with "
                    "row,col or lon,lat",
                )
            out = []
            for record in reader:
                line = reader.line_num
                if len(out) >= MAX_SITES:
                    raise ConfigError(source, FIELD, f"more than {MAX_SITES} sites")
                values = []
                for key in labels:
                    text = (record.get(key) or "").strip()
                    try:
                        value = float(text)
                    except ValueError:
                        value = math.nan
                    whole = key in ("row", "col")
                    if not math.isfinite(value) or (whole and value != int(value)):
                        kind = "a whole number" if whole else "a number in degrees"
                        raise ConfigError(
                            source, FIELD, f"line {line}: {key} = {text!r}; allowed: {kind}"
                        )
                    values.append(value)
                out.append((line, (values[0], values[1])))
    except FileNotFoundError:
        raise ConfigError(source, FIELD, f"'{path}' not found") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ConfigError(source, FIELD, f"cannot read '{p.name}': {exc}") from None
    if not out:
        raise ConfigError(source, FIELD, f"'{p.name}' lists no site; allowed: one per line")
    return out, labels

"""Spatial outputs with their georeference: layers as GeoTIFF (``i4p run --out``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.crs import CRS
from rasterio.transform import Affine

#: Sub-directory of a run's output holding its GeoTIFF layers.
MAPS_DIR = "maps"


def write_geotiffs(
    out: str | Path, georef: dict[str, Any], layers: dict[str, np.ndarray]
) -> list[Path]:
    """Write each (H, W) layer as ``out/maps/NAME.tif`` (one band, deflate) in the
    georeference's CRS and transform; return the files written."""
    folder = Path(out) / MAPS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    crs = CRS.from_wkt(georef["crs_wkt"])
    transform = Affine(*georef["transform"])
    written = []
    for name, layer in layers.items():
        arr = np.asarray(layer)
        dtype = "int32" if arr.dtype.kind in "iub" else "float32"
        path = folder / f"{name}.tif"
        tmp = path.with_suffix(".tif.tmp")
        with rasterio.open(
            tmp,
            "w",
            driver="GTiff",
            height=arr.shape[0],
            width=arr.shape[1],
            count=1,
            dtype=dtype,
            crs=crs,
            transform=transform,
            compress="deflate",
        ) as dst:
            dst.write(arr.astype(dtype), 1)
            dst.set_band_description(1, name)
        tmp.replace(path)
        written.append(path)
    return written

"""Spatial outputs with their georeference: layers as GeoTIFF (``i4p run --out``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.crs import CRS
from rasterio.transform import Affine

#: Sub-directory of a run's output holding its GeoTIFF layers.
MAPS_DIR = "maps"


def write_geotiffs(
    folder: str | Path, georef: dict[str, Any], layers: dict[str, np.ndarray]
) -> list[Path]:
    """Write each (H, W) layer as ``folder/NAME.tif`` (one band, deflate) in the
    georeference's CRS and transform; return the files written."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    crs = CRS.from_wkt(georef["crs_wkt"])
    transform = Affine(*georef["transform"])
    written = []
    for name, layer in layers.items():  # (``name`` is a layer's, never a path)
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
            if name == "region" and georef.get("regions"):  # each id's name, as band tags
                dst.update_tags(1, **{f"REGION_{r['id']}": r["name"] for r in georef["regions"]})
        tmp.replace(path)
        written.append(path)
    return written


def write_sweep_geotiffs(
    root: str | Path, georefs: dict[tuple[str, int], dict[str, Any]], runs
) -> list[Path]:
    """A sweep's heat-map snapshots as GeoTIFF: for each (scenario, point) with a
    georeference, the mean over its stored replicates of each snapshot layer, as
    ``root/maps/SCENARIO/point-P/LAYER_stepN.tif`` (violence: the share of replicates in
    which the cell was violent that month), with its ``georeference.json``."""
    root = Path(root)
    ok = runs[runs["status"] == "ok"] if len(runs) else runs
    written: list[Path] = []
    for (name, point), georef in georefs.items():
        ids = ok.loc[(ok["scenario"] == name) & (ok["point"] == point), "run_id"]
        files = [root / "snapshots" / f"{rid}.npz" for rid in ids]
        files = [f for f in files if f.exists()]
        if not files:
            continue
        sums: dict[str, np.ndarray] = {}
        for f in files:
            with np.load(f) as snap:
                for key in snap.files:
                    sums[key] = sums.get(key, 0.0) + snap[key].astype(np.float64)
        layers = {
            key.replace("@", "_step"): total / len(files) for key, total in sorted(sums.items())
        }
        folder = root / MAPS_DIR / name / f"point-{point}"
        written += write_geotiffs(folder, georef, layers)
        (folder / "georeference.json").write_text(json.dumps(georef, indent=2) + "\n")
    return written

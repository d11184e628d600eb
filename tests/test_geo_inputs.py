"""Real maps, continued (issue 14): councils named by the map, and a sweep that reads every
variant's maps and sites before it runs anything.

- a region map's names (a GeoJSON property, or a CSV name table for a GeoTIFF) name the
  regional councils in ``councils.csv``, ``georeference.json``, the region GeoTIFF's tags,
  a sweep's manifest and its report; Kenya's councils are its counties;
- a missing map, a map of another shape, an unknown CRS or sites off the map in any
  variant is the usual one line with exit 2 from ``i4p check`` and ``i4p sweep``, and the
  sweep writes nothing (no results directory).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from i4p_sim.config.loading import load_scenario
from i4p_sim.sim.model import I4PModel

from conftest import ROOT, one_error_line, run_cli

rasterio = pytest.importorskip("rasterio")

from test_geo import GEO, UTM, make_maps, write_scenario  # noqa: E402


@pytest.fixture
def maps(tmp_path: Path) -> Path:
    """test_geo's small maps: 6 x 8 cells of 5 km, regions 1 | 2."""
    return make_maps(tmp_path)


NAMES = 'region_name_field = "name"\nregion_names = "names.csv"\n'


def test_a_name_table_names_the_councils_of_a_geotiff_region_map(maps: Path) -> None:
    (maps / "names.csv").write_text("region,name,note\n2,East Hills,x\n1,West Plain,y\n9,Off,z\n")
    m = I4PModel(load_scenario(write_scenario(maps, GEO + "\n" + NAMES)), communities=False)
    assert [c.name for c in m.councils] == ["national", "West Plain", "East Hills"]
    assert [c.region_id for c in m.regional] == [1, 2]
    assert m.georef["regions"] == [
        {"id": 1, "name": "West Plain"},
        {"id": 2, "name": "East Hills"},
    ]


def test_without_names_councils_stay_region_id(maps: Path) -> None:
    m = I4PModel(load_scenario(write_scenario(maps, GEO)), communities=False)
    assert [c.name for c in m.councils] == ["national", "region-1", "region-2"]
    assert [r["name"] for r in m.georef["regions"]] == ["region-1", "region-2"]


def test_kenya_councils_are_its_counties_in_the_run_outputs(tmp_path: Path) -> None:
    out = tmp_path / "out"
    coarse = ["--set", "landscape.cell_km=100", "--set", "grid.height=11"]
    coarse += ["--set", "grid.width=9"]
    proc = run_cli("run", ROOT / "scenarios" / "kenya.toml", "--steps", "14", *coarse)
    assert proc.returncode == 0, proc.stderr
    proc = run_cli("run", ROOT / "scenarios" / "kenya.toml", "--steps", "14", *coarse, "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert "councils.csv" in proc.stdout
    import pandas as pd

    table = pd.read_csv(out / "councils.csv")
    assert table["council"].iloc[0] == "national"
    regional = table[table["level"] == "regional"]
    assert {"Mombasa", "Nairobi", "Turkana"} <= set(regional["council"])
    assert not regional["council"].str.startswith("region-").any()
    assert table["committees"].sum() > 0
    geo = json.loads((out / "georeference.json").read_text())
    by_id = {r["id"]: r["name"] for r in geo["regions"]}
    assert by_id[1] == "Mombasa" and by_id[47] == "Nairobi"  # KNBS county codes
    assert sorted(regional["region"].astype(int)) == sorted(by_id)
    with rasterio.open(out / "maps" / "region.tif") as src:
        tags = src.tags(1)
    assert tags["REGION_1"] == "Mombasa" and tags["REGION_47"] == "Nairobi"


@pytest.mark.parametrize(
    ("table", "extra", "says"),
    [
        ("region,name\n1,West\n", NAMES, "region 2 is on the grid but has no name"),
        ("region,name\n1,West\n2,West\n", NAMES, "regions 1 and 2 are both named 'West'"),
        ("region,name\n1,A\n1,B\n2,C\n", NAMES, "line 3: region 1 is named 'A' and 'B'"),
        ("region,name\n1,national\n2,C\n", NAMES, "named 'national'"),
        ("id,label\n1,A\n", NAMES, "allowed: a header with region (landscape.region_field)"),
        ("region,name\nx,A\n", NAMES, "line 2: region id 'x'; allowed: a whole number >= 1"),
        ("", 'region_names = "names.csv"\n', "region_name_field: required with"),
    ],
)
def test_bad_region_names_are_one_line(maps: Path, table: str, extra: str, says: str) -> None:
    (maps / "names.csv").write_text(table)
    path = write_scenario(maps, GEO + "\n" + extra)
    for command in ("check", "run"):
        line = one_error_line(run_cli(command, path))
        assert f"{path}: " in line and says in line, line


@pytest.mark.parametrize(
    ("sets", "says"),
    [
        (["grid.height=5"], "landscape.region_map: covers 6 x 8 cells of 5 km"),
        (["landscape.crs=EPSG:999999"], "landscape.crs: unknown CRS 'EPSG:999999'"),
        (["lpc.sites=SITES"], "lpc.sites: line 2: row 9, col 1 is off the map"),
    ],
)
def test_a_run_with_a_bad_map_writes_nothing(maps: Path, sets: list[str], says: str) -> None:
    (maps / "off.csv").write_text("row,col\n9,1\n")
    path = write_scenario(maps, GEO)
    out = maps / "out"
    flags = [a for s in sets for a in ("--set", s.replace("SITES", str(maps / "off.csv")))]
    line = one_error_line(run_cli("run", path, *flags, "--out", out))
    assert f"{path}: {says}" in line, line
    assert not out.exists()


def test_an_unknown_crs_prints_one_line_only_in_a_fresh_process(maps: Path) -> None:
    """GDAL and PROJ print their own errors on stderr (file descriptor 2, which run_cli
    does not capture) unless rasterio's handler is installed: a real process shows it."""
    from conftest import run_cli_subprocess

    path = write_scenario(maps, GEO.replace(UTM, "EPSG:999999"))
    line = one_error_line(run_cli_subprocess("check", path))
    assert line.startswith(f"i4p: {path}: landscape.crs: unknown CRS 'EPSG:999999'")


def test_region_names_need_a_region_map(maps: Path) -> None:
    path = write_scenario(maps, f'population_map = "pop.tif"\ncrs = "{UTM}"\n' + NAMES)
    (maps / "names.csv").write_text("region,name\n1,A\n")
    line = one_error_line(run_cli("check", path))
    assert "landscape.region_names: names the regions of a region map" in line


# ------------------------------------------------------------------ sweeps: up front


def write_experiment(folder: Path, variant_sets: list[str], name: str = "geo_exp") -> Path:
    """An experiment on the small maps: a steady variant and one with ``variant_sets``."""
    sets = ", ".join(json.dumps(s) for s in variant_sets)
    path = folder / "exp.toml"
    path.write_text(
        f'name = "{name}"\nseed = 1\nreplicates = 1\nsteps = 6\nbaseline = "steady"\n'
        'base = "geo.toml"\n[[variants]]\nname = "steady"\n'
        f'[[variants]]\nname = "other"\nset = [{sets}]\n',
        encoding="utf-8",
    )
    return path


BAD_VARIANTS = [
    (
        ["landscape.region_map=nope.tif"],
        "variants.1.set: landscape.region_map: 'nope.tif' not found",
    ),
    (["grid.height=5"], "other: landscape.region_map: covers 6 x 8 cells of 5 km"),
    (["landscape.crs=EPSG:999999"], "other: landscape.crs: unknown CRS 'EPSG:999999'"),
    (["lpc.sites=off.csv"], "other: lpc.sites: line 2: row 9, col 1 is off the map"),
]


@pytest.mark.parametrize(("sets", "says"), BAD_VARIANTS)
def test_a_sweep_reads_every_variants_maps_first_and_writes_nothing(
    maps: Path, sets: list[str], says: str
) -> None:
    write_scenario(maps, GEO)
    (maps / "off.csv").write_text("row,col\n9,1\n")
    exp = write_experiment(maps, sets)
    out = maps / "results"
    line = one_error_line(run_cli("check", exp))
    assert line.startswith(f"i4p: {exp}: ") and says in line, line
    line = one_error_line(run_cli("sweep", exp, "--out", out, "--workers", "1"))
    assert line.startswith(f"i4p: {exp}: ") and says in line, line
    assert not out.exists()


def test_a_sweeps_manifest_and_report_name_the_regional_councils(maps: Path) -> None:
    (maps / "names.csv").write_text("region,name\n1,West Plain\n2,East Hills\n")
    write_scenario(maps, GEO + "\n" + NAMES)
    exp = write_experiment(maps, ["lpc.density=20.0"])
    out = maps / "results"
    proc = run_cli("sweep", exp, "--out", out, "--workers", "1")
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest["maps"]) == {"steady", "other"}
    assert manifest["maps"]["steady"]["regions"] == [
        {"id": 1, "name": "West Plain"},
        {"id": 2, "name": "East Hills"},
    ]
    assert manifest["maps"]["steady"]["crs"] == UTM
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "<h2>Maps</h2>" in page and "West Plain (1), East Hills (2)" in page
    assert (out / "maps" / "other" / "point-0" / "georeference.json").is_file()
    assert np.isfinite(manifest["total_runs"])

"""Real maps (docs/ODD.md 6): GeoTIFF and GeoJSON onto the grid, regions, sites, GeoTIFF out.

Small synthetic maps made here (a few cells of 5 km in UTM zone 37S), the shipped Kenya
scenario at coarse cells, and each bad input's one line with exit 2.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from i4p_sim.config.loading import load_scenario
from i4p_sim.sim.model import I4PModel
from i4p_sim.sim.simulation import Simulation

from conftest import ROOT, one_error_line, run_cli

rasterio = pytest.importorskip("rasterio")
from rasterio.transform import Affine  # noqa: E402


def from_origin(west: float, north: float, xsize: float, ysize: float) -> Affine:
    """rasterio's ``from_origin`` (which warns with affine 3)."""
    return Affine(xsize, 0.0, west, 0.0, -ysize, north)


KENYA = ROOT / "scenarios" / "kenya.toml"
#: Kenya at 100 km cells: 11 x 9, a second per run.
KENYA_COARSE = ["--set", "landscape.cell_km=100", "--set", "grid.height=11"]
KENYA_COARSE += ["--set", "grid.width=9"]
UTM = "EPSG:32737"
CELL = 5000.0
#: Top-left corner of the small test maps (near Nairobi, in UTM 37S).
X0, Y0 = 250_000.0, 9_880_000.0


def write_tif(path: Path, data: np.ndarray, crs: str = UTM, transform=None, nodata=None):
    transform = transform or from_origin(X0, Y0, CELL, CELL)
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        height=data.shape[0],
        width=data.shape[1],
        count=1,
        dtype=str(data.dtype),
        crs=crs,
        transform=transform,
        nodata=nodata,
    ) as dst:
        dst.write(data, 1)
    return path


def write_scenario(folder: Path, landscape: str, extra: str = "", grid=(6, 8)) -> Path:
    path = folder / "geo.toml"
    path.write_text(
        f"steps = 6\nseed = 2\n[grid]\nheight = {grid[0]}\nwidth = {grid[1]}\n"
        f"[landscape]\n{landscape}\n{extra}",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def maps(tmp_path: Path) -> Path:
    """The small maps of :func:`make_maps` in ``tmp_path``."""
    return make_maps(tmp_path)


def make_maps(tmp_path: Path) -> Path:
    """A 6 x 8 population map (one empty column), regions 1 | 2 split down the middle and
    groups by row, all in UTM 37S at 5 km."""
    pop = np.full((6, 8), 500.0)
    pop[:, 7] = 0.0
    region = np.ones((6, 8), dtype=np.int32)
    region[:, 4:] = 2
    group = (np.arange(6)[:, None] // 3 * np.ones((1, 8))).astype(np.int32)
    write_tif(tmp_path / "pop.tif", pop)
    write_tif(tmp_path / "region.tif", region)
    write_tif(tmp_path / "group.tif", group)
    return tmp_path


GEO = (
    'population_map = "pop.tif"\nregion_map = "region.tif"\ngroup_map = "group.tif"\n'
    f'crs = "{UTM}"\ncell_km = 5.0'
)


def test_geotiff_maps_become_the_layers_and_regions_the_councils(maps: Path) -> None:
    sc = load_scenario(write_scenario(maps, GEO))
    assert Path(sc.landscape.population_map).is_absolute()  # relative to the scenario file
    m = I4PModel(sc, communities=False)
    pop = np.full((6, 8), 500.0)
    pop[:, 7] = 0.0
    np.testing.assert_array_equal(m.layers["population"], pop)
    assert m.n_inhabited == 42
    np.testing.assert_array_equal(m.layers["group"][:, 0], [0, 0, 0, 1, 1, 1])
    assert [c.name for c in m.councils] == ["national", "region-1", "region-2"]
    for i, (_r, c) in enumerate(m.committees.positions.tolist()):
        assert m.councils[m.council_of[i]].name == f"region-{1 if c < 4 else 2}"
    assert m.regional[1].mask[:, 4:].all() and not m.regional[1].mask[:, :4].any()
    geo = m.georef
    assert geo["crs"] == UTM and geo["transform"] == [CELL, 0.0, X0, 0.0, -CELL, Y0]


def test_a_map_run_is_deterministic_and_the_base_landscape_is_unchanged(maps: Path) -> None:
    sc = load_scenario(write_scenario(maps, GEO))
    a = Simulation(sc, communities=False).advance()
    b = Simulation(sc, communities=False).advance()
    assert a.series().equals(b.series())
    # a scenario without maps is drawn exactly as before: grievance comes from the same
    # landscape stream draws whether or not maps replace population and groups
    plain = I4PModel(load_scenario(None, overrides=["grid.height=6", "grid.width=8"], seed=2))
    np.testing.assert_array_equal(plain.layers["grievance"], a.model.layers["grievance"])


def test_a_map_in_degrees_is_reprojected_and_population_is_kept(tmp_path: Path) -> None:
    # 0.1-degree pixels around 37E 1S, reprojected to 10 km cells in UTM 37S
    pop = np.full((10, 10), 1000.0)
    write_tif(
        tmp_path / "pop.tif", pop, crs="EPSG:4326", transform=from_origin(36.5, -0.5, 0.1, 0.1)
    )
    text = f'population_map = "pop.tif"\ncrs = "{UTM}"\ncell_km = 10.0'
    bad = run_cli("check", write_scenario(tmp_path, text))
    line = one_error_line(bad)
    sizes = line.split("grid.height = ")[1].split(" (or")[0]
    h, w = (int(v) for v in sizes.split(" and grid.width = "))
    sc = load_scenario(write_scenario(tmp_path, text, grid=(h, w)))
    m = I4PModel(sc, communities=False)
    assert m.georef["crs"] == UTM
    # sum resampling keeps the total to within the edge cells' share
    assert m.layers["population"].sum() == pytest.approx(100_000.0, rel=0.05)


def test_geojson_polygons_spread_population_over_their_cells(tmp_path: Path) -> None:
    # two squares in UTM coordinates (legacy crs member): 4 x 2 and 4 x 2 cells of 5 km
    def square(x0, value, code):
        x1 = x0 + 2 * CELL
        ring = [[x0, Y0], [x1, Y0], [x1, Y0 - 4 * CELL], [x0, Y0 - 4 * CELL], [x0, Y0]]
        return {
            "type": "Feature",
            "properties": {"pop": value, "code": code},
            "geometry": {"type": "Polygon", "coordinates": [ring]},
        }

    data = {
        "type": "FeatureCollection",
        "crs": {"type": "name", "properties": {"name": "EPSG:32737"}},
        "features": [square(X0, 800, 7), square(X0 + 2 * CELL, 80, 9)],
    }
    (tmp_path / "units.geojson").write_text(json.dumps(data))
    text = (
        'population_map = "units.geojson"\npopulation_field = "pop"\n'
        'region_map = "units.geojson"\nregion_field = "code"\n'
        f'crs = "{UTM}"\ncell_km = 5'
    )
    m = I4PModel(load_scenario(write_scenario(tmp_path, text, grid=(4, 4))), communities=False)
    np.testing.assert_allclose(m.layers["population"][:, :2], 100.0)
    np.testing.assert_allclose(m.layers["population"][:, 2:], 10.0)
    assert [c.name for c in m.councils] == ["national", "region-7", "region-9"]


def test_committee_sites_from_a_csv_by_row_col_and_lon_lat(maps: Path) -> None:
    (maps / "sites.csv").write_text("name,row,col\na,0,0\nb,5,6\nc,2,3\n")
    m = I4PModel(load_scenario(write_scenario(maps, GEO, '[lpc]\nsites = "sites.csv"')))
    assert m.committees.positions.tolist() == [[0, 0], [5, 6], [2, 3]]
    # lon/lat: the centre of cell (1, 2) of the map, from UTM to WGS84 and back
    from rasterio.warp import transform

    lon, lat = transform(UTM, "EPSG:4326", [X0 + 2.5 * CELL], [Y0 - 1.5 * CELL])
    (maps / "ll.csv").write_text(f"lon,lat\n{lon[0]},{lat[0]}\n")
    m = I4PModel(load_scenario(write_scenario(maps, GEO, '[lpc]\nsites = "ll.csv"')))
    assert m.committees.positions.tolist() == [[1, 2]]


def test_row_col_sites_need_no_map(tmp_path: Path) -> None:
    (tmp_path / "s.csv").write_text("row,col\n1,1\n3,2\n")
    path = tmp_path / "s.toml"
    path.write_text(
        "[grid]\nwidth = 6\nheight = 6\n[landscape]\ninhabited_share = 1.0\n"
        '[lpc]\nsites = "s.csv"\n'
    )
    m = I4PModel(load_scenario(path), communities=False)
    assert m.committees.positions.tolist() == [[1, 1], [3, 2]]


# ------------------------------------------------------------------------ Kenya, CLI


def test_kenya_check_and_a_coarse_run_write_georeferenced_geotiffs(tmp_path: Path) -> None:
    with contextlib.chdir(ROOT):
        check = run_cli("check", "scenarios/kenya.toml")
        assert check.returncode == 0, check.stderr
        assert "209x178 grid, EPSG:32737, 5 km cells" in check.stdout
        out = tmp_path / "out"
        proc = run_cli("run", "scenarios/kenya.toml", "--steps", "14", *KENYA_COARSE, "--out", out)
    assert proc.returncode == 0, proc.stderr
    geo = json.loads((out / "georeference.json").read_text())
    assert geo["crs"] == "EPSG:32737" and geo["cell_km"] == 100.0
    with rasterio.open(out / "maps" / "mean_violence.tif") as src:
        assert src.crs.to_epsg() == 32737
        assert list(src.transform)[:6] == geo["transform"]
        assert src.shape == (11, 9)
        v = src.read(1)
        assert ((v >= 0) & (v <= 1)).all()
    with rasterio.open(out / "maps" / "population.tif") as src:
        assert src.read(1).sum() == pytest.approx(47_564_296, rel=1e-6)  # 2019 census


@pytest.mark.slow
def test_kenya_runs_24_steps_and_its_geotiff_reads_back(tmp_path: Path) -> None:
    """The issue's 'done when': ``i4p run scenarios/kenya.toml --steps 24 --out``."""
    out = tmp_path / "out"
    with contextlib.chdir(ROOT):
        proc = run_cli("run", "scenarios/kenya.toml", "--steps", "24", "--out", out)
    assert proc.returncode == 0, proc.stderr
    with rasterio.open(out / "maps" / "mean_violence.tif") as src:
        assert src.crs == rasterio.crs.CRS.from_epsg(32737)
        assert src.transform.a == src.transform.e * -1 == 5000.0
        assert src.shape == (209, 178)
    with rasterio.open(out / "maps" / "region.tif") as src:
        assert set(np.unique(src.read(1)).tolist()) == set(range(48))  # 47 counties and 0
    # committees at four towns by lon/lat land in their counties (county_code, KNBS order)
    towns = tmp_path / "towns.csv"
    towns.write_text(
        "name,lon,lat\nNairobi,36.82,-1.29\nMombasa,39.67,-4.05\nKisumu,34.76,-0.09\n"
        "Lodwar,35.60,3.12\n"
    )
    m = I4PModel(load_scenario(KENYA, overrides=[f"lpc.sites={towns}"]), communities=False)
    assert len(m.regional) == 47
    assert [int(m.region[r, c]) for r, c in m.committees.positions.tolist()] == [47, 1, 42, 23]


# ---------------------------------------------------------------------- bad input


def test_a_missing_map_is_one_line(tmp_path: Path) -> None:
    path = write_scenario(tmp_path, f'population_map = "nope.tif"\ncrs = "{UTM}"')
    for command in ("check", "run"):
        line = one_error_line(run_cli(command, path))
        assert line.endswith(
            f"{path}: landscape.population_map: 'nope.tif' not found "
            f"(looked for {tmp_path / 'nope.tif'})"
        )


def test_a_map_of_another_shape_is_one_line(maps: Path) -> None:
    path = write_scenario(maps, GEO, grid=(5, 8))
    for command in ("check", "run"):
        line = one_error_line(run_cli(command, path))
        assert f"{path}: landscape.region_map: covers 6 x 8 cells of 5 km in {UTM}" in line
        assert "set grid.height = 6 and grid.width = 8" in line


@pytest.mark.parametrize(
    ("crs", "says"),
    [("EPSG:999999", "unknown CRS 'EPSG:999999'"), ("EPSG:4326", "is not projected")],
)
def test_an_unknown_or_unprojected_crs_is_one_line(maps: Path, crs: str, says: str) -> None:
    path = write_scenario(maps, GEO.replace(UTM, crs))
    for command in ("check", "run"):
        line = one_error_line(run_cli(command, path))
        assert f"{path}: landscape.crs: " in line and says in line


def test_a_map_without_crs_field_and_regions_with_blocks_are_one_line(maps: Path) -> None:
    path = write_scenario(maps, 'population_map = "pop.tif"')
    assert "landscape.crs: required with a map" in one_error_line(run_cli("check", path))
    path = write_scenario(maps, GEO, "[council]\nregions = [2, 2]")
    assert "council.regions: must be [1, 1]" in one_error_line(run_cli("check", path))


@pytest.mark.parametrize(
    ("csv", "says"),
    [
        (
            "row,col\n0,0\n6,1\n",
            "line 3: row 6, col 1 is off the map (cell 6, 1); allowed: rows 0..5",
        ),
        ("row,col\n0,9\n", "line 2: row 0, col 9 is off the map"),
        ("lon,lat\n20.0,10.0\n", "line 2: lon 20, lat 10 is off the map"),
        ("row,col\n0,7\n", "is on an uninhabited cell (0, 7)"),
        ("row,col\n1,1\n1,1\n", "line 3: row 1, col 1 is in cell (1, 1), as line 2"),
        ("x,y\n1,1\n", "allowed: a header with row,col or lon,lat"),
        ("row,col\n1.5,1\n", "line 2: row = '1.5'; allowed: a whole number"),
        ("row,col\n", "lists no site"),
    ],
)
def test_a_bad_sites_csv_is_one_line(maps: Path, csv: str, says: str) -> None:
    (maps / "sites.csv").write_text(csv)
    path = write_scenario(maps, GEO, '[lpc]\nsites = "sites.csv"')
    for command in ("check", "run"):
        line = one_error_line(run_cli(command, path))
        assert f"{path}: lpc.sites: " in line and says in line, line


def test_bad_map_values_are_one_line(maps: Path) -> None:
    write_tif(maps / "group.tif", np.full((6, 8), 3, dtype=np.int32))
    line = one_error_line(run_cli("check", write_scenario(maps, GEO)))
    assert "landscape.group_map: group 3 on the grid; allowed: 0..1" in line
    (maps / "x.geojson").write_text(
        '{"type": "FeatureCollection", "features": [{"type": '
        '"Feature", "properties": {"a": 1}, "geometry": {"type": '
        '"Point", "coordinates": [37, -1]}}]}'
    )
    text = f'region_map = "x.geojson"\ncrs = "{UTM}"'
    line = one_error_line(run_cli("check", write_scenario(maps, text)))
    assert "landscape.region_field: feature 0 has no property 'region'; it has: a" in line


# -------------------------------------------------------------- without rasterio


def test_without_rasterio_plain_scenarios_run_and_map_scenarios_say_what_to_install() -> None:
    code = f"""
import sys
sys.modules["rasterio"] = None  # as if the geo extra were not installed
from i4p_sim.cli import main
from i4p_sim.config.loading import load_scenario
from i4p_sim.sim.simulation import Simulation
sc = load_scenario(None, overrides=["grid.width=8", "grid.height=8"], steps=3)
Simulation(sc, communities=False).advance()
assert not any(m == "i4p_sim.geo.maps" for m in sys.modules)
sys.exit(main(["check", {str(KENYA)!r}]))
"""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert res.returncode == 2, res.stdout + res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, res.stderr
    assert f"{KENYA}: landscape.population_map: real maps need rasterio" in lines[0]
    assert 'pip install -e ".[geo]"' in lines[0]


@pytest.mark.slow
def test_a_sweep_on_a_map_writes_mean_snapshot_geotiffs(tmp_path: Path) -> None:
    exp = tmp_path / "kenya_exp.toml"
    exp.write_text(
        'name = "kenya_exp"\ndescription = "Kenya, coarse"\nseed = 1\nreplicates = 2\n'
        f'steps = 14\nbaseline = "steady"\nbase = "{KENYA.as_posix()}"\n'
        'set = ["landscape.cell_km=100", "grid.height=11", "grid.width=9"]\n'
        'heatmap_steps = [13]\n[[variants]]\nname = "steady"\ndescription = "steady"\n',
        encoding="utf-8",
    )
    assert run_cli("check", exp).returncode == 0
    out = tmp_path / "res"
    proc = run_cli("sweep", exp, "--out", out, "--workers", "1", "--no-report")
    assert proc.returncode == 0, proc.stderr
    folder = out / "maps" / "steady" / "point-0"
    geo = json.loads((folder / "georeference.json").read_text())
    with rasterio.open(folder / "violence_step13.tif") as src:
        assert src.crs.to_epsg() == 32737 and list(src.transform)[:6] == geo["transform"]
        v = src.read(1)
        assert src.shape == (11, 9) and ((v >= 0) & (v <= 1)).all()
    bad = exp.read_text().replace("grid.height=11", "grid.height=10")
    exp.write_text(bad, encoding="utf-8")
    line = one_error_line(run_cli("check", exp))
    assert f"{exp}: steady: landscape.region_map: covers 11 x 9 cells" in line

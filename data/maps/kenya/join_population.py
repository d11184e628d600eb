"""Build kenya_counties_2019.geojson: the county polygons with their 2019 census figures.

Joins kenya_counties.geojson (OpenStreetMap boundaries, ODbL 1.0) and
kenya_county_population_2019.csv (KNBS 2019 census, Vol. II Table 2.2) on county_code,
adding ``population``, ``households`` and ``land_area_km2`` to each feature's properties.
The geometry is unchanged. The result is a derivative of OSM data: ODbL 1.0,
© OpenStreetMap contributors. Run from anywhere: ``python join_population.py``.
"""

import csv
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    with open(HERE / "kenya_county_population_2019.csv", encoding="utf-8", newline="") as fh:
        rows = {int(r["county_code"]): r for r in csv.DictReader(fh)}
    data = json.loads((HERE / "kenya_counties.geojson").read_text(encoding="utf-8"))
    for feat in data["features"]:
        props = feat["properties"]
        row = rows[props["county_code"]]
        assert row["county_name"] == props["county_name"], (row, props)
        for key in ("population", "households", "land_area_km2"):
            props[key] = int(row[key])
    assert len(data["features"]) == len(rows) == 47
    data["name"] = "kenya_counties_2019"
    data["attribution"] = (
        "Boundaries © OpenStreetMap contributors, ODbL 1.0; population: Kenya National "
        "Bureau of Statistics, 2019 Kenya Population and Housing Census, Vol. II, Table 2.2"
    )
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False) + "\n"
    (HERE / "kenya_counties_2019.geojson").write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()

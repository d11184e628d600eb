"""The sensitivity section of docs/VALIDATION.md read from stored screening sweeps
(i4p_sim.validation.screening; issue 13): tiny synthetic stores with planted effects (a
Morris design and a Saltelli design as ``i4p sweep`` stores them), no model runs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("SALib")

from i4p_sim.config.errors import ConfigError  # noqa: E402
from i4p_sim.stats import sensitivity as sa  # noqa: E402
from i4p_sim.validation.labels import label_section  # noqa: E402
from i4p_sim.validation.render import count_line, render_section  # noqa: E402
from i4p_sim.validation.screening import selection, sensitivity_section  # noqa: E402

from conftest import ROOT, one_error_line, run_cli  # noqa: E402

NAMES = ["a.strong", "b.middle", "c.inert", "d.inert"]
BOUNDS = [[0.0, 1.0], [0.0, 2.0], [0.0, 1.0], [5.0, 6.0]]


def _store(root: Path, method: str, names: list[str], bounds: list, n: int, f) -> Path:
    """A results directory of a sweep on a ``method`` design: runs.parquet (2 replicates,
    tiny replicate noise) and the manifest with the design and its points."""
    root.mkdir(parents=True)
    seed = 5
    x = sa.design_matrix(method, bounds, n, seed, 4)
    rng = np.random.default_rng(0)
    rows = [
        {"scenario": "baseline", "point": i, "replicate": r, "status": "ok",
         "cumulative_violence": float(f(x[i]) + rng.normal(0, 0.01))}
        for i in range(len(x)) for r in range(2)
    ]  # fmt: skip
    pd.DataFrame(rows).to_parquet(root / "runs.parquet")
    design = {"method": method, "n": n, "seed": seed, "num_levels": 4, "names": names,
              "bounds": bounds, "integers": []}  # fmt: skip
    manifest = {
        "source": f"experiments/{root.name}.toml",
        "command": f"i4p sweep experiments/{root.name}.toml",
        "git_revision": "feed",
        "finished": "2026-12-01T12:00:00+00:00",
        "timings": {"wall_s": 12.0},
        "runs_ok": len(rows),
        "config": {"baseline": "baseline", "design": design,
                   "points": [dict(zip(names, map(float, p), strict=True)) for p in x]},
    }  # fmt: skip
    (root / "manifest.json").write_text(json.dumps(manifest))
    return root


def _morris(tmp_path: Path) -> Path:
    return _store(tmp_path / "screening", "morris", NAMES, BOUNDS, 6,
                  lambda p: 10 * p[0] + 2 * p[1])  # fmt: skip


def _sobol(tmp_path: Path, names: tuple[str, ...] = ("a.strong", "b.middle")) -> Path:
    return _store(tmp_path / "sobol_top", "saltelli", list(names), BOUNDS[:2], 32,
                  lambda p: 10 * p[0] + 2 * p[1])  # fmt: skip


def _calibration(tmp_path: Path, params: list[str]) -> Path:
    path = tmp_path / "calibration.toml"
    path.write_text("parameters = [" + ", ".join(f'"{p}"' for p in params) + "]\n")
    return path


def test_morris_ranking_active_set_and_calibration_check(tmp_path):
    cal = _calibration(tmp_path, ["a.strong", "shocks.election.pulse"])
    section = sensitivity_section(_morris(tmp_path), None, cal)
    md = render_section(section)
    assert "{" not in md and "Ranked by `mu_star` of `cumulative_violence`" in md  # no template
    rows = [ln for ln in md.splitlines() if ln.startswith("| ") and "`" in ln]
    cells = [r.strip("| ").split(" | ") for r in rows]
    assert [c[:3] for c in cells[:2]] == [
        ["1", "`a.strong`", "[0, 1]"],
        ["2", "`b.middle`", "[0, 2]"],
    ]
    # elementary effects per unit of the normalised range: 10 x 1 and 2 x 2
    mu = [float(c[3].split(" ± ")[0]) for c in cells]
    assert mu[:2] == [pytest.approx(10, abs=0.1), pytest.approx(4, abs=0.1)]
    assert [c[-1] for c in cells[:2]] == ["active", "active"]
    assert all(r.endswith("| - |") for r in rows[2:]) and len(rows) == 4
    assert "**Active set** (mu_star >= 0.1 x max mu_star" in md and "2 pass the rule" in md
    assert (
        "`tmp_path/calibration.toml` calibrates 2 parameters: this active set, without "
        "`b.middle`; plus `shocks.election.pulse` (not screened"
        in md.replace(f"`{tmp_path.name}/", "`tmp_path/")
    )
    assert "command `i4p sweep experiments/screening.toml`" in md and "`feed`" in md
    assert "No Sobol sweep was given (`i4p validate --sobol DIR`" in md
    [claim] = label_section(section).claims
    assert claim.fact.startswith("most influential parameter") and claim.kind == "mechanism"
    assert claim.estimate[0] == "`a.strong` (mu_star " and not claim.counted
    assert count_line([claim]).startswith("**0 of 0 emergent facts agree**")


def test_the_calibration_file_matching_the_active_set_is_said_so(tmp_path):
    cal = _calibration(tmp_path, ["b.middle", "a.strong"])
    md = render_section(sensitivity_section(_morris(tmp_path), None, cal))
    assert "calibrates 2 parameters: this active set, nothing more or less." in md


def test_sobol_indices_noise_and_replicates(tmp_path):
    cal = _calibration(tmp_path, ["a.strong", "b.middle"])
    morris = _morris(tmp_path)
    section = sensitivity_section(morris, _sobol(tmp_path), cal)
    md = render_section(section)
    table = md.split("| rank | parameter | prior | S1 ± 95% | ST ± 95% |")[1]
    rows = [ln for ln in table.splitlines() if ln.startswith("| ") and "`" in ln]
    assert [r.split(" | ")[1] for r in rows] == ["`a.strong`", "`b.middle`"]  # ranked by ST
    # 10 x uniform(0, 1) and 2 x uniform(0, 2): S1 = 100/12 / (100/12 + 16/12) = 0.86
    s1 = float(rows[0].split(" | ")[3].split(" ± ")[0])
    assert s1 == pytest.approx(100 / 116, abs=0.1)
    assert "They are the first 2 of the screen's active set." in md
    assert "**1 replicates per point needed**, this sweep has 2" in md
    assert "; the screen's was 0.000." in md
    assert [c.fact.endswith("(Sobol, total index)") for c in section.claims] == [False, True]
    other = sensitivity_section(morris, _sobol(tmp_path / "x", ("c.inert", "a.strong")))
    assert "They are **not** the first 2 of the screen's active set" in render_section(other)


def test_selection_marks_noise_and_cap():
    table = pd.DataFrame({"parameter": ["p", "q", "r", "s"], "mu_star": [10.0, 5.0, 4.0, 0.5],
                          "noise_level": [0.1, 3.0, 0.1, 0.0]})  # fmt: skip
    assert selection(table, ["p"]) == ["active", "noise", "cap", "-"]


def test_bad_stores_are_one_line_errors(tmp_path):
    morris, sobol = _morris(tmp_path), _sobol(tmp_path)
    with pytest.raises(ConfigError, match="not a Morris design"):
        sensitivity_section(sobol, None)
    with pytest.raises(ConfigError, match="not a Saltelli design"):
        sensitivity_section(None, morris)
    cases = [
        (["--screening", tmp_path / "nowhere"], "not a directory"),
        (["--sobol", tmp_path / "nowhere"], "not a directory"),
        (["--sobol", morris], "not a Saltelli design"),
        (["--screening", tmp_path], "runs.parquet: not found"),
    ]
    for args, needle in cases:
        line = one_error_line(run_cli("validate", "--only", "relapse", "--out",
                                      tmp_path / "v.md", *args))  # fmt: skip
        assert needle in line, line
    assert not (tmp_path / "v.md").exists()


def test_readme_lists_every_validate_flag():
    from i4p_sim.cli import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    flags = [s for a in sub.choices["validate"]._actions for s in a.option_strings
             if s.startswith("--") and s != "--help"]  # fmt: skip
    row = next(ln for ln in (ROOT / "README.md").read_text().splitlines()
               if ln.startswith("| `i4p validate"))  # fmt: skip
    assert {"--screening", "--sobol"} <= set(flags)
    assert [f for f in flags if f not in row.split("|")[1]] == []

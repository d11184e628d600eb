"""The HTML report: self-contained (plotly.js inline, no CDN), complete sections."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from i4p_sim import run_experiment
from i4p_sim.config.errors import ConfigError
from i4p_sim.report.html import write_report

REPO = Path(__file__).resolve().parents[1]
SCEN = REPO / "scenarios"

EXP = f"""
name = "rep"
description = "a tiny factorial for the report test"
seed = 2
replicates = 3
steps = 30
reference_step = 10
baseline = "none"
base = "{SCEN / "baseline.toml"}"
set = ["grid.width=12", "grid.height=12"]
heatmap_steps = [9, 20, 29]

[[variants]]
name = "both"
description = "both tiers"
[[variants]]
name = "lpc"
set = ["council.enabled=false"]
[[variants]]
name = "council"
set = ["lpc.enabled=false"]
[[variants]]
name = "none"
set = ["lpc.enabled=false", "council.enabled=false"]
[[variants]]
name = "none_abrupt"
set = ["lpc.enabled=false", "council.enabled=false"]
shocks = [{{ kind = "funding_withdrawal", at = 10 }}]

[[interactions]]
name = "tiers"
none = "none"
a = "lpc"
b = "council"
ab = "both"
"""


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    exp = root / "rep.toml"
    exp.write_text(EXP)
    res = run_experiment(exp, out=root / "out", workers=2, progress=False)
    assert res.report == root / "out" / "report.html"
    return root / "out", res.report.read_text()


def test_report_is_self_contained(report):
    _, html = report
    assert html.startswith("<!DOCTYPE html>")
    # plotly.js embedded, never fetched from a CDN
    # (the bundle itself names a CDN only as the default topojson URL of geo maps)
    assert 'src="https://cdn.plot.ly' not in html
    assert not re.search(r"<script[^>]+src=", html)
    assert "Plotly.newPlot" in html
    assert len(html) > 1_000_000


def test_report_sections(report):
    _, html = report
    for text in (
        "rep: sweep report",
        "Common random numbers",
        "What it showed",
        "Time series",
        "Paired effects against none",
        "Resilience metrics",
        "Interaction of the two tiers",
        "Violence averted per unit of funding",
        "Heat maps of one replicate",
        "reproduced exactly",
        "Manifest",
        "config_hash",
        # none_abrupt vs none is zero by construction: said in plain words
        "<b>none_abrupt</b>: 0 (95% CI 0 to 0, 3 pairs) &mdash; no difference at all",
    ):
        assert text in html, text
    assert "DIFFERS" not in html


def test_report_rewrite_and_errors(report, tmp_path):
    out, _ = report
    path = write_report(out, tmp_path / "again.html")
    assert path.exists() and path.stat().st_size > 1_000_000
    assert not list(tmp_path.glob(".*.tmp"))
    with pytest.raises(ConfigError):
        write_report(tmp_path / "nothing-here")

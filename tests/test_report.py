"""The HTML report: self-contained (plotly.js inline, no CDN), complete sections."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys

import pytest

from i4p_sim import run_experiment
from i4p_sim.config.errors import ConfigError
from i4p_sim.report.html import write_report

from conftest import ROOT, experiment_text

REPO = ROOT

EXP = experiment_text("report_factorial")


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    exp = root / "rep.toml"
    exp.write_text(EXP)
    res = run_experiment(exp, out=root / "out", workers=2, progress=False)
    assert not (root / "out" / "report.html").exists()  # the sweep command writes it
    path = write_report(res.out)
    assert path == root / "out" / "report.html"
    return root / "out", path.read_text()


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
        "Headline: what the experiment answers",
        "In short (total violence, paired 95% intervals)",
        "Each variant against steady funding",
        "Variants against each other",
        "Common random numbers",
        "Time series",
        "Paired effects against none",
        "Measures per variant",
        "Against the twin",
        "All contrasts",
        "Interaction of the two tiers",
        "Violence prevented by funding",
        "Heat maps of one replicate",
        "its maps were stored by the sweep",
        "months before",
        "Manifest",
        "config_hash",
        # none_abrupt vs its twin none is zero by construction: said in plain words
        "<b>none abrupt</b>",
        "exactly the same (ratio 1), no difference; higher in 0 of 3 paired replicates "
        "&mdash; identical runs, exactly the same.",
    ):
        assert text in html, text
    assert "DIFFERS" not in html
    # the headline comes first, before the description of what was compared
    assert html.index("Headline: what the experiment answers") < html.index("What was compared")


def test_report_rewrite_and_errors(report, tmp_path):
    out, _ = report
    path = write_report(out, tmp_path / "again.html")
    assert path.exists() and path.stat().st_size > 1_000_000
    assert not list(tmp_path.glob(".*.tmp"))
    with pytest.raises(ConfigError):
        write_report(tmp_path / "nothing-here")


def test_report_draws_heat_maps_from_snapshots_without_the_model(report, tmp_path):
    """The report reads the stored snapshots: i4p_sim.sim is never imported, not even by
    the store; the heat maps hold the stored float32 maps of replicate 0."""
    out, html = report
    target = tmp_path / "sub.html"
    code = (
        "import sys\n"
        "from i4p_sim.report.html import write_report\n"
        f"write_report({str(out)!r}, {str(target)!r})\n"
        "bad = sorted(m for m in sys.modules if m.startswith('i4p_sim.sim') or m == 'mesa')\n"
        "assert not bad, bad\n"
        "print('ok')\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO
    )
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr
    page = target.read_text()
    assert "Heat maps of one replicate" in page and "no heat maps" not in page
    body = page.split("</head>", 1)[1]  # after the inlined plotly.js bundle
    assert body.count('"zmax":1') == 2 * 2 * 3  # 2 scenarios x 2 layers x 3 steps
    assert "12-month moving average" in page  # the experiment's window (12), not hard-coded


def test_report_says_the_window_of_the_manifest(report, tmp_path):
    out, _ = report
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["config"]["window"] == 12
    copy = tmp_path / "w"
    shutil.copytree(out, copy)
    manifest["config"]["window"] = 6
    (copy / "manifest.json").write_text(json.dumps(manifest))
    page = write_report(copy).read_text()
    assert "6-month moving average" in page and "12-month" not in page


def test_report_without_snapshots_says_so(report, tmp_path):
    out, _ = report
    copy = tmp_path / "nosnap"
    shutil.copytree(out, copy)
    shutil.rmtree(copy / "snapshots")
    page = write_report(copy).read_text()
    assert "The sweep stored no snapshots; no heat maps." in page

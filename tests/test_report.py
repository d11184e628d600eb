"""The HTML report: self-contained (plotly.js inline, no CDN), complete sections."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

from i4p_sim import run_experiment
from i4p_sim.config.errors import ConfigError
from i4p_sim.report.html import write_report

from conftest import ROOT, experiment_text, run_cli

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


@pytest.mark.slow
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


# ------------------------------------------------------------------ figures and wording


def _figures(page: str) -> list[dict]:
    """Every plotly figure of a page: ``{"data": [...], "layout": {...}}`` parsed from the
    embedded ``Plotly.newPlot(id, data, layout, config)`` calls."""
    body = page.split("</head>", 1)[1]  # after the inlined plotly.js bundle
    decoder = json.JSONDecoder()
    figures = []
    for match in re.finditer(r"Plotly\.newPlot\(\s*\"[^\"]+\",\s*", body):
        data, end = decoder.raw_decode(body, match.end())
        end = re.compile(r"\s*,\s*").match(body, end).end()
        layout, _ = decoder.raw_decode(body, end)
        figures.append({"data": data, "layout": layout})
    return figures


def _values(v) -> list[float]:
    """A plotly array: a list, or a typed array ``{"dtype": ..., "bdata": base64}``."""
    if isinstance(v, dict):
        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=v["dtype"]).tolist()
    return list(v)


def _axis_title(layout: dict, name: str) -> str:
    axis = layout.get(name) or {}
    title = (axis.get("title") or {}).get("text") or ""
    if not title and axis.get("matches"):  # a shared axis: the axis it matches has it
        return _axis_title(layout, axis["matches"].replace("x", "xaxis").replace("y", "yaxis"))
    return title


def _assert_axis_titles(page: str) -> int:
    figures = _figures(page)
    for k, fig in enumerate(figures):
        used = {
            (f"xaxis{t.get('xaxis', 'x')[1:]}", f"yaxis{t.get('yaxis', 'y')[1:]}")
            for t in fig["data"]
        }
        for xname, yname in used:
            for name in (xname, yname):
                assert _axis_title(fig["layout"], name).strip(), (k, name, fig["layout"].get(name))
    return len(figures)


def _visible_text(page: str) -> str:
    body = page.split("</head>", 1)[1]
    body = re.sub(r"<script.*?</script>", " ", body, flags=re.S)
    body = re.sub(r"<pre>.*?</pre>", " ", body, flags=re.S)  # the raw manifest
    return re.sub(r"<[^>]+>", " ", body)


def test_every_figure_has_axis_titles(report):
    _, page = report
    # small multiples, four measures, forest plot, heat maps
    assert _assert_axis_titles(page) >= 4


def test_no_column_names_or_tiny_numbers_shown(report):
    from i4p_sim.stats.metrics import SUMMARY_KEYS
    from i4p_sim.stats.resilience import PAIRED_KEYS

    _, page = report
    text = _visible_text(page)
    keys = [k for k in (*SUMMARY_KEYS, *PAIRED_KEYS, "violence_share") if "_" in k]
    for key in keys:
        assert key not in text, key
    assert not re.search(r"\d\.?\d*e-\d", text), re.search(r".{60}\de-\d.{20}", text)
    assert "funding units" in text and "violent months per 1,000 communities" in text
    # the figures speak in the same words
    titles = json.dumps([f["layout"] for f in _figures(page)])
    assert "cumulative_violence" not in titles and "violence_share" not in titles


def test_heat_maps_square_titled_one_scale_per_layer(report):
    _, page = report
    heat = [f for f in _figures(page) if any(t["type"] == "heatmap" for t in f["data"])]
    assert len(heat) == 1
    layout = heat[0]["layout"]
    # one colour scale per layer, shared by its maps; no colour bar of their own
    assert {t["coloraxis"] for t in heat[0]["data"]} == {"coloraxis", "coloraxis2"}
    assert layout["coloraxis"]["colorbar"]["title"]["text"].startswith("tension")
    assert layout["coloraxis2"]["colorbar"]["title"]["text"].startswith("violence")
    # square: every y axis is anchored to its x axis' scale
    ys = [k for k in layout if k.startswith("yaxis")]
    assert len(ys) == 2 * 2 * 3 and all(layout[y].get("scaleanchor") for y in ys)
    # months as column titles and scenario: layer as row titles, not one title per map
    texts = [a["text"] for a in layout["annotations"]]
    assert len(texts) == 3 + 4 and "after month 9" in texts and "none: tension" in texts


@pytest.fixture(scope="module")
def axis_report(tmp_path_factory):
    root = tmp_path_factory.mktemp("axis")
    exp = root / "axis.toml"
    exp.write_text(experiment_text("report_axis"))
    res = run_experiment(exp, out=root / "out", workers=2, progress=False)
    return res.out, write_report(res.out).read_text()


def test_dose_response_per_axis_and_declared_contrasts(axis_report):
    out, page = axis_report
    assert "Dose-response along each parameter axis" in page
    dose = [f for f in _figures(page) if "along" in f["layout"].get("title", {}).get("text", "")]
    assert len(dose) == 1
    layout = dose[0]["layout"]
    assert layout["xaxis"]["title"]["text"] == "Peace committees per 1,000 communities"
    assert layout["yaxis"]["title"]["text"].startswith("Total violence (")
    assert sorted(_values(dose[0]["data"][0]["x"])) == [5.0, 20.0]
    assert all(len(_values(t["error_y"]["array"])) == 2 for t in dose[0]["data"])  # intervals
    _assert_axis_titles(page)
    # the declared contrast only, not the name-suggested ones
    assert "declared by the experiment ([report] contrasts)" in page
    assert "phased 10 vs abrupt 10" in page and "phased vs abrupt" not in page
    assert "These answers average over the 2 parameter points" in page
    # effects at each point, never pooled; so are the funding table's rows
    assert "Paired effects against no shock, at each parameter point" in page
    funding = page.split("Violence prevented by funding", 1)[1].split("<h2>", 1)[0]
    assert "lpc.density" in funding
    proc = run_cli("compare", out)
    assert proc.returncode == 0, proc.stderr
    assert "each of the 2 parameter points separately" in proc.stdout
    assert "dose-response along lpc.density" in proc.stdout
    assert "contrasts between variants (declared by the experiment)" in proc.stdout
    lines = [ln.split() for ln in proc.stdout.splitlines()]
    cv = [ln for ln in lines if ln[:1] == ["abrupt_10"] and "cumulative_violence" in ln]
    assert [ln[1:3] for ln in cv] == [["0", "5"], ["1", "20"]]  # point, lpc.density


def _compare_rows(stdout: str, header: str) -> dict[tuple[str, str], list[str]]:
    """The rows of one table of ``i4p compare``'s output, keyed by (scenario, reference)."""
    block = stdout.split(header, 1)[1].split("\n\n", 1)[0].splitlines()[1:]
    cols = block[0].split()
    rows = {}
    for line in block[1:]:
        cells = re.split(r"\s{2,}", line.strip())
        row = dict(zip(cols[-len(cells) :], cells, strict=True))
        rows[(row["scenario"], row["reference"])] = row
    return rows


def test_report_and_compare_give_the_same_intervals(report):
    """The headline's contrasts (embedded as JSON) and compare's contrast table: the same
    bootstrap, resamples and seed, so the same interval to the digits printed."""
    from i4p_sim.stats.format import format_number

    out, page = report
    data = json.loads(re.search(r"id='i4p-contrasts'>(.*?)</script>", page, re.S).group(1))
    proc = run_cli("compare", out)
    assert proc.returncode == 0, proc.stderr
    rows = _compare_rows(proc.stdout, "contrasts between variants")
    checked = 0
    for item in data:
        key = (item["scenario"], item["baseline"])
        if key not in rows:
            continue  # a twin comparison of the headline: not a contrast of compare's
        for col in ("estimate", "ci_low", "ci_high", "ratio", "ratio_low", "ratio_high"):
            assert format_number(item[col]) == rows[key][col], (key, col)
        checked += 1
    assert checked >= 7  # the suggested contrasts of both, lpc, council, none, none_abrupt


def test_recovery_is_never_a_plain_effect(report):
    out, page = report
    proc = run_cli("compare", out, "--metric", "recovery_time", "--metric", "cumulative_violence")
    assert proc.returncode == 0, proc.stderr
    assert "recovery_time: censored for runs that never recovered" in proc.stdout
    effects = proc.stdout.split("\n\n", 1)[0]
    assert "recovery_time" not in effects.split("\n", 2)[2]  # no effect row
    assert "recovery_rmean" in proc.stdout and "share_recovered" in proc.stdout
    alone = run_cli("compare", out, "--metric", "recovery_time")
    assert alone.returncode == 0, alone.stderr
    assert (
        alone.stdout.startswith("recovery_time: censored")
        and "paired differences" not in alone.stdout
    )
    text = _visible_text(page)
    assert "Months to recover" not in text.split("Against the twin", 1)[0]
    assert "(all recovered)" in text or "censored" in text


@pytest.mark.parametrize(
    ("report_table", "expect"),
    [
        ('contrasts = [["both", "nope"]]', "report.contrasts.0.1: 'nope' is not a scenario"),
        ('contrasts = [["both"]]', "report.contrasts.0"),
        ('contrasts = [["both", "both"]]', "compares 'both' with itself"),
        ('contrast = [["both", "lpc"]]', "report.contrast: unknown key; allowed: contrasts"),
    ],
)
def test_bad_report_table_is_one_line(tmp_path, report_table, expect):
    exp = tmp_path / "bad.toml"
    exp.write_text(EXP + f"\n[report]\n{report_table}\n")
    proc = run_cli("check", exp)
    assert proc.returncode == 2
    assert expect in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_plain_numbers_never_use_scientific_notation() -> None:
    from i4p_sim.report.tables import plain_number

    assert plain_number(99.5, 2) == "100"  # rounds up past 10**digits: not "1e+02"
    assert plain_number(12345.6, 3) == "12,346"
    assert plain_number(0.000123, 2) == "0.00012"
    assert plain_number(3.14159, 3) == "3.14"
    for v in (0.00051, 0.0099, 999.7, 9.96, 123456.0):
        assert "e" not in plain_number(v, 2), v

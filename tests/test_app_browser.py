"""End-to-end tests of the browser app in headless Chromium (Playwright, sync API).

Drives Debian's Chromium (``shutil.which("chromium")``); never downloads a browser.
Locally these tests skip when Chromium is absent; in CI (``CI=true``) they fail instead.
Every request that is not to the app's own loopback server is blocked and recorded, so
the tests also show that the app works with no internet at all.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from i4p_sim.app import create_app
from i4p_sim.config.loading import load_scenario, validate_scenario

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium")
IN_CI = os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
TIMEOUT_MS = 15_000


def _require_chromium() -> str:
    if CHROMIUM is None:
        if IN_CI:
            pytest.fail("CI=true but Chromium is not installed (apt-get install chromium)")
        pytest.skip("Chromium not found on PATH (install Debian's 'chromium' package)")
    return CHROMIUM


SCENARIO = load_scenario(overrides=["grid.width=24", "grid.height=24", "lpc.density=14"])
#: A short scenario file with its own shock: all funding withdrawn at month 2 of 6.
SHOCKED = validate_scenario(
    {
        **SCENARIO.to_dict(),
        "steps": 6,
        "shocks": [{"kind": "funding_withdrawal", "at": 2, "donor": "all", "mode": "abrupt"}],
    },
    "test",
)


def committees_on_the_map() -> int:
    """How many committees the app's scenario sites (density x inhabited cells, rounded)."""
    from i4p_sim.sim.simulation import Simulation

    return Simulation(SCENARIO, communities=False).model.committees.n


@contextlib.contextmanager
def serving(scenario) -> Iterator[str]:
    """The app as ``i4p viz`` serves it: waitress with the security headers (CSP)."""
    from waitress import create_server

    from i4p_sim.app.server import bind

    logging.getLogger("waitress").setLevel(logging.ERROR)  # no line per request
    app = create_app(scenario)
    sock = bind("127.0.0.1", 0)
    httpd = create_server(app.server, sockets=[sock], threads=4, ident="i4p")
    thread = threading.Thread(target=httpd.run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        httpd.close()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with serving(SCENARIO) as url:
        yield url


@pytest.fixture(scope="module")
def shocked_server() -> Iterator[str]:
    """The app opened on :data:`SHOCKED` (a scenario file with its own shock)."""
    with serving(SHOCKED) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    executable = _require_chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - playwright is a test dependency
        if IN_CI:
            pytest.fail("CI=true but the playwright package is not installed")
        pytest.skip("the playwright Python package is not installed")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=executable, args=ARGS, headless=True)
        yield chromium
        chromium.close()


class Page:
    """One browser tab on the app, with its blocked external requests and page errors."""

    def __init__(self, browser, url: str, width: int = 1500) -> None:
        self.context = browser.new_context(
            viewport={"width": width, "height": 1050}, accept_downloads=True
        )
        self.page = self.context.new_page()
        self.page.set_default_timeout(TIMEOUT_MS)
        self.external: list[str] = []
        self.errors: list[str] = []
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        # the Content-Security-Policy must not block any of the app's own scripts or styles
        self.page.on(
            "console",
            lambda msg: (
                self.errors.append(msg.text)
                if "Content Security Policy" in msg.text or "Refused to" in msg.text
                else None
            ),
        )
        self.response = None
        self.page.route("**/*", self._route)
        self.url = url
        self.response = self.page.goto(url)
        self.page.wait_for_selector("#map-main .heatmaplayer image")
        self.wait_step(0)

    def _route(self, route) -> None:
        if route.request.url.startswith(self.url):
            route.continue_()
        else:
            self.external.append(route.request.url)
            route.abort()

    def step_now(self) -> int:
        match = re.search(r"month (\d+) /", self.page.inner_text("#status"))
        assert match, self.page.inner_text("#status")
        return int(match.group(1))

    def wait_step(self, at_least: int) -> int:
        self.page.wait_for_function(
            "n => { const m = /month (\\d+) \\//.exec(document.querySelector('#status').innerText);"
            " return m && Number(m[1]) >= n; }",
            arg=at_least,
        )
        return self.step_now()

    def step(self) -> int:
        before = self.step_now()
        self.page.click("#step")
        return self.wait_step(before + 1)

    def diff_peak(self) -> float:
        title = self.page.locator("#map-diff .gtitle").text_content() or ""
        match = re.search(r"max \|d\| = ([0-9.eE+-]+)", title)
        assert match, title
        return float(match.group(1))

    def download(self, button: str) -> bytes:
        """Click ``button`` and return the bytes of the file it downloads."""
        with self.page.expect_download() as info:
            self.page.click(button)
        return Path(info.value.path()).read_bytes()

    def close(self) -> None:
        assert not self.external, f"requests left the machine: {self.external}"
        assert not self.errors, f"JavaScript errors: {self.errors}"
        self.context.close()


def test_heat_map_step_play_pause(browser, server, tmp_path):
    tab = Page(browser, server)
    page = tab.page
    headers = tab.response.headers  # served by waitress, as i4p viz serves it
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["server"] == "i4p"
    lpcs = committees_on_the_map()
    assert lpcs > 0
    assert page.locator("#map-main .scatterlayer .point").count() == lpcs
    page.screenshot(path=str(tmp_path / "loaded.png"), full_page=True)
    assert tab.step() == 1
    page.click("#play")
    tab.wait_step(4)
    page.click("#pause")
    # a tick already in flight may still land (slowly, on a loaded machine): wait until
    # the month has stopped moving, then it must stay put
    paused_at, deadline = tab.step_now(), time.monotonic() + 15
    while time.monotonic() < deadline:
        page.wait_for_timeout(700)
        now = tab.step_now()
        if now == paused_at:
            break
        paused_at = now
    page.wait_for_timeout(1200)
    assert tab.step_now() == paused_at
    page.screenshot(path=str(tmp_path / "paused.png"), full_page=True)
    tab.close()


def test_withdrawal_makes_the_twins_diverge(browser, server, tmp_path):
    tab = Page(browser, server)
    page = tab.page
    tab.step()
    tab.step()
    assert tab.diff_peak() == 0.0  # same seed, no shock yet: identical twins
    page.click("#shock-withdraw")
    page.wait_for_selector("#message.info")
    assert "Funding withdrawal" in page.inner_text("#message")
    for _ in range(4):
        tab.step()
    page.wait_for_function(
        "() => { const m = /max \\|d\\| = ([0-9.eE+-]+)/.exec("
        "document.querySelector('#map-diff .gtitle').textContent); "
        "return m && parseFloat(m[1]) > 0; }"
    )
    assert tab.diff_peak() > 0.0
    # the injected shock is marked on the time series
    assert page.locator("#series .shapelayer path").count() >= 6
    assert "Funding withdrawal" in page.inner_text("#series")
    page.screenshot(path=str(tmp_path / "diverged.png"), full_page=True)
    tab.close()


def test_trigger_at_clicked_cell_and_bad_input_message(browser, server, tmp_path):
    tab = Page(browser, server)
    page = tab.page
    box = page.locator("#map-main .nsewdrag").first.bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
    page.wait_for_function("() => /row \\d+, col \\d+/.test(document.body.innerText)")
    page.click("#shock-trigger")
    page.wait_for_function("() => /Trigger incident at/.test(document.body.innerText)")
    width = page.locator("[id*='grid.width']")
    width.fill("-4")
    width.press("Enter")
    page.click("#apply")
    page.wait_for_selector("#message.error")
    assert "grid.width" in page.inner_text("#message")
    assert tab.step() == 1  # the app lives on
    page.screenshot(path=str(tmp_path / "error.png"), full_page=True)
    tab.close()


def test_second_page_is_independent(browser, server):
    first = Page(browser, server)
    for _ in range(3):
        first.step()
    second = Page(browser, server)
    assert second.step_now() == 0
    second.page.click("#shock-upheaval")
    second.page.wait_for_selector("#message.info")
    assert second.step() == 1
    first.page.wait_for_timeout(300)
    assert first.step_now() == 3
    assert "shocks injected 0" in first.page.inner_text("#status")
    second.close()
    first.close()


def test_scenario_shock_twins_differ_and_run_stops_at_horizon(browser, shocked_server, tmp_path):
    tab = Page(browser, shocked_server)
    page = tab.page
    assert "month 0 / 6" in page.inner_text("#status")
    assert "press Step or Play" in page.inner_text("#series")  # never empty axes
    page.click("#play")
    page.wait_for_function(
        "() => /month 6 \\/ 6/.test(document.querySelector('#status').innerText)"
    )
    page.wait_for_function(
        "() => /Reached the horizon/.test(document.querySelector('#message').innerText)"
    )
    page.wait_for_timeout(1200)  # the clock stopped by itself: no step past the horizon
    assert tab.step_now() == 6
    assert "horizon reached" in page.inner_text("#status")
    # the file's own withdrawal at month 2 makes the twins differ: no injection needed
    assert tab.diff_peak() > 0.0
    assert "funding withdrawal" in page.inner_text("#series")
    page.screenshot(path=str(tmp_path / "horizon.png"), full_page=True)
    page.click("#continue")
    page.wait_for_function("() => /Horizon moved/.test(document.body.innerText)")
    assert tab.step() == 7
    assert "month 7 / 66" in page.inner_text("#status")
    # a reset drops the extension, and the charts start afresh: no old ranges
    x_top = "() => document.querySelector('#series .js-plotly-plot')._fullLayout.xaxis.range[1]"
    assert page.evaluate(x_top) >= 6
    page.click("#reset-same")
    page.wait_for_function("() => /month 0 \\/ 6/.test(document.body.innerText)")
    assert "press Step or Play" in page.inner_text("#series")
    assert tab.step() == 1
    page.wait_for_function(f"() => ({x_top})() < 2")
    tab.close()


def test_ensemble_shows_median_and_band(browser, server):
    tab = Page(browser, server)
    page = tab.page
    replicates = page.locator("#replicates")
    replicates.fill("500")
    replicates.press("Enter")
    page.click("#apply")
    page.wait_for_selector("#message.error")
    assert "replicates" in page.inner_text("#message")
    replicates.fill("3")
    replicates.press("Enter")
    page.click("#apply")
    page.wait_for_function("() => /3 replicates/.test(document.body.innerText)")
    for _ in range(3):
        tab.step()
    page.wait_for_selector("#series path.js-fill", state="attached")
    assert page.locator("#series path.js-fill").count() >= 6  # a band in every panel
    legend = page.locator("#series .legend").text_content() or ""
    assert "10%-90% of 3 replicates" in legend and "(median)" in legend
    tab.close()


def test_exports_both_twins_csv_and_gif(browser, server):
    tab = Page(browser, server)
    page = tab.page
    tab.step()
    page.click("#shock-economic")
    page.wait_for_selector("#message.info")
    tab.step()
    tab.step()
    csv = pd.read_csv(io.BytesIO(tab.download("#export-csv")))
    assert sorted(set(csv["twin"])) == ["baseline", "shocked"]
    assert csv.groupby("twin").size().to_dict() == {"baseline": 3, "shocked": 3}
    gif = tab.download("#export-anim")
    assert gif[:4] == b"GIF8"
    page.wait_for_function("() => /Animation of/.test(document.body.innerText)")
    tab.close()


def test_info_panel_sign_layer_and_seed_box_at_1280(browser, server, tmp_path):
    tab = Page(browser, server, width=1280)
    page = tab.page
    assert not page.locator("#info-text").is_visible()
    page.click("#info-summary")
    page.wait_for_selector("#info-text", state="visible")
    text = page.inner_text("#info-text")
    for needle in ("Grey cells", "Size = capacity", "green = active", "Mediation sign"):
        assert needle in text
    page.screenshot(path=str(tmp_path / "info.png"), full_page=True)
    # the sign map of mediation is a layer of the menu
    page.click("#layer")
    page.get_by_role("dialog").get_by_text("Mediation sign (calms / drives)").click()
    page.wait_for_function(
        "() => /Mediation sign/.test(document.querySelector('#map-main .cbtitle').textContent)"
    )
    assert "row (cell)" in page.inner_text("#map-main")  # axis titles
    # the seed box shows a 10-digit seed whole at 1280 px
    seed = page.locator("#seed-input")
    seed.fill("2147483647")
    fits = seed.evaluate("el => el.scrollWidth <= el.clientWidth")
    box, bar = seed.bounding_box(), page.locator(".sidebar").bounding_box()
    assert fits and box["x"] + box["width"] <= bar["x"] + bar["width"]
    # the council shows no funded share before month 1
    assert "funded" in page.inner_text("#institutions")
    assert "%" not in page.inner_text("#institutions table")
    tab.close()

"""End-to-end tests of the browser app in headless Chromium (Playwright, sync API).

Drives Debian's Chromium (``shutil.which("chromium")``); never downloads a browser.
Locally these tests skip when Chromium is absent; in CI (``CI=true``) they fail instead.
Every request that is not to the app's own loopback server is blocked and recorded, so
the tests also show that the app works with no internet at all.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import threading
from collections.abc import Iterator

import pytest

from i4p_sim.app import create_app
from i4p_sim.config.loading import load_scenario

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


def committees_on_the_map() -> int:
    """How many committees the app's scenario sites (density x inhabited cells, rounded)."""
    from i4p_sim.sim.simulation import Simulation

    return Simulation(SCENARIO, communities=False).model.committees.n


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """The app as ``i4p viz`` serves it: waitress with the security headers (CSP)."""
    from waitress import create_server

    from i4p_sim.app.server import bind

    logging.getLogger("waitress").setLevel(logging.ERROR)  # no line per request
    app = create_app(SCENARIO)
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

    def __init__(self, browser, url: str) -> None:
        self.context = browser.new_context(viewport={"width": 1500, "height": 1050})
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
        match = re.search(r"step (\d+)", self.page.inner_text("#status"))
        assert match, self.page.inner_text("#status")
        return int(match.group(1))

    def wait_step(self, at_least: int) -> int:
        self.page.wait_for_function(
            "n => { const m = /step (\\d+)/.exec(document.querySelector('#status').innerText);"
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
    page.wait_for_timeout(600)  # a tick already in flight may still land
    paused_at = tab.step_now()
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

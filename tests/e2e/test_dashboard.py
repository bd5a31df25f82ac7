"""The dashboard in a real browser: Debian's Chromium driven by Playwright, against a real bartos
and bartoc. Each page is rendered with real data and saved as a screenshot (an artifact, in
``$BARTO_ARTIFACTS/dashboard``, default ``.artifacts/dashboard`` in the checkout)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.conftest import require_or_skip
from tests.e2e.harness import Barto, wait_for
from tests.e2e.secured import TOKENS, settings

CHROMIUM = Path("/usr/bin/chromium")
# As the machine's notes say: without the background-networking flags Chromium tries hosts this
# closed network refuses, at every start.
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip
SETTINGS = settings()
LONG = "for i in $(seq 1 400); do echo line $i; echo warn $i >&2; sleep 0.1; done"
SCHEDULES = f"""
[schedules.w1]
schedules = [
  {{ name = "long", on_calendar = "2099-01-01 00:00:00", cmds = ["{LONG}"] }},
  {{ name = "quick", on_calendar = "*:*:0/5", timezone = "Europe/Berlin", cmds = ["echo out; echo err >&2"] }},
  {{ name = "broken", on_calendar = "*:*:0/5", cmds = ["echo failing; exit 3"] }},
]
[programs.w1.sleeper]
cmd = "sleep"
args = ["600"]
"""
ARTIFACTS = Path(os.environ.get("BARTO_ARTIFACTS", Path(__file__).parents[2] / ".artifacts")) / "dashboard"


@pytest.fixture
def fleet(barto: Barto) -> Barto:
    """bartos with tokens and three schedules, bartoc w1 connected, and a few runs done."""
    barto.start_server(SCHEDULES, SETTINGS)
    barto.use_server(barto.port, f"api_key = '{TOKENS['boss'][1]}'")
    barto.start_worker("w1", link=f"api_key = '{TOKENS['w1'][1]}'")
    wait_for(lambda: barto.runs(state="succeeded") and barto.runs(state="failed"), 30, "quick and broken to run")
    return barto


@pytest.fixture
def chromium() -> Iterator[Browser]:
    """Debian's Chromium (never Playwright's own download: it cannot reach the network here)."""
    require_or_skip(CHROMIUM.exists(), "Debian's chromium (/usr/bin/chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


def _login(browser: Browser, barto: Barto, token: str, viewport: tuple[int, int] = (1280, 900)) -> Page:
    """A new page logged in through the form."""
    page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
    page.set_default_timeout(15_000)
    page.goto(f"http://127.0.0.1:{barto.port}/")
    assert "/login" in page.url  # every page asks for a login first
    page.fill("#token", token)
    page.click("form.login button[type=submit]")
    page.wait_for_url(re.compile(r"/$"))
    return page


def _shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_every_page_renders_real_data_and_a_run_is_live_then_cancelled(fleet: Barto, chromium: Browser) -> None:
    p = _login(chromium, fleet, TOKENS["boss"][1])
    base = f"http://127.0.0.1:{fleet.port}"
    expect(p.locator("table").first).to_contain_text("w1")
    expect(p.locator("body")).to_contain_text("connected")
    expect(p.locator("table").first).to_contain_text("127.0.0.1:")  # the worker's address
    expect(p.locator("body")).to_contain_text("RUNNING", timeout=20_000)  # the program, reported
    p.reload()
    _shot(p, "fleet")
    p.click("tr:has-text('sleeper') button:has-text('Restart')")
    p.wait_for_url(re.compile(r"/workers/w1$"))
    expect(p.locator("tr:has-text('sleeper')")).to_contain_text(re.compile("RUNNING|STARTING"))
    p.goto(f"{base}/schedules")
    expect(p.locator("table.schedules")).to_contain_text("quick")
    expect(p.locator("table.schedules")).to_contain_text("Europe/Berlin")
    assert p.locator("svg.strip a").count() >= 2  # the quick and broken runs so far, linked
    _shot(p, "schedules")
    p.goto(f"{base}/schedules/w1/quick")
    expect(p.locator("table.upcoming tbody tr")).to_have_count(10)
    expect(p.locator("svg.chart")).to_be_visible()
    _shot(p, "schedule")
    p.goto(f"{base}/failures")
    expect(p.locator("table.runs")).to_contain_text("broken")
    _shot(p, "failures")
    p.goto(f"{base}/timeline")
    expect(p.locator("svg.heatmap").first).to_be_visible()
    _shot(p, "timeline")
    p.goto(f"{base}/runs?schedule=quick&state=succeeded")
    expect(p.locator("table.runs tbody")).to_contain_text("succeeded")
    _shot(p, "runs")
    p.goto(f"{base}/workers/w1")
    expect(p.locator("h1")).to_contain_text("w1")

    p.goto(f"{base}/schedules/w1/long")
    p.click("button:has-text('Run now')")
    p.wait_for_url(re.compile(r"/runs/\d+$"))
    expect(p.locator("#output .stdout").last).to_contain_text("line", timeout=20_000)
    expect(p.locator("#output .stderr").last).to_contain_text("warn")  # told apart
    first = p.locator("#output span").count()
    expect(p.locator("#output")).to_contain_text("line 12", timeout=20_000)  # arrived without a reload
    assert p.locator("#output span").count() > first
    _shot(p, "run-live")
    p.click("#cancel button")
    expect(p.locator("h1 .state")).to_have_text("cancelled", timeout=20_000)
    assert p.locator("#cancel").count() == 0
    _shot(p, "run-cancelled")

    p.click("header form button:has-text('Log out')")
    p.wait_for_url(re.compile(r"/login"))
    p.goto(f"{base}/runs")
    assert "/login" in p.url


def test_a_read_token_sees_no_buttons_and_a_post_anyway_is_refused(fleet: Barto, chromium: Browser) -> None:
    p = _login(chromium, fleet, TOKENS["viewer"][1], viewport=(390, 844))
    base = f"http://127.0.0.1:{fleet.port}"
    p.goto(f"{base}/schedules/w1/quick")
    expect(p.locator("h1")).to_contain_text("quick")
    assert p.locator("button:has-text('Run now')").count() == 0
    assert p.locator("button:has-text('Pause')").count() == 0
    _shot(p, "schedule-phone-read")
    p.goto(f"{base}/")
    expect(p.locator("body")).to_contain_text("sleeper")
    assert p.locator("button:has-text('Restart')").count() == 0
    csrf = p.locator("input[name=csrf]").first.get_attribute("value")
    refused = p.request.post(f"{base}/schedules/w1/quick/run", form={"csrf": csrf or ""}, max_redirects=0)
    assert refused.status == 403
    assert "has role read; this needs operate" in refused.text()
    forged = p.request.post(f"{base}/schedules/w1/quick/pause", form={"csrf": "forged"}, max_redirects=0)
    assert forged.status == 403
    assert "CSRF token" in forged.text()
    assert all(r["trigger"] != "manual" for r in fleet.runs())  # nothing ran

"""The dashboard in a real browser (Debian's chromium driven by Playwright) against the app served over HTTP: log
in, change the range, filter, drill down, export a CSV, and open a shared link as a second user of another role."""

from __future__ import annotations

import os
import shutil
import threading
import time

import pytest

pytestmark = pytest.mark.slow
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


@pytest.fixture(scope="module")
def server(app):
    """The app on a real loopback port (uvicorn in a thread), ready when /api/v1/health answers."""
    import httpx
    import uvicorn

    if not os.path.exists(CHROMIUM):
        if os.environ.get("HITCRAFT_REQUIRE_BROWSER"):
            pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (CI installs it in .ci/run)")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium); CI installs it")
    from testkit.alert_servers import free_port

    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 600  # readiness, not speed: a loaded machine only makes this slower
    while time.monotonic() < deadline and thread.is_alive():
        try:
            if httpx.get(f"{base}/api/v1/health", timeout=5).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    else:
        pytest.fail("the app did not answer on its port")
    yield base
    instance.should_exit = True
    thread.join(timeout=30)


@pytest.fixture(scope="module")
def browser(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield chromium
        chromium.close()


def _log_in(browser, base, name, password):
    context = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(120_000)  # a loaded machine is slow; this only guards against a hang
    page.goto(f"{base}/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")
    return context, page


def _ready(page):
    page.wait_for_selector("body[data-ready='1']")


def _table_values(page) -> list[str]:
    return page.locator("section.table-block").last.locator("tbody tr td:nth-child(4)").all_inner_texts()


def test_a_growth_lead_explores_drills_exports_and_shares(browser, server, accounts, filled, tmp_path):
    context, page = _log_in(browser, server, *accounts["product_manager"][:2])
    _ready(page)
    assert page.locator(".card").count() >= 5  # key metrics with their week-over-week changes
    page.locator(".card").first.click()
    page.wait_for_url("**/metrics?metric=*")
    _ready(page)
    # time range
    page.click("button[name=range][value='7D']")
    page.wait_for_url("**range=7D**")
    _ready(page)
    assert len(_table_values(page)) == 7
    # a segment filter
    page.select_option("select[name=segment_type]", "platform")
    page.fill("input[name=segment_value]", "ios")
    page.click("button.apply")
    page.wait_for_url("**segment_value=ios**")
    _ready(page)
    assert page.locator("#metric-chart .main-svg").count() >= 1  # Plotly drew the chart
    # drill down: a click on a point of the product-wide series opens the segments that explain that day
    page.goto(f"{server}/metrics?metric=dau&range=1M")
    _ready(page)
    page.evaluate(f"document.getElementById('metric-chart').emit('plotly_click', {{points: [{{x: '{filled.last}'}}]}})")
    page.wait_for_url(f"**date={filled.last}**")
    _ready(page)
    assert page.locator("#drill table tbody tr").count() > 3
    # CSV export of the table on the page
    with page.expect_download() as download:
        page.locator("#drill a.csv").click()
    path = tmp_path / "drill.csv"
    download.value.save_as(path)
    assert path.read_text().startswith("segment_type,segment_value")
    # a shared link: a colleague with the same rights sees the same numbers, a role without them a 403
    shared = f"{server}/metrics?metric=render_failure_rate&range=7D"
    page.goto(shared)
    _ready(page)
    mine = _table_values(page)
    other, colleague = _log_in(browser, server, *accounts["prompt_engineer"][:2])
    colleague.goto(shared)
    _ready(colleague)
    assert _table_values(colleague) == mine
    other.close()
    outsider, reader = _log_in(browser, server, *accounts["enablement"][:2])
    response = reader.goto(shared)
    assert response.status == 403 and "may not see" in reader.content()
    outsider.close()
    context.close()


def test_pages_render_in_both_themes_and_print(browser, server, accounts):
    context, page = _log_in(browser, server, *accounts["admin"][:2])
    for path in (
        "/",
        "/metrics",
        "/funnels",
        "/retention",
        "/prompts",
        "/features",
        "/churn",
        "/personas",
        "/experiments",
        "/experiments?name=onboarding_checklist",
        "/ai",
        "/revenue",
        "/insights",
        "/reports",
        "/pipeline",
        "/admin",
    ):
        response = page.goto(f"{server}{path}")
        assert response.status == 200, path
        _ready(page)
        errors = page.locator(".error-page").count()
        assert errors == 0, path
    # the experiment page states the verdict first, the same one the API answers
    page.goto(f"{server}/experiments?name=download_cta_v2")
    _ready(page)
    assert page.locator("h2").first.inner_text().startswith("download_cta_v2")
    verdict = page.locator("main p strong").first.inner_text()
    assert verdict.split(":")[0] in ("SHIP", "STOP", "KEEP RUNNING", "UNTRUSTWORTHY")
    # a segment filter on the Overview keeps the key metrics of that segment
    page.goto(f"{server}/")
    _ready(page)
    page.select_option("select[name=segment_type]", "platform")
    page.fill("input[name=segment_value]", "ios")
    page.click("button.apply")
    page.wait_for_url("**segment_value=ios**")
    _ready(page)
    assert "platform = ios" in page.locator("h1").inner_text() and page.locator(".card").count() >= 5
    page.click("#theme-toggle")
    assert page.evaluate("document.documentElement.dataset.theme") == "light"
    page.emulate_media(media="print")
    assert page.locator("header.top").is_hidden()
    context.close()

"""Take the README's screenshots: `python docs/screenshots/take.py BASE_URL NAME PASSWORD docs/screenshots` against a
running `hitcraft serve` (or `make demo`) on the 60-day demo warehouse, with Debian's chromium."""

import sys
import time

from playwright.sync_api import sync_playwright

base, name, password, out = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
pages = {
    "overview": "/",
    "metric-explorer": "/metrics?metric=render_failure_rate&range=1M&date=2026-11-20",
    "funnels": "/funnels?breakdown=role",
    "retention": "/retention",
    "prompts": "/prompts",
    "churn": "/churn",
    "insights": "/insights?range=7D",
    "admin": "/admin",
    "features": "/features",
    "personas": "/personas",
}
with sync_playwright() as p:
    b = p.chromium.launch(
        executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
    )
    page = b.new_context(viewport={"width": 1360, "height": 1000}).new_page()
    page.goto(base + "/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(base + "/")
    for label, path in pages.items():
        t = time.perf_counter()
        page.goto(base + path)
        page.wait_for_selector("body[data-ready='1']")
        page.wait_for_timeout(400)
        print(label, round(time.perf_counter() - t, 2))
        page.screenshot(path=f"{out}/{label}.png", full_page=False)
    page.goto(base + "/metrics?metric=dau&range=1M")
    page.wait_for_selector("body[data-ready='1']")
    page.click("#theme-toggle")
    page.wait_for_timeout(500)
    page.screenshot(path=f"{out}/metric-explorer-light.png")
    b.close()

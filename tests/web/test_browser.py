"""A real browser logs in through the form and sees both clusters reachable."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed (apt-get install chromium)"),
]


def test_log_in_through_the_form_and_see_both_clusters_reachable(live_server, viewer):
    # Database work (the viewer) happens before Playwright runs its event loop in this thread.
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(f"{live_server.url}/clusters")
            expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/clusters$"))

            page.get_by_label("Username").fill("victor")
            page.get_by_label("Password").fill("viewer-pass-123")
            page.get_by_role("button", name="Log in").click()

            expect(page).to_have_url(f"{live_server.url}/clusters")
            expect(page.get_by_role("heading", name="Clusters")).to_be_visible()
            expect(page.get_by_role("navigation", name="Main")).to_contain_text("Kafka")
            for slug in ("kafka", "nats"):
                expect(page.locator(f'tr[data-cluster="{slug}"] .status')).to_have_text("reachable")
            expect(page.locator(".topbar .who")).to_contain_text("victor")
        finally:
            browser.close()


def test_api_docs_render_the_description_under_their_csp(live_server, viewer):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            refused: list[str] = []
            page.on("console", lambda message: refused.append(message.text) if "Refused" in message.text else None)
            page.goto(f"{live_server.url}/accounts/login/?next=/docs/api")
            page.get_by_label("Username").fill("victor")
            page.get_by_label("Password").fill("viewer-pass-123")
            page.get_by_role("button", name="Log in").click()
            expect(page).to_have_url(f"{live_server.url}/docs/api")
            expect(page.locator(".swagger-ui .info .title")).to_contain_text("Streamdesk API")
            expect(page.locator(".opblock-summary-path").first).to_be_visible()
            expect(page.get_by_text("/api/v1/clusters/{cluster}/topics", exact=True).first).to_be_visible()
            assert not refused, refused
        finally:
            browser.close()

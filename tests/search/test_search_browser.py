"""In a real browser: a search started from the topic's Search tab shows its progress and its
results while it runs (htmx polling), then its end; a result opens the message's page."""

from __future__ import annotations

import re

import pytest

from tests.kafka import helpers as kh
from tests.web.test_browser import CHROMIUM, CHROMIUM_ARGS

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.xdist_group("celery"),
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed (apt-get install chromium)"),
]

# About 5 ms of jq per message (10 s for the 2,000 on a quiet machine: many polls of the panel while it
# runs), then every tenth message matches.
EXPRESSION = '(reduce range(10000) as $i (0; . + $i) > 0) and (.value | endswith("7"))'


def test_search_tab_shows_progress_and_results_as_they_come(
    live_server, celery_worker, viewer, kafka_bootstrap, unique
):
    topic = kh.create_topic(kafka_bootstrap, unique)
    kh.produce(kafka_bootstrap, topic, [f"m{i}" for i in range(2000)])
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(f"{live_server.url}/accounts/login/?next=/clusters/kafka/topics/{topic}")
            page.get_by_label("Username").fill("victor")
            page.get_by_label("Password").fill("viewer-pass-123")
            page.get_by_role("button", name="Log in").click()
            expect(page.get_by_role("heading", name=topic)).to_be_visible()

            page.get_by_role("navigation", name=f"Topic {topic}").get_by_role("link", name="Search").click()
            page.get_by_label("jq").fill(EXPRESSION)
            page.get_by_role("button", name="Search", exact=True).click()
            expect(page).to_have_url(re.compile(r"/search\?.*jq=.*&search=\d+"))

            panel = page.locator("#search-panel")
            expect(panel).to_have_attribute("data-state", "running")
            expect(panel.get_by_role("button", name="Cancel")).to_be_visible()
            # While it runs: the counts move and the first results are already in the table.
            expect(panel.locator("tbody tr").first).to_be_visible(timeout=20_000)
            assert panel.get_attribute("data-state") == "running"
            scanned = int(panel.locator("[data-scanned]").inner_text())
            assert 0 < scanned < 2000
            assert 0 < float(panel.locator("progress").get_attribute("value") or 0) < 1

            expect(panel).to_have_attribute("data-state", "done", timeout=120_000)
            expect(panel.locator("[data-scanned]")).to_have_text("2000")
            expect(panel.locator("[data-matched]")).to_have_text("200")
            expect(panel.locator("tbody tr")).to_have_count(50)
            expect(panel.get_by_role("button", name="Cancel")).to_have_count(0)
            expect(panel.locator('tr[data-offset="17"]')).to_contain_text("m17")

            panel.locator('tr[data-offset="17"]').get_by_role("link", name="Open").click()
            expect(page).to_have_url(re.compile(r"/messages\?partition=0&offset=17&full=1$"))
            expect(page.locator("pre.payload").last).to_have_text("m17")
        finally:
            browser.close()

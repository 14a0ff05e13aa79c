"""In a real browser: a topic config change is checked by the broker, shown, then applied (htmx)."""

from __future__ import annotations

import pytest

from tests.kafka import helpers as kh
from tests.web.test_browser import CHROMIUM, CHROMIUM_ARGS

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed (apt-get install chromium)"),
]


def test_check_then_apply_a_config_change(live_server, operator, kafka_bootstrap, kafka_broker, unique):
    if kafka_broker != "apache":
        pytest.skip("needs a broker that describes topic configs (STREAMDESK_TEST_KAFKA=apache)")
    kh.create_topic(kafka_bootstrap, unique)
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(f"{live_server.url}/accounts/login/?next=/clusters/kafka/topics/{unique}")
            page.get_by_label("Username").fill("olivia")
            page.get_by_label("Password").fill("operator-pass-123")
            page.get_by_role("button", name="Log in").click()
            expect(page.get_by_role("heading", name=unique)).to_be_visible()

            page.get_by_text("Change configs").click()
            page.locator("#topic-configs textarea[name=set]").fill("retention.ms=3600000")
            page.get_by_role("button", name="Check with the broker").click()
            outcome = page.locator('#config-outcome [data-outcome="dry-run"]')
            expect(outcome).to_contain_text("nothing is applied yet")
            expect(page.locator('#config-outcome tr[data-change="retention.ms"]')).to_contain_text("604800000")
            # Still the old value: the check applied nothing.
            expect(page.locator('#topic-configs tr[data-config="retention.ms"]')).to_contain_text("604800000")

            page.get_by_role("button", name="Apply these changes").click()
            expect(page.locator('#config-outcome [data-outcome="applied"]')).to_be_visible()
            page.get_by_role("link", name="Reload the topic").click()
            expect(page.locator('#topic-configs tr[data-config="retention.ms"]')).to_contain_text("3600000")

            page.get_by_text("Change configs").click()
            page.locator("#topic-configs textarea[name=set]").fill("retention.ms=soon")
            page.get_by_role("button", name="Check with the broker").click()
            expect(page.locator("#config-outcome [role=alert]")).to_contain_text("retention.ms")
        finally:
            browser.close()

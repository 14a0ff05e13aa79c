"""A real browser publishes from the topic page and from the NATS publish page and reads the answers."""

from __future__ import annotations

import pytest

from tests.kafka import helpers as kh
from tests.publish.helpers import Responder, read_topic
from tests.web.test_browser import CHROMIUM, CHROMIUM_ARGS

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed (apt-get install chromium)"),
]


def test_publish_from_the_pages_and_see_the_answers(
    live_server, operator, kafka_bootstrap, nats_urls, unique, tmp_path
):
    topic = kh.create_topic(kafka_bootstrap, unique, partitions=2)
    from playwright.sync_api import expect, sync_playwright

    with Responder(nats_urls[0], f"{unique}.echo"), sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(f"{live_server.url}/accounts/login/")
            page.get_by_label("Username").fill("olivia")
            page.get_by_label("Password").fill("operator-pass-123")
            page.get_by_role("button", name="Log in").click()

            page.goto(f"{live_server.url}/clusters/kafka/topics/{topic}")
            page.get_by_role("link", name="Publish a message").click()
            page.get_by_label("Key", exact=True).fill("order-1")
            page.get_by_label("Value", exact=True).fill('{"total": 42}')
            page.get_by_label("Value as", exact=True).select_option("json")
            page.get_by_label("Partition", exact=True).select_option("1")
            page.get_by_role("button", name="Publish", exact=True).click()
            expect(page.locator("#publish-outcome [data-outcome]")).to_contain_text("partition 1 at offset 0")

            page.get_by_label("Value", exact=True).fill('{"total": ')
            page.get_by_role("button", name="Publish", exact=True).click()
            expect(page.locator("#publish-outcome [role=alert]")).to_contain_text("not valid JSON")

            page.goto(f"{live_server.url}/clusters/nats/publish")
            page.get_by_label("Subject", exact=True).fill(f"{unique}.echo")
            page.get_by_label("request and wait for a reply").check()
            page.get_by_label("Value", exact=True).fill(">b/<olleh>b<")
            page.get_by_role("button", name="Send").click()
            outcome = page.locator("#publish-outcome")
            expect(outcome).to_contain_text("Reply to")
            # The reply is shown as text, never as markup.
            expect(outcome.locator(".reply-value pre.payload")).to_have_text("<b>hello</b>")
            assert outcome.locator("b", has_text="hello").count() == 0
            page.screenshot(path=str(tmp_path / "publish.png"), full_page=True)
        finally:
            browser.close()
    [record] = read_topic(kafka_bootstrap, topic, [0, 1], expect=1)
    assert (record.partition, record.key, record.value) == (1, b"order-1", b'{"total": 42}')

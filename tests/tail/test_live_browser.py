"""A real Chromium on a real Daphne: a live page shows what an independent client publishes, as text,
and goes on after the web process is killed and started again, resuming where it stopped."""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from dev.webprocess import PASSWORD, USERNAME, WebProcess
from tests.nats.helpers import create_own_stream
from tests.tail.helpers import js_publish, nats_publish
from tests.web.test_browser import CHROMIUM, CHROMIUM_ARGS

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.xdist_group("tail-web"),
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed (apt-get install chromium)"),
]

HOSTILE = '<img src=x onerror="window.pwned=1">{"not": "json"'


def _publish(coro) -> None:
    """Playwright runs an event loop in this thread: the independent client gets its own."""
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, coro).result(30)


def _log_in(page, web: WebProcess, path: str) -> None:
    page.goto(f"{web.url}/accounts/login/?next={path}")
    page.get_by_label("Username").fill(USERNAME)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def test_a_published_message_appears_as_text(web, nats_urls, unique):
    from playwright.sync_api import expect, sync_playwright

    subject = f"{unique}.sensors.temperature.lab"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            _log_in(page, web, f"/clusters/nats/live?subject={unique}.sensors.*.*")
            expect(page.locator("#tail-state")).to_have_text("live", timeout=15_000)
            payload = json.dumps({"celsius": 21.5, "room": "lab"}).encode()
            _publish(nats_publish(nats_urls[0], [(subject, HOSTILE.encode()), (subject, payload)]))
            rows = page.locator("#tail-rows tr.row")
            expect(rows).to_have_count(2, timeout=15_000)
            expect(rows.first).to_contain_text('{"celsius": 21.5')  # newest first
            expect(rows.nth(1)).to_contain_text(HOSTILE)
            assert page.locator("#tail-rows img").count() == 0
            assert page.evaluate("window.pwned") is None
            rows.first.click()
            expect(page.locator("#tail-rows tr.detail pre.json")).to_contain_text('"celsius": 21.5')
            page.get_by_role("button", name="Newest first").click()
            expect(rows.first).to_contain_text(HOSTILE)
            assert "order=oldest" in page.url
        finally:
            browser.close()


def test_the_page_reconnects_after_a_restart_and_resumes_a_stream(web, nats_urls, unique):
    from playwright.sync_api import expect, sync_playwright

    url = nats_urls[0]
    name = create_own_stream(url, unique)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            _log_in(page, web, f"/clusters/nats/streams/{name}/live")
            expect(page.locator("#tail-state")).to_have_text("live", timeout=15_000)
            _publish(js_publish(url, [(f"{unique}.a", b"first")]))
            rows = page.locator("#tail-rows tr.row")
            expect(rows).to_have_count(1, timeout=15_000)
            web.kill()
            _publish(js_publish(url, [(f"{unique}.a", b"while the web was down")]))
            web.start()
            expect(page.locator("#tail-notice")).to_contain_text("Reconnected", timeout=40_000)
            expect(rows).to_have_count(2, timeout=15_000)
            expect(rows.first).to_contain_text("while the web was down")
            expect(page.locator("#tail-state")).to_have_text("live")
        finally:
            browser.close()

"""A real Chromium on a real Daphne: a live page shows what an independent client publishes, as text,
and goes on after the web process is killed and started again, resuming where it stopped."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

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


@contextmanager
def _browser_page() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser.new_page()
        finally:
            browser.close()


def _log_in(page, web: WebProcess, path: str) -> None:
    page.goto(f"{web.url}/accounts/login/?next={path}")
    page.get_by_label("Username").fill(USERNAME)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def test_a_published_message_appears_as_text(web, nats_urls, unique):
    from playwright.sync_api import expect

    subject = f"{unique}.sensors.temperature.lab"
    with _browser_page() as page:
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


def test_the_page_reconnects_after_a_restart_and_resumes_a_stream(web, nats_urls, unique):
    from playwright.sync_api import expect

    url = nats_urls[0]
    name = create_own_stream(url, unique)
    with _browser_page() as page:
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


def test_the_page_acknowledges_with_each_frames_token(web, nats_urls, unique):
    """More frames than the ack window arrive one by one: each is rendered only if the page's acks count."""
    from playwright.sync_api import expect

    subject = f"{unique}.paced"
    count = 12

    async def paced() -> None:
        for i in range(count):
            await nats_publish(nats_urls[0], [(subject, b"paced %d" % i)])
            await asyncio.sleep(0.12)  # frames go every 50 ms: one frame each

    with _browser_page() as page:
        _log_in(page, web, f"/clusters/nats/live?subject={subject}")
        expect(page.locator("#tail-state")).to_have_text("live", timeout=15_000)
        _publish(paced())
        expect(page.locator("#tail-rows tr.row")).to_have_count(count, timeout=15_000)
        expect(page.locator("#tail-dropped")).to_have_text("0")


@pytest.fixture(scope="module")
def impatient_web(tmp_path_factory, kafka_bootstrap, nats_urls):
    """A web process that closes a socket paused (or unacknowledged) for a second."""
    brokers = {"KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "NATS_URL": nats_urls[0], "NATS_MONITOR_URL": nats_urls[1]}
    env = {"STREAMDESK_TAIL_STALL_SECONDS": "1"}
    process = WebProcess(tmp_path_factory.mktemp("impatient"), brokers, env).prepare().start()
    yield process
    process.stop()


def test_a_long_pause_is_closed_by_the_server_and_resume_reconnects(impatient_web, nats_urls, unique):
    from playwright.sync_api import expect

    url = nats_urls[0]
    name = create_own_stream(url, unique)
    with _browser_page() as page:
        _log_in(page, impatient_web, f"/clusters/nats/streams/{name}/live")
        expect(page.locator("#tail-state")).to_have_text("live", timeout=15_000)
        _publish(js_publish(url, [(f"{unique}.a", b"before the pause")]))
        rows = page.locator("#tail-rows tr.row")
        expect(rows).to_have_count(1, timeout=15_000)
        page.get_by_role("button", name="Pause").click()
        _publish(js_publish(url, [(f"{unique}.a", b"during the pause")]))
        expect(page.locator("#tail-state")).to_have_text("paused (disconnected)", timeout=10_000)
        expect(page.locator("#tail-notice")).to_contain_text("Paused too long")
        page.wait_for_timeout(1500)  # it does not reconnect by itself: it waits for Resume
        expect(page.locator("#tail-state")).to_have_text("paused (disconnected)")
        page.get_by_role("button", name="Resume").click()
        expect(page.locator("#tail-state")).to_have_text("live", timeout=15_000)
        expect(rows).to_have_count(2, timeout=15_000)
        expect(rows.first).to_contain_text("during the pause")


def test_the_bucket_page_watch_button_shows_every_value_then_changes(web, nats_urls, unique):
    from playwright.sync_api import expect

    from tests.tail.test_kv_watch import _kv

    url, bucket = nats_urls[0], unique.replace("-", "_")

    async def seed(nc: Any, store: Any) -> None:
        await store.put("app/db=host.name", HOSTILE.encode())

    async def change(nc: Any, store: Any) -> None:
        await store.put("app/db=host.name", b"db-2")
        await store.delete("app/db=host.name")

    _publish(_kv(url, bucket, seed))
    with _browser_page() as page:
        _log_in(page, web, f"/clusters/nats/kv/{bucket}/keys")
        page.locator("#kv-watch").click()
        expect(page.locator("#tail-state")).to_have_text("live", timeout=15_000)
        assert "from=beginning" in page.url
        rows = page.locator("#tail-rows tr.row")
        expect(rows).to_have_count(1, timeout=15_000)
        expect(rows.first).to_contain_text("app/db=host.name")
        expect(rows.first).to_contain_text(HOSTILE)
        assert page.locator("#tail-rows img").count() == 0 and page.evaluate("window.pwned") is None
        _publish(_kv(url, bucket, change))
        expect(rows).to_have_count(3, timeout=15_000)
        expect(rows.first).to_contain_text("DEL")  # newest first
        expect(rows.nth(1)).to_contain_text("db-2")
        rows.nth(1).click()
        expect(page.locator("#tail-rows tr.detail pre.payload")).to_have_text("db-2")

"""A real browser pauses and resumes a managed consumer from the Workers page while a real
runconsumers process runs it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from streams.workers.models import ManagedConsumer
from tests.kafka import helpers as kh
from tests.polling import wait_until
from tests.web.test_browser import CHROMIUM, CHROMIUM_ARGS
from tests.workers.conftest import lines

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.xdist_group("workers"),
    pytest.mark.usefixtures("notify"),
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed (apt-get install chromium)"),
]


def test_pause_and_resume_from_the_workers_page(
    live_server: Any, operator: Any, runconsumers: Any, kafka_bootstrap: str, unique: str, calls: Path, tmp_path: Path
) -> None:
    source = kh.create_topic(kafka_bootstrap, f"{unique}-in")
    ManagedConsumer.objects.create(
        name=unique, cluster="kafka", source_kind="topic", source=source, group=f"{unique}-g", start="earliest",
        handler="test.record", config={"path": str(calls)},
    )  # fmt: skip
    kh.produce(kafka_bootstrap, source, ["one", "two"])
    runconsumers()
    wait_until(lambda: len(lines(calls)) == 2, message="the first two handled", timeout=30)
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(f"{live_server.url}/accounts/login/")
            page.get_by_label("Username").fill("olivia")
            page.get_by_label("Password").fill("operator-pass-123")
            page.get_by_role("button", name="Log in").click()
            page.goto(f"{live_server.url}/workers")
            row = page.locator(f'tr[data-worker="{unique}"]')
            expect(row.locator("[data-state]")).to_have_text("running", timeout=20_000)

            row.get_by_role("button", name=f"Pause {unique}").click()
            expect(page.locator(".banner.success")).to_contain_text("is pausing")
            expect(row.locator("[data-state]")).to_have_text("paused", timeout=10_000)
            kh.produce(kafka_bootstrap, source, ["three", "four"])
            time.sleep(2)  # a paused consumer shows only by doing nothing: no event follows what it must not take
            assert len(lines(calls)) == 2
            page.screenshot(path=str(tmp_path / "workers-paused.png"), full_page=True)

            row.get_by_role("button", name=f"Resume {unique}").click()
            expect(row.locator("[data-state]")).to_have_text("running", timeout=10_000)
            wait_until(lambda: len(lines(calls)) == 4, message="the two sent during the pause handled", timeout=30)
            expect(row.locator("[data-processed]")).to_have_text("4", timeout=10_000)
        finally:
            browser.close()

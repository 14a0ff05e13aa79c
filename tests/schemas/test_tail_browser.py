"""A real Chromium on a real Daphne: the live page's rows show the decoded form, tagged with its schema,
and a row's detail says which schema read it; a poison payload shows raw, with the reason."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from dev.webprocess import WebProcess
from tests.schemas import localfiles
from tests.tail.helpers import nats_publish
from tests.tail.test_live_browser import _browser_page, _log_in, _publish
from tests.web.test_browser import CHROMIUM

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed (apt-get install chromium)"),
]

HOSTILE = '<img src=x onerror="window.pwned=1">'


@pytest.fixture(scope="module")
def decoding_web(tmp_path_factory: pytest.TempPathFactory, nats_urls: tuple[str, str]) -> Iterator[WebProcess]:
    folder: Path = tmp_path_factory.mktemp("decoders")
    localfiles.write_files(folder)
    decoders = folder / "nats-decoders.toml"
    decoders.write_text('[[decoders]]\nsubjects = ["tickets.>"]\nformat = "json-schema"\nschema = "ticket.json"\n')
    brokers = {"NATS_URL": nats_urls[0], "NATS_MONITOR_URL": nats_urls[1], "NATS_DECODERS": str(decoders)}
    process = WebProcess(tmp_path_factory.mktemp("web-decoders"), brokers).prepare().start()
    yield process
    process.stop()


def test_live_rows_show_the_decoded_form_and_its_schema(decoding_web, nats_urls, unique):
    from playwright.sync_api import expect

    subject = f"tickets.{unique}.new"
    with _browser_page() as page:
        _log_in(page, decoding_web, f"/clusters/nats/live?subject=tickets.{unique}.>")
        expect(page.locator("#tail-state")).to_have_text("live", timeout=15_000)
        ticket = json.dumps({"id": 5, "tags": [HOSTILE]}).encode()
        _publish(nats_publish(nats_urls[0], [(subject, b"not json"), (subject, ticket)]))
        rows = page.locator("#tail-rows tr.row")
        expect(rows).to_have_count(2, timeout=15_000)
        newest = rows.first
        expect(newest.locator(".schema-tag")).to_have_text("json-schema")
        expect(newest).to_contain_text('{"id":5,"tags":["<img')
        assert "ticket.json" in (newest.locator("td.decoded").get_attribute("title") or "")
        assert page.locator("#tail-rows img").count() == 0
        newest.click()
        detail = page.locator("#tail-rows tr.detail")
        expect(detail.locator("p.schema")).to_have_text("decoded · json-schema Ticket · local schema ticket.json")
        expect(detail.locator("pre.decoded")).to_contain_text('"id": 5')
        newest.click()
        poison = rows.nth(1)
        expect(poison).to_contain_text("not json")
        assert poison.locator(".schema-tag").count() == 0
        poison.click()
        expect(page.locator("#tail-rows tr.detail .decode-error")).to_have_text(
            "Not decoded: does not decode with ticket.json (json-schema): is not JSON"
        )
        assert page.locator("#tail-rows img").count() == 0 and page.evaluate("window.pwned") is None

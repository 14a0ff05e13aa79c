"""A real browser publishes an Avro value with a registry schema: the htmx schema panel, its example, errors."""

from __future__ import annotations

import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer

from tests.kafka import helpers as kh
from tests.publish.helpers import read_topic
from tests.schemas.test_publish import CART_AVRO, ctx
from tests.web.test_browser import CHROMIUM, CHROMIUM_ARGS

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed (apt-get install chromium)"),
]


def test_choose_a_schema_use_its_example_and_see_errors_on_the_field(
    live_server,
    operator,
    kafka_bootstrap,
    unique,
    standin,
    tmp_path,
):
    topic = kh.create_topic(kafka_bootstrap, unique)
    schema_id, _ = standin.state.register(f"{topic}-value", {"schema": CART_AVRO, "schemaType": "AVRO"})
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(f"{live_server.url}/accounts/login/")
            page.get_by_label("Username").fill("olivia")
            page.get_by_label("Password").fill("operator-pass-123")
            page.get_by_role("button", name="Log in").click()
            page.goto(f"{live_server.url}/clusters/kafka/topics/{topic}/publish")

            page.get_by_label("Key", exact=True).fill("cart-1")
            page.get_by_label("Value as", exact=True).select_option("avro")
            value_choice = page.locator("#value-encoding")
            value_choice.get_by_label("subject").fill(f"{topic}-value")
            value_choice.get_by_label("subject").press("Tab")  # "change": the panel is fetched with htmx
            panel = page.locator("#value-schema-panel")
            expect(panel).to_contain_text(f"{topic}-value v1")
            expect(panel.locator("#value-example")).to_contain_text('"state": "NEW"')

            # The example, with one price made wrong: the error shows under the value, naming the path.
            panel.get_by_role("button", name="use it").click()
            value = page.get_by_label("Value", exact=True)
            example = value.input_value()
            assert '"items": [' in example
            value.fill(example.replace('"price": 0.0', '"price": "free"'))
            page.get_by_role("button", name="Publish", exact=True).click()
            error = page.locator("#publish-error-value")
            expect(error).to_contain_text("$.items[0].price: expected double, got string")
            page.screenshot(path=str(tmp_path / "schema-publish.png"), full_page=True)

            value.fill(example)
            page.get_by_role("button", name="Publish", exact=True).click()
            expect(page.locator("#publish-outcome [data-outcome]")).to_contain_text("at offset 0")
            expect(page.locator("#publish-error-value")).to_be_empty()
        finally:
            browser.close()
    [record] = read_topic(kafka_bootstrap, topic, [0], expect=1)
    assert record.key == b"cart-1" and record.value is not None
    assert record.value[1:5] == schema_id.to_bytes(4, "big")
    got = AvroDeserializer(SchemaRegistryClient({"url": standin.url}))(record.value, ctx(topic))
    assert got["state"] == "NEW" and got["items"] == [{"sku": "", "price": 0.0}]

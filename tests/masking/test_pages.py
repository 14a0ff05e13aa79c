"""Masking in every page and API read, on real servers (tansu or Apache Kafka, nats-server): a viewer sees
masked data and cannot find it by filtering; an operator sees it whole, and that read is audited once."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from django.test import Client
from nats.aio.client import Client as Nats

from console import access
from streams.masking import UNMASKED_READ
from streams.models import AuditEvent
from tests.kafka import helpers as kh
from tests.masking.conftest import MASKED_ORDER_FIELDS, SECRET_CARD, SECRET_EMAIL, SECRET_PHONE, no_secret, order
from tests.nats import helpers as nh

pytestmark = [pytest.mark.django_db(transaction=True)]

HEADERS = [("email", SECRET_EMAIL.encode()), ("trace", b"t-1")]


def unmasked_reads(**where: Any) -> int:
    return AuditEvent.objects.filter(action=UNMASKED_READ, **where).count()


def masked_topic(bootstrap: str, unique: str, count: int = 3) -> str:
    topic = kh.create_topic(bootstrap, f"masked-{unique}")
    kh.produce(bootstrap, topic, [json.dumps(order(i)) for i in range(count)], key=f"k {SECRET_PHONE}", headers=HEADERS)
    return topic


def check_masked_message(m: dict[str, Any], n: int) -> None:
    assert m["value"]["masked"] is True and m["value"]["base64"] is None
    assert json.loads(m["value"]["text"]) == {"n": n, **MASKED_ORDER_FIELDS}
    assert (m["key"]["text"], m["key"]["base64"], m["key"]["masked"]) == ("k [phone]", None, True)
    assert dict((name, v["text"]) for name, v in m["headers"]) == {"email": "***", "trace": "t-1"}


def test_kafka_browser_masks_for_a_viewer_and_its_filter_cannot_find_a_masked_value(
    mask_rules, as_viewer: Client, kafka_bootstrap, unique
):
    topic = masked_topic(kafka_bootstrap, unique)
    api = f"/api/v1/clusters/kafka/topics/{topic}/messages"
    answer = as_viewer.get(api, {"from": "beginning"})
    assert answer.status_code == 200
    assert no_secret(answer.content.decode())
    messages = answer.json()["messages"]
    assert [m["offset"] for m in messages] == [0, 1, 2]
    for i, m in enumerate(messages):
        check_masked_message(m, i)

    page = as_viewer.get(f"/clusters/kafka/topics/{topic}/messages", {"from": "beginning"}).content.decode()
    assert no_secret(page) and "Masked: parts of this value are hidden from you." in page and 'class="hex"' not in page
    full = as_viewer.get(api, {"partition": 0, "offset": 1, "full": 1}).json()["messages"]
    check_masked_message(full[0], 1)
    full_page = as_viewer.get(f"/clusters/kafka/topics/{topic}/messages?partition=0&offset=1&full=1")
    assert no_secret(full_page.content.decode())

    # The browser's filter runs on what the viewer sees.
    for needle in (SECRET_EMAIL, SECRET_CARD, SECRET_PHONE, "4111"):
        assert as_viewer.get(api, {"from": "beginning", "q": needle}).json()["messages"] == [], needle
    assert len(as_viewer.get(api, {"from": "beginning", "q": "[phone]"}).json()["messages"]) == 3
    assert unmasked_reads() == 0


def test_kafka_browser_unmasked_for_an_operator_and_audited_once_per_page(
    mask_rules, operator, as_operator: Client, kafka_bootstrap, unique
):
    topic = masked_topic(kafka_bootstrap, unique)
    api = f"/api/v1/clusters/kafka/topics/{topic}/messages"
    messages = as_operator.get(api, {"from": "beginning"}).json()["messages"]
    assert json.loads(messages[0]["value"]["text"]) == order(0)
    assert messages[0]["value"]["base64"] and "masked" not in messages[0]["value"]
    assert unmasked_reads(target=topic) == 1
    event = AuditEvent.objects.get(action=UNMASKED_READ, target=topic)
    assert (event.user, event.cluster, event.params) == (operator, "kafka", {"kind": "topics", "read": "browse"})
    assert len(as_operator.get(api, {"from": "beginning", "q": SECRET_EMAIL}).json()["messages"]) == 3
    assert unmasked_reads(target=topic) == 2


def test_a_topic_no_rule_covers_is_shown_as_read_and_not_audited(
    mask_rules, as_operator, as_viewer, kafka_bootstrap, unique
):
    topic = kh.create_topic(kafka_bootstrap, f"open-{unique}")
    kh.produce(kafka_bootstrap, topic, [json.dumps(order(0))])
    for client in (as_viewer, as_operator):
        value = client.get(f"/api/v1/clusters/kafka/topics/{topic}/messages", {"from": "beginning"}).json()
        assert json.loads(value["messages"][0]["value"]["text"]) == order(0)
    assert unmasked_reads() == 0


def export_body(response: Any) -> str:
    async def collect() -> bytes:
        return b"".join([chunk async for chunk in response.streaming_content])

    return async_to_sync(collect)().decode()


def test_export_is_masked_and_filtered_on_the_masked_view(
    mask_rules, as_viewer: Client, as_operator: Client, kafka_bootstrap, unique
):
    topic = masked_topic(kafka_bootstrap, unique, count=4)
    url = f"/api/v1/clusters/kafka/topics/{topic}/export"
    everything = export_body(as_viewer.get(url))
    assert no_secret(everything)
    lines = [json.loads(x) for x in everything.splitlines()]
    assert len(lines) == 4
    for m in lines:
        check_masked_message(m, m["offset"])
    rows = list(csv.reader(io.StringIO(export_body(as_viewer.get(url, {"format": "csv"})))))
    assert len(rows) == 5 and no_secret(json.dumps(rows))
    assert json.loads(rows[1][4]) == {"n": 0, **MASKED_ORDER_FIELDS} and rows[1][3] == "k [phone]"
    assert json.loads(rows[1][5]) == {"email": "***", "trace": "t-1"}

    for query in ({"text": SECRET_EMAIL}, {"text": "4111"}, {"jq": f'.value.email == "{SECRET_EMAIL}"'},
                  {"jq": '.headers.email | test("ann")'}, {"jq": '.key | test("555")'}):  # fmt: skip
        assert export_body(as_viewer.get(url, query)) == "", query
    assert len(export_body(as_viewer.get(url, {"jq": '.value.email == "***"'})).splitlines()) == 4
    assert unmasked_reads() == 0

    whole = export_body(as_operator.get(url, {"text": SECRET_EMAIL})).splitlines()
    assert len(whole) == 4 and json.loads(json.loads(whole[0])["value"]["text"]) == order(0)
    assert unmasked_reads(target=topic, params__read="export") == 1
    exports = AuditEvent.objects.filter(action="kafka.topic.export", target=topic)
    assert (exports.filter(params__masked=True).count(), exports.filter(params__masked=False).count()) == (8, 1)


def without_unmask(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whoever asks may not unmask: an operator whose policy lacks ``unmask``."""

    async def never(user: Any, cluster: str, kind: str, name: str) -> bool:
        return False

    monkeypatch.setattr(access, "may_unmask", never)


def test_kafka_publish_form_prefilled_from_a_stored_message_is_masked(
    mask_rules, as_viewer: Client, as_operator: Client, kafka_bootstrap, unique, monkeypatch
):
    topic = masked_topic(kafka_bootstrap, unique, count=1)
    url = f"/clusters/kafka/topics/{topic}/publish?from_partition=0&from_offset=0"
    assert no_secret(as_viewer.get(url).content.decode())
    unmasked = as_operator.get(url).content.decode()
    assert SECRET_EMAIL in unmasked and SECRET_CARD in unmasked
    assert unmasked_reads(target=topic, params__read="publish form") == 1
    without_unmask(monkeypatch)
    page = as_operator.get(url).content.decode()
    assert no_secret(page) and "Filled from a stored message with parts masked" in page
    assert "k [phone]" in page and "&quot;***&quot;" in page
    assert unmasked_reads(target=topic) == 1


def _stream(nats_url: str, unique: str) -> tuple[str, str]:
    subject = f"masked-{unique}"
    name = nh.create_own_stream(nats_url, f"MASKED_{unique}", [f"{subject}.>"])
    nh.publish(nats_url, [(f"{subject}.o", json.dumps(order(i)).encode(), {"email": SECRET_EMAIL}) for i in range(3)])
    return name, subject


def test_jetstream_browser_message_page_and_publish_form_are_masked(
    mask_rules, as_viewer: Client, as_operator: Client, nats_urls, unique, monkeypatch
):
    name, _ = _stream(nats_urls[0], unique)
    api = f"/api/v1/clusters/nats/streams/{name}/messages"
    answer = as_viewer.get(api, {"seq": 1})
    assert no_secret(answer.content.decode())
    stored = answer.json()["messages"]
    assert len(stored) == 3
    assert json.loads(stored[0]["value"]["text"]) == {"n": 0, **MASKED_ORDER_FIELDS}
    assert stored[0]["value"]["base64"] is None and stored[0]["headers"] == [
        ["email", {"text": "***", "base64": None, "masked": True}]
    ]
    assert no_secret(as_viewer.get(f"/clusters/nats/streams/{name}/messages?seq=1").content.decode())
    one = as_viewer.get(f"{api}/2")
    assert no_secret(one.content.decode()) and one.json()["message"]["value"]["masked"] is True
    assert no_secret(as_viewer.get(f"/clusters/nats/streams/{name}/messages/2").content.decode())
    assert unmasked_reads() == 0

    whole = as_operator.get(f"{api}/2").json()["message"]
    assert json.loads(whole["value"]["text"]) == order(1)
    as_operator.get(api, {"seq": 1})
    prefill_url = f"/clusters/nats/publish?from_stream={name}&from_seq=2"
    assert SECRET_EMAIL in as_operator.get(prefill_url).content.decode()
    reads = sorted(e.params["read"] for e in AuditEvent.objects.filter(action=UNMASKED_READ, target=name))
    assert reads == ["browse", "message", "publish form"]
    without_unmask(monkeypatch)
    prefill = as_operator.get(prefill_url).content.decode()
    assert no_secret(prefill) and "Filled from a stored message with parts masked" in prefill


def test_kv_values_and_history_are_masked(mask_rules, as_viewer: Client, as_operator: Client, nats_urls, unique):
    bucket = f"masked_{unique.replace('-', '_')}"

    async def work(nc: Nats) -> None:
        kv = await nc.jetstream().create_key_value(bucket=bucket, history=5)
        await kv.put("user.1", json.dumps({"email": SECRET_EMAIL, "name": "ann"}).encode())
        await kv.put("user.1", json.dumps({"email": SECRET_EMAIL, "name": "ann b"}).encode())

    nh.run(nats_urls[0], work)
    base = f"/api/v1/clusters/nats/kv/{bucket}/keys/user.1"
    value = as_viewer.get(base)
    assert no_secret(value.content.decode())
    assert value.json()["value"] == {"text": '{"email": "***", "name": "ann b"}', "base64": None, "masked": True}
    history = as_viewer.get(f"{base}/history")
    assert no_secret(history.content.decode()) and len(history.json()["items"]) == 2
    assert no_secret(as_viewer.get(f"/clusters/nats/kv/{bucket}/keys/user.1").content.decode())
    assert unmasked_reads() == 0
    assert SECRET_EMAIL in as_operator.get(base).json()["value"]["text"]
    assert unmasked_reads(target=bucket) == 1


USER_AVRO = """{"type": "record", "name": "User", "namespace": "shop",
 "fields": [{"name": "id", "type": "int"}, {"name": "email", "type": "string"}]}"""


def test_schema_decoded_data_is_masked_and_its_bytes_never_leave(
    mask_rules, as_viewer: Client, as_operator: Client, kafka_bootstrap, unique, standin
):
    topic = kh.create_topic(kafka_bootstrap, f"masked-{unique}")
    serialize = AvroSerializer(SchemaRegistryClient({"url": standin.url}), USER_AVRO)
    values = [
        serialize({"id": i, "email": SECRET_EMAIL}, SerializationContext(topic, MessageField.VALUE)) for i in (1, 2)
    ]
    # Avro strings sit in the bytes as they are: the raw view alone would show the address.
    assert SECRET_EMAIL.encode() in values[0]
    kh.produce(kafka_bootstrap, topic, values)
    api = f"/api/v1/clusters/kafka/topics/{topic}/messages"
    answer = as_viewer.get(api, {"from": "beginning"})
    assert no_secret(answer.content.decode())
    value = answer.json()["messages"][0]["value"]
    assert value["masked"] is True and value["base64"] is None
    assert value["decoded"]["data"] == {"id": 1, "email": "***"} and value["decoded"]["type"] == "shop.User"
    assert json.loads(value["text"]) == {"id": 1, "email": "***"}
    page = as_viewer.get(f"/clusters/kafka/topics/{topic}/messages", {"from": "beginning"}).content.decode()
    assert no_secret(page) and "decoded · avro shop.User" in page and 'class="hex"' not in page
    assert as_viewer.get(api, {"from": "beginning", "q": "ann@"}).json()["messages"] == []
    assert len(as_viewer.get(api, {"from": "beginning", "q": '"email": "***"'}).json()["messages"]) == 2
    export = export_body(as_viewer.get(f"/api/v1/clusters/kafka/topics/{topic}/export", {"jq": ".value.id == 2"}))
    assert no_secret(export) and json.loads(export)["value"]["decoded"]["data"] == {"id": 2, "email": "***"}
    whole = as_operator.get(api, {"from": "beginning"}).json()["messages"][0]["value"]
    assert whole["decoded"]["data"] == {"id": 1, "email": SECRET_EMAIL} and whole["base64"]

"""JetStream search and export mask like the Kafka ones: rules on the stream, and rules on a message's
subject, are applied before filters run, so a viewer cannot find a masked value by text or jq, and
neither a search's results nor an export carry it; an operator reads it whole, audited."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from django.test import Client

from streams.masking import UNMASKED_READ
from streams.models import AuditEvent
from tests.masking.conftest import MASKED_ORDER_FIELDS, SECRET_CARD, SECRET_EMAIL, no_secret, order
from tests.nats import helpers as h
from tests.search.helpers import search_answer
from tests.search.test_jetstream_search import start
from tests.search.test_kafka_export import body

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.xdist_group("celery"), pytest.mark.slow]


@pytest.fixture
def url(nats_urls: tuple[str, str]) -> str:
    return nats_urls[0]


def searched(client: Client, stream: str, query: dict[str, Any]) -> dict[str, Any]:
    answer = search_answer(client, start(client, stream, {"from": "beginning", **query}))
    assert answer["state"] == "done", answer
    return answer


def test_a_stream_the_rules_name_is_searched_and_exported_masked(
    celery_worker, mask_rules, as_viewer: Client, as_operator: Client, url, unique
):
    stream = f"MASKED_{h.stream_name(unique)}"
    h.create_stream(url, stream, [f"{unique}.>"], allow_direct=True)
    h.publish(url, [(f"{unique}.o", json.dumps(order(i)).encode(), {"email": SECRET_EMAIL}) for i in range(20)])

    for probe in ({"text": SECRET_EMAIL}, {"text": "4111"}, {"jq": '.value.card.number | test("^4111")'}):
        found = searched(as_viewer, stream, probe)
        assert (found["scanned"], found["matched"]) == (20, 0), probe
    masked = searched(as_viewer, stream, {"jq": '.value.email == "***"', "limit": 3})
    assert (masked["matched"], len(masked["results"])) == (20, 3)
    assert no_secret(json.dumps(masked)) and "mask" not in masked["params"]
    first = masked["results"][0]
    assert json.loads(first["value"]["text"]) == {"n": 0, **MASKED_ORDER_FIELDS}
    assert first["value"]["base64"] is None and first["headers"][0][1]["text"] == "***"

    api = f"/api/v1/clusters/nats/streams/{stream}/export"
    jsonl = body(as_viewer.get(api))
    assert len(jsonl.splitlines()) == 20 and no_secret(jsonl)
    assert body(as_viewer.get(api, {"text": SECRET_EMAIL})) == ""
    rows = list(csv.reader(io.StringIO(body(as_viewer.get(api, {"format": "csv"})))))
    assert len(rows) == 21 and no_secret(json.dumps(rows))
    assert AuditEvent.objects.filter(action=UNMASKED_READ).count() == 0

    whole = searched(as_operator, stream, {"text": SECRET_CARD, "limit": 1})
    assert whole["matched"] == 20 and json.loads(whole["results"][0]["value"]["text"]) == order(0)
    assert SECRET_EMAIL in body(as_operator.get(api, {"until": "seq:2"}))
    reads = AuditEvent.objects.filter(action=UNMASKED_READ, target=stream).values_list("params", flat=True)
    assert sorted(p["read"] for p in reads) == ["export", "search"]


def test_a_subject_the_rules_name_is_masked_in_a_stream_they_do_not_name(
    celery_worker, mask_rules, as_viewer: Client, url, unique
):
    stream = h.stream_name(unique)
    h.create_stream(url, stream, [f"{unique}.>", f"masked-{unique}.>"], allow_direct=True)
    items: list[tuple[str, bytes, dict[str, str] | None]] = [
        (f"{prefix}{unique}.o", json.dumps(order(i)).encode(), None) for prefix in ("masked-", "") for i in range(5)
    ]
    h.publish(url, items)
    found = searched(as_viewer, stream, {"text": SECRET_EMAIL})
    assert (found["scanned"], found["matched"]) == (10, 5)
    assert {m["subject"] for m in found["results"]} == {f"{unique}.o"}
    exported = [
        json.loads(line) for line in body(as_viewer.get(f"/api/v1/clusters/nats/streams/{stream}/export")).splitlines()
    ]
    shown = {m["subject"]: json.loads(m["value"]["text"]) for m in exported}
    assert shown[f"masked-{unique}.o"]["email"] == "***" and shown[f"{unique}.o"]["email"] == SECRET_EMAIL

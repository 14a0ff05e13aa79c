"""A search scans on a real Celery worker: for a viewer it matches and keeps the masked messages, so
neither ``text`` nor ``jq`` finds a masked value; an operator's search finds it, audited once."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from streams.masking import UNMASKED_READ
from streams.models import AuditEvent
from tests.kafka import helpers as kh
from tests.masking.conftest import MASKED_ORDER_FIELDS, SECRET_CARD, SECRET_EMAIL, no_secret, order
from tests.polling import wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.xdist_group("celery"), pytest.mark.slow]


def search(client: Client, topic: str, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(f"/api/v1/clusters/kafka/topics/{topic}/search", body, content_type="application/json")
    assert response.status_code == 202, response.content
    url = response.json()["url"]
    answer: dict[str, Any] = wait_until(
        lambda: client.get(url).json(),
        until=lambda answer: answer["state"] != "running",
        timeout=60,
        interval=0.2,
        message=f"the search at {url} ending",
    )
    assert answer["state"] == "done", answer
    return answer


def test_a_viewer_cannot_find_a_masked_value_by_text_or_jq(
    celery_worker, mask_rules, as_viewer: Client, as_operator: Client, kafka_bootstrap, unique
):
    topic = kh.create_topic(kafka_bootstrap, f"masked-{unique}")
    kh.produce(
        kafka_bootstrap, topic, [json.dumps(order(i)) for i in range(20)], headers=[("email", SECRET_EMAIL.encode())]
    )
    probes = [
        {"text": SECRET_EMAIL},
        {"text": "4111"},
        {"jq": f'.value.email == "{SECRET_EMAIL}"'},
        {"jq": '.value.card.number | test("^4111")'},
        {"jq": '.headers.email | test("ann")'},
        {"jq": '[.. | strings | select(test("example"))] | length > 0'},
    ]
    for probe in probes:
        found = search(as_viewer, topic, {"from": "beginning", **probe})
        assert (found["scanned"], found["matched"]) == (20, 0), probe
    masked = search(as_viewer, topic, {"from": "beginning", "jq": '.value.email == "***"', "limit": 5})
    assert (masked["matched"], len(masked["results"])) == (20, 5)
    assert no_secret(json.dumps(masked))
    assert "mask" not in masked["params"]
    first = masked["results"][0]
    assert json.loads(first["value"]["text"]) == {"n": 0, **MASKED_ORDER_FIELDS}
    assert first["value"]["base64"] is None and first["headers"][0][1]["text"] == "***"
    assert AuditEvent.objects.filter(action=UNMASKED_READ).count() == 0

    whole = search(as_operator, topic, {"from": "beginning", "text": SECRET_CARD, "limit": 1})
    assert whole["matched"] == 20 and json.loads(whole["results"][0]["value"]["text"]) == order(0)
    event = AuditEvent.objects.get(action=UNMASKED_READ, target=topic)
    assert event.params == {"kind": "topics", "read": "search"}

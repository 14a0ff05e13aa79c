"""Every write leaves an audit record, whatever its outcome."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync

from streams import audit
from streams.errors import BrokerUnavailable
from streams.models import AuditEvent


def test_perform_records_success_with_description(operator):
    async def run() -> int:
        return 3

    result = async_to_sync(audit.perform)(
        operator,
        "topic.create",
        run,
        cluster="kafka",
        target="orders",
        params={"partitions": 3},
        describe=lambda n: f"created with {n} partitions",
    )
    assert result == 3
    event = AuditEvent.objects.get()
    assert (event.username, event.action, event.cluster, event.target) == ("olivia", "topic.create", "kafka", "orders")
    assert event.result == "ok" and event.message == "created with 3 partitions"
    assert event.params == {"partitions": 3}


def test_perform_records_failure_and_reraises(operator):
    async def run() -> None:
        raise BrokerUnavailable("Kafka did not answer")

    with pytest.raises(BrokerUnavailable):
        async_to_sync(audit.perform)(operator, "topic.delete", run, cluster="kafka", target="orders")
    event = AuditEvent.objects.get()
    assert event.result == "error" and "did not answer" in event.message


def test_unexpected_failure_is_recorded_too(operator):
    async def run() -> None:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        async_to_sync(audit.perform)(operator, "x", run)
    assert AuditEvent.objects.get().message == "ValueError: boom"


def test_audit_page_and_api_filter(operator_client, operator):
    AuditEvent.objects.create(user=operator, username="olivia", action="topic.create", target="<b>x</b>", result="ok")
    AuditEvent.objects.create(user=operator, username="olivia", action="group.reset", target="g", result="error")
    api = operator_client.get("/api/v1/audit", {"result": "error"}).json()
    assert api["total"] == 1 and api["items"][0]["action"] == "group.reset"
    page = operator_client.get("/audit").content.decode()
    assert "&lt;b&gt;x&lt;/b&gt;" in page and "<b>x</b>" not in page


def test_audit_needs_the_operators_role(viewer_client):
    """It spans every cluster and resource: no policy grants it, and neither does the Viewers role."""
    response = viewer_client.get("/api/v1/audit")
    assert response.status_code == 403 and response.json()["error"] == "This needs the Operators role."
    assert viewer_client.get("/audit").status_code == 403


def test_audit_paging_validates_input(operator_client):
    response = operator_client.get("/api/v1/audit", {"page_size": "lots"})
    assert response.status_code == 400
    assert response.json()["field"] == "page_size"
    assert operator_client.get("/api/v1/audit", {"page": "0"}).json()["field"] == "page"

"""The managed-consumer API and pages: definitions checked, roles, audit, desired state."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from streams.models import AuditEvent
from streams.workers.models import ManagedConsumer
from tests.nats import helpers as nh

pytestmark = pytest.mark.django_db


def kafka_body(name: str, **more: Any) -> dict[str, Any]:
    return {
        "name": name,
        "cluster": "kafka",
        "topic": "orders",
        "group": f"{name}-group",
        "handler": "forward",
        "config": {"cluster": "nats", "subject": "bridged.orders"},
        "start": "earliest",
        "max_retries": 2,
        "dead_letter": {"cluster": "kafka", "topic": "orders.dlq"},
        **more,
    }


def post(client: Client, path: str, body: dict[str, Any] | None = None) -> Any:
    return client.post(path, body or {}, content_type="application/json")


def test_create_list_get_and_the_contracts_fields(operator_client: Client, unique: str) -> None:
    created = post(operator_client, "/api/v1/workers", kafka_body(unique))
    assert created.status_code == 201, created.content
    worker = created.json()
    for field in ("name", "cluster", "source", "group", "handler", "desired", "state", "instances", "processed",
                  "failed", "dead_lettered", "lag", "rate", "last_error"):  # fmt: skip
        assert field in worker, field
    assert (worker["desired"], worker["state"], worker["instances"]) == ("running", "starting", [])
    assert (worker["source"], worker["source_kind"], worker["filter_subject"]) == ("orders", "topic", None)
    listed = operator_client.get("/api/v1/workers").json()
    assert [w["name"] for w in listed["items"]] == [unique]
    assert operator_client.get(f"/api/v1/workers/{unique}").json()["group"] == f"{unique}-group"
    assert operator_client.get("/api/v1/workers/nope").status_code == 404
    again = post(operator_client, "/api/v1/workers", kafka_body(unique))
    assert again.status_code == 409 and again.json()["field"] == "name"
    event = AuditEvent.objects.get(action="worker.create", result="ok")
    assert (event.username, event.target, event.result) == ("olivia", unique, "ok")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"handler": "nope"}, "handler"),
        ({"config": {"cluster": "kafka"}}, "config"),
        ({"config": {"cluster": "nowhere", "topic": "t"}}, "config"),
        ({"config": {"cluster": "kafka", "subject": "x"}}, "config"),
        ({"cluster": "nats"}, "topic"),
        ({"cluster": "missing"}, "cluster"),
        ({"topic": "bad topic"}, "topic"),
        ({"name": "no spaces"}, "name"),
        ({"dead_letter": {"cluster": "kafka"}}, "dead_letter"),
        ({"dead_letter": {"cluster": "nats", "topic": "t"}}, "dead_letter"),
        ({"batch_size": 0}, "batch_size"),
        ({"start": "middle"}, "start"),
        ({"group": ""}, "group"),
    ],
)
def test_bad_definitions_are_400_naming_the_field(operator_client: Client, unique: str, change: Any, field: str):
    response = post(operator_client, "/api/v1/workers", {**kafka_body(unique), **change})
    assert response.status_code == 400, response.content
    assert response.json()["field"] == field
    assert not ManagedConsumer.objects.filter(name=unique).exists()


def test_jetstream_source_and_validate_handler(operator_client: Client, unique: str) -> None:
    body = {
        "name": unique,
        "cluster": "nats",
        "stream": "ORDERS",
        "durable": "validator",
        "handler": "validate",
        "config": {"schema": {"type": "object"}, "forward": None},
        "dead_letter": {"cluster": "nats", "subject": "orders.dead"},
    }
    created = post(operator_client, "/api/v1/workers", body)
    assert created.status_code == 201, created.content
    data = created.json()
    assert (data["stream"], data["durable"], data["group"]) == ("ORDERS", "validator", "validator")
    bad = post(operator_client, "/api/v1/workers", {**body, "name": f"{unique}-2", "config": {"schema": 5}})
    assert bad.status_code == 400 and bad.json()["field"] == "config"


def test_pause_resume_restart_edit_delete_are_audited(operator_client: Client, unique: str) -> None:
    post(operator_client, "/api/v1/workers", kafka_body(unique))
    paused = post(operator_client, f"/api/v1/workers/{unique}/pause")
    assert paused.status_code == 202 and paused.json()["desired"] == "paused"
    assert paused.json()["pause_mode"] == "client"
    resumed = post(operator_client, f"/api/v1/workers/{unique}/resume")
    assert resumed.status_code == 202 and resumed.json()["desired"] == "running"
    restarted = post(operator_client, f"/api/v1/workers/{unique}/restart")
    assert restarted.status_code == 202 and restarted.json()["generation"] == 2
    edited = post(operator_client, f"/api/v1/workers/{unique}", {"max_retries": 7, "desired": "stopped"})
    assert edited.status_code == 200, edited.content
    assert (edited.json()["max_retries"], edited.json()["generation"], edited.json()["state"]) == (7, 3, "stopped")
    assert edited.json()["config"] == {"cluster": "nats", "subject": "bridged.orders"}  # kept
    deleted = operator_client.delete(f"/api/v1/workers/{unique}")
    assert deleted.status_code == 200 and "stays on kafka" in deleted.json()["message"]
    assert operator_client.get(f"/api/v1/workers/{unique}").status_code == 404
    actions = list(AuditEvent.objects.filter(target=unique).order_by("id").values_list("action", "result"))
    assert actions == [
        ("worker.create", "ok"),
        ("worker.pause", "ok"),
        ("worker.resume", "ok"),
        ("worker.restart", "ok"),
        ("worker.update", "ok"),
        ("worker.delete", "ok"),
    ]


def test_jetstream_pause_is_applied_on_the_server(operator_client: Client, nats_urls: Any, unique: str) -> None:
    url = nats_urls[0]
    stream = nh.create_own_stream(url, unique)
    nh.add_consumer(url, stream, "durable1")
    body = {"name": unique, "cluster": "nats", "stream": stream, "durable": "durable1", "handler": "discard"}
    assert post(operator_client, "/api/v1/workers", body).status_code == 201
    paused = post(operator_client, f"/api/v1/workers/{unique}/pause")
    assert paused.status_code == 202 and paused.json()["pause_mode"] == "server"
    assert nh.consumer_info(url, stream, "durable1")["paused"] is True
    post(operator_client, f"/api/v1/workers/{unique}/resume")
    assert not nh.consumer_info(url, stream, "durable1").get("paused")


def test_viewers_read_but_cannot_change_and_refusals_are_audited(viewer_client: Client, unique: str) -> None:
    ManagedConsumer.objects.create(
        name=unique, cluster="kafka", source_kind="topic", source="orders", group="g", handler="discard"
    )
    assert viewer_client.get("/api/v1/workers").status_code == 200
    assert viewer_client.get("/workers").status_code == 200
    assert viewer_client.get("/api/v1/handlers").status_code == 200
    for path in (f"/api/v1/workers/{unique}/pause", "/api/v1/workers"):
        assert post(viewer_client, path, kafka_body("x")).status_code == 403
    assert viewer_client.delete(f"/api/v1/workers/{unique}").status_code == 403
    assert AuditEvent.objects.filter(action="worker.pause", result="denied").count() == 1
    assert ManagedConsumer.objects.get(name=unique).desired == "running"


def test_strangers_and_anonymous(stranger_client: Client) -> None:
    assert Client().get("/api/v1/workers").status_code == 401
    assert stranger_client.get("/api/v1/workers").status_code == 403


def test_handlers_are_listed_with_schemas(viewer_client: Client) -> None:
    items = {h["name"]: h for h in viewer_client.get("/api/v1/handlers").json()["items"]}
    assert {"forward", "validate", "discard"} <= set(items)
    assert items["forward"]["config_schema"]["required"] == ["cluster"] and items["forward"]["description"]


def test_the_pages_render(operator_client: Client, unique: str) -> None:
    post(operator_client, "/api/v1/workers", kafka_body(unique))
    page = operator_client.get("/workers")
    assert page.status_code == 200 and unique.encode() in page.content
    assert b"Pause" in page.content
    detail = operator_client.get(f"/workers/{unique}")
    assert detail.status_code == 200 and b"orders.dlq" in detail.content
    assert operator_client.get("/workers/new").status_code == 200
    assert operator_client.get(f"/workers/{unique}/edit").status_code == 200


def test_the_form_creates_and_refuses_a_config_its_schema_refuses(operator_client: Client, unique: str) -> None:
    fields = {
        "name": unique,
        "cluster": "kafka",
        "source_kind": "topic",
        "source": "orders",
        "group": "g",
        "handler": "forward",
        "config": '{"cluster": "kafka"}',
        "start": "latest",
        "desired": "running",
        "batch_size": "100",
        "concurrency": "2",
        "max_retries": "1",
        "retry_backoff_ms": "10",
        "retry_backoff_max_ms": "100",
        "dead_letter_cluster": "nats",
        "dead_letter_target": "dead.orders",
    }
    refused = operator_client.post("/workers/new", fields, HTTP_HX_REQUEST="true")
    assert refused.status_code == 400 and b"schema" in refused.content
    fields["config"] = '{"cluster": "kafka", "topic": "copy"}'
    made = operator_client.post("/workers/new", fields, HTTP_HX_REQUEST="true")
    assert made.status_code == 201, made.content
    consumer = ManagedConsumer.objects.get(name=unique)
    assert consumer.dead_letter == {"cluster": "nats", "subject": "dead.orders"} and consumer.concurrency == 2
    paused = operator_client.post(f"/workers/{unique}/pause", {"next": "list"})
    assert paused.status_code == 302 and paused["Location"] == "/workers"
    assert ManagedConsumer.objects.get(name=unique).desired == "paused"


def test_read_only_mode_lets_operators_pause_but_not_resume_restart_create_or_edit(
    operator_client: Client, viewer: Any, settings: Any, unique: str
) -> None:
    viewer_client = Client()
    viewer_client.force_login(viewer)
    assert post(operator_client, "/api/v1/workers", kafka_body(unique)).status_code == 201
    settings.READ_ONLY = True
    paused = post(operator_client, f"/api/v1/workers/{unique}/pause")
    assert paused.status_code == 202 and paused.json()["desired"] == "paused"
    for path, body in (
        (f"/api/v1/workers/{unique}/resume", None),
        (f"/api/v1/workers/{unique}/restart", None),
        ("/api/v1/workers", kafka_body(f"{unique}-2")),
        (f"/api/v1/workers/{unique}", {"max_retries": 5}),
    ):
        refused = post(operator_client, path, body)
        assert refused.status_code == 403 and "read-only" in refused.json()["error"], path
    assert operator_client.delete(f"/api/v1/workers/{unique}").status_code == 403
    # Viewers may not pause, read-only or not.
    assert post(viewer_client, f"/api/v1/workers/{unique}/pause").status_code == 403
    consumer = ManagedConsumer.objects.get(name=unique)
    assert (consumer.desired, consumer.generation, consumer.max_retries) == ("paused", 1, 2)
    assert not ManagedConsumer.objects.filter(name=f"{unique}-2").exists()
    assert AuditEvent.objects.filter(action="worker.pause", result="ok").count() == 1
    assert AuditEvent.objects.filter(action="worker.resume", result="denied").count() == 1

    # The pages: a pause button while it runs, never resume or restart, and the reason said.
    consumer.desired = "running"
    consumer.save()
    page = operator_client.get(f"/workers/{unique}")
    assert b"Pause" in page.content and b"Restart" not in page.content and b"data-read-only" in page.content
    assert b"Edit the definition" not in page.content
    assert operator_client.post(f"/workers/{unique}/pause", {"next": "detail"}).status_code == 302
    consumer.refresh_from_db()
    assert consumer.desired == "paused"
    page = operator_client.get("/workers")
    assert b"Resume" not in page.content and b"New managed consumer" not in page.content
    refused = operator_client.post(f"/workers/{unique}/resume", {"next": "list"})
    assert refused.status_code == 403 and b"read-only" in refused.content
    form = operator_client.get("/workers/new")
    assert b"data-read-only" in form.content and b'name="handler"' not in form.content

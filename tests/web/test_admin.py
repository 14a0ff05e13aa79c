"""The Django admin: managed consumers are only shown there (the Workers page changes them), cluster
changes are audited through the action functions, and secrets never render for view-only staff."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from streams.models import AuditEvent, Cluster
from streams.workers.models import ManagedConsumer
from tests.nats import helpers as nh

pytestmark = pytest.mark.django_db

SECRETS = {
    "password": "hunter2-password",
    "token": "tok-4f9a-secret",
    "nkey_seed": "SUAEXAMPLESEEDSECRET",
    "alert_webhook_url": "https://hooks.example.com/services/T000/B000/webhook-secret",
}


@pytest.fixture
def root(client: Client, django_user_model: Any) -> Client:
    client.force_login(django_user_model.objects.create_superuser("root", password="root-pass-123"))
    return client


def test_a_durable_paused_on_the_workers_page_cannot_be_resumed_behind_its_back_in_the_admin(
    operator_client: Client, client: Client, django_user_model: Any, nats_urls: Any, unique: str
) -> None:
    url = nats_urls[0]
    stream = nh.create_own_stream(url, unique)
    nh.add_consumer(url, stream, "worker")
    body = {"name": unique, "cluster": "nats", "stream": stream, "durable": "worker", "handler": "discard"}
    assert operator_client.post("/api/v1/workers", body, content_type="application/json").status_code == 201
    assert operator_client.post(f"/api/v1/workers/{unique}/pause").status_code == 202
    assert nh.consumer_info(url, stream, "worker")["paused"] is True
    consumer = ManagedConsumer.objects.get(name=unique)

    client.force_login(django_user_model.objects.create_superuser("root", password="root-pass-123"))
    page = client.get(f"/admin/streams/managedconsumer/{consumer.pk}/change/")
    assert page.status_code == 200 and f'href="/workers/{unique}"'.encode() in page.content
    assert b'name="desired"' not in page.content  # nothing to edit
    form = {"name": unique, "cluster": "nats", "source_kind": "stream", "source": stream, "group": "worker",
            "handler": "discard", "config": "{}", "start": "latest", "batch_size": "500", "concurrency": "1",
            "max_retries": "3", "retry_backoff_ms": "200", "retry_backoff_max_ms": "10000", "dead_letter": "null",
            "desired": "running"}  # fmt: skip
    assert client.post(f"/admin/streams/managedconsumer/{consumer.pk}/change/", form).status_code == 403
    assert client.post(f"/admin/streams/managedconsumer/{consumer.pk}/delete/", {"post": "yes"}).status_code == 403
    assert client.get("/admin/streams/managedconsumer/add/").status_code == 403
    consumer.refresh_from_db()
    assert consumer.desired == "paused" and consumer.generation == 1
    assert nh.consumer_info(url, stream, "worker")["paused"] is True


def test_cluster_changes_in_the_admin_are_audited_without_their_values(root: Client) -> None:
    made = root.post(
        "/admin/streams/cluster/add/",
        {"slug": "second", "kind": "nats", "name": "Second", "servers": "nats://h:4222", "enabled": "on",
         "password": SECRETS["password"], "username": "u"},
    )  # fmt: skip
    assert made.status_code == 302, made.content[:2000]
    cluster = Cluster.objects.get(slug="second")
    fields = {"slug": "second", "kind": "nats", "name": "Renamed", "enabled": "on", "servers": "nats://h:4222",
              "username": "u", "token": SECRETS["token"]}  # fmt: skip
    assert root.post(f"/admin/streams/cluster/{cluster.pk}/change/", fields).status_code == 302
    assert root.post(f"/admin/streams/cluster/{cluster.pk}/delete/", {"post": "yes"}).status_code == 302
    assert not Cluster.objects.filter(slug="second").exists()
    events = list(AuditEvent.objects.filter(target="second").order_by("id"))
    assert [(e.action, e.username, e.result) for e in events] == [
        ("cluster.create", "root", "ok"),
        ("cluster.update", "root", "ok"),
        ("cluster.delete", "root", "ok"),
    ]
    assert events[1].params["fields"] == ["name", "token"]
    stored = " ".join(f"{e.params} {e.message}" for e in events)
    assert SECRETS["password"] not in stored and SECRETS["token"] not in stored


def test_staff_who_may_only_view_clusters_never_see_their_secrets(client: Client, django_user_model: Any) -> None:
    cluster = Cluster.objects.create(slug="secretive", kind="nats", name="S", servers="nats://h:4222", **SECRETS)
    staff = django_user_model.objects.create_user("vera", password="vera-pass-123", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_cluster"))
    client.force_login(staff)
    page = client.get(f"/admin/streams/cluster/{cluster.pk}/change/")
    assert page.status_code == 200
    for value in SECRETS.values():
        assert value.encode() not in page.content
    assert page.content.count(b"set (hidden)") == len(SECRETS)
    listed = client.get("/admin/streams/cluster/")
    assert listed.status_code == 200 and b"secretive" in listed.content
    for value in SECRETS.values():
        assert value.encode() not in listed.content
    assert client.post(f"/admin/streams/cluster/{cluster.pk}/change/", {"name": "x"}).status_code == 403
    cluster.refresh_from_db()
    assert cluster.name == "S"

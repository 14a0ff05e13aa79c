"""API tokens with an expiry and a read-only scope, and the one access check sockets re-ask."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.utils import timezone

from console.access import check_access
from console.socket_auth import socket_access
from streams.models import ApiToken, AuditEvent


def _bearer(raw: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {raw}"}


def test_create_token_read_only_with_days(operator):
    out, err = io.StringIO(), io.StringIO()
    call_command("create_token", "olivia", "--read-only", "--days", "90", stdout=out, stderr=err)
    raw = out.getvalue().strip()
    token = ApiToken.objects.get(key_hash=ApiToken.hash(raw))
    assert token.read_only
    assert token.expires_at is not None
    assert abs((token.expires_at - timezone.now()) - timedelta(days=90)) < timedelta(minutes=1)
    assert "read-only" in err.getvalue() and "expires" in err.getvalue()
    plain = ApiToken.objects.get(key_hash=ApiToken.hash(_issue_via_command("olivia")))
    assert plain.expires_at is None and not plain.read_only


def _issue_via_command(username: str) -> str:
    out = io.StringIO()
    call_command("create_token", username, stdout=out, stderr=io.StringIO())
    return out.getvalue().strip()


def test_create_token_refuses_zero_days(operator):
    with pytest.raises(CommandError, match="--days"):
        call_command("create_token", "olivia", "--days", "0")


def test_expired_token_is_a_401_saying_so(operator, client, settings):
    _, raw = ApiToken.issue(operator, expires_at=timezone.now() - timedelta(seconds=1))
    for path in ["/api/v1/clusters", "/api/v1/no/such/thing"]:
        response = client.get(path, headers=_bearer(raw))
        assert response.status_code == 401, path
        assert "expired" in response.json()["error"]
    metrics = client.get("/metrics", headers=_bearer(raw))
    assert metrics.status_code == 401 and "expired" in metrics.json()["error"]
    write = client.post(
        "/api/v1/clusters/kafka/topics", {"name": "x"}, content_type="application/json", headers=_bearer(raw)
    )
    assert write.status_code == 401 and "expired" in write.json()["error"]
    assert not AuditEvent.objects.exists()


def test_unexpired_token_works_until_it_expires(operator, client):
    token, raw = ApiToken.issue(operator, expires_at=timezone.now() + timedelta(days=1))
    assert client.get("/api/v1/clusters", headers=_bearer(raw)).status_code == 200
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    assert client.get("/api/v1/clusters", headers=_bearer(raw)).status_code == 401


def test_read_only_token_reads_but_never_writes_even_for_an_operator(operator, client, unique):
    _, raw = ApiToken.issue(operator, read_only=True)
    assert client.get("/api/v1/clusters/kafka/topics", headers=_bearer(raw)).status_code == 200
    create = client.post(
        "/api/v1/clusters/kafka/topics", {"name": unique}, content_type="application/json", headers=_bearer(raw)
    )
    assert create.status_code == 403
    assert "read-only" in create.json()["error"] and create["Content-Type"] == "application/json"
    delete = client.delete(f"/api/v1/clusters/kafka/topics/{unique}", headers=_bearer(raw))
    assert delete.status_code == 403 and "read-only" in delete.json()["error"]
    rows = list(AuditEvent.objects.order_by("id").values_list("action", "username", "result"))
    assert rows == [("kafka.topic.create", "olivia", "denied"), ("kafka.topic.delete", "olivia", "denied")]
    # The same user's full token writes (the refusal was the token's scope, not the role).
    _, full = ApiToken.issue(operator)
    response = client.post(
        "/api/v1/clusters/kafka/topics", {"name": unique}, content_type="application/json", headers=_bearer(full)
    )
    assert response.status_code == 201, response.content
    assert client.delete(f"/api/v1/clusters/kafka/topics/{unique}", headers=_bearer(full)).status_code == 200


@pytest.mark.django_db(transaction=True)
def test_websocket_handshake_with_an_expired_token_is_4401(viewer):
    from console.asgi import application

    _, expired = ApiToken.issue(viewer, expires_at=timezone.now() - timedelta(seconds=1))
    _, valid = ApiToken.issue(viewer, expires_at=timezone.now() + timedelta(hours=1))

    async def close_code(raw: str) -> int | None:
        headers = [(b"authorization", f"Bearer {raw}".encode())]
        communicator = WebsocketCommunicator(application, "/ws/clusters/nats/tail", headers=headers)
        connected, _ = await communicator.connect()
        assert connected
        if await communicator.receive_nothing(timeout=1):
            await communicator.disconnect()
            return None
        frame = await communicator.receive_output(timeout=1)
        assert frame["type"] == "websocket.close"
        return int(frame["code"])

    assert async_to_sync(close_code)(expired) == 4401
    assert async_to_sync(close_code)(valid) is None


def test_check_access_sees_revocation_expiry_scope_and_roles(operator, viewer):
    token, raw = ApiToken.issue(operator, read_only=True)
    access = async_to_sync(check_access)(token=raw)
    assert access.user == operator and access.may_read and not access.may_write and access.read_only_token
    assert access.close_code is None
    _, full = ApiToken.issue(operator)
    assert async_to_sync(check_access)(token=full).may_write

    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now())
    expired = async_to_sync(check_access)(token=raw)
    assert not expired.authenticated and expired.close_code == 4401 and "expired" in (expired.refusal or "")
    token.delete()
    assert async_to_sync(check_access)(token=raw).close_code == 4401

    # A role removed after the user object was loaded still counts (perms are re-read).
    viewer.has_perm("streams.read_brokers")  # fills the per-object permission cache
    viewer.groups.set([])
    assert async_to_sync(check_access)(user=viewer).close_code == 4403
    viewer.groups.add(Group.objects.get(name="Viewers"))
    viewer.is_active = False
    viewer.save()
    assert async_to_sync(check_access)(user=viewer).close_code == 4401


def test_socket_access_follows_the_session_and_logout(viewer: User, settings):
    client = Client()
    client.force_login(viewer)
    key = client.session.session_key
    session = type("S", (), {"session_key": key})()
    scope = {"type": "websocket", "headers": [], "session": session, "user": viewer}
    assert async_to_sync(socket_access)(scope).may_read
    settings.READ_ONLY = True
    assert not async_to_sync(socket_access)(scope).may_write
    client.post("/accounts/logout/")
    assert async_to_sync(socket_access)(scope).close_code == 4401
    # A bearer token on the handshake wins over the session.
    _, raw = ApiToken.issue(viewer)
    bearer = {**scope, "headers": [(b"authorization", f"Bearer {raw}".encode())]}
    assert async_to_sync(socket_access)(bearer).may_read

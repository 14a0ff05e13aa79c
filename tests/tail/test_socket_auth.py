"""Who may open the tail socket, through the whole ASGI stack: origin check, session, bearer token.

Refusals are a close code right after the handshake, before any frame: 4401 not
logged in, 4403 no role, 4404 unknown cluster.
"""

from __future__ import annotations

import json

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from console.asgi import application
from streams.models import ApiToken

pytestmark = pytest.mark.django_db(transaction=True)
ORIGIN = (b"origin", b"http://localhost")


async def _open(path: str, *headers: tuple[bytes, bytes]) -> tuple[WebsocketCommunicator, bool, int | None]:
    communicator = WebsocketCommunicator(application, path, headers=list(headers))
    connected, code = await communicator.connect()
    return communicator, connected, code


async def _refused_with(path: str, *headers: tuple[bytes, bytes]) -> int:
    communicator, connected, _ = await _open(path, *headers)
    assert connected, "refusals are a close code after the handshake, not a refused handshake"
    closed = await communicator.receive_output(timeout=5)
    assert closed["type"] == "websocket.close", closed
    return int(closed["code"])


@sync_to_async
def _session_cookie(user) -> tuple[bytes, bytes]:
    client = Client()
    client.force_login(user)
    return (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())


@sync_to_async
def _token(user) -> str:
    return ApiToken.issue(user)[1]


async def test_anonymous_gets_4401():
    assert await _refused_with("/ws/clusters/nats/tail", ORIGIN) == 4401


async def test_a_user_without_a_role_gets_4403(stranger):
    assert await _refused_with("/ws/clusters/nats/tail", ORIGIN, await _session_cookie(stranger)) == 4403


async def test_an_unknown_cluster_gets_4404(viewer):
    assert await _refused_with("/ws/clusters/nope/tail", ORIGIN, await _session_cookie(viewer)) == 4404


async def test_a_viewer_with_a_session_may_watch(viewer):
    communicator, connected, _ = await _open("/ws/clusters/nats/tail", ORIGIN, await _session_cookie(viewer))
    assert connected
    await communicator.send_to(text_data=json.dumps({"action": "subscribe", "source": "subject", "name": "a.>"}))
    frame = json.loads(await communicator.receive_from(timeout=10))
    assert frame["type"] == "subscribed"
    await communicator.disconnect()


async def test_a_script_with_a_bearer_token_and_no_origin_may_watch(viewer):
    token = await _token(viewer)
    communicator, connected, _ = await _open("/ws/clusters/nats/tail", (b"authorization", f"Bearer {token}".encode()))
    assert connected
    await communicator.send_to(text_data=json.dumps({"action": "subscribe", "source": "subject", "name": "b.>"}))
    assert json.loads(await communicator.receive_from(timeout=10))["type"] == "subscribed"
    await communicator.disconnect()


async def test_a_wrong_token_gets_4401():
    assert await _refused_with("/ws/clusters/nats/tail", (b"authorization", b"Bearer sdk_wrong")) == 4401


async def test_no_origin_and_no_token_is_refused_at_the_handshake(viewer):
    _, connected, _ = await _open("/ws/clusters/nats/tail", await _session_cookie(viewer))
    assert not connected


async def test_a_foreign_origin_is_refused_even_with_a_session(viewer):
    cookie = await _session_cookie(viewer)
    _, connected, _ = await _open("/ws/clusters/nats/tail", (b"origin", b"https://evil.example"), cookie)
    assert not connected


async def test_without_an_origin_the_session_cookie_does_not_count(viewer, stranger):
    # A token of a user without a role, and the viewer's cookie: the cookie is ignored.
    token = await _token(stranger)
    code = await _refused_with(
        "/ws/clusters/nats/tail", (b"authorization", f"Bearer {token}".encode()), await _session_cookie(viewer)
    )
    assert code == 4403

"""Open sockets ask again who is on the other end, through the whole ASGI stack, and close when
the access is gone: logout (4401), a deleted or deactivated token user (4401), a removed role (4403).
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.test import Client

from console.asgi import application
from streams.models import ApiToken
from tests.polling import wait_until_async
from tests.tail.helpers import close_message

pytestmark = pytest.mark.django_db(transaction=True)
ORIGIN = (b"origin", b"http://localhost")


@pytest.fixture(autouse=True)
def quick_checks(settings: Any) -> None:
    settings.SOCKET_RECHECK_SECONDS = 0.2


@sync_to_async
def _logged_in(user: User) -> tuple[Client, tuple[bytes, bytes]]:
    client = Client()
    client.force_login(user)
    return client, (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())


@sync_to_async
def _token(user: User) -> tuple[bytes, bytes]:
    return (b"authorization", f"Bearer {ApiToken.issue(user)[1]}".encode())


async def _tail(*headers: tuple[bytes, bytes], path: str = "/ws/clusters/nats/tail") -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(application, path, headers=list(headers))
    connected, _ = await communicator.connect()
    assert connected
    if path.endswith("/tail"):
        await communicator.send_to(text_data=json.dumps({"action": "subscribe", "source": "subject", "name": "a.>"}))
        assert json.loads(await communicator.receive_from(timeout=10))["type"] == "subscribed"
    return communicator


async def _closed_with(communicator: WebsocketCommunicator, timeout: float = 10) -> int:
    return int((await close_message(communicator, timeout))["code"])


async def _still_open(communicator: WebsocketCommunicator, seconds: float) -> None:
    """No close within ``seconds``: staying open is the absence of an event, shown over several rechecks."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await communicator.receive_nothing(timeout=0.1):
            continue
        output = await communicator.receive_output(timeout=1)
        assert output["type"] != "websocket.close", output


async def test_a_socket_whose_access_stands_stays_open(viewer):
    _, cookie = await _logged_in(viewer)
    by_session, by_token = await _tail(ORIGIN, cookie), await _tail(await _token(viewer))
    await _still_open(by_session, 1.5)
    await _still_open(by_token, 0.1)
    await by_session.disconnect()
    await by_token.disconnect()


async def test_logout_closes_the_sessions_sockets(viewer):
    client, cookie = await _logged_in(viewer)
    tail, health = await _tail(ORIGIN, cookie), await _tail(ORIGIN, cookie, path="/ws/health/")
    await sync_to_async(client.logout)()
    assert await _closed_with(tail) == 4401
    assert await _closed_with(health) == 4401


async def test_a_password_change_closes_the_sessions_sockets(viewer):
    _, cookie = await _logged_in(viewer)
    tail = await _tail(ORIGIN, cookie)

    @sync_to_async
    def change() -> None:
        viewer.set_password("another-pass-456")
        viewer.save()

    await change()
    assert await _closed_with(tail) == 4401


async def test_removing_the_role_closes_the_socket_with_4403(viewer):
    _, cookie = await _logged_in(viewer)
    by_session, by_token = await _tail(ORIGIN, cookie), await _tail(await _token(viewer))
    await sync_to_async(viewer.groups.clear)()
    assert await _closed_with(by_session) == 4403
    assert await _closed_with(by_token) == 4403


async def test_deleting_the_token_closes_its_sockets(viewer):
    token = await _token(viewer)
    tail = await _tail(token)
    await ApiToken.objects.filter(user=viewer).adelete()
    assert await _closed_with(tail) == 4401


async def test_deactivating_the_user_closes_every_socket(viewer):
    _, cookie = await _logged_in(viewer)
    by_session, by_token = await _tail(ORIGIN, cookie), await _tail(await _token(viewer))
    await User.objects.filter(pk=viewer.pk).aupdate(is_active=False)
    assert await _closed_with(by_session) == 4401
    assert await _closed_with(by_token) == 4401


async def test_a_closed_socket_frees_its_place_and_its_upstream(viewer, settings):
    from streams.tail import hub as tail_hub

    settings.TAIL_MAX_SOCKETS_PER_USER = 1
    _, cookie = await _logged_in(viewer)
    tail = await _tail(ORIGIN, cookie)
    await sync_to_async(viewer.groups.clear)()
    assert await _closed_with(tail) == 4403
    await wait_until_async(
        lambda: (
            viewer.pk not in tail_hub.hub().sockets
            and "a.>" not in {u.spec.name for u in tail_hub.hub().upstreams.values()}
        ),
        timeout=2.5,
        message="the closed socket and its upstream released",
    )
    assert viewer.pk not in tail_hub.hub().sockets
    assert "a.>" not in {u.spec.name for u in tail_hub.hub().upstreams.values()}

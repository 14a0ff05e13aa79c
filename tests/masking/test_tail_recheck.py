"""An open tail asks again whether its user may unmask, with the socket's periodic access check:
an operator demoted to viewer mid-tail sees the next covered message masked."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User

from console.asgi import application
from streams.models import ApiToken
from tests.masking.conftest import MASKED_ORDER_FIELDS, order
from tests.tail.helpers import nats_publish

pytestmark = pytest.mark.django_db(transaction=True)


async def _messages(ws: WebsocketCommunicator, timeout: float = 10) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        frame = json.loads(await ws.receive_from(timeout=max(0.1, deadline - time.monotonic())))
        if frame["type"] == "messages":
            await ws.send_to(text_data=json.dumps({"action": "ack", "seq": frame["seq"], "token": frame["token"]}))
            return list(frame["items"])


@sync_to_async
def _token(user: User) -> str:
    return ApiToken.issue(user)[1]


@sync_to_async
def _demote(user: User, viewer: User) -> None:
    user.groups.set(viewer.groups.all())


async def test_losing_the_operator_role_masks_the_next_message(
    mask_rules, settings, operator, viewer, nats_urls, unique
):
    settings.SOCKET_RECHECK_SECONDS = 0.2
    headers = [(b"authorization", f"Bearer {await _token(operator)}".encode())]
    ws = WebsocketCommunicator(application, "/ws/clusters/nats/tail", headers=headers)
    connected, _ = await ws.connect()
    assert connected
    subject = f"masked-{unique}"
    await ws.send_to(text_data=json.dumps({"action": "subscribe", "source": "subject", "name": f"{subject}.>"}))
    assert json.loads(await ws.receive_from(timeout=10))["type"] == "subscribed"
    await nats_publish(nats_urls[0], [(f"{subject}.a", json.dumps(order(1)).encode())])
    assert json.loads((await _messages(ws))[0]["value"]["text"]) == order(1)

    await _demote(operator, viewer)
    await asyncio.sleep(1.0)  # a few access checks
    await nats_publish(nats_urls[0], [(f"{subject}.b", json.dumps(order(2)).encode())])
    assert json.loads((await _messages(ws))[0]["value"]["text"]) == {"n": 2, **MASKED_ORDER_FIELDS}
    await ws.disconnect()

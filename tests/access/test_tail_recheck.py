"""An open tail whose grant is taken away is ended at the next re-check; the socket stays open."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User

from console.asgi import application
from streams.models import ApiToken, AuditEvent, Policy
from tests.access.conftest import SCOPE_GROUP

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def quick_checks(settings: Any) -> None:
    settings.SOCKET_RECHECK_SECONDS = 0.2


async def _frame(communicator: WebsocketCommunicator, *types: str, timeout: float = 10) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        frame = json.loads(await communicator.receive_from(timeout=max(deadline - time.monotonic(), 0.1)))
        if frame["type"] in types:
            return frame


async def test_a_subject_tail_ends_when_its_policy_goes(scoped: User):
    await Policy.objects.acreate(
        name="sensors", groups=SCOPE_GROUP, clusters="nats", subjects="sensors.*", actions=["messages"]
    )
    raw = await sync_to_async(lambda: ApiToken.issue(scoped)[1])()
    communicator = WebsocketCommunicator(
        application, "/ws/clusters/nats/tail", headers=[(b"authorization", f"Bearer {raw}".encode())]
    )
    connected, _ = await communicator.connect()
    assert connected
    # Outside the glob: refused with the action named, and audited.
    await communicator.send_to(text_data=json.dumps({"action": "subscribe", "source": "subject", "name": ">"}))
    refused = await _frame(communicator, "error", "subscribed")
    assert refused["type"] == "error" and "'messages' action on subject '>'" in refused["error"]
    assert await AuditEvent.objects.filter(action="access.denied", target=">", result="denied").aexists()
    await communicator.send_to(text_data=json.dumps({"action": "subscribe", "source": "subject", "name": "sensors.>"}))
    assert (await _frame(communicator, "error", "subscribed"))["type"] == "subscribed"
    await Policy.objects.all().adelete()
    ended = await _frame(communicator, "error", timeout=10)
    assert "'messages' action on subject 'sensors.>'" in ended["error"]
    status = await _frame(communicator, "status", timeout=10)
    assert status["subscribed"] is False
    await communicator.disconnect()

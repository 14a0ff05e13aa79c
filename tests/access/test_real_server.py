"""A user scoped to orders-* (view and messages only) on a real Daphne: the topic list, the tail
socket and publishing, as a script sees them."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect

from dev.webprocess import ROOT, WebProcess
from tests.access.conftest import SCOPE_GROUP, policies_file
from tests.kafka.helpers import create_topic

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("access-web")]

SCOPED = """
import json
from django.contrib.auth.models import Group, User
from streams.models import ApiToken
user = User.objects.create_user("scot", password="scoped-pass-123")
user.groups.add(Group.objects.get_or_create(name="{group}")[0])
print(json.dumps({{"token": ApiToken.issue(user, "tests")[1]}}))
"""


@pytest.fixture(scope="module")
def scoped_web(
    tmp_path_factory: pytest.TempPathFactory, kafka_bootstrap: str, nats_urls: tuple[str, str]
) -> Iterator[tuple[WebProcess, str]]:
    workdir: Path = tmp_path_factory.mktemp("access-web")
    path = policies_file(workdir, ("view", "messages"))
    brokers = {"KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "NATS_URL": nats_urls[0], "NATS_MONITOR_URL": nats_urls[1]}
    web = WebProcess(workdir, brokers, {"STREAMDESK_POLICIES": str(path)}).prepare()
    out = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", SCOPED.format(group=SCOPE_GROUP)],
        cwd=ROOT,
        env=web.env,
        check=True,
        timeout=120,
        capture_output=True,
    )
    token = json.loads(out.stdout.decode().strip().splitlines()[-1])["token"]
    web.start()
    yield web, token
    web.stop()


def _get(web: WebProcess, token: str, path: str, **params: Any) -> httpx.Response:
    return httpx.get(f"{web.url}{path}", params=params, headers={"Authorization": f"Bearer {token}"}, timeout=20)


def test_topic_list_is_filtered(scoped_web: tuple[WebProcess, str], kafka_bootstrap: str, unique: str):
    web, token = scoped_web
    mine = create_topic(kafka_bootstrap, f"orders-{unique}")
    create_topic(kafka_bootstrap, f"payments-{unique}")
    listed = _get(web, token, "/api/v1/clusters/kafka/topics", q=unique).json()
    assert [t["name"] for t in listed["items"]] == [mine]
    # The viewer of the same process sees both: the filter is the policy's, not the broker's.
    everything = _get(web, web.token, "/api/v1/clusters/kafka/topics", q=unique).json()
    assert len(everything["items"]) == 2
    me = _get(web, token, "/api/v1/me").json()
    assert me["groups"] == [SCOPE_GROUP] and me["roles"] == []
    assert [c["cluster"] for c in me["clusters"]] == ["kafka"]
    assert me["clusters"][0]["actions"] == {"topics": ["view", "messages"]}


async def _subscribe(web: WebProcess, token: str, topic: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    async with connect(f"{web.ws_url}/ws/clusters/kafka/tail", additional_headers=headers, open_timeout=10) as ws:
        await ws.send(json.dumps({"action": "subscribe", "source": "topic", "name": topic, "from": "beginning"}))
        async with asyncio.timeout(20):
            while True:
                frame = json.loads(await ws.recv())
                if frame["type"] in ("subscribed", "error"):
                    return frame


def test_tail_subscribe_allowed_and_forbidden(scoped_web: tuple[WebProcess, str], kafka_bootstrap: str, unique: str):
    web, token = scoped_web
    allowed = create_topic(kafka_bootstrap, f"orders-{unique}")
    forbidden = create_topic(kafka_bootstrap, f"payments-{unique}")
    assert asyncio.run(_subscribe(web, token, allowed))["type"] == "subscribed"
    refused = asyncio.run(_subscribe(web, token, forbidden))
    assert refused["type"] == "error" and refused["field"] == "name"
    assert f"needs the 'messages' action on topic '{forbidden}'" in refused["error"]


def test_publish_refused_without_the_publish_action(
    scoped_web: tuple[WebProcess, str], kafka_bootstrap: str, unique: str
):
    web, token = scoped_web
    topic = create_topic(kafka_bootstrap, f"orders-{unique}")
    response = httpx.post(
        f"{web.url}/api/v1/clusters/kafka/topics/{topic}/publish",
        json={"value": "hello"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=20,
    )
    assert response.status_code == 403
    assert response.json()["error"].startswith(f"This needs the 'publish' action on topic '{topic}'")
    # Nothing was written: the topic is still empty.
    detail = _get(web, token, f"/api/v1/clusters/kafka/topics/{topic}").json()
    assert detail["messages"] in (0, None)

"""Live tail on a real Daphne with masking rules (STREAMDESK_MASKING): the hub shares one upstream
between a viewer's socket and an operator's, and each gets what it may see; a viewer's filter
cannot find a masked value; the operator's unmasked subscription is audited once."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nats
import pytest
from websockets.asyncio.client import ClientConnection, connect

from dev.webprocess import ROOT, WebProcess
from tests.kafka.helpers import create_topic, produce
from tests.masking.conftest import MASKED_ORDER_FIELDS, RULES_TOML, SECRET_EMAIL, no_secret, order
from tests.nats.helpers import create_own_stream
from tests.polling import wait_until_async
from tests.tail.helpers import js_publish, nats_publish

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("tail-web")]

OPERATOR = """
import json
from django.contrib.auth.models import Group, Permission, User
from streams.models import ApiToken
group, _ = Group.objects.get_or_create(name="Operators")
group.permissions.set(Permission.objects.filter(content_type__app_label="streams"))
user = User.objects.create_user("olga", password="olga-pass-12345")
user.groups.add(group)
print(json.dumps({"token": ApiToken.issue(user, "tests")[1]}))
"""


@pytest.fixture(scope="module")
def masking_web(
    tmp_path_factory: pytest.TempPathFactory, kafka_bootstrap: str, nats_urls: tuple[str, str]
) -> Iterator[tuple[WebProcess, str]]:
    """Daphne with the test rules; (the process, an operator's token). Its viewer's token is ``web.token``."""
    workdir: Path = tmp_path_factory.mktemp("masking-web")
    rules = workdir / "masking.toml"
    rules.write_text(RULES_TOML)
    brokers = {"KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "NATS_URL": nats_urls[0], "NATS_MONITOR_URL": nats_urls[1]}
    web = WebProcess(workdir, brokers, {"STREAMDESK_MASKING": str(rules)}).prepare()
    out = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", OPERATOR],
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


def _audited(web: WebProcess, target: str) -> list[tuple[str, str]]:
    with sqlite3.connect(web.workdir / "web.sqlite3") as db:
        rows = db.execute(
            "SELECT username, params FROM streams_auditevent WHERE action = 'data.unmasked_read' AND target = ?",
            (target,),
        ).fetchall()
    return [(user, json.loads(params)["read"]) for user, params in rows]


async def unmasked_reads(web: WebProcess, target: str, expected: int = 1) -> list[tuple[str, str]]:
    """The web process's audit records of unmasked reads of ``target`` (it writes them as it goes)."""
    await wait_until_async(
        lambda: asyncio.to_thread(_audited, web, target),
        until=lambda found: len(found) >= expected,
        timeout=5,
        interval=0.1,
        message=f"{expected} unmasked reads of {target} audited",
    )
    # A record too many would be written as the messages go, with nothing after it to wait for.
    await asyncio.sleep(0.3)
    return await asyncio.to_thread(_audited, web, target)


def _socket(web: WebProcess, cluster: str, token: str) -> Any:
    headers = {"Authorization": f"Bearer {token}"}
    return connect(f"{web.ws_url}/ws/clusters/{cluster}/tail", additional_headers=headers, open_timeout=10)


async def _subscribe(ws: ClientConnection, **frame: Any) -> None:
    await ws.send(json.dumps({"action": "subscribe", **frame}))
    async with asyncio.timeout(20):
        while True:
            answer = json.loads(await ws.recv())
            if answer["type"] in ("subscribed", "error"):
                assert answer["type"] == "subscribed", answer
                return


async def _read(ws: ClientConnection, count: int, timeout: float = 20) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout):
        while len(items) < count:
            frame = json.loads(await ws.recv())
            if frame["type"] == "messages":
                items.extend(frame["items"])
                await ws.send(json.dumps({"action": "ack", "seq": frame["seq"], "token": frame["token"]}))
            elif frame["type"] == "error":
                raise AssertionError(frame)
    return items


async def _status_after(ws: ClientConnection, scanned: int, timeout: float = 20) -> dict[str, Any]:
    """The first status frame that has seen ``scanned`` messages."""
    async with asyncio.timeout(timeout):
        while True:
            frame = json.loads(await ws.recv())
            if frame["type"] == "messages":
                await ws.send(json.dumps({"action": "ack", "seq": frame["seq"], "token": frame["token"]}))
            if frame["type"] == "status" and frame["scanned"] >= scanned:
                return frame


async def test_a_shared_kafka_tail_is_masked_for_the_viewer_only(masking_web, kafka_bootstrap, unique):
    web, operator_token = masking_web
    topic = await asyncio.to_thread(create_topic, kafka_bootstrap, f"masked-{unique}")
    async with _socket(web, "kafka", web.token) as viewer, _socket(web, "kafka", operator_token) as operator:
        # Both from now: one upstream in the hub, two users.
        await _subscribe(viewer, source="topic", name=topic)
        await _subscribe(operator, source="topic", name=topic)
        values = [json.dumps(order(i)) for i in range(5)]
        await asyncio.to_thread(produce, kafka_bootstrap, topic, values, headers=[("email", SECRET_EMAIL.encode())])
        seen, whole = await _read(viewer, 5), await _read(operator, 5)
    assert no_secret(json.dumps(seen))
    assert [json.loads(m["value"]["text"]) for m in seen] == [{"n": i, **MASKED_ORDER_FIELDS} for i in range(5)]
    assert all(m["value"]["masked"] and m["value"]["base64"] is None for m in seen)
    assert seen[0]["headers"] == [["email", {"text": "***", "base64": None, "masked": True}]]
    assert [json.loads(m["value"]["text"]) for m in whole] == [order(i) for i in range(5)]
    assert "masked" not in whole[0]["value"] and whole[0]["value"]["base64"]
    # One record for the operator's subscription, none for the viewer's, whatever the number of messages.
    assert await unmasked_reads(web, topic) == [("olga", "tail")]


async def test_a_viewers_tail_filter_runs_on_the_masked_view(masking_web, kafka_bootstrap, unique):
    web, operator_token = masking_web
    topic = await asyncio.to_thread(create_topic, kafka_bootstrap, f"masked-{unique}")
    await asyncio.to_thread(produce, kafka_bootstrap, topic, [json.dumps(order(i)) for i in range(10)])
    async with _socket(web, "kafka", web.token) as viewer:
        await _subscribe(viewer, source="topic", name=topic, **{"from": "beginning", "filter": SECRET_EMAIL})
        status = await _status_after(viewer, 10)
        assert (status["scanned"], status["matched"]) == (10, 0)
    async with _socket(web, "kafka", web.token) as viewer:
        await _subscribe(viewer, source="topic", name=topic, **{"from": "beginning", "filter": '"email": "***"'})
        assert len(await _read(viewer, 10)) == 10
    async with _socket(web, "kafka", operator_token) as operator:
        await _subscribe(operator, source="topic", name=topic, **{"from": "beginning", "filter": SECRET_EMAIL})
        assert len(await _read(operator, 10)) == 10
    assert await unmasked_reads(web, topic) == [("olga", "tail")]


async def test_a_core_nats_subject_tail_is_masked(masking_web, nats_urls, unique):
    web, operator_token = masking_web
    subject = f"masked-{unique}"
    async with _socket(web, "nats", web.token) as viewer, _socket(web, "nats", operator_token) as operator:
        await _subscribe(viewer, source="subject", name=f"{subject}.>")
        await _subscribe(operator, source="subject", name=f"{subject}.>")
        await nats_publish(nats_urls[0], [(f"{subject}.new", json.dumps(order(1)).encode())])
        seen, whole = await _read(viewer, 1), await _read(operator, 1)
    assert json.loads(seen[0]["value"]["text"]) == {"n": 1, **MASKED_ORDER_FIELDS}
    assert json.loads(whole[0]["value"]["text"]) == order(1)
    assert await unmasked_reads(web, f"{subject}.>") == [("olga", "tail")]


async def test_a_jetstream_tail_is_masked_by_its_streams_rules(masking_web, nats_urls, unique):
    web, operator_token = masking_web
    subject = f"plain-{unique}"
    # Rules name the stream here, not the subjects it holds.
    name = await asyncio.to_thread(create_own_stream, nats_urls[0], f"MASKED_{unique}", [f"{subject}.>"])
    await js_publish(nats_urls[0], [(f"{subject}.o", json.dumps(order(i)).encode()) for i in range(3)])
    async with _socket(web, "nats", web.token) as viewer:
        await _subscribe(viewer, source="stream", name=name, **{"from": "beginning"})
        seen = await _read(viewer, 3)
    assert [json.loads(m["value"]["text"]) for m in seen] == [{"n": i, **MASKED_ORDER_FIELDS} for i in range(3)]
    async with _socket(web, "nats", operator_token) as operator:
        await _subscribe(operator, source="stream", name=name, **{"from": "beginning"})
        assert [json.loads(m["value"]["text"]) for m in await _read(operator, 3)] == [order(i) for i in range(3)]
    assert await unmasked_reads(web, name) == [("olga", "tail")]


async def test_a_kv_watch_is_masked_by_its_buckets_rules(masking_web, nats_urls, unique):
    web, operator_token = masking_web
    bucket = f"masked_{unique}".replace("-", "_")

    async def fill() -> None:
        nc = await nats.connect(nats_urls[0])
        try:
            kv = await nc.jetstream().create_key_value(bucket=bucket)
            for i in range(3):
                await kv.put(f"order.{i}", json.dumps(order(i)).encode())
        finally:
            await nc.close()

    await fill()
    async with _socket(web, "nats", web.token) as viewer:
        await _subscribe(viewer, source="kv", name=bucket, **{"from": "beginning"})
        seen = await _read(viewer, 3)
    # Only the fields rule names KV buckets: the phone number pattern does not cover them.
    fields_only = {**MASKED_ORDER_FIELDS, "note": order(0)["note"]}
    assert [json.loads(m["value"]["text"]) for m in seen] == [{"n": i, **fields_only} for i in range(3)]
    assert SECRET_EMAIL not in json.dumps(seen) and all(m["value"]["base64"] is None for m in seen)
    async with _socket(web, "nats", operator_token) as operator:
        await _subscribe(operator, source="kv", name=bucket, **{"from": "beginning"})
        assert [json.loads(m["value"]["text"]) for m in await _read(operator, 3)] == [order(i) for i in range(3)]
    assert await unmasked_reads(web, bucket) == [("olga", "tail")]

"""WebSockets on the production channel layer (Redis/Valkey) stay open while idle.

channels_redis waits on Redis for up to five seconds for a socket's next message; a Redis
client whose own read timeout is no longer than that drops the socket after a few seconds of
silence. These sockets sit idle for 30 s on a real Daphne and a real Valkey, then still work.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from dev.webprocess import WebProcess
from tests.deploy.helpers import session_cookies
from tests.tail.helpers import nats_publish

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("redis-web")]

IDLE_SECONDS = 30


@pytest.fixture(scope="module")
def redis_web(
    tmp_path_factory: pytest.TempPathFactory, redis_url: str, kafka_bootstrap: str, nats_urls: tuple[str, str]
) -> Iterator[WebProcess]:
    brokers = {"KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "NATS_URL": nats_urls[0], "NATS_MONITOR_URL": nats_urls[1]}
    workdir: Path = tmp_path_factory.mktemp("redis-web")
    process = WebProcess(workdir, brokers, {"REDIS_URL": redis_url}).prepare().start()
    yield process
    process.stop()


async def _frames_until(ws: ClientConnection, seconds: float) -> list[Any]:
    """Everything the server sent within ``seconds``; raises if it closed the socket meanwhile."""
    frames: list[Any] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while (left := deadline - loop.time()) > 0:
        try:
            frames.append(await asyncio.wait_for(ws.recv(), left))
        except TimeoutError:
            break
    return frames


async def test_idle_tail_and_health_sockets_survive_30s_on_valkey(redis_web: WebProcess, nats_urls, unique):
    subject = f"idle.{unique}"
    tail = connect(
        f"{redis_web.ws_url}/ws/clusters/nats/tail",
        additional_headers={"Authorization": f"Bearer {redis_web.token}"},
        open_timeout=10,
    )
    health = connect(
        f"{redis_web.ws_url}/ws/health/",
        additional_headers={"Cookie": session_cookies(redis_web), "Origin": redis_web.url},
        open_timeout=10,
    )
    async with tail as tail_ws, health as health_ws:
        await tail_ws.send(json.dumps({"action": "subscribe", "source": "subject", "name": subject, "from": "now"}))
        assert json.loads(await asyncio.wait_for(tail_ws.recv(), 10))["type"] == "subscribed"

        # Both sockets idle side by side; the tail only sends its periodic status frames.
        tail_frames: list[Any]
        tail_frames, _ = await asyncio.gather(
            _frames_until(tail_ws, IDLE_SECONDS), _frames_until(health_ws, IDLE_SECONDS)
        )
        assert tail_ws.close_code is None and health_ws.close_code is None
        assert {json.loads(frame)["type"] for frame in tail_frames} <= {"status"}

        await nats_publish(nats_urls[0], [(subject, b"after the silence")])
        async with asyncio.timeout(10):
            while (frame := json.loads(await tail_ws.recv()))["type"] != "messages":
                pass
        assert frame["items"][0]["value"]["text"] == "after the silence"
        await health_ws.ping()
        assert health_ws.close_code is None

"""With Redis/Valkey down, the clusters page and its API still answer, and say they are degraded."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from dev import devstack
from dev.webprocess import WebProcess
from tests.deploy.helpers import session_cookies
from tests.polling import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("redis-outage")]


@pytest.fixture
def valkey(tmp_path: Path) -> Iterator[devstack.Server]:
    server = devstack.valkey_server(tmp_path).start()
    yield server
    server.stop()


def test_clusters_page_and_api_answer_while_redis_is_down(tmp_path, valkey, kafka_bootstrap, nats_urls):
    brokers = {"KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "NATS_URL": nats_urls[0], "NATS_MONITOR_URL": nats_urls[1]}
    web = WebProcess(tmp_path / "web", brokers, {"REDIS_URL": f"redis://127.0.0.1:{valkey.port}/0"}).prepare().start()
    try:
        cookies = session_cookies(web)
        api = {"Authorization": f"Bearer {web.token}"}
        with httpx.Client(base_url=web.url, timeout=20) as client:
            before = client.get("/api/v1/clusters", headers=api)
            assert before.status_code == 200 and before.json()["degraded"] is None

            valkey.stop()
            for _ in range(2):  # the first call meets the outage, the next one skips Redis
                answer = client.get("/api/v1/clusters", headers=api)
                assert answer.status_code == 200, answer.text[:500]
                body = answer.json()
                assert {c["slug"]: c["reachable"] for c in body["clusters"]} == {"kafka": True, "nats": True}
                assert "Redis" in body["degraded"]
            assert client.get("/api/v1/clusters?fresh=1", headers=api).status_code == 200

            page = client.get("/clusters", headers={"Cookie": cookies})
            assert page.status_code == 200
            assert "The shared cache (Redis) is unreachable" in page.text

            valkey.start()
            recovered = wait_until(
                lambda: client.get("/api/v1/clusters", headers=api),
                until=lambda answer: not answer.json()["degraded"],
                timeout=20,  # Redis is left alone for a few seconds after a failure
                interval=0.5,
                message="the API answering without Redis degraded",
            )
            assert recovered.status_code == 200 and recovered.json()["degraded"] is None
    finally:
        web.stop()

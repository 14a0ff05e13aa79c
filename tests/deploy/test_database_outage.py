"""A PostgreSQL that stops answering fails requests quickly instead of hanging the web process."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from dev import postgres
from dev.webprocess import WebProcess
from tests.deploy.helpers import session_cookies

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("database-outage")]


@pytest.fixture
def database() -> Iterator[postgres.PostgresServer]:
    if reason := postgres.missing_reason():
        pytest.skip(reason)
    server = postgres.PostgresServer().start()
    yield server
    _signal(server.pids, signal.SIGCONT)
    server.stop()


def _signal(pids: list[int], sig: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):  # a backend that has just exited
            os.kill(pid, sig)


def test_a_frozen_database_is_a_quick_503_and_recovers(tmp_path: Path, database, kafka_bootstrap, nats_urls):
    brokers = {"KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "NATS_URL": nats_urls[0], "NATS_MONITOR_URL": nats_urls[1]}
    settings = {"DATABASE_URL": database.url, "STREAMDESK_DB_CONNECT_TIMEOUT": "2"}
    web = WebProcess(tmp_path / "web", brokers, settings).prepare().start()
    try:
        with httpx.Client(base_url=web.url, timeout=30) as client:
            assert client.get("/healthz").json() == {"status": "ok", "database": True}
            cookies = session_cookies(web)

            frozen = database.pids
            _signal(frozen, signal.SIGSTOP)  # the server keeps its sockets open but never answers
            started = time.monotonic()
            answers = [client.get("/healthz") for _ in range(3)]
            assert [a.status_code for a in answers] == [503, 503, 503]
            assert answers[0].json() == {"status": "error", "database": False}
            assert time.monotonic() - started < 20  # three connect timeouts, not a hang

            api = client.get("/api/v1/clusters", headers={"Authorization": f"Bearer {web.token}"})
            assert api.status_code == 503 and api.headers["content-type"].startswith("application/json")
            assert api.json()["error"] == "The database is unavailable; try again shortly."
            page = client.get("/clusters", headers={"Cookie": cookies})
            assert page.status_code == 503 and "The database is unavailable" in page.text

            _signal(frozen, signal.SIGCONT)
            assert client.get("/healthz").status_code == 200
    finally:
        web.stop()

"""A real Streamdesk web process (Daphne) for the tail tests that need one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dev.webprocess import WebProcess

SOCKETS_PER_USER = 5


@pytest.fixture(scope="session")
def web(
    tmp_path_factory: pytest.TempPathFactory, kafka_bootstrap: str, nats_urls: tuple[str, str]
) -> Iterator[WebProcess]:
    """Daphne serving Streamdesk on the test brokers; JetStream tail consumers expire after 2 s idle,
    a user may open 5 tail sockets."""
    brokers = {"KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "NATS_URL": nats_urls[0], "NATS_MONITOR_URL": nats_urls[1]}
    workdir: Path = tmp_path_factory.mktemp("web")
    process = (
        WebProcess(
            workdir,
            brokers,
            {"STREAMDESK_TAIL_JS_INACTIVE_SECONDS": "2", "STREAMDESK_TAIL_MAX_SOCKETS_PER_USER": str(SOCKETS_PER_USER)},
        )
        .prepare()
        .start()
    )
    yield process
    process.stop()

"""Fixtures for the NATS tests: fresh reads and the test server's URL."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture(autouse=True)
def fresh_reads(settings: Any) -> None:
    """The console asks the server on every read, so a test sees what it has just put there."""
    settings.BROKER_CACHE_SECONDS = 0


@pytest.fixture
def url(nats_urls: tuple[str, str]) -> str:
    return nats_urls[0]

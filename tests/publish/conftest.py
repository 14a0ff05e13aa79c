"""Fixtures for the publishing tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def url(nats_urls: tuple[str, str]) -> str:
    return nats_urls[0]

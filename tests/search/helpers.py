"""Following a search through the API until it scans or ends."""

from __future__ import annotations

from typing import Any

from django.test import Client

from tests.polling import wait_until


def search_answer(client: Client, search: int, timeout: float = 60, **query: Any) -> dict[str, Any]:
    """GET /api/v1/searches/{search} once it no longer runs."""
    answer: dict[str, Any] = wait_until(
        lambda: client.get(f"/api/v1/searches/{search}", query).json(),
        until=lambda answer: answer["state"] != "running",
        timeout=timeout,
        interval=0.2,
        message=f"search {search} ending",
    )
    return answer


def wait_scanning(client: Client, search: int, timeout: float = 30) -> dict[str, Any]:
    """The search's answer once it has scanned a message; a search that ended first fails at once,
    naming how it ended."""
    answer: dict[str, Any] = wait_until(
        lambda: client.get(f"/api/v1/searches/{search}").json(),
        until=lambda answer: answer["scanned"] > 0 or answer["state"] != "running",
        timeout=timeout,
        message=f"search {search} scanning",
    )
    assert answer["scanned"] > 0, answer
    return answer

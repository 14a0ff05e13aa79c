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


def wait_scanning(client: Client, search: int, timeout: float = 30) -> None:
    wait_until(
        lambda: client.get(f"/api/v1/searches/{search}").json()["scanned"] > 0,
        timeout=timeout,
        message=f"search {search} scanning",
    )

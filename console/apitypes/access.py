"""What a user may do here (``/api/v1/me``): their groups and roles, and per cluster the actions granted."""

from __future__ import annotations

from typing import Any

from typing_extensions import TypedDict


class Token(TypedDict):
    name: str
    read_only: bool


class ClusterGrants(TypedDict):
    cluster: str
    kind: str
    name: str
    actions: dict[str, list[str]]
    policies: list[dict[str, Any]]


class Me(TypedDict):
    username: str
    groups: list[str]
    roles: list[str]
    read_only: bool
    token: Token | None
    clusters: list[ClusterGrants]

"""Lag: the overview, and each group's or JetStream consumer's sampled history and status."""

from __future__ import annotations

from typing import Annotated, Any, Literal, NotRequired

from pydantic import Field
from typing_extensions import TypedDict

from streams.lag.status import GroupStatusApi

Time = Annotated[str | None, Field(description="ISO-8601")]


class OverviewQuery(TypedDict, total=False):
    limit: Annotated[int, Field(ge=1, le=100)]
    sort: Literal["status", "lag"]


class ClusterLag(TypedDict):
    """One cluster's laggards, from the samples (or read now where there are none)."""

    slug: str
    kind: Literal["kafka", "nats"]
    name: str
    error: str | None
    warning: str | None
    items: list[dict[str, Any]]


class Overview(TypedDict):
    clusters: list[ClusterLag]
    limit: int
    sort: Literal["status", "lag"]


class HistoryQuery(TypedDict, total=False):
    range: Literal["1h", "6h", "24h", "7d", "30d"]
    since: Annotated[str, Field(description="ISO-8601")]
    until: Annotated[str, Field(description="ISO-8601")]


class Point(TypedDict):
    t: str
    lag: int | None


class History(TypedDict):
    cluster: str
    group: NotRequired[str]
    stream: NotRequired[str]
    consumer: NotRequired[str]
    since: str
    until: str
    points: list[Point]
    status: str
    sample_seconds: float
    rollup_seconds: float


class Status(GroupStatusApi):
    """Burrow's evaluation of the last samples (NATS consumers add stream, consumer, ack_pending)."""

    cluster: str
    as_of: Time
    window_size: int

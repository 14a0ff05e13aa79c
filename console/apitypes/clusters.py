"""The clusters overview and the per-kind lists."""

from __future__ import annotations

from typing import Literal

from typing_extensions import TypedDict

from console.apitypes.common import Flag

Kind = Literal["kafka", "nats"]


class ClustersQuery(TypedDict, total=False):
    fresh: Flag


class ClusterHealth(TypedDict):
    slug: str
    kind: Kind
    name: str
    reachable: bool
    error: str | None
    rtt_ms: float | None
    version: str | None
    checked_at: str


class Clusters(TypedDict):
    clusters: list[ClusterHealth]
    degraded: str | None


class ClusterRow(TypedDict):
    slug: str
    name: str
    servers: list[str]


class KindClusters(TypedDict):
    kind: Kind
    clusters: list[ClusterRow]

"""Neutral types shared by every broker adapter, and the protocol they implement."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from streams.clusters import ClusterConfig
from streams.errors import (
    BrokerError,
    BrokerUnavailable,
    Conflict,
    InvalidInput,
    NotFound,
    NotSupported,
    StreamdeskError,
)

__all__ = [
    "Adapter",
    "BrokerError",
    "BrokerUnavailable",
    "ClusterHealth",
    "Conflict",
    "InvalidInput",
    "NotFound",
    "NotSupported",
    "StreamdeskError",
]


@dataclass(frozen=True)
class ClusterHealth:
    slug: str
    kind: str
    name: str
    reachable: bool
    error: str | None
    rtt_ms: float | None
    version: str | None
    checked_at: datetime

    def as_api(self) -> dict[str, object]:
        return {
            "slug": self.slug,
            "kind": self.kind,
            "name": self.name,
            "reachable": self.reachable,
            "error": self.error,
            "rtt_ms": None if self.rtt_ms is None else round(self.rtt_ms, 1),
            "version": self.version,
            "checked_at": self.checked_at.isoformat(),
        }


class Adapter(Protocol):
    """One long-lived client per cluster per process, safe to call from any event loop."""

    config: ClusterConfig

    async def ping(self) -> ClusterHealth:
        """Round-trip the broker; never raises, reports failure in the result."""
        ...

    def invalidate(self, *prefix: Hashable) -> None:
        """Forget cached broker answers (all, or those whose key starts with ``prefix``)."""
        ...

    def close(self) -> None:
        """Release connections and threads; called when the config changes or at exit."""
        ...

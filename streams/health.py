"""Cluster reachability: one reader per broker fact.

Celery beat pings every cluster on an interval and keeps the answers in the shared
cache; pages and the API read those, and ask the brokers themselves only for a
cluster the last check does not cover (new, changed, or checked too long ago) or
when someone asks to check now.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.cache import cache

from streams import adapters
from streams.clusters import ClusterConfig
from streams.redact import redact_urls

CACHE_KEY = "cluster-health"


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
    fingerprint: str = ""

    def as_api(self) -> dict[str, Any]:
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


def fingerprint(config: ClusterConfig) -> str:
    """Which definition a check was made against (the repr hides secrets and URL credentials,
    so the raw servers are hashed too: a changed host behind the same display still counts)."""
    raw = "\0".join((repr(config), *config.servers, config.monitor_url))
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


async def measure(config: ClusterConfig, roundtrip: Callable[[], Awaitable[str | None]]) -> ClusterHealth:
    """Time ``roundtrip`` (which answers the server's version); a failure is reported, never raised."""
    started = time.monotonic()
    error: str | None = None
    version: str | None = None
    try:
        version = await roundtrip()
    except Exception as exc:  # noqa: BLE001 - a health check reports, never raises
        error = redact_urls(getattr(exc, "message", None) or str(exc) or exc.__class__.__name__)
    rtt = (time.monotonic() - started) * 1000
    return ClusterHealth(
        slug=config.slug,
        kind=config.kind,
        name=config.name,
        reachable=error is None,
        error=error,
        rtt_ms=None if error else rtt,
        version=version,
        checked_at=datetime.now(UTC),
        fingerprint=fingerprint(config),
    )


async def check(configs: list[ClusterConfig]) -> list[ClusterHealth]:
    """Ping ``configs`` at once; each adapter bounds its own wait."""
    return list(await asyncio.gather(*(adapters.adapter_for(c).ping() for c in configs)))


async def check_all() -> list[ClusterHealth]:
    return await check(await adapters.aclusters())


def max_age_seconds() -> float:
    """A background answer older than this is not trusted: beat may have stopped."""
    return max(2 * settings.HEALTH_REFRESH_SECONDS + 5, 10.0)


def store(results: list[ClusterHealth]) -> None:
    cache.set(CACHE_KEY, [{**r.as_api(), "fingerprint": r.fingerprint} for r in results], timeout=300)


def last_background_check() -> list[dict[str, Any]] | None:
    value = cache.get(CACHE_KEY)
    return value if isinstance(value, list) else None


def _usable(entry: dict[str, Any] | None, config: ClusterConfig, now: datetime) -> bool:
    if entry is None or entry.get("fingerprint") != fingerprint(config):
        return False
    try:
        checked = datetime.fromisoformat(str(entry["checked_at"]))
    except (KeyError, ValueError):
        return False
    return (now - checked).total_seconds() <= max_age_seconds()


async def current(*, fresh: bool = False) -> list[dict[str, Any]]:
    """Every cluster's health as the API shows it: the background check where it covers the
    cluster, a check made now where it does not (or for all of them with ``fresh``)."""
    configs = await adapters.aclusters()
    known = {} if fresh else {e.get("slug"): e for e in (await sync_to_async(last_background_check)() or [])}
    now = datetime.now(UTC)
    stale = [c for c in configs if not _usable(known.get(c.slug), c, now)]
    if stale:
        checked = await check(stale)
        fresh_entries = {r.slug: {**r.as_api(), "fingerprint": r.fingerprint} for r in checked}
        known.update(fresh_entries)
        keep = [known[c.slug] for c in configs if c.slug in known]
        await sync_to_async(cache.set)(CACHE_KEY, keep, 300)
    return [{k: v for k, v in known[c.slug].items() if k != "fingerprint"} for c in configs]

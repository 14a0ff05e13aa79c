"""Cluster reachability: pinged live for pages, and by beat into the shared cache."""

from __future__ import annotations

import asyncio

from django.core.cache import cache

from streams import registry
from streams.brokers.base import ClusterHealth

CACHE_KEY = "cluster-health"


async def check_all() -> list[ClusterHealth]:
    """Ping every cluster at once; each adapter bounds its own wait."""
    configs = await registry.aclusters()
    return list(await asyncio.gather(*(registry.adapter_for(c).ping() for c in configs)))


def store(results: list[ClusterHealth]) -> None:
    cache.set(CACHE_KEY, [r.as_api() for r in results], timeout=300)


def last_background_check() -> list[dict[str, object]] | None:
    value = cache.get(CACHE_KEY)
    return value if isinstance(value, list) else None

"""The shared cache (Redis/Valkey) as a hint, never a dependency of a page.

Pages keep background answers there (cluster health, locks); when Redis stops answering,
a read is a miss and a write is skipped, so pages answer from the brokers and say they are
degraded. After a failure Redis is left alone for a few seconds, so a dead server costs one
connection timeout per interval rather than one per cache call.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from django.core.cache.backends.redis import RedisCache, RedisCacheClient

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5.0
T = TypeVar("T")


class _Outage:
    """When the shared cache last failed, for this process."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.failed_at: float | None = None
        self.reason = ""

    def failed(self, exc: BaseException) -> None:
        with self.lock:
            if self.failed_at is None:
                logger.warning("shared cache unreachable: %s", exc)
            self.failed_at = time.monotonic()
            self.reason = str(exc) or exc.__class__.__name__

    def recovered(self) -> None:
        if self.failed_at is not None:
            with self.lock:
                self.failed_at = None
            logger.warning("shared cache answers again")

    def resting(self) -> bool:
        failed_at = self.failed_at
        return failed_at is not None and time.monotonic() - failed_at < RETRY_AFTER_SECONDS


outage = _Outage()


def degraded() -> str | None:
    """Why the shared cache is not in use right now, or None when it answers."""
    return f"The shared cache (Redis) is unreachable: {outage.reason}" if outage.failed_at is not None else None


def _guarded(call: Callable[[], T], fallback: T) -> T:
    import redis

    if outage.resting():
        return fallback
    try:
        result = call()
    except (redis.RedisError, OSError) as exc:
        outage.failed(exc)
        return fallback
    outage.recovered()
    return result


class ResilientClient(RedisCacheClient):
    def add(self, key: Any, value: Any, timeout: Any) -> bool:
        return _guarded(lambda: bool(super(ResilientClient, self).add(key, value, timeout)), False)

    def get(self, key: Any, default: Any) -> Any:
        return _guarded(lambda: super(ResilientClient, self).get(key, default), default)

    def set(self, key: Any, value: Any, timeout: Any) -> None:
        _guarded(lambda: super(ResilientClient, self).set(key, value, timeout), None)

    def touch(self, key: Any, timeout: Any) -> bool:
        return _guarded(lambda: bool(super(ResilientClient, self).touch(key, timeout)), False)

    def delete(self, key: Any) -> bool:
        return _guarded(lambda: bool(super(ResilientClient, self).delete(key)), False)

    def get_many(self, keys: Any) -> Any:
        empty: dict[Any, Any] = {}
        return _guarded(lambda: super(ResilientClient, self).get_many(keys), empty)

    def has_key(self, key: Any) -> bool:
        return _guarded(lambda: bool(super(ResilientClient, self).has_key(key)), False)

    def set_many(self, data: Any, timeout: Any) -> None:
        _guarded(lambda: super(ResilientClient, self).set_many(data, timeout), None)

    def delete_many(self, keys: Any) -> None:
        _guarded(lambda: super(ResilientClient, self).delete_many(keys), None)


class ResilientRedisCache(RedisCache):
    """Django's Redis cache whose failures are misses (see the module's note)."""

    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = ResilientClient

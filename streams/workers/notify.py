"""Waking every runconsumers process when a definition changes: a Redis pub/sub message.

Best effort: a runner that misses it (no Redis, a dropped connection) still reads the
definitions every ``STREAMDESK_WORKER_POLL_SECONDS``.
"""

from __future__ import annotations

import logging

from asgiref.sync import sync_to_async
from django.conf import settings

logger = logging.getLogger("streams.workers")

CHANNEL = "streamdesk:workers"


def notify_runners(name: str) -> bool:
    if not settings.REDIS_URL:
        return False
    import redis

    try:
        client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
        try:
            client.publish(CHANNEL, name.encode())
        finally:
            client.close()
    except redis.RedisError as exc:
        logger.warning("could not notify the consumer runners (they poll instead): %s", exc)
        return False
    return True


async def anotify_runners(name: str) -> bool:
    return await sync_to_async(notify_runners, thread_sensitive=False)(name)

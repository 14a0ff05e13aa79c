"""Celery tasks. Beat runs ``refresh_cluster_health`` so every page and the API can
show the last background check, and WebSocket clients get it pushed; the lag history's
tasks live in ``streams.lag.tasks`` and are imported here, where the Celery worker looks."""

from __future__ import annotations

import asyncio
from typing import Any

from asgiref.sync import async_to_sync
from celery import shared_task
from channels.layers import get_channel_layer

from streams import health, sharedcache
from streams.lag.tasks import downsample_lag, sample_lag  # noqa: F401 - registered for the Celery worker
from streams.publish.tasks import run_publish_job  # noqa: F401 - registers the task with the Celery worker
from streams.search.tasks import run_search  # noqa: F401 - registers the task with the Celery worker
from streams.workers.tasks import mark_lost_instances  # noqa: F401 - registers the task with beat

HEALTH_GROUP = "cluster-health"


def push_health(payload: list[dict[str, Any]]) -> None:
    """Tell every open clusters page (a control message per check, never per broker record)."""
    import redis

    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(HEALTH_GROUP, {"type": "health.update", "clusters": payload})
    except (redis.RedisError, OSError) as exc:
        # Open pages then show the answer on their next refresh; the check itself stands.
        sharedcache.outage.failed(exc)


@shared_task(ignore_result=False)
def refresh_cluster_health() -> list[dict[str, Any]]:
    results = asyncio.run(health.check_all())
    health.store(results)
    payload = [r.as_api() for r in results]
    push_health(payload)
    return payload

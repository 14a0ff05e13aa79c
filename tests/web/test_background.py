"""Celery worker and beat, the channel layer, and the health WebSocket, on real servers."""

from __future__ import annotations

import os
import pickle

import pytest
import redis
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from channels_redis.core import RedisChannelLayer
from django.conf import settings
from django.core.cache import cache

from console.sockets import HealthSocket
from streams import health
from streams.tasks import HEALTH_GROUP
from tests.polling import wait_until
from tests.processes import celery, migrate


def test_beat_schedules_the_health_task():
    schedule = settings.CELERY_BEAT_SCHEDULE["refresh-cluster-health"]
    assert schedule["task"] == "streams.tasks.refresh_cluster_health"
    from console.celery import app

    app.loader.import_default_modules()
    assert "streams.tasks.refresh_cluster_health" in app.tasks


@pytest.mark.slow
@pytest.mark.xdist_group("processes")
def test_worker_and_beat_refresh_cluster_health_into_the_shared_cache(tmp_path, redis_url, kafka_bootstrap, nats_urls):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "console.settings",
        "STREAMDESK_VAR_DIR": str(tmp_path),
        "REDIS_URL": redis_url,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "NATS_URL": nats_urls[0],
        "NATS_MONITOR_URL": nats_urls[1],
        "STREAMDESK_HEALTH_REFRESH_SECONDS": "1",
    }
    env.pop("DATABASE_URL", None)
    r = redis.Redis.from_url(redis_url)
    key = "streamdesk:1:cluster-health"
    r.delete(key)
    migrate(env)
    with celery(env, tmp_path, name=f"health-{os.getpid()}", beat=True):
        raw = wait_until(
            lambda: r.get(key),
            until=lambda raw: raw is not None,
            timeout=60,
            interval=0.3,
            message="beat -> worker storing a health check",
        )
        assert isinstance(raw, bytes)
        clusters = {c["slug"]: c for c in pickle.loads(raw)}  # noqa: S301 - our own cache entry
        assert clusters["kafka"]["reachable"] and clusters["nats"]["reachable"]


async def test_redis_channel_layer_delivers_group_messages(redis_url):
    layer = RedisChannelLayer(hosts=[redis_url])
    channel = await layer.new_channel()
    await layer.group_add("sd-test", channel)
    await layer.group_send("sd-test", {"type": "hello", "n": 1})
    assert (await layer.receive(channel))["n"] == 1
    await layer.flush()


@pytest.mark.django_db(transaction=True)
async def test_health_socket_pushes_background_checks_to_viewers(viewer):
    await cache.adelete(health.CACHE_KEY)  # no earlier check to send as the snapshot
    communicator = WebsocketCommunicator(HealthSocket.as_asgi(), "/ws/health/")
    communicator.scope["user"] = viewer
    connected, _ = await communicator.connect()
    assert connected
    update = [{"slug": "kafka", "reachable": False, "checked_at": "2026-01-01T00:00:00", "name": "<i>K</i>"}]
    await get_channel_layer().group_send(HEALTH_GROUP, {"type": "health.update", "clusters": update})
    html = await communicator.receive_from(timeout=5)
    assert 'id="background"' in html and "kafka down" in html
    await communicator.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_health_socket_refuses_a_stranger(stranger):
    communicator = WebsocketCommunicator(HealthSocket.as_asgi(), "/ws/health/")
    communicator.scope["user"] = stranger
    connected, code = await communicator.connect()
    assert not connected and code == 4403

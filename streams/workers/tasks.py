"""Celery beat's part in managed consumers: instances whose heartbeats stopped are marked lost."""

from __future__ import annotations

from datetime import datetime, timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from streams.workers.models import ConsumerInstance

# Rows of instances that stopped (or were lost) are kept this long for the page, then dropped.
KEEP_GONE = timedelta(hours=1)


def mark_lost(now: datetime | None = None) -> tuple[int, int]:
    """Mark instances silent at ``now`` lost and forget long-gone ones; (marked, deleted)."""
    moment = now or timezone.now()
    silent_since = moment - timedelta(seconds=settings.WORKER_LOST_AFTER_SECONDS)
    marked = (
        ConsumerInstance.objects.filter(heartbeat_at__lt=silent_since)
        .exclude(state__in=ConsumerInstance.GONE)
        .update(state=ConsumerInstance.State.LOST)
    )
    deleted, _ = ConsumerInstance.objects.filter(
        state__in=ConsumerInstance.GONE, heartbeat_at__lt=moment - KEEP_GONE
    ).delete()
    return marked, deleted


@shared_task(name="streams.workers.mark_lost_instances", ignore_result=True)
def mark_lost_instances() -> None:
    mark_lost()

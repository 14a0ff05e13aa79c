"""Celery tasks of the lag history: beat samples every ``STREAMDESK_LAG_SAMPLE_SECONDS`` and folds old samples
every ``STREAMDESK_LAG_ROLLUP_SECONDS`` (both scheduled in ``CELERY_BEAT_SCHEDULE``)."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from celery import shared_task
from django.conf import settings
from django.core.cache import cache

from streams.lag import history, sampling

logger = logging.getLogger("streams.lag")

LOCK_KEY = "lag-sample-running"


def lock_seconds() -> float:
    """A crashed Celery worker's lock lapses after this; a sweep that takes longer than it may overlap the next."""
    return max(5 * settings.LAG_SAMPLE_SECONDS, 60.0)


@shared_task(ignore_result=True)
def sample_lag() -> list[dict[str, Any]] | None:
    """One sweep of every cluster, skipped while the previous one is still running."""
    token = uuid.uuid4().hex
    if not cache.add(LOCK_KEY, token, timeout=lock_seconds()):
        logger.info("lag sweep skipped: the previous one is still running")
        return None
    try:
        return [vars(r) for r in sampling.sample_all()]
    finally:
        if cache.get(LOCK_KEY) == token:
            cache.delete(LOCK_KEY)


@shared_task(ignore_result=True)
def downsample_lag() -> dict[str, int]:
    return vars(history.downsample())

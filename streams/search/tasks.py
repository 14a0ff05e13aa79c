"""The Celery task behind a search, on the ``bulk`` queue (``CELERY_TASK_ROUTES``)."""

from __future__ import annotations

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.utils import timezone

from streams import adapters, masking
from streams.search import jetstream_scan, kafka_scan
from streams.search.filters import matcher
from streams.search.models import Search

# A runaway jq expression is stopped by these (the prefork pool enforces them).
SOFT_TIME_LIMIT = settings.SEARCH_TIME_LIMIT_SECONDS
HARD_TIME_LIMIT = settings.SEARCH_TIME_LIMIT_SECONDS + 30


@shared_task(name="streams.search.run", ignore_result=True, soft_time_limit=SOFT_TIME_LIMIT, time_limit=HARD_TIME_LIMIT)
def run_search(search_id: int) -> None:
    search = Search.objects.filter(pk=search_id, state=Search.State.RUNNING).first()
    if search is None:
        return
    params = search.params
    try:
        kind = "nats" if search.kind == "nats" else "kafka"
        # Read afresh: a cluster added or edited in the admin just before the search is the one it names.
        config = adapters.find(search.cluster, adapters.clusters(fresh=True), kind)
        match = matcher(params.get("text"), params.get("jq"))
        # The rules that covered the topic or stream for its user, as they were when it started.
        rules = masking.from_specs(params.get("mask") or ())
        scan = jetstream_scan.run if kind == "nats" else kafka_scan.run
        scan(search, config, match, int(params.get("limit") or 500), params.get("max_scan"), rules)
    except SoftTimeLimitExceeded:
        Search.objects.filter(pk=search_id).update(
            state=Search.State.FAILED,
            error=f"Stopped at the time limit of {SOFT_TIME_LIMIT:g} s (STREAMDESK_SEARCH_TIME_LIMIT_SECONDS).",
            finished_at=timezone.now(),
        )
    except Exception as exc:
        Search.objects.filter(pk=search_id).update(
            state=Search.State.FAILED, error=str(exc) or type(exc).__name__, finished_at=timezone.now()
        )
        raise

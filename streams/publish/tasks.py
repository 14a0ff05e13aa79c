"""The Celery task behind bulk publishing, on the ``bulk`` queue (``CELERY_TASK_ROUTES``)."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from streams.publish import bulk

# The job stops itself at BULK_TIME_LIMIT_SECONDS; these catch one stuck in a broker call
# (the prefork pool only: Celery enforces no time limit in the threads or solo pools).
SOFT_TIME_LIMIT = settings.BULK_TIME_LIMIT_SECONDS + 60
HARD_TIME_LIMIT = settings.BULK_TIME_LIMIT_SECONDS + 120


@shared_task(
    name="streams.publish.run_job", ignore_result=True, soft_time_limit=SOFT_TIME_LIMIT, time_limit=HARD_TIME_LIMIT
)
def run_publish_job(job_id: int) -> None:
    bulk.run(job_id)

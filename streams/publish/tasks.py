"""The Celery task behind bulk publishing."""

from __future__ import annotations

from celery import shared_task

from streams.publish import bulk


@shared_task(name="streams.publish.run_job", ignore_result=True)
def run_publish_job(job_id: int) -> None:
    bulk.run(job_id)

"""Every publish and every change to jobs and saved messages: checks, the write, the audit.

The audit record names the target, the size and the outcome, never the payload.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import IntegrityError
from django.utils import timezone

from streams import adapters, audit
from streams.clusters import ClusterConfig
from streams.errors import BrokerUnavailable, Conflict, InvalidInput, NotFound
from streams.publish import kafka as kafka_publish
from streams.publish import nats as nats_publish
from streams.publish.kafka import Delivery
from streams.publish.message import Generator, Outgoing, check_size
from streams.publish.models import MessageTemplate, PublishJob, Target
from streams.publish.nats import PubAck, Reply

KAFKA_PUBLISH = "kafka.topic.publish"
NATS_PUBLISH = "nats.subject.publish"
JOB_START = "publish.job.start"
JOB_CANCEL = "publish.job.cancel"
TEMPLATE_SAVE = "publish.template.save"
TEMPLATE_DELETE = "publish.template.delete"
MAX_BULK = 1_000_000
# A running job that has not reported for this long has lost its Celery worker.
STALE_AFTER = timedelta(minutes=2)


def _params(message: Outgoing, **more: Any) -> dict[str, Any]:
    return {
        "size": message.size,
        "key_size": len(message.key or b""),
        "value_size": len(message.value or b""),
        "headers": len(message.headers),
        **more,
    }


async def do_publish_kafka(
    actor: audit.Actor,
    cluster: ClusterConfig,
    topic: str,
    message: Outgoing,
    partition: int | None,
    *,
    schemas: dict[str, Any] | None = None,
) -> Delivery:
    """``schemas``: the schema ids the key and value were written with, for the audit record."""
    adapter = adapters.kafka(cluster)
    check_size(message, settings.PUBLISH_MAX_BYTES, "Streamdesk (STREAMDESK_PUBLISH_MAX_BYTES)")

    async def run() -> Delivery:
        info = await adapter.topic(topic)
        if partition is not None and partition not in info.partition_ids:
            raise InvalidInput(f"Topic {topic} has no partition {partition}.", field="partition")
        return await kafka_publish.publish(adapter, topic, message, partition)

    return await audit.perform(
        actor,
        KAFKA_PUBLISH,
        run,
        cluster=cluster.slug,
        target=topic,
        params=_params(message, partition=partition, **(schemas or {})),
        describe=lambda d: f"partition {d.partition} offset {d.offset}",
    )


@dataclass(frozen=True)
class NatsOutcome:
    """What a NATS publish answered, in the API's shape for its mode, and its status."""

    data: dict[str, Any]
    status: int
    reply: Reply | None = None


async def do_publish_nats(
    actor: audit.Actor,
    cluster: ClusterConfig,
    subject: str,
    message: Outgoing,
    *,
    mode: str,
    timeout: float,
    msg_id: str | None,
    schemas: dict[str, Any] | None = None,
) -> NatsOutcome:
    adapter = adapters.nats(cluster)
    check_size(message, settings.PUBLISH_MAX_BYTES, "Streamdesk (STREAMDESK_PUBLISH_MAX_BYTES)")

    async def run() -> NatsOutcome:
        if mode == "request":
            reply: Reply = await nats_publish.request(adapter, subject, message, timeout)
            return NatsOutcome(reply.as_api(), 200, reply)
        if mode == "jetstream":
            ack: PubAck = await nats_publish.jetstream_publish(adapter, subject, message, msg_id)
            return NatsOutcome(ack.as_api(), 201)
        await nats_publish.publish(adapter, subject, message)
        return NatsOutcome({"subject": subject}, 201)

    def describe(outcome: NatsOutcome) -> str:
        if mode == "request":
            return f"reply in {outcome.data['elapsed_ms']} ms"
        if mode == "jetstream":
            dup = " (duplicate)" if outcome.data["duplicate"] else ""
            return f"stream {outcome.data['stream']} seq {outcome.data['seq']}{dup}"
        return "published"

    return await audit.perform(
        actor,
        NATS_PUBLISH,
        run,
        cluster=cluster.slug,
        target=subject,
        params=_params(message, mode=mode, msg_id=msg_id, **(schemas or {})),
        describe=describe,
    )


async def do_start_bulk(
    actor: audit.Actor,
    cluster: ClusterConfig,
    kind: str,
    target: str,
    spec: dict[str, Any],
    count: int,
    rate: float | None,
    sample: Outgoing,
) -> PublishJob:
    """Check the target exists now (404 before any job), queue the job, hand it to a Celery worker."""
    check_size(sample, settings.PUBLISH_MAX_BYTES, "Streamdesk (STREAMDESK_PUBLISH_MAX_BYTES)")
    limit = settings.BULK_TIME_LIMIT_SECONDS
    if rate and count / rate > limit:
        raise InvalidInput(
            f"At {rate:g} messages per second, {count:,} messages take {count / rate:,.0f} s; "
            f"a job runs for at most {limit:,.0f} s (STREAMDESK_BULK_TIME_LIMIT_SECONDS).",
            field="rate",
        )
    if kind == Target.NATS:
        # Every message of a job carries the sample's headers: refused here, not by the Celery worker.
        nats_publish.nats_headers(sample, spec.get("msg_id"))

    async def run() -> PublishJob:
        if kind == Target.KAFKA:
            info = await adapters.kafka(cluster).topic(target)
            partition = spec.get("partition")
            if partition is not None and partition not in info.partition_ids:
                raise InvalidInput(f"Topic {target} has no partition {partition}.", field="partition")
        else:
            await nats_publish.check_target(adapters.nats(cluster), target, spec.get("mode") or "publish")
        job = await PublishJob.objects.acreate(
            kind=kind, cluster=cluster.slug, target=target, spec=spec, total=count, rate=rate, created_by=actor
        )
        try:
            await sync_to_async(_enqueue)(job.pk)
        except Exception as exc:
            await PublishJob.objects.filter(pk=job.pk).aupdate(
                state=PublishJob.State.FAILED, error=f"Could not queue the job: {exc}", finished_at=timezone.now()
            )
            raise BrokerUnavailable(f"The job could not be handed to a Celery worker: {exc}") from exc
        return job

    return await audit.perform(
        actor,
        JOB_START,
        run,
        cluster=cluster.slug,
        target=target,
        params=_params(sample, kind=kind, count=count, rate=rate, mode=spec.get("mode")),
        describe=lambda job: f"job {job.pk}",
    )


def _enqueue(job_id: int) -> None:
    from streams.publish.tasks import run_publish_job

    run_publish_job.delay(job_id)


async def do_cancel_job(actor: audit.Actor, job_id: int) -> PublishJob:
    """A queued job ends at once; a running one stops at its next progress report."""

    async def run() -> PublishJob:
        job = await get_job(job_id)
        if job.finished:
            raise Conflict(f"Job {job_id} has already ended ({job.state}).")
        await PublishJob.objects.filter(pk=job_id).aupdate(cancel_requested=True)
        await PublishJob.objects.filter(pk=job_id, state=PublishJob.State.QUEUED).aupdate(
            state=PublishJob.State.CANCELLED, finished_at=timezone.now()
        )
        return await get_job(job_id)

    return await audit.perform(actor, JOB_CANCEL, run, target=f"job {job_id}")


async def expire_stale_jobs(now: datetime | None = None) -> None:
    """Running jobs whose Celery worker stopped reporting (killed, restarted) by ``now`` end as failed."""
    moment = now or timezone.now()
    cutoff = moment - STALE_AFTER
    await PublishJob.objects.filter(state=PublishJob.State.RUNNING, updated_at__lt=cutoff).aupdate(
        state=PublishJob.State.FAILED,
        error="The Celery worker running this job stopped reporting; the counts are what it confirmed last.",
        finished_at=moment,
    )


async def get_job(job_id: int) -> PublishJob:
    try:
        return await PublishJob.objects.select_related("created_by").aget(pk=job_id)
    except PublishJob.DoesNotExist:
        raise NotFound(f"No publish job {job_id}.") from None


async def recent_jobs(limit: int = 50, *, cluster: str | None = None) -> list[PublishJob]:
    await expire_stale_jobs()
    jobs = PublishJob.objects.select_related("created_by")
    if cluster:
        jobs = jobs.filter(cluster=cluster)
    return [job async for job in jobs[:limit]]


async def do_save_template(
    actor: audit.Actor, cluster: ClusterConfig, name: str, kind: str, target: str, fields: dict[str, Any]
) -> MessageTemplate:
    """Create the cluster's template ``name``, or replace it (409 never: saving again updates)."""

    async def run() -> MessageTemplate:
        try:
            template, _ = await MessageTemplate.objects.aupdate_or_create(
                cluster=cluster.slug,
                name=name,
                defaults={"kind": kind, "target": target, "fields": fields, "created_by": actor},
            )
        except IntegrityError as exc:
            raise Conflict(f"Template {name} could not be saved: {exc}", field="name") from exc
        return await MessageTemplate.objects.select_related("created_by").aget(pk=template.pk)

    return await audit.perform(actor, TEMPLATE_SAVE, run, cluster=cluster.slug, target=name, params={"to": target})


async def do_delete_template(actor: audit.Actor, template_id: int) -> None:
    async def run() -> None:
        deleted, _ = await MessageTemplate.objects.filter(pk=template_id).adelete()
        if not deleted:
            raise NotFound(f"No saved message {template_id}.")

    await audit.perform(actor, TEMPLATE_DELETE, run, target=f"template {template_id}")


def sample_of(generator: Generator) -> Outgoing:
    """The first message of a bulk publish, for size checks before anything is queued."""
    return generator.message(0)

"""Every change to a managed consumer: checks, the write, the audit record, and a notification
that wakes every runconsumers process (which also polls, should the notification be lost).

Pausing a consumer on a JetStream stream also pauses its durable on the server (nats-server
2.11+), so every instance stops at once; on older servers the runners stop fetching.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from asgiref.sync import sync_to_async
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F

from streams import adapters, audit
from streams.errors import Conflict, InvalidInput, NotFound, NotSupported
from streams.kafka.names import validate_topic_name
from streams.nats.jetstream import valid_name
from streams.nats.subjects import validate_subject
from streams.nats.types import INDEFINITE_PAUSE
from streams.workers import registry as handlers
from streams.workers.models import ManagedConsumer, worker_name_validator
from streams.workers.notify import anotify_runners

WORKER_CREATE = "worker.create"
WORKER_UPDATE = "worker.update"
WORKER_PAUSE = "worker.pause"
WORKER_RESUME = "worker.resume"
WORKER_RESTART = "worker.restart"
WORKER_DELETE = "worker.delete"

MAX_BATCH = 10_000
MAX_CONCURRENCY = 64
MAX_RETRIES = 100


@dataclass(frozen=True)
class Definition:
    """A managed consumer's definition, checked (except against the brokers) and ready to save."""

    name: str
    cluster: str
    source_kind: str
    source: str
    group: str
    filter_subject: str
    handler: str
    config: dict[str, Any]
    start: str
    batch_size: int
    concurrency: int
    max_retries: int
    retry_backoff_ms: int
    retry_backoff_max_ms: int
    dead_letter: dict[str, Any] | None
    desired: str

    def fields(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "name"}

    def audit_params(self) -> dict[str, Any]:
        return {
            "cluster": self.cluster,
            self.source_kind: self.source,
            "group": self.group,
            "handler": self.handler,
            "dead_letter": self.dead_letter,
            "desired": self.desired,
        }


async def check_definition(definition: Definition) -> None:
    """What the database cannot check: names, the clusters and their kinds, the handler and its config."""
    try:
        worker_name_validator(definition.name)
    except ValidationError:
        raise InvalidInput(
            "name: letters, digits, '.', '_' and '-' (at most 100), starting with a letter or digit.", field="name"
        ) from None
    try:
        config = await adapters.aget_config(definition.cluster)
    except NotFound as exc:
        raise InvalidInput(exc.message, field="cluster") from None
    if definition.source_kind == ManagedConsumer.SourceKind.TOPIC:
        if config.kind != "kafka":
            raise InvalidInput(f"{config.slug} is a NATS cluster: give a stream, not a topic.", field="topic")
        validate_topic_name(definition.source, field="topic")
        if not definition.group or len(definition.group) > 255:
            raise InvalidInput("group: a Kafka group id of 1 to 255 characters is needed.", field="group")
        if definition.filter_subject:
            raise InvalidInput("filter_subject applies to JetStream streams.", field="filter_subject")
    else:
        if config.kind != "nats":
            raise InvalidInput(f"{config.slug} is a Kafka cluster: give a topic, not a stream.", field="stream")
        if not valid_name(definition.source):
            raise InvalidInput("stream: not a valid stream name.", field="stream")
        if not valid_name(definition.group):
            raise InvalidInput("durable: a consumer name without dots, spaces or wildcards is needed.", field="durable")
        if definition.filter_subject and (problem := validate_subject(definition.filter_subject, wildcards=True)):
            raise InvalidInput(f"filter_subject: {problem}.", field="filter_subject")
    handlers.validated(definition.handler, definition.config)
    await check_destination(definition.dead_letter, "dead_letter")
    if definition.handler == "forward":
        await check_destination(definition.config, "config")
    forward = definition.config.get("forward") if definition.handler == "validate" else None
    if isinstance(forward, dict):
        await check_destination(forward, "config")


async def check_destination(destination: dict[str, Any] | None, field: str) -> None:
    if destination is None:
        return
    if not isinstance(destination, dict) or not isinstance(destination.get("cluster"), str):
        raise InvalidInput(f'{field} must be {{"cluster", "topic"}} or {{"cluster", "subject"}}, or null.', field=field)
    topic, subject = destination.get("topic"), destination.get("subject")
    if bool(topic) == bool(subject):
        raise InvalidInput(f"{field}: give a topic (Kafka) or a subject (NATS), one of them.", field=field)
    try:
        config = await adapters.aget_config(destination["cluster"])
    except NotFound as exc:
        raise InvalidInput(f"{field}: {exc.message}", field=field) from None
    if topic:
        if config.kind != "kafka":
            raise InvalidInput(f"{field}: {config.slug} is a NATS cluster; give a subject.", field=field)
        validate_topic_name(str(topic), field=field)
    else:
        if config.kind != "nats":
            raise InvalidInput(f"{field}: {config.slug} is a Kafka cluster; give a topic.", field=field)
        if problem := validate_subject(str(subject), wildcards=False):
            raise InvalidInput(f"{field}: {problem}.", field=field)


async def get_consumer(name: str) -> ManagedConsumer:
    try:
        return await ManagedConsumer.objects.aget(name=name)
    except ManagedConsumer.DoesNotExist:
        raise NotFound(f"No managed consumer named {name!r}.") from None


def _insert(actor: audit.Actor, definition: Definition) -> ManagedConsumer:
    # In a savepoint: a duplicate name must not break the caller's transaction.
    with transaction.atomic():
        return ManagedConsumer.objects.create(name=definition.name, created_by=actor, **definition.fields())


async def do_create_worker(actor: audit.Actor, definition: Definition) -> ManagedConsumer:
    async def run() -> ManagedConsumer:
        await check_definition(definition)
        try:
            consumer = await sync_to_async(_insert)(actor, definition)
        except IntegrityError:
            raise Conflict(f"A managed consumer named {definition.name} exists.", field="name") from None
        await anotify_runners(definition.name)
        return consumer

    return await audit.perform(
        actor,
        WORKER_CREATE,
        run,
        cluster=definition.cluster,
        target=definition.name,
        params=definition.audit_params(),
        describe=lambda c: f"created (desired {c.desired})",
    )


async def do_update_worker(actor: audit.Actor, name: str, definition: Definition) -> ManagedConsumer:
    """A new definition; every instance re-creates its clients (a new generation)."""

    async def run() -> ManagedConsumer:
        consumer = await get_consumer(name)
        if definition.name != name:
            raise InvalidInput("A managed consumer cannot be renamed; create another.", field="name")
        await check_definition(definition)
        pausing = definition.desired != consumer.desired
        for key, value in definition.fields().items():
            setattr(consumer, key, value)
        consumer.generation += 1
        await consumer.asave()
        if pausing:
            await _server_pause(consumer, definition.desired == ManagedConsumer.Desired.PAUSED)
        await anotify_runners(name)
        return consumer

    return await audit.perform(
        actor,
        WORKER_UPDATE,
        run,
        cluster=definition.cluster,
        target=name,
        params=definition.audit_params(),
        describe=lambda c: f"generation {c.generation}",
    )


async def _server_pause(consumer: ManagedConsumer, paused: bool) -> str:
    """JetStream: pause or resume the durable on the server; the mode the pause took."""
    if consumer.source_kind != ManagedConsumer.SourceKind.STREAM:
        mode = "client"
    else:
        adapter = adapters.nats(await adapters.aget_config(consumer.cluster, "nats"))
        try:
            if paused:
                await adapter.pause_consumer(consumer.source, consumer.durable, datetime.now(UTC) + INDEFINITE_PAUSE)
            else:
                await adapter.resume_consumer(consumer.source, consumer.durable)
            mode = "server"
        except NotSupported:
            mode = "client"
        except NotFound:
            # Not created yet: the runner creates it paused when the consumer is paused.
            mode = "server"
    await ManagedConsumer.objects.filter(pk=consumer.pk).aupdate(pause_mode=mode)
    consumer.pause_mode = mode
    return mode


async def _set_desired(actor: audit.Actor, name: str, desired: str, action: str) -> ManagedConsumer:
    async def run() -> ManagedConsumer:
        consumer = await get_consumer(name)
        await ManagedConsumer.objects.filter(pk=consumer.pk).aupdate(desired=desired)
        consumer.desired = desired
        try:
            await _server_pause(consumer, desired == ManagedConsumer.Desired.PAUSED)
        finally:
            await anotify_runners(name)
        return consumer

    return await audit.perform(
        actor,
        action,
        run,
        target=name,
        params={"desired": desired},
        describe=lambda c: f"desired {desired}" + (f" ({c.pause_mode} pause)" if desired == "paused" else ""),
    )


async def do_pause_worker(actor: audit.Actor, name: str) -> ManagedConsumer:
    return await _set_desired(actor, name, ManagedConsumer.Desired.PAUSED, WORKER_PAUSE)


async def do_resume_worker(actor: audit.Actor, name: str) -> ManagedConsumer:
    return await _set_desired(actor, name, ManagedConsumer.Desired.RUNNING, WORKER_RESUME)


async def do_restart_worker(actor: audit.Actor, name: str) -> ManagedConsumer:
    """Every instance drops its clients and makes new ones (after a config change, a stuck client)."""

    async def run() -> ManagedConsumer:
        consumer = await get_consumer(name)
        await ManagedConsumer.objects.filter(pk=consumer.pk).aupdate(generation=F("generation") + 1)
        await anotify_runners(name)
        return await get_consumer(name)

    return await audit.perform(actor, WORKER_RESTART, run, target=name, describe=lambda c: f"generation {c.generation}")


async def do_delete_worker(actor: audit.Actor, name: str) -> ManagedConsumer:
    """Stops it everywhere; its Kafka group or JetStream durable stays on the broker."""

    async def run() -> ManagedConsumer:
        consumer = await get_consumer(name)
        await ManagedConsumer.objects.filter(pk=consumer.pk).adelete()
        await anotify_runners(name)
        return consumer

    return await audit.perform(
        actor,
        WORKER_DELETE,
        run,
        target=name,
        describe=lambda c: f"deleted; {'group' if c.source_kind == 'topic' else 'durable'} {c.group} left behind",
    )

"""Bulk publishing, run by a Celery worker: N messages from one spec, at a rate or as fast as
the broker takes them, with progress in the job's row and cancel read from it.

``sent`` counts what the broker confirmed (Kafka delivery reports, a NATS round trip after
each chunk, JetStream acks), never what was merely handed to the client. A broker that stops
taking messages ends the job as failed, with the count really sent.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from confluent_kafka import KafkaError, Producer
from django.conf import settings
from django.utils import timezone
from nats.aio.client import Client as NatsClient
from nats.errors import NoRespondersError

from streams import adapters
from streams.errors import StreamdeskError
from streams.kafka.client import UNAVAILABLE_CODES, client_config
from streams.publish.kafka import delivery_error
from streams.publish.message import Generator, Pattern, parse_headers
from streams.publish.models import PublishJob, Target
from streams.publish.nats import MSG_ID_HEADER, nats_headers

logger = logging.getLogger("streams.publish")

CAP = "Streamdesk (STREAMDESK_PUBLISH_MAX_BYTES)"
PROGRESS_SECONDS = 0.5
# Messages per visit to the connection's loop; a round trip (or the acks) confirms each chunk.
NATS_CHUNK = 50_000
JETSTREAM_CHUNK = 1000
# Every 1,024 messages the loop serves delivery reports and looks for a cancel or a broken broker.
KAFKA_CHECK_MASK = 1023


@dataclass
class Progress:
    sent: int = 0
    failed: int = 0
    error: str = ""
    broken: bool = False  # the broker stopped taking messages: stop sending
    stopped: bool = False  # a message could not be made: send nothing after it, confirm what went before

    def fail(self, message: str, *, broken: bool = False) -> None:
        self.failed += 1
        if not self.error:
            self.error = message
        self.broken = self.broken or broken

    def too_large(self, index: int, size: int, limit: int, what: str) -> None:
        """Message ``index`` came out larger than ``limit``: the job ends failed before it."""
        self.stopped = True
        self.error = self.error or (
            f"Message {index} (0-based) is {size:,} bytes; {what} takes at most {limit:,}. "
            f"The job stopped there: the messages before it were sent, none after."
        )


@dataclass
class Control:
    """The job's row: progress goes in, a cancel comes out, at most every PROGRESS_SECONDS."""

    job_id: int
    # The job stops by itself at this monotonic time (STREAMDESK_BULK_TIME_LIMIT_SECONDS).
    expires_at: float = math.inf
    cancelled: bool = False
    expired: bool = False
    _next: float = field(default=0.0)

    @property
    def stop(self) -> bool:
        return self.cancelled or self.expired

    def tick(self, progress: Progress, *, force: bool = False, now: float | None = None) -> bool:
        """Report progress; True when sending should stop (cancelled, or out of time at ``now``,
        a monotonic time)."""
        now = time.monotonic() if now is None else now
        if not force and now < self._next:
            return self.stop
        self._next = now + PROGRESS_SECONDS
        PublishJob.objects.filter(pk=self.job_id).update(
            sent=progress.sent, failed=progress.failed, updated_at=timezone.now()
        )
        self.cancelled = bool(
            PublishJob.objects.filter(pk=self.job_id).values_list("cancel_requested", flat=True).first()
        )
        self.expired = self.expired or now >= self.expires_at
        return self.stop


class Pacer:
    """Holds a loop to ``rate`` messages per second (None: no limit)."""

    def __init__(self, rate: float | None) -> None:
        self.rate = rate
        self.started = time.monotonic()

    def delay(self, done: int) -> float:
        if not self.rate:
            return 0.0
        return max(0.0, self.started + done / self.rate - time.monotonic())


def generator_of(job: PublishJob) -> Generator:
    spec = job.spec
    headers = parse_headers(spec.get("headers"))
    return Generator.build(spec.get("key"), spec.get("value"), spec.get("encoding") or "text", headers)


READ_ONLY_REFUSAL = "Refused: Streamdesk runs read-only (STREAMDESK_READ_ONLY); nothing was sent."


def run(job_id: int) -> None:
    """Run a queued job to its end; a job already taken (or cancelled) is left alone.

    In read-only mode a queued job is refused as it would start (it may have been queued before
    the switch): it ends failed, with nothing sent.
    """
    queued = PublishJob.objects.filter(pk=job_id, state=PublishJob.State.QUEUED)
    if settings.READ_ONLY:
        queued.update(state=PublishJob.State.FAILED, error=READ_ONLY_REFUSAL, finished_at=timezone.now())
        return
    taken = queued.update(state=PublishJob.State.RUNNING, started_at=timezone.now())
    if not taken:
        return
    job = PublishJob.objects.get(pk=job_id)
    limit = settings.BULK_TIME_LIMIT_SECONDS
    control = Control(job_id, expires_at=time.monotonic() + limit)
    progress = Progress()
    try:
        if control.tick(progress, force=True):
            state = PublishJob.State.CANCELLED
        else:
            sender = _send_kafka if job.kind == Target.KAFKA else _send_nats
            sender(job, generator_of(job), progress, control)
            if control.expired and not control.cancelled and not progress.error:
                progress.error = (
                    f"Stopped at the time limit: a job runs for at most {limit:g} s "
                    f"(STREAMDESK_BULK_TIME_LIMIT_SECONDS); {progress.sent:,} of {job.total:,} were sent."
                )
            state = (
                PublishJob.State.FAILED
                if progress.broken or progress.stopped or (progress.error and progress.sent == 0)
                else PublishJob.State.CANCELLED
                if control.cancelled
                else PublishJob.State.FAILED
                if control.expired
                else PublishJob.State.DONE
            )
    except SoftTimeLimitExceeded:
        progress.error, state = (
            f"Celery's time limit ended the job (STREAMDESK_BULK_TIME_LIMIT_SECONDS + 60 s); "
            f"{progress.sent:,} were confirmed sent by then.",
            PublishJob.State.FAILED,
        )
    except StreamdeskError as exc:
        progress.error, state = exc.message, PublishJob.State.FAILED
    except Exception as exc:
        logger.exception("publish job %s failed", job_id)
        progress.error, state = f"{exc.__class__.__name__}: {exc}", PublishJob.State.FAILED
    PublishJob.objects.filter(pk=job_id).update(
        state=state,
        sent=progress.sent,
        failed=progress.failed,
        error=progress.error[:2000],
        finished_at=timezone.now(),
    )


def _send_kafka(job: PublishJob, generator: Generator, progress: Progress, control: Control) -> None:
    # Fresh: a cluster added in the admin a moment ago is a cluster a job may target.
    config = adapters.find(job.cluster, adapters.clusters(fresh=True), "kafka")
    patience_ms = int(max(10.0, settings.BROKER_TIMEOUT_SECONDS * 3) * 1000)
    producer = Producer(
        client_config(config)
        | {
            "client.id": "streamdesk-bulk",
            "message.timeout.ms": patience_ms,
            "message.max.bytes": settings.PUBLISH_MAX_BYTES + 64 * 1024,
        }
    )
    partition = job.spec.get("partition")
    # librdkafka's "unassigned": the partitioner chooses.
    partition = -1 if partition is None else partition
    # Every message of a job carries the same headers.
    headers: list[tuple[str, str | bytes | None]] | None = list(generator.headers) or None

    def delivered(err: KafkaError | None, msg: Any) -> None:
        if err is None:
            progress.sent += 1
        elif err.code() != KafkaError._PURGE_QUEUE:
            progress.fail(delivery_error(err, job.target).message, broken=err.code() in _STOPS)

    # The loop runs once per message: everything it touches is a local name, and the
    # arguments that never change are bound once.
    poll, topic = producer.poll, job.target
    fixed_args: dict[str, Any] = {"on_delivery": delivered, "partition": partition}
    if headers:
        fixed_args["headers"] = headers
    produce: Callable[[bytes | None, bytes | None], None] = functools.partial(producer.produce, topic, **fixed_args)
    key_at, value_at, key, value = generator.key_at, generator.value_at, generator.fixed_key, generator.fixed_value
    value_format = generator.value_format
    # Every generated message is measured as a single publish is: key, value and the headers.
    overhead = sum(len(n) + len(v) for n, v in generator.headers)
    limit = settings.PUBLISH_MAX_BYTES
    room = limit - overhead
    # What never changes is measured once, here; what does, as it is made: with a fixed key
    # (the usual case) one len() of the value against the room the key leaves.
    value_varies = value_at is not None or value_format is not None
    value_room = room - len(key or b"") if value_varies and key_at is None else None
    if key_at is None and not value_varies and (size := len(key or b"") + len(value or b"")) > room:
        progress.too_large(0, size + overhead, limit, CAP)
    pacer = Pacer(job.rate) if job.rate else None
    for index in range(0 if progress.stopped else job.total):
        if value_format is not None:
            value = value_format(index).encode()
        elif value_at is not None:
            value = value_at(index)
        if key_at is not None:
            key = key_at(index)
            if (size := len(key) + (len(value) if value else 0)) > room:
                progress.too_large(index, size + overhead, limit, CAP)
                break
        # value_room is set only when the value is made here, so it is bytes.
        elif value_room is not None and len(value) > value_room:  # type: ignore[arg-type]
            progress.too_large(index, len(value) + (limit - value_room), limit, CAP)  # type: ignore[arg-type]
            break
        try:
            produce(value, key)
        except BufferError:
            # The client's queue is full: let deliveries drain it, then send this one again.
            while True:
                poll(0.05)
                if progress.broken or control.tick(progress):
                    break
                try:
                    produce(value, key)
                    break
                except BufferError:
                    continue
        if index & KAFKA_CHECK_MASK == 0:
            poll(0)
            if progress.broken or control.tick(progress):
                break
        if pacer is not None and (wait := pacer.delay(index + 1)):
            poll(wait)
            if control.tick(progress):
                break
    if progress.broken or control.stop:
        producer.purge(in_queue=True, in_flight=False)
    left = producer.flush(patience_ms / 1000 + 1)
    if left:
        progress.fail(f"{left} message(s) were never confirmed by the broker", broken=True)
    control.tick(progress, force=True)


# Delivery failures after which sending more is pointless.
_STOPS = UNAVAILABLE_CODES | {
    KafkaError._MSG_TIMED_OUT,
    KafkaError.UNKNOWN_TOPIC_OR_PART,
    KafkaError._UNKNOWN_TOPIC,
    KafkaError.TOPIC_AUTHORIZATION_FAILED,
}


@dataclass(frozen=True)
class Room:
    """How large a NATS message's value may be, given its headers, and which limit says so.

    Two limits apply: Streamdesk's (key, value and header names and values, as a single publish
    counts them) and the server's ``max_payload`` (the value and the header block as sent).
    """

    value: int
    overhead: int
    limit: int
    what: str

    @classmethod
    def of(cls, nc: NatsClient, headers: dict[str, str] | None) -> Room:
        pairs = [(n.encode(), v.encode()) for n, v in (headers or {}).items()]
        ours = sum(len(n) + len(v) for n, v in pairs)
        # "NATS/1.0\r\n", "Name: value\r\n" each, then "\r\n".
        block = 10 + sum(len(n) + len(v) + 4 for n, v in pairs) + 2 if pairs else 0
        cap, server = settings.PUBLISH_MAX_BYTES, nc.max_payload
        if cap - ours <= server - block:
            return cls(cap - ours, ours, cap, CAP)
        return cls(server - block, block, server, "this NATS server (max_payload)")

    def refuse(self, progress: Progress, index: int, value: bytes) -> int:
        progress.too_large(index, len(value) + self.overhead, self.limit, self.what)
        return index


def _send_nats(job: PublishJob, generator: Generator, progress: Progress, control: Control) -> None:
    config = adapters.find(job.cluster, adapters.clusters(fresh=True), "nats")
    adapter = adapters.nats(config)
    mode = job.spec.get("mode") or "publish"
    msg_id = Pattern.compile(job.spec.get("msg_id") or None, "msg_id", random.Random())  # noqa: S311 - test data
    # Every message of a job carries the same headers.
    headers = nats_headers(generator.message(0), None)
    subject = job.target
    pacer = Pacer(job.rate)

    value_at, value_format, fixed = generator.value_at, generator.value_format, generator.fixed_value or b""

    def chunk(start: int, end: int) -> Callable[[NatsClient], Any]:
        async def core(nc: NatsClient) -> None:
            publish = nc.publish
            room = Room.of(nc, headers)
            upto = end  # the first message not sent
            if headers:
                for index in range(start, end):
                    value = fixed if value_at is None else value_at(index)
                    if len(value) > room.value:
                        upto = room.refuse(progress, index, value)
                        break
                    await publish(subject, value, headers=headers)
            elif value_format is not None:
                for index in range(start, end):
                    value = value_format(index).encode()
                    if len(value) > room.value:
                        upto = room.refuse(progress, index, value)
                        break
                    await publish(subject, value)
            elif value_at is not None:
                for index in range(start, end):
                    value = value_at(index)
                    if len(value) > room.value:
                        upto = room.refuse(progress, index, value)
                        break
                    await publish(subject, value)
            elif len(fixed) > room.value:
                upto = room.refuse(progress, start, fixed)
            else:
                for _ in range(start, end):
                    await publish(subject, fixed)
            if upto > start:
                try:
                    # In order: an answered round trip means the server took every message before it.
                    await nc.request(nc.new_inbox(), b"", timeout=adapter.timeout)
                except NoRespondersError:
                    pass
            progress.sent += upto - start

        async def jetstream(nc: NatsClient) -> None:
            js = nc.jetstream(timeout=adapter.timeout)
            acks = []
            room = Room.of(nc, headers)
            for index in range(start, end):
                value = fixed if value_at is None else value_at(index)
                own = headers
                if msg_id:
                    own = {**(headers or {}), MSG_ID_HEADER: msg_id.render(index)}
                    own_room = Room.of(nc, own)
                    if len(value) > own_room.value:
                        own_room.refuse(progress, index, value)
                        break
                elif len(value) > room.value:
                    room.refuse(progress, index, value)
                    break
                acks.append(await js.publish_async(subject, value, headers=own))
            for answer in await asyncio.gather(*acks, return_exceptions=True):
                if isinstance(answer, BaseException):
                    progress.fail(f"JetStream did not acknowledge: {answer or answer.__class__.__name__}")
                else:
                    progress.sent += 1

        return jetstream if mode == "jetstream" else core

    async def main() -> None:
        index = 0
        while index < job.total and not progress.broken and not progress.stopped:
            if await asyncio.to_thread(control.tick, progress):
                break
            most = JETSTREAM_CHUNK if mode == "jetstream" else NATS_CHUNK
            size = most if not job.rate else max(1, min(most, int(job.rate / 10)))
            end = min(job.total, index + size)
            try:
                await adapter.with_client(chunk(index, end), what=f"publish to {subject}", timeout=adapter.timeout * 3)
            except StreamdeskError as exc:
                progress.fail(exc.message, broken=True)
                break
            index = end
            wait = pacer.delay(index)
            if wait:
                await asyncio.sleep(wait)

    asyncio.run(main())
    control.tick(progress, force=True)

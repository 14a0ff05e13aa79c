"""A Kafka topic's upstream: one assign()-only consumer on its own thread.

No group is joined and nothing is committed (``assign``, ``enable.auto.commit`` and
``enable.auto.offset.store`` off); librdkafka insists on a ``group.id`` even so, and
the one it gets is never used for a join or a commit. Start positions are resolved
to explicit offsets on the web loop first (watermarks, offsets for a time), so
"subscribed" is true when it is sent: everything written after it has a higher
offset than the consumer's position. The thread stops reading while the web loop
is behind, and a replay (its own upstream) also while its socket's queue is nearly
full: the broker keeps the messages, so nothing is dropped here.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from streams import adapters
from streams.errors import InvalidInput, NotFound, StreamdeskError
from streams.kafka.client import FATAL_READ_CODES, client_config, translate
from streams.tail.messages import Item, kafka_item
from streams.tail.spec import TailSpec
from streams.tail.upstream import Started, Upstream, UpstreamEvent

logger = logging.getLogger("streams.tail")

TAIL_GROUP = "streamdesk-tail-never-joined"
CONSUME_BATCH = 500
# consume() waits for a full batch or this long: short, or a slow trickle waits for it every time.
CONSUME_WAIT = 0.02
PROBE_INTERVAL = 2.0


async def resolve_offsets(config: Any, spec: TailSpec) -> dict[int, int]:
    """The first offset to read in each watched partition."""
    adapter = adapters.kafka(config)
    try:
        info = await adapter.topic(spec.name)
    except NotFound as exc:
        raise NotFound(exc.message, field="name") from None
    partitions = list(spec.partitions) if spec.partitions is not None else info.partition_ids
    unknown = sorted(set(partitions) - set(info.partition_ids))
    if unknown:
        raise InvalidInput(f"Topic {spec.name} has no partition {unknown[0]}.", field="partitions")
    marks = await adapter.watermarks([info], fresh=True)
    bounds = {p: marks[(spec.name, p)] for p in partitions if (spec.name, p) in marks}
    start = spec.start
    by_time: dict[int, int | None] = {}
    if start.kind == "time":
        assert start.moment is not None
        by_time = await adapter.offsets_for_time(spec.name, partitions, int(start.moment.timestamp() * 1000))
    given = dict(start.offsets)
    offsets: dict[int, int] = {}
    for partition, mark in bounds.items():
        if start.kind == "beginning":
            wanted = mark.low
        elif start.kind == "last":
            wanted = mark.high - (start.number or 0)
        elif start.kind == "offset":
            wanted = start.number or 0
        elif start.kind == "offsets":
            wanted = given.get(partition, mark.high)
        elif start.kind == "time":
            found = by_time.get(partition)
            wanted = mark.high if found is None else found
        else:
            wanted = mark.high
        offsets[partition] = min(max(wanted, mark.low), mark.high)
    return offsets


class KafkaUpstream(Upstream):
    def begin(self) -> None:
        self._down = False
        self._wake = threading.Event()
        self._task = self.loop.create_task(self._prepare())

    async def _prepare(self) -> None:
        try:
            offsets = await resolve_offsets(self.config, self.spec)
        except StreamdeskError as exc:
            self._settle(None, exc)
            return
        except Exception as exc:
            logger.exception("kafka tail of %s could not start", self.spec.name)
            self._settle(None, StreamdeskError(f"The tail of {self.spec.name} could not start: {exc}"))
            return
        if self.stopped:
            return
        name = f"tail-{self.config.slug}-{self.spec.name}"[:60]
        threading.Thread(target=self._run, args=(offsets,), name=name, daemon=True).start()

    def stop(self) -> None:
        super().stop()
        if hasattr(self, "_wake"):
            self._wake.set()

    def _conf(self) -> dict[str, Any]:
        return client_config(self.config) | {
            "client.id": "streamdesk-tail",
            "group.id": TAIL_GROUP,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "fetch.wait.max.ms": 100,
            # Prefetched messages held by librdkafka for this consumer, at most.
            "queued.max.messages.kbytes": 4 * 1024,
            "error_cb": self._on_error,
        }

    def _on_error(self, error: KafkaError) -> None:
        # Served by consume() on this upstream's own thread.
        if error.code() == KafkaError._ALL_BROKERS_DOWN and not self._down:
            self._down = True
            self.report(
                UpstreamEvent(
                    "down",
                    f"Kafka is unreachable ({error.str()}); the tail goes on from where it stopped when it is back.",
                    retryable=True,
                )
            )

    def _run(self, offsets: dict[int, int]) -> None:
        try:
            consumer = Consumer(self._conf())
            consumer.assign([TopicPartition(self.spec.name, p, o) for p, o in sorted(offsets.items())])
        except KafkaException as exc:
            self.failed(_typed(translate(exc, f"tail {self.spec.name}")))
            return
        self.started(Started({"offsets": {str(p): o for p, o in sorted(offsets.items())}}))
        last_probe = 0.0
        try:
            while not self.stopped:
                batch = self.batch_size(CONSUME_BATCH)
                if batch < 1:
                    self._wake.wait(0.005)
                    continue
                items: list[Item] = []
                rules = self.mask_rules()
                for msg in consumer.consume(batch, CONSUME_WAIT):
                    err = msg.error()
                    if err is None:
                        items.append(kafka_item(msg, self.config, rules))
                    elif err.fatal() or err.code() in FATAL_READ_CODES:
                        self.stopped = True
                        self.report(UpstreamEvent("ended", f"Kafka stopped the tail of {self.spec.name}: {err.str()}"))
                        break
                if items:
                    self.hand(items)
                if self._down and (items or time.monotonic() - last_probe > PROBE_INTERVAL):
                    last_probe = time.monotonic()
                    if items or _reachable(consumer):
                        self._down = False
                        self.report(UpstreamEvent("up", "Kafka is back; the tail went on from where it stopped."))
        except Exception as exc:
            logger.exception("kafka tail of %s failed", self.spec.name)
            self.report(UpstreamEvent("ended", f"The tail of {self.spec.name} failed: {exc}"))
        finally:
            consumer.close()


def _reachable(consumer: Consumer) -> bool:
    try:
        consumer.list_topics(timeout=1.0)
    except KafkaException:
        return False
    return True


def _typed(error: Exception) -> StreamdeskError:
    return error if isinstance(error, StreamdeskError) else StreamdeskError(str(error))

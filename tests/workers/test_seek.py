"""A Kafka seek back to an unhandled message that fails: the loop (as runconsumers runs it, against
the real broker, with a consumer whose seeks fail until told otherwise) handles and commits nothing
of that partition until a seek succeeds, so nothing is committed past the unhandled message."""

from __future__ import annotations

import time
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from streams import adapters
from streams.workers.kafka_loop import KafkaLoop
from streams.workers.loop import Spec
from streams.workers.message import Destination
from tests.kafka import helpers as kh
from tests.polling import wait_until
from tests.publish.helpers import Collector, read_topic
from tests.workers.test_send_failures import TOO_LARGE_FOR_KAFKA

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.xdist_group("workers")]


class FlakySeek(Consumer):
    failing = True

    def seek(self, partition: TopicPartition) -> None:
        if FlakySeek.failing:
            raise KafkaException(KafkaError(KafkaError._STATE, "seek refused on purpose"))
        super().seek(partition)


class SeekLoop(KafkaLoop):
    def make_consumer(self) -> Consumer:
        return FlakySeek(self.client_settings())


def test_a_failed_seek_commits_nothing_past_the_message_it_was_for(
    kafka_bootstrap: str, nats_urls: Any, unique: str, settings: Any
) -> None:
    settings.WORKER_SESSION_TIMEOUT_MS = 6000
    source = kh.create_topic(kafka_bootstrap, f"{unique}-in")
    copy = kh.create_topic(kafka_bootstrap, f"{unique}-copy")
    kh.produce(kafka_bootstrap, source, [b"m0", TOO_LARGE_FOR_KAFKA, b"m2", b"m3"])
    spec = Spec(
        id=1, name=unique, cluster="kafka", source_kind="topic", source=source, group=f"{unique}-g",
        filter_subject="", handler="forward", config={"cluster": "kafka", "topic": copy}, start="earliest",
        batch_size=100, concurrency=1, max_retries=0, retry_backoff_ms=10, retry_backoff_max_ms=10,
        dead_letter=Destination("nats", subject=f"dead.{unique}"), generation=1, desired="running",
    )  # fmt: skip
    clusters = adapters.clusters(fresh=True)
    FlakySeek.failing = True
    loop = SeekLoop(spec, lambda slug: adapters.find(slug, clusters), "test")
    with Collector(nats_urls[0], f"dead.{unique}") as dead:
        loop.start()
        try:
            wait_until(
                lambda: loop.error is not None and "seek to offset 1" in loop.error.message,
                message="seek failed",
                timeout=30,
            )
            kh.produce(kafka_bootstrap, source, [b"m4", b"m5"])
            wait_until(lambda: loop.state == "failing", message="failing while it cannot seek", timeout=30)
            wait_until(
                lambda: kh.committed(kafka_bootstrap, f"{unique}-g", source, [0]) == {0: 1},
                message="commit",
                timeout=30,
            )
            time.sleep(2)  # a stuck consumer shows only by doing nothing: time for it to go on, were it to
            # Neither the unhandled message nor anything after it: m4 and m5 wait.
            assert kh.committed(kafka_bootstrap, f"{unique}-g", source, [0]) == {0: 1}
            copied = read_topic(kafka_bootstrap, copy, [0], expect=4, timeout=2)
            assert [r.value for r in copied] == [b"m0", b"m2", b"m3"]
            assert dead.messages == []

            FlakySeek.failing = False
            wait_until(
                lambda: kh.committed(kafka_bootstrap, f"{unique}-g", source, [0]) == {0: 6},
                message="drained",
                timeout=30,
            )
            assert [m.data for m in dead.wait_for(1)] == [TOO_LARGE_FOR_KAFKA]
            copied = read_topic(kafka_bootstrap, copy, [0], expect=5, timeout=10)
            assert [r.value for r in copied] == [b"m0", b"m2", b"m3", b"m4", b"m5"]
            wait_until(lambda: loop.state == "running", message="running again", timeout=30)
        finally:
            loop.request_stop()
            loop.join(20)

"""A connection's librdkafka clients are destroyed where librdkafka allows it.

librdkafka aborts the process when a client is destroyed on one of its own threads. An admin
answer runs Python code on the client's background thread, so the garbage collector can run
there and free a connection that only a reference cycle kept alive. The scenario runs in a
child process because the failure it guards against is an abort.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from confluent_kafka import ConsumerGroupTopicPartitions, KafkaError, KafkaException

from streams.clusters import ClusterConfig
from streams.errors import BrokerUnavailable
from streams.kafka.adapter import KafkaAdapter
from streams.kafka.offset_reader import OffsetReader
from tests.kafka import helpers as kh

ROOT = Path(__file__).resolve().parents[2]

COLLECTED_ON_THE_BACKGROUND_THREAD = """
import gc, sys, threading
import django
django.setup()
from streams.clusters import ClusterConfig
from streams.kafka.adapter import KafkaAdapter

adapter = KafkaAdapter(ClusterConfig(slug="k", kind="kafka", name="K", servers=(sys.argv[1],)))
adapter.itself = adapter  # unreachable, once dropped, except through this cycle
answered = threading.Event()
future = adapter.admin.describe_cluster(request_timeout=1)
# Runs on librdkafka's background thread when the (failed) answer arrives.
future.add_done_callback(lambda _: (gc.collect(), answered.set()))
del adapter
print("answered" if answered.wait(15) else "no answer", flush=True)
"""


def _config(servers: str) -> ClusterConfig:
    return ClusterConfig(slug="lifetime", kind="kafka", name="Lifetime", servers=(servers,))


def test_a_connection_collected_on_a_librdkafka_thread_does_not_abort_the_process(dead_port):
    env = os.environ | {"DJANGO_SETTINGS_MODULE": "console.settings", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", COLLECTED_ON_THE_BACKGROUND_THREAD, f"127.0.0.1:{dead_port}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "answered"


def test_a_closed_connection_makes_no_new_clients(dead_port):
    adapter = KafkaAdapter(_config(f"127.0.0.1:{dead_port}"))
    assert adapter.admin is adapter.admin
    adapter.close()
    with pytest.raises(BrokerUnavailable, match="restarting"):
        _ = adapter.admin
    with pytest.raises(BrokerUnavailable, match="restarting"):
        _ = adapter.producer


def _group_offsets(reader: OffsetReader, group: str) -> list[tuple[str, int, int]]:
    answer = reader.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)], 10)[group].result(15)
    return [(tp.topic, tp.partition, tp.offset) for tp in answer.topic_partitions]


def test_committed_offsets_are_read_again_after_the_reader_process_died(kafka_bootstrap, unique):
    topic = kh.create_topic(kafka_bootstrap, unique)
    kh.produce(kafka_bootstrap, topic, [b"a", b"b"])
    kh.commit(kafka_bootstrap, f"{unique}-g", {(topic, 0): 1})
    reader = OffsetReader({"bootstrap.servers": kafka_bootstrap})
    try:
        assert _group_offsets(reader, f"{unique}-g") == [(topic, 0, 1)]
        child = reader._proc
        assert child is not None
        child.kill()  # as a segmentation fault in librdkafka ends it
        child.wait(10)
        assert _group_offsets(reader, f"{unique}-g") == [(topic, 0, 1)]
        assert reader._proc is not child
    finally:
        reader.close()


def test_a_request_the_dead_reader_held_fails_as_a_transport_failure_at_once(dead_port):
    reader = OffsetReader({"bootstrap.servers": f"127.0.0.1:{dead_port}"})
    try:
        pending = reader.list_consumer_group_offsets([ConsumerGroupTopicPartitions("g")], 60)["g"]
        child = reader._proc
        assert child is not None
        child.kill()
        with pytest.raises(KafkaException) as failed:
            pending.result(10)
        assert failed.value.args[0].code() == KafkaError._TRANSPORT
        assert "signal 9" in failed.value.args[0].str()
    finally:
        reader.close()

"""The committed-offsets reader's child: a batch of any size, a bounded share of it at the broker."""

from __future__ import annotations

import io
import json
import threading
import time
from concurrent.futures import Future
from typing import Any

from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition

from streams.kafka.offset_reader import IN_FLIGHT, _serve


class _CountingAdmin:
    """Answers each OffsetFetch after a moment, counting how many are at the "broker" at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.in_flight = 0
        self.peak = 0

    def list_consumer_group_offsets(self, requests: list[Any], request_timeout: float = -1) -> dict[str, Future[Any]]:
        (request,) = requests  # librdkafka takes one group per call
        future: Future[Any] = Future()
        with self.lock:
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)

        def answer() -> None:
            with self.lock:
                self.in_flight -= 1
            future.set_result(ConsumerGroupTopicPartitions(request.group_id, [TopicPartition("t", 0, 7)]))

        threading.Timer(0.002, answer).start()
        return {request.group_id: future}


class _Lines(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def flush(self) -> None:
        self.count = self.getvalue().count("\n")


def test_the_reader_keeps_a_bounded_number_of_a_large_batch_at_the_broker():
    requests = io.StringIO(
        "\n".join([json.dumps({}), *(json.dumps({"id": i, "group": f"g{i}", "timeout": 5}) for i in range(400))]) + "\n"
    )
    answers, admin = _Lines(), _CountingAdmin()
    _serve(requests, answers, admin)
    deadline = time.monotonic() + 10
    while answers.count < 400 and time.monotonic() < deadline:
        time.sleep(0.01)
    lines = [json.loads(line) for line in answers.getvalue().splitlines()]
    assert sorted(a["id"] for a in lines) == list(range(400))
    assert all(a["offsets"] == [["t", 0, 7]] for a in lines)
    assert 1 < admin.peak <= IN_FLIGHT

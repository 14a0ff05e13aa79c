"""Independent clients that read back what the console published, and answer its requests."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

import nats
from confluent_kafka import Consumer, KafkaError, TopicPartition
from django.test import Client as DjangoClient
from nats.aio.client import Client
from nats.aio.msg import Msg

from tests.kafka.helpers import produce
from tests.nats.helpers import FAIL_FAST
from tests.polling import wait_until

T = TypeVar("T")


@dataclass
class Record:
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]] = field(default_factory=list)


def read_topic(
    bootstrap: str, topic: str, partitions: list[int], *, expect: int, timeout: float = 20, until: bytes | None = None
) -> list[Record]:
    """Every record of ``topic`` from the start, once ``expect`` have arrived (no group, no commit).

    With ``until``, only records of that value count towards ``expect``.
    """
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "sd-test-reader", "enable.auto.commit": False})
    found: list[Record] = []
    try:
        consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
        deadline = time.monotonic() + timeout
        counted = 0
        while counted < expect and time.monotonic() < deadline:
            for msg in consumer.consume(num_messages=1000, timeout=0.2):
                err = msg.error()
                if err is not None:
                    assert err.code() == KafkaError._PARTITION_EOF, err
                    continue
                raw_headers: Any = msg.headers() or []  # a list of (name, bytes) from a consumer
                headers = [(name, value or b"") for name, value in raw_headers]
                key, value = msg.key(), msg.value()
                assert not isinstance(key, str) and not isinstance(value, str)
                found.append(Record(msg.partition() or 0, msg.offset() or 0, key, value, headers))
                counted += until is None or value == until
    finally:
        consumer.close()
    return found


def read_topic_to_end(bootstrap: str, topic: str, partitions: list[int], *, timeout: float = 20) -> list[Record]:
    """Every record of ``topic`` written before now, and only those.

    A marker appended to each partition now comes after everything already written there, so
    reading up to the markers proves nothing else arrived without waiting for it not to. The
    markers stay in the topic: only for a topic that is read no more.
    """
    marker = f"end-of-{topic}-{uuid.uuid4()}".encode()
    for partition in partitions:
        produce(bootstrap, topic, [marker], partition=partition)
    records = read_topic(bootstrap, topic, partitions, expect=len(partitions), timeout=timeout, until=marker)
    ends = [r for r in records if r.value == marker]
    assert len(ends) == len(partitions), f"{len(ends)} of {len(partitions)} markers read in {timeout} s"
    return [r for r in records if r.value != marker]


def start_job(client: DjangoClient, path: str, body: dict[str, Any]) -> int:
    response = client.post(path, body, content_type="application/json")
    assert response.status_code == 202, response.content
    return int(response.json()["job"])


def job_answers(
    client: DjangoClient, job: int, states: tuple[str, ...], *, timeout: float = 60, sending: bool = False
) -> list[dict[str, Any]]:
    """Every answer of GET /api/v1/jobs/{job} until it reaches one of ``states`` (and, with ``sending``,
    has sent something: progress is what a test can wait for instead of a pause)."""
    seen: list[dict[str, Any]] = []

    def reached() -> bool:
        answer = client.get(f"/api/v1/jobs/{job}").json()
        seen.append(answer)
        return answer["state"] in states and (not sending or answer["sent"] > 0)

    wait_until(reached, timeout=timeout, interval=0.2, message=lambda: f"job {job} reaching {states}: {seen[-1]}")
    return seen


class _LoopClient:
    """A nats-py connection on a thread of its own, for the life of a ``with`` block."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.nc: Client | None = None

    def submit(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    async def setup(self, nc: Client) -> None:
        raise NotImplementedError

    def __enter__(self) -> Any:
        self._thread.start()

        async def start() -> None:
            self.nc = await nats.connect(self.url, **FAIL_FAST)
            await self.setup(self.nc)
            await self.nc.flush()

        self.submit(start())
        return self

    def __exit__(self, *exc: object) -> None:
        async def stop() -> None:
            if self.nc is not None:
                await self.nc.close()

        self.submit(stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


class Collector(_LoopClient):
    """Keeps every message on ``subject`` (wildcards allowed)."""

    def __init__(self, url: str, subject: str) -> None:
        super().__init__(url)
        self.subject = subject
        self.messages: list[Msg] = []

    async def setup(self, nc: Client) -> None:
        async def keep(msg: Msg) -> None:
            self.messages.append(msg)

        await nc.subscribe(self.subject, cb=keep)

    def wait_for(self, count: int, timeout: float = 10) -> list[Msg]:
        """The messages once at least ``count`` have arrived."""
        wait_until(
            lambda: len(self.messages) >= count,
            timeout=timeout,
            interval=0.05,
            message=f"{count} messages on {self.subject}",
        )
        return list(self.messages)

    def everything_before_now(self, timeout: float = 10) -> list[Msg]:
        """Every message the server took before now, and only those.

        A marker sent now on the subject comes after them (one server delivers a subject in the order
        it took the messages), so waiting for it proves nothing else came without waiting for it not to.
        """
        assert not {"*", ">"} & set(self.subject.split(".")), f"a marker needs a plain subject, not {self.subject}"
        marker = f"end-of-{self.subject}-{uuid.uuid4()}".encode()
        nc = self.nc
        assert nc is not None

        async def send() -> None:
            await nc.publish(self.subject, marker)
            await nc.flush()

        self.submit(send())
        wait_until(
            lambda: any(m.data == marker for m in self.messages),
            timeout=timeout,
            interval=0.05,
            message=f"the marker on {self.subject}",
        )
        return list(itertools.takewhile(lambda m: m.data != marker, self.messages))


class Responder(_LoopClient):
    """Answers requests on ``subject`` with the request's body reversed and a header; or never, when silent."""

    def __init__(self, url: str, subject: str, *, silent: bool = False) -> None:
        super().__init__(url)
        self.subject, self.silent = subject, silent

    async def setup(self, nc: Client) -> None:
        async def answer(msg: Msg) -> None:
            if not self.silent:
                await nc.publish(msg.reply, msg.data[::-1], headers={"x-answered-by": "responder"})

        await nc.subscribe(self.subject, cb=answer)

"""Put known state on the test NATS server with nats-py, outside the console.

Each helper opens its own short connection (``asyncio.run``), so tests stay plain
synchronous Django tests. ``Subscriber`` and ``StuckClient`` keep a connection open
in the background while a test looks at the server.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import nats
from nats.aio.client import Client

T = TypeVar("T")
# nats-py 2.16 retries a first connect forever with max_reconnect_attempts=0; this fails fast.
FAIL_FAST = {"connect_timeout": 3, "max_reconnect_attempts": 1, "reconnect_time_wait": 0}


def run(url: str, work: Callable[[Client], Awaitable[T]]) -> T:
    async def main() -> T:
        nc = await nats.connect(url, **FAIL_FAST)
        try:
            return await work(nc)
        finally:
            await nc.close()

    return asyncio.run(main())


async def api(nc: Client, subject: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    reply = await nc.request("$JS.API." + subject, json.dumps(body or {}).encode(), timeout=5)
    data = json.loads(reply.data)
    assert "error" not in data, data
    return data


def stream_name(unique: str) -> str:
    """A test's unique name as a stream name."""
    return unique.upper().replace("-", "_")


def create_stream(url: str, name: str, subjects: list[str], *, allow_direct: bool = False, **extra: Any) -> None:
    config = {"name": name, "subjects": subjects, "storage": "memory", "allow_direct": allow_direct, **extra}
    run(url, lambda nc: api(nc, f"STREAM.CREATE.{name}", config))


def create_own_stream(url: str, unique: str, subjects: list[str] | None = None, **config: Any) -> str:
    """The test's own memory stream, named after ``unique``, on ``<unique>.>`` unless told; its name."""
    name = stream_name(unique)
    create_stream(url, name, subjects or [f"{unique}.>"], **config)
    return name


def create_streams(url: str, names: list[str], subject_prefix: str) -> None:
    """Many small memory streams, created concurrently."""

    async def work(nc: Client) -> None:
        gate = asyncio.Semaphore(32)

        async def one(index: int, name: str) -> None:
            async with gate:
                config = {"name": name, "subjects": [f"{subject_prefix}.{index}.>"], "storage": "memory"}
                await api(nc, f"STREAM.CREATE.{name}", config)

        await asyncio.gather(*(one(i, n) for i, n in enumerate(names)))

    run(url, work)


def delete_streams(url: str, names: list[str]) -> None:
    async def work(nc: Client) -> None:
        await asyncio.gather(*(nc.request(f"$JS.API.STREAM.DELETE.{n}", b"", timeout=5) for n in names))

    run(url, work)


def publish(url: str, items: list[tuple[str, bytes, dict[str, str] | None]]) -> list[int]:
    """JetStream publishes, each acknowledged; their stream sequences."""

    async def work(nc: Client) -> list[int]:
        js = nc.jetstream()
        seqs = []
        for subject, data, headers in items:
            ack = await js.publish(subject, data, headers=headers)
            seqs.append(ack.seq)
        return seqs

    return run(url, work)


def add_consumer(
    url: str, stream: str, name: str, *, filter_subject: str | None = None, durable: bool = True, **extra: Any
) -> dict[str, Any]:
    config: dict[str, Any] = {"name": name, "ack_policy": "explicit", **extra}
    if durable:
        config["durable_name"] = name
    if filter_subject:
        config["filter_subject"] = filter_subject
    body = {"stream_name": stream, "config": config}
    return run(url, lambda nc: api(nc, f"CONSUMER.CREATE.{stream}.{name}", body))


def fetch_and_ack(url: str, stream: str, consumer: str, fetch: int, ack: int) -> None:
    """Pull ``fetch`` messages through a durable pull consumer and acknowledge the first ``ack``."""

    async def work(nc: Client) -> None:
        js = nc.jetstream()
        sub = await js.pull_subscribe_bind(consumer, stream)
        got = await sub.fetch(fetch, timeout=5)
        assert len(got) == fetch, len(got)
        for msg in got[:ack]:
            await msg.ack_sync(timeout=5)

    run(url, work)


def consumer_info(url: str, stream: str, name: str) -> dict[str, Any]:
    """What the server itself says, bypassing the console."""
    return run(url, lambda nc: api(nc, f"CONSUMER.INFO.{stream}.{name}"))


def stream_info(url: str, name: str) -> dict[str, Any]:
    return run(url, lambda nc: api(nc, f"STREAM.INFO.{name}"))


class Subscriber:
    """A core subscription that stays open (on its own thread) until the block ends."""

    def __init__(self, url: str, subject: str, *, queue: str = "", publish: int = 0) -> None:
        self.url, self.subject, self.queue, self.publish = url, subject, queue, publish
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._nc: Client | None = None

    def _submit(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    def __enter__(self) -> Subscriber:
        self._thread.start()

        async def start() -> None:
            self._nc = await nats.connect(self.url, name="test-subscriber", **FAIL_FAST)
            await self._nc.subscribe(self.subject, queue=self.queue)
            literal = self.subject.replace("*", "x").replace(">", "x")
            for _ in range(self.publish):
                await self._nc.publish(literal, b"ping")
            await self._nc.flush()

        self._submit(start())
        return self

    def __exit__(self, *exc: object) -> None:
        async def stop() -> None:
            if self._nc is not None:
                await self._nc.close()

        self._submit(stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


class StuckClient:
    """A raw client that subscribes and then never reads: what the server calls a slow consumer."""

    def __init__(self, port: int, name: str, subject: str) -> None:
        self.port, self.name, self.subject = port, name, subject
        self.sock: socket.socket | None = None

    def __enter__(self) -> StuckClient:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.recv(4096)  # the server's INFO
        connect = json.dumps({"name": self.name, "verbose": False, "pedantic": False, "protocol": 1})
        sock.sendall(f"CONNECT {connect}\r\nSUB {self.subject} 1\r\nPING\r\n".encode())
        sock.recv(64)  # PONG: the subscription is in place
        self.sock = sock
        return self

    def __exit__(self, *exc: object) -> None:
        if self.sock is not None:
            self.sock.close()

"""What the in-process benchmarks share: timing, the markdown they print, and Streamdesk's
Django on a throwaway database, measured through the test client."""

from __future__ import annotations

import os
import platform
import socket
import statistics
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def median_seconds(run: Callable[[], Any], times: int, before: Callable[[], None] | None = None) -> float:
    """The median time of ``times`` calls of ``run``; ``before`` runs ahead of each call, untimed."""
    samples = []
    for _ in range(times):
        if before is not None:
            before()
        started = time.perf_counter()
        run()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def rss_mb(pid: int) -> float:
    """A process's resident memory, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def read_whole_body(port: int, path: str, token: str) -> tuple[int, int, bytes, float]:
    """GET ``path`` over HTTP/1.0 from a bare socket, read as fast as it arrives: (lines, bytes,
    last 4 KB, seconds). No HTTP library in the way, so the figure is the server's."""
    sock = socket.create_connection(("127.0.0.1", port))
    request = f"GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    started = time.perf_counter()
    try:
        sock.sendall(request.encode())
        head = b""
        while b"\r\n\r\n" not in head:
            received = sock.recv(65536)
            if not received:
                raise ConnectionError(f"closed before the headers: {head[:300]!r}")
            head += received
        status, body = head.split(b"\r\n\r\n", 1)
        if b" 200 " not in status.split(b"\r\n", 1)[0]:
            raise AssertionError(head[:300])
        lines, size, last = body.count(b"\n"), len(body), body[-4096:]
        while chunk := sock.recv(1 << 20):
            lines += chunk.count(b"\n")
            size += len(chunk)
            last = (last + chunk)[-4096:]
    finally:
        sock.close()
    return lines, size, last, time.perf_counter() - started


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms"


def machine() -> str:
    """Where the figures were measured, for a section's first sentence."""
    return f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"


def table(rows: Iterable[tuple[str, float, str, str]]) -> list[str]:
    """The markdown lines of a table of medians; a row is (what, seconds, target, met)."""
    return [
        "| What | Median | Target | Met |",
        "|---|---:|---|---|",
        *[f"| {what} | {ms(seconds)} | {target} | {met} |" for what, seconds, target, met in rows],
    ]


@contextmanager
def django_on(workdir: Path, brokers: dict[str, str]) -> Iterator[None]:
    """Django set up for the test client, on a migrated SQLite database in ``workdir``, its startup objects
    frozen as in the web process.

    Only the brokers given (settings variables such as ``NATS_URL``) are configured, so
    the caller's environment cannot point the benchmark elsewhere. The adapters are
    closed on the way out, before the caller stops its servers.
    """
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "console.settings",
            "STREAMDESK_VAR_DIR": str(workdir),
            "DATABASE_URL": f"sqlite:///{workdir / 'bench.sqlite3'}",
            "KAFKA_BOOTSTRAP_SERVERS": "",
            "NATS_URL": "",
            "STREAMDESK_CLUSTERS": "",
            "REDIS_URL": "",
            "LOG_LEVEL": "WARNING",
            **brokers,
        }
    )
    try:
        import django

        django.setup()
        from django.core.management import call_command
        from django.test.utils import setup_test_environment

        setup_test_environment()
        call_command("migrate", verbosity=0)
        from console.heap import freeze_startup_objects

        freeze_startup_objects()  # as console.asgi does in the web process
        yield
    finally:
        from streams import adapters

        adapters.reset()


def superuser_get() -> Callable[..., Any]:
    """A GET through the test client as a new, logged-in superuser; anything but 200 fails."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    user = get_user_model().objects.create_superuser("bench", "bench@example.invalid", "bench-pass-123")
    client = Client()
    client.force_login(user)

    def get(path: str, **params: Any) -> Any:
        response = client.get(path, params)
        assert response.status_code == 200, (path, response.status_code, response.content[:300])
        return response

    return get


BENCH_KAFKA_ENV = "STREAMDESK_BENCH_KAFKA"
KAFKA_LABELS = {"tansu": "tansu (memory storage)", "apache": "Apache Kafka 4.4 (KRaft, one node)"}


def kafka_name() -> str:
    """Which Kafka the benchmarks start: ``tansu`` (default) or ``apache`` (``python -m bench --kafka apache``)."""
    name = os.environ.get(BENCH_KAFKA_ENV, "tansu") or "tansu"
    if name not in KAFKA_LABELS:
        raise SystemExit(f"{BENCH_KAFKA_ENV} must be one of {', '.join(KAFKA_LABELS)}, not {name!r}")
    return name


def kafka_label() -> str:
    return KAFKA_LABELS[kafka_name()]


def command(name: str, extra: str = "") -> str:
    """The line that says how a section was produced, naming the broker switch when it was used."""
    broker = " --kafka apache" if kafka_name() == "apache" else ""
    return f"Command: `.venv/bin/python -m bench{broker} {name}`{extra}"


@contextmanager
def kafka_server(workdir: Path) -> Iterator[str]:
    """Start the chosen Kafka in ``workdir``; yields its bootstrap address and stops it on the way out."""
    from dev import devstack

    if kafka_name() == "apache":
        from dev import apache_kafka

        if reason := apache_kafka.missing_reason():
            raise SystemExit(reason)
        kafka = apache_kafka.apache_kafka(workdir).start()
        try:
            yield kafka.bootstrap
        finally:
            kafka.stop()
        return
    tansu = devstack.tansu_server(workdir).start()
    try:
        yield f"127.0.0.1:{tansu.port}"
    finally:
        tansu.stop()


def batched_producer_config(bootstrap: str) -> dict[str, Any]:
    """Seeding producers: one record per batch on tansu (its latest offset is only exact then), batched on Apache."""
    if kafka_name() == "tansu":
        return {"bootstrap.servers": bootstrap, "linger.ms": 0, "batch.num.messages": 1}
    return {"bootstrap.servers": bootstrap, "linger.ms": 20}


def commit_offsets(admin: Any, commits: Iterable[tuple[str, list[Any]]], in_flight: int = 128) -> int:
    """Commit each (group, [TopicPartition with offset]) from outside the group through ``admin``,
    ``in_flight`` requests at a time; how many groups committed."""
    from confluent_kafka import ConsumerGroupTopicPartitions

    pending: list[Any] = []
    count = 0
    for group, tps in commits:
        pending.extend(admin.alter_consumer_group_offsets([ConsumerGroupTopicPartitions(group, tps)]).values())
        count += 1
        if len(pending) >= in_flight:
            for future in pending:
                future.result(60)
            pending = []
    for future in pending:
        future.result(60)
    return count

"""Kafka adapter on confluent-kafka.

librdkafka calls block, so each one runs on the adapter's bounded thread pool
with a deadline; a broker that does not answer becomes ``BrokerUnavailable``
instead of a hung request. One AdminClient per cluster per process is reused;
librdkafka reconnects on its own with backoff.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, TypeVar

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient
from django.conf import settings

from streams.brokers.base import (
    BrokerError,
    BrokerUnavailable,
    ClusterHealth,
    NotFound,
    NotSupported,
)
from streams.clusters import ClusterConfig

T = TypeVar("T")

logger = logging.getLogger("streams.brokers.kafka")
librdkafka_logger = logging.getLogger("streams.brokers.librdkafka")

_UNAVAILABLE_CODES = {
    KafkaError._TRANSPORT,
    KafkaError._TIMED_OUT,
    KafkaError._ALL_BROKERS_DOWN,
    KafkaError._RESOLVE,
    KafkaError.REQUEST_TIMED_OUT,
    KafkaError.NETWORK_EXCEPTION,
    KafkaError.BROKER_NOT_AVAILABLE,
    KafkaError.LEADER_NOT_AVAILABLE,
    KafkaError.COORDINATOR_NOT_AVAILABLE,
    KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
}
_NOT_FOUND_CODES = {
    KafkaError.UNKNOWN_TOPIC_OR_PART,
    KafkaError._UNKNOWN_TOPIC,
    KafkaError._UNKNOWN_PARTITION,
    KafkaError.GROUP_ID_NOT_FOUND,
}
_NOT_SUPPORTED_CODES = {
    KafkaError.UNSUPPORTED_VERSION,
    KafkaError.INVALID_REQUEST,
    KafkaError._UNSUPPORTED_FEATURE,
    KafkaError._NOT_IMPLEMENTED,
}


def client_config(config: ClusterConfig) -> dict[str, Any]:
    """librdkafka settings for a cluster, auth included."""
    conf: dict[str, Any] = {
        "bootstrap.servers": ",".join(config.servers),
        "client.id": "streamdesk",
        "socket.timeout.ms": int(settings.BROKER_TIMEOUT_SECONDS * 1000),
        "socket.connection.setup.timeout.ms": int(settings.BROKER_TIMEOUT_SECONDS * 1000),
        "reconnect.backoff.ms": 200,
        "reconnect.backoff.max.ms": 5000,
        "logger": librdkafka_logger,
    }
    if config.security_protocol:
        conf["security.protocol"] = config.security_protocol
    if config.sasl_mechanism:
        conf["sasl.mechanism"] = config.sasl_mechanism
        conf["sasl.username"] = config.username
        conf["sasl.password"] = config.password
    if config.tls_ca_file:
        conf["ssl.ca.location"] = config.tls_ca_file
    if config.tls_cert_file:
        conf["ssl.certificate.location"] = config.tls_cert_file
    if config.tls_key_file:
        conf["ssl.key.location"] = config.tls_key_file
    return conf


def translate(exc: BaseException, what: str) -> Exception:
    """Map a confluent-kafka failure to one typed error."""
    if isinstance(exc, KafkaException):
        err = exc.args[0] if exc.args else None
        if isinstance(err, KafkaError):
            code = err.code()
            reason = err.str()
            if code in _UNAVAILABLE_CODES:
                return BrokerUnavailable(f"Kafka did not answer ({what}): {reason}")
            if code in _NOT_FOUND_CODES:
                return NotFound(f"{what}: {reason}")
            if code in _NOT_SUPPORTED_CODES:
                return NotSupported(f"{what} is not supported by this broker ({reason})")
            return BrokerError(f"{what} failed: {reason}")
    if isinstance(exc, TimeoutError):
        return BrokerUnavailable(f"Kafka did not answer within {settings.BROKER_TIMEOUT_SECONDS:g} s ({what})")
    return BrokerError(f"{what} failed: {exc}")


class KafkaAdapter:
    kind = "kafka"

    def __init__(self, config: ClusterConfig) -> None:
        self.config = config
        self.timeout = settings.BROKER_TIMEOUT_SECONDS
        self._executor = ThreadPoolExecutor(
            max_workers=settings.BROKER_EXECUTOR_THREADS, thread_name_prefix=f"kafka-{config.slug}"
        )
        self._admin: AdminClient | None = None
        self._lock = threading.Lock()

    @property
    def admin(self) -> AdminClient:
        with self._lock:
            if self._admin is None:
                self._admin = AdminClient(client_config(self.config))
            return self._admin

    async def call(self, fn: Callable[..., T], *args: Any, what: str, timeout: float | None = None) -> T:
        """Run a blocking client call on the pool; failures come back as typed errors."""
        deadline = timeout or self.timeout
        loop = asyncio.get_running_loop()
        try:
            return await asyncio.wait_for(loop.run_in_executor(self._executor, fn, *args), deadline + 0.5)
        except (KafkaException, TimeoutError) as exc:
            raise translate(exc, what) from exc
        except RuntimeError as exc:  # executor shut down while the config changed
            raise BrokerUnavailable(f"Kafka client was restarting ({what}); try again") from exc

    async def ping(self) -> ClusterHealth:
        started = time.monotonic()
        error: str | None = None
        version: str | None = None
        try:
            metadata = await self.call(lambda: self.admin.list_topics(timeout=self.timeout), what="metadata")
            version = f"{len(metadata.brokers)} broker(s)"
        except Exception as exc:  # noqa: BLE001 - ping reports, never raises
            error = getattr(exc, "message", None) or str(exc) or exc.__class__.__name__
        rtt = (time.monotonic() - started) * 1000
        return ClusterHealth(
            slug=self.config.slug,
            kind=self.kind,
            name=self.config.name,
            reachable=error is None,
            error=error,
            rtt_ms=None if error else rtt,
            version=version,
            checked_at=datetime.now(UTC),
        )

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._admin = None

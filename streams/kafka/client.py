"""librdkafka settings for a cluster, and its failures as typed errors.

Shared by the adapter's AdminClient, the message browser and every other client
Streamdesk makes (live tail, publishing, managed consumers).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from concurrent.futures import Future, wait
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from django.conf import settings

from streams.clusters import ClusterConfig
from streams.errors import (
    BrokerError,
    BrokerUnavailable,
    Conflict,
    InvalidInput,
    NotFound,
    NotSupported,
    StreamdeskError,
)
from streams.redact import display_servers

librdkafka_logger = logging.getLogger("streams.kafka.librdkafka")

UNAVAILABLE_CODES = {
    KafkaError._DESTROY,
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
NOT_FOUND_CODES = {
    KafkaError.UNKNOWN_TOPIC_OR_PART,
    KafkaError._UNKNOWN_TOPIC,
    KafkaError._UNKNOWN_PARTITION,
    KafkaError.GROUP_ID_NOT_FOUND,
}
FATAL_READ_CODES = {
    KafkaError.UNKNOWN_TOPIC_OR_PART,
    KafkaError._UNKNOWN_TOPIC,
    KafkaError._UNKNOWN_PARTITION,
    KafkaError.TOPIC_AUTHORIZATION_FAILED,
    KafkaError.GROUP_AUTHORIZATION_FAILED,
    KafkaError._AUTHENTICATION,
}
NOT_SUPPORTED_CODES = {
    KafkaError.UNSUPPORTED_VERSION,
    KafkaError.INVALID_REQUEST,
    KafkaError._UNSUPPORTED_FEATURE,
    KafkaError._NOT_IMPLEMENTED,
}


def client_config(config: ClusterConfig) -> dict[str, Any]:
    """librdkafka settings for a cluster, auth included."""
    conf: dict[str, Any] = {
        # librdkafka takes no userinfo (it would try to resolve "user:pass@host" and log it):
        # SASL credentials go in the cluster's username and password.
        "bootstrap.servers": ",".join(display_servers(config.servers)),
        "client.id": "streamdesk",
        "socket.timeout.ms": int(settings.BROKER_TIMEOUT_SECONDS * 1000),
        # librdkafka refuses a connection setup timeout under a second.
        "socket.connection.setup.timeout.ms": max(int(settings.BROKER_TIMEOUT_SECONDS * 1000), 1000),
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
            if code in UNAVAILABLE_CODES:
                return BrokerUnavailable(f"Kafka did not answer ({what}): {reason}")
            if code in NOT_FOUND_CODES:
                return NotFound(f"{what}: {reason}")
            if code in NOT_SUPPORTED_CODES:
                return NotSupported(f"{what} is not supported by this broker ({reason})")
            return BrokerError(f"{what} failed: {reason}")
    if isinstance(exc, TimeoutError):
        return BrokerUnavailable(f"Kafka did not answer within {settings.BROKER_TIMEOUT_SECONDS:g} s ({what})")
    return BrokerError(f"{what} failed: {exc}")


# Errors a write can meet that say something about the request rather than the broker.
_WRITE_ERRORS: dict[int, tuple[type[StreamdeskError], str | None]] = {
    KafkaError.TOPIC_ALREADY_EXISTS: (Conflict, "name"),
    KafkaError.TOPIC_EXCEPTION: (InvalidInput, "name"),
    KafkaError.INVALID_PARTITIONS: (InvalidInput, "partitions"),
    KafkaError.INVALID_REPLICATION_FACTOR: (InvalidInput, "replication_factor"),
    KafkaError.INVALID_REPLICA_ASSIGNMENT: (InvalidInput, "replication_factor"),
    KafkaError.INVALID_CONFIG: (InvalidInput, "configs"),
    KafkaError.POLICY_VIOLATION: (InvalidInput, None),
    KafkaError.NON_EMPTY_GROUP: (Conflict, None),
    KafkaError.UNKNOWN_MEMBER_ID: (Conflict, None),
    KafkaError.ILLEGAL_GENERATION: (Conflict, None),
    KafkaError.REBALANCE_IN_PROGRESS: (Conflict, None),
    KafkaError.FENCED_INSTANCE_ID: (Conflict, None),
    KafkaError.OFFSET_METADATA_TOO_LARGE: (InvalidInput, None),
}


def translate_write(exc: BaseException, what: str, field_names: Mapping[str, str] | None = None) -> Exception:
    """Like ``translate``, but a refusal caused by the request becomes 400/409 naming the field."""
    err = exc.args[0] if isinstance(exc, KafkaException) and exc.args else None
    if isinstance(err, KafkaError) and err.code() in _WRITE_ERRORS:
        kind, field = _WRITE_ERRORS[err.code()]
        if field is not None and field_names:
            field = field_names.get(field, field)
        if kind is Conflict and err.code() != KafkaError.TOPIC_ALREADY_EXISTS:
            return Conflict(f"{what}: the group has active members ({err.str()}); stop its consumers first.")
        return kind(f"{what}: {err.str()}", field=field)
    return translate(exc, what)


def error_of(exc: BaseException) -> KafkaError | None:
    err = exc.args[0] if isinstance(exc, KafkaException) and exc.args else None
    return err if isinstance(err, KafkaError) else None


def gather_futures(
    futures: Mapping[Any, Future[Any]], deadline: float
) -> tuple[dict[Any, Any], dict[Any, BaseException]]:
    """Results and failures of admin futures, keyed like the input, within one deadline."""
    results: dict[Any, Any] = {}
    failures: dict[Any, BaseException] = {}
    # Wait for all of them at once: one silent partition (a topic deleted a moment
    # ago has no leader) must not use up the time the others' answers need.
    wait(list(futures.values()), timeout=max(0.0, deadline - time.monotonic()))
    for key, future in futures.items():
        if not future.done():
            failures[key] = TimeoutError(f"no answer for {key}")
            continue
        try:
            results[key] = future.result(timeout=0)
        except KafkaException as exc:
            failures[key] = exc
    return results, failures

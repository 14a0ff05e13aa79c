"""dev/apache_kafka.py: the SASL_SSL listener, its SCRAM users and CA, and the authorizer switch."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AclBinding, AclOperation, AclPermissionType, AdminClient, ResourcePatternType
from confluent_kafka.admin import ResourceType as Resource

from dev import apache_kafka as apache
from tests.kafka import helpers as kh
from tests.polling import wait_until


def sasl_admin(kafka: apache.ApacheKafka, **overrides: str) -> AdminClient:
    return AdminClient({**kafka.sasl_config(), "log_level": 0, **overrides})


def test_the_sasl_ssl_listener_takes_the_scram_admin_and_checks_password_and_ca(apache_kafka, tmp_path):
    assert sasl_admin(apache_kafka).list_topics(timeout=10).brokers
    for wrong in ({"sasl.password": "not-the-password"}, {"ssl.ca.location": "probe"}):
        with pytest.raises(KafkaException):
            sasl_admin(apache_kafka, **wrong).list_topics(timeout=3)


def test_a_broker_without_allow_everyone_grants_a_user_only_its_acls(servers_dir, unique):
    reason = apache.missing_reason()
    if reason:
        pytest.skip(reason)
    kafka = apache.apache_kafka(servers_dir, users={"reader": "reader-pass"}, allow_everyone=False).start()
    try:
        kh.create_topic(kafka.bootstrap, unique)  # PLAINTEXT is the broker's own, a super user
        reader = AdminClient({**kafka.sasl_config("reader"), "log_level": 0})
        assert unique not in reader.list_topics(timeout=10).topics  # no Describe on it: not even listed
        grant = AclBinding(
            Resource.TOPIC, unique, ResourcePatternType.LITERAL, "User:reader", "*", AclOperation.DESCRIBE,
            AclPermissionType.ALLOW,
        )  # fmt: skip
        broker = kh.admin(kafka.bootstrap)  # kept referenced: a collected client cancels its futures
        broker.create_acls([grant])[grant].result(10)
        wait_until(lambda: unique in reader.list_topics(timeout=5).topics, message="the granted topic")
        # The super user of the SASL listener needs no ACL.
        assert unique in sasl_admin(kafka).list_topics(timeout=10).topics
        refused = reader.delete_topics([unique], operation_timeout=10)[unique]
        with pytest.raises(KafkaException) as denied:
            refused.result(10)
        assert denied.value.args[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    finally:
        kafka.stop()


def fake_tool(directory, name: str, script: str) -> None:
    path = directory / name
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(0o755)


def reason_here() -> str:
    reason = apache._find_missing(apache.KAFKA_VERSION)
    assert reason is not None
    return reason


def test_missing_java_or_maven_an_old_java_or_a_failed_fetch_is_the_reason_to_skip(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert "`java`" in reason_here()
    fake_tool(tmp_path, "java", """echo 'openjdk version "11.0.22" 2024-01-16' >&2""")
    assert "`mvn`" in reason_here()
    fake_tool(tmp_path, "mvn", "exit 1")
    assert "needs Java 17 or newer; `java` here is 11" in reason_here()
    fake_tool(tmp_path, "java", """echo 'openjdk version "17.0.15" 2025-04-15' >&2""")
    fake_tool(tmp_path, "mvn", "echo 'Could not resolve dependencies' >&2; exit 1")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    reason = reason_here()
    assert "Maven could not fetch" in reason and "Could not resolve dependencies" in reason
    # The next worker of the run is told at once, without running Maven again.
    fake_tool(tmp_path, "mvn", "echo 'a second fetch' >&2; exit 1")
    again = reason_here()
    assert again.startswith(reason) and "an earlier attempt; delete" in again and "a second fetch" not in again

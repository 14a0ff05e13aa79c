"""dev/apache_kafka.py: the SASL_SSL listener, its SCRAM users and CA, and the authorizer switch."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AclBinding, AclOperation, AclPermissionType, AdminClient, ResourcePatternType
from confluent_kafka.admin import ResourceType as Resource

from dev import apache_kafka as apache
from tests.kafka import helpers as kh


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
        kh.wait_for(lambda: unique in reader.list_topics(timeout=5).topics, what="the granted topic")
        # The super user of the SASL listener needs no ACL.
        assert unique in sasl_admin(kafka).list_topics(timeout=10).topics
        refused = reader.delete_topics([unique], operation_timeout=10)[unique]
        with pytest.raises(KafkaException) as denied:
            refused.result(10)
        assert denied.value.args[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    finally:
        kafka.stop()

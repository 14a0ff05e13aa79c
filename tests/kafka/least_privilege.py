"""An Apache Kafka that grants nothing by default, and two users holding exactly the ACLs
docs/CONFIGURATION.md lists: ``sd-reader`` (the read-only list) and ``sd-operator`` (both lists).

The ACLs are read from the tables in docs/CONFIGURATION.md, so the documentation and the test cannot drift.
Clusters-file slugs: ``least-read`` and ``least-operate``, both through SASL_SSL.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from confluent_kafka.admin import AclBinding, AclOperation, AclPermissionType, ResourcePatternType, ResourceType
from django.test import override_settings

from dev import apache_kafka as apache
from streams import adapters
from tests.kafka import helpers as kh

ROOT = Path(__file__).resolve().parents[2]
USERS = {"sd-reader": "reader-secret-1", "sd-operator": "operator-secret-1"}


def readme_acls(kind: str) -> list[tuple[str, str, str]]:
    """(resource type, name, operation) rows of the docs/CONFIGURATION.md table marked ``kafka-acls: kind``."""
    text = (ROOT / "docs" / "CONFIGURATION.md").read_text()
    marker = text.index(f"<!-- kafka-acls: {kind} -->")
    rows: list[tuple[str, str, str]] = []
    for line in text[marker:].splitlines()[1:]:
        if not line.startswith("|"):
            if rows:
                break
            continue
        cells = [c.strip().strip("`") for c in line.strip("|").split("|")]
        if cells[0] in ("Resource", "---"):
            continue
        for operation in re.findall(r"`(\w+)`", line.split("|")[3]):
            rows.append((cells[0], cells[1], operation))
    assert rows, f"no ACL rows under kafka-acls: {kind}"
    return rows


def bindings(principal: str, rows: list[tuple[str, str, str]]) -> list[AclBinding]:
    # Kafka's CLUSTER resource is BROKER in confluent-kafka's ResourceType.
    kinds = {"CLUSTER": ResourceType.BROKER}
    allow, literal = AclPermissionType.ALLOW, ResourcePatternType.LITERAL
    return [
        AclBinding(kinds.get(kind) or ResourceType[kind], name, literal, principal, "*", AclOperation[op], allow)
        for kind, name, op in rows
    ]


@dataclass
class LeastPrivilege:
    kafka: apache.ApacheKafka
    clusters_file: Path

    def client_config(self, user: str) -> dict[str, str]:
        return self.kafka.sasl_config(user)


@pytest.fixture(scope="module")
def least_privilege(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LeastPrivilege]:
    if reason := apache.missing_reason():
        pytest.skip(reason)
    directory = tmp_path_factory.mktemp("least-privilege")
    kafka = apache.apache_kafka(directory, users=USERS, allow_everyone=False).start()
    try:
        admin = kh.admin(kafka.bootstrap)  # PLAINTEXT: the broker's own principal, a super user
        read = readme_acls("read")
        grants = bindings("User:sd-reader", read) + bindings("User:sd-operator", read + readme_acls("operate"))
        for future in admin.create_acls(grants).values():
            future.result(15)
        entries = []
        for slug, user in (("least-read", "sd-reader"), ("least-operate", "sd-operator")):
            entries.append(
                f"""[[clusters]]
slug = "{slug}"
kind = "kafka"
servers = ["{kafka.sasl_bootstrap}"]
security_protocol = "SASL_SSL"
sasl_mechanism = "SCRAM-SHA-512"
username = "{user}"
password = "{USERS[user]}"
tls_ca_file = "{kafka.ca_pem}"
"""
            )
        clusters_file = directory / "clusters.toml"
        clusters_file.write_text("\n".join(entries))
        yield LeastPrivilege(kafka, clusters_file)
    finally:
        kafka.stop()


@pytest.fixture
def least_clusters(least_privilege: LeastPrivilege) -> Iterator[LeastPrivilege]:
    with override_settings(STREAMDESK_CLUSTERS=str(least_privilege.clusters_file)):
        adapters.invalidate()
        yield least_privilege
    adapters.invalidate()

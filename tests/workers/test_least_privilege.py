"""A managed consumer through SASL_SSL as a user holding exactly the ACLs docs/CONFIGURATION.md lists (read and
operate lists) on a broker that grants nothing else: it joins its group, forwards, commits."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from tests.kafka import helpers as kh
from tests.kafka.least_privilege import LeastPrivilege, least_clusters, least_privilege  # noqa: F401 - fixtures
from tests.polling import wait_until
from tests.publish.helpers import read_topic
from tests.workers.test_kafka import define, done

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.slow,
    pytest.mark.xdist_group("least-privilege"),
    pytest.mark.usefixtures("notify"),
]


def test_a_managed_consumer_forwards_and_commits_with_the_operate_list(
    operator_client: Client,
    runconsumers: Any,
    least_clusters: LeastPrivilege,  # noqa: F811 - the fixture imported above
    unique: str,
) -> None:
    bootstrap = least_clusters.kafka.bootstrap
    source = kh.create_topic(bootstrap, f"{unique}-in", partitions=2)
    copy = kh.create_topic(bootstrap, f"{unique}-copy")
    kh.produce(bootstrap, source, [f"m{i}" for i in range(10)], key="k")
    define(operator_client, name=f"{unique}-fwd", cluster="least-operate", topic=source, group=f"{unique}-fwd",
           start="earliest", handler="forward", config={"cluster": "least-operate", "topic": copy})  # fmt: skip
    runconsumers(STREAMDESK_CLUSTERS=str(least_clusters.clusters_file))

    copied = read_topic(bootstrap, copy, [0], expect=10, timeout=60)
    assert sorted(r.value or b"" for r in copied) == sorted(f"m{i}".encode() for i in range(10))
    wait_until(
        lambda: done(kh.committed(bootstrap, f"{unique}-fwd", source, [0, 1])) == 10,
        message="the group's commits",
        timeout=30,
    )
